"""The event log and the notification outbox, as rows: an event is written with its change
(and only then), read back in commit order, fanned out once to the subscriptions it
matches, and claimed by one sender at a time; signing secrets follow the master key."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import (
    deletion,
    events,
    notifications,
    rekey,
    secrets,
    stages,
    versions,
)
from rotor.store import tables as t
from rotor.store.database import Store
from tests.store.conftest import put_daily_rotation


def subscribe(store: Store, types: list[str], prefix: str = "") -> notifications.Subscription:
    subscription, _ = notifications.create(
        store,
        url="https://hooks.example.com/rotor",
        event_types=types,
        prefix=prefix,
        description="",
        created_by="test",
    )
    return subscription


def types_after(store: Store, seq: int = 0) -> list[tuple[str, str | None]]:
    return [(e.type, e.secret_name) for e in events.after(store, seq)]


def test_each_change_records_its_event_and_a_refused_change_records_none(store: Store) -> None:
    secrets.create_secret(store, name="e/one", value="v1")
    versions.put_value(store, "e/one", "v2", version_id="b")
    with pytest.raises(errors.SecretExists):
        secrets.create_secret(store, name="e/one", value="again")
    versions.put_value(store, "e/one", "v2", version_id="b")  # the same again: no change
    stages.update_stage(store, "e/one", "Custom", move_to_version="b")
    stages.update_stage(store, "e/one", "Custom", move_to_version="b")  # already there
    deletion.delete_secret(store, "e/one", recovery_days=7)
    deletion.restore_secret(store, "e/one")
    deletion.delete_secret(store, "e/one", force=True)
    assert types_after(store) == [
        ("secret.created", "e/one"),
        ("secret.changed", "e/one"),
        ("secret.changed", "e/one"),
        ("secret.deletion_scheduled", "e/one"),
        ("secret.restored", "e/one"),
        ("secret.deleted", "e/one"),
    ]
    changed = events.after(store, 0)[1]
    assert changed.data == {
        "secret": "e/one",
        "version_id": "b",
        "stages": {"Current": "b", "Previous": changed.data["stages"]["Previous"]},
    }
    assert changed.id.startswith("evt_")
    assert changed.node == store.node
    # No event holds a value.
    texts = [str(e.data) for e in events.after(store, 0)]
    assert not any("v1" in text or "v2" in text for text in texts)


def test_a_reader_follows_the_log_from_a_cursor(store: Store) -> None:
    start = events.last_seq(store)
    for i in range(5):
        secrets.create_secret(store, name=f"c/{i}", value="v")
    found = events.after(store, start)
    assert [e.secret_name for e in found] == [f"c/{i}" for i in range(5)]
    assert [e.seq for e in found] == sorted(e.seq for e in found)
    assert events.after(store, found[2].seq, limit=1)[0].secret_name == "c/3"
    assert events.after(store, found[-1].seq) == []
    assert events.last_seq(store) == found[-1].seq


def test_events_fan_out_to_the_subscriptions_they_match_once(store: Store) -> None:
    every = subscribe(store, ["*"])
    team = subscribe(store, ["secret.created"], prefix="team/")
    rotations = subscribe(store, ["rotation.failed"])
    secrets.create_secret(store, name="team/db", value="v")
    secrets.create_secret(store, name="other/db", value="v")
    rekey.rotate_master_key(store)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.deliveries.c.subscription_id, t.events.c.type, t.events.c.secret_name)
            .join(t.events, t.events.c.seq == t.deliveries.c.event_seq)
            .order_by(t.deliveries.c.id)
        ).all()
    assert sorted(map(tuple, rows)) == sorted(
        [
            (every.id, "secret.created", "team/db"),
            (team.id, "secret.created", "team/db"),
            (every.id, "secret.created", "other/db"),
            # An event of no secret: only to a subscription without a prefix.
            (every.id, "master_key.rotated", None),
        ]
    )
    assert rotations.id not in {row.subscription_id for row in rows}


def test_one_sender_claims_a_delivery_and_only_its_holder_settles_it(store: Store) -> None:
    subscribe(store, ["*"])
    secrets.create_secret(store, name="claim/me", value="v")
    first = notifications.claim_due(store, "a", lease_seconds=60)
    assert [c.delivery.event.secret_name for c in first] == ["claim/me"]
    assert notifications.claim_due(store, "b", lease_seconds=60) == []
    delivery = first[0].delivery
    assert not notifications.settle(store, delivery.id, "b", status=200, error=None, retry_at=None)
    later = utcnow() + dt.timedelta(hours=1)
    assert notifications.settle(
        store, delivery.id, "a", status=500, error="HTTP 500", retry_at=later
    )
    assert notifications.claim_due(store, "b", lease_seconds=60) == []  # not due yet
    with store.write() as conn:
        conn.execute(t.deliveries.update().values(next_attempt_at=utcnow()))
    again = notifications.claim_due(store, "b", lease_seconds=60)
    assert [c.delivery.attempts for c in again] == [1]
    assert notifications.settle(store, delivery.id, "b", status=None, error="down", retry_at=None)
    (failed,) = notifications.list_deliveries(store, state="failed").items
    assert (failed.attempts, failed.last_error) == (2, "down")
    assert notifications.retry(store, delivery_id=delivery.id) == 1
    with pytest.raises(errors.Conflict):
        notifications.retry(store, delivery_id=delivery.id)
    (pending,) = notifications.list_deliveries(store, state="pending").items
    assert pending.attempts == 0


def test_a_lease_that_ran_out_is_claimed_by_another_sender(store: Store) -> None:
    subscribe(store, ["*"])
    secrets.create_secret(store, name="lease/out", value="v")
    (held,) = notifications.claim_due(store, "dead", lease_seconds=60)
    with store.write() as conn:
        conn.execute(t.deliveries.update().values(lease_expires_at=utcnow()))
    (taken,) = notifications.claim_due(store, "alive", lease_seconds=60)
    assert taken.delivery.id == held.delivery.id
    # The dead sender's late answer is not recorded over the new holder's claim.
    assert not notifications.settle(
        store, held.delivery.id, "dead", status=200, error=None, retry_at=None
    )


def test_signing_secrets_are_sealed_and_rewrapped_with_the_master_key(store: Store) -> None:
    subscription, secret = notifications.create(
        store,
        url="https://hooks.example.com/rotor",
        event_types=["*"],
        prefix="",
        description="",
        created_by="test",
    )
    with store.read() as conn:
        row = conn.execute(sa.select(t.notifications)).one()
    assert secret.removeprefix("whsec_").encode() not in row.ciphertext
    old = row.master_key_id
    rekey.rotate_master_key(store)
    with store.read() as conn:
        assert conn.execute(sa.select(t.notifications.c.master_key_id)).scalar_one() != old
    (claimed,) = notifications.claim_due(store, "s", lease_seconds=60)  # master_key.rotated
    assert claimed.delivery.event.type == "master_key.rotated"
    assert base64.b64encode(claimed.signing_secret).decode() == secret.removeprefix("whsec_")
    assert claimed.delivery.subscription_id == subscription.id


def test_an_overdue_rotation_is_noted_once_per_due_time(store: Store) -> None:
    secrets.create_secret(store, name="late/db", value="v")
    due = utcnow() - dt.timedelta(days=1)
    put_daily_rotation(store, "late/db", next_rotation_at=due)
    assert events.note_overdue(store, "late/db", due)
    assert not events.note_overdue(store, "late/db", due)
    later = due + dt.timedelta(hours=1)
    assert not events.note_overdue(store, "late/db", later)  # not its due time
    with store.write() as conn:
        conn.execute(t.rotation_configs.update().values(next_rotation_at=later))
    assert events.note_overdue(store, "late/db", later)
    overdue = [e for e in events.after(store, 0) if e.type == "rotation.overdue"]
    assert [e.data["due_at"] for e in overdue] == [events.iso(due), events.iso(later)]


def test_pruning_keeps_what_a_delivery_still_waits_on(store: Store) -> None:
    subscription = subscribe(store, ["*"], prefix="kept/")
    secrets.create_secret(store, name="kept/db", value="v")
    secrets.create_secret(store, name="gone/db", value="v")
    assert events.prune(store, utcnow() + dt.timedelta(seconds=1)) == 1
    assert types_after(store) == [("secret.created", "kept/db")]
    (claimed,) = notifications.claim_due(store, "s", lease_seconds=60)
    notifications.settle(store, claimed.delivery.id, "s", status=200, error=None, retry_at=None)
    assert events.prune(store, utcnow() + dt.timedelta(seconds=1)) == 1
    assert notifications.list_deliveries(store, subscription_id=subscription.id).items == []


def test_event_commits_are_ordered_as_their_sequence_on_postgres(store: Store) -> None:
    """A transaction that records an event holds back every other one that would, until
    it commits: a reader past a later event can never miss an earlier one."""
    if store.is_sqlite:
        pytest.skip("SQLite runs one write transaction at a time")
    secrets.create_secret(store, name="order/a", value="v")
    secrets.create_secret(store, name="order/b", value="v")
    start = events.last_seq(store)
    done = threading.Event()
    with store.write() as conn:
        events.record(conn, store, events.SECRET_CHANGED, "order/a", {})

        def second() -> None:
            versions.put_value(store, "order/b", "v2")
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        # Wait until the second transaction waits on the advisory lock, then commit.
        deadline = time.monotonic() + 60
        while True:
            with store.engine.connect() as probe:
                waiting = probe.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                ).scalar_one()
            if waiting:
                break
            assert time.monotonic() < deadline, "the second writer never waited"
            time.sleep(0.02)
        assert not done.is_set()
        assert events.after(store, start) == []  # nothing committed yet
    thread.join(60)
    found = events.after(store, start)
    assert [e.secret_name for e in found] == ["order/a", "order/b"]
