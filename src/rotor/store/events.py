"""The event log: what happened to secrets and rotations, one row per event, in the
transaction of the change itself, so an event is recorded exactly when its change is
committed and never otherwise.

Each event fans out, in the same transaction, into one outbox row per notification
subscription it matches (:mod:`rotor.store.notifications` sends them): written once,
whatever number of nodes serve the store.

Readers follow the log by ``seq``. A sequence is handed out at insert, not at commit,
so two transactions could commit out of order and a reader past the later one would
never see the earlier; on PostgreSQL every event-writing transaction therefore takes
one transaction-scoped advisory lock just before it inserts, which orders their commits
as their sequence numbers (SQLite runs one write transaction at a time anyway). Event
inserts come last in their transactions, so the lock is held only for the commit.

An event's data holds names, ids, stages, a step and an error code: never a value, a
password or an error message (which could quote what a database said).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import tables as t
from rotor.store.database import Store, bind_time, driver_execute

ROTATION_STARTED = "rotation.started"
ROTATION_SUCCEEDED = "rotation.succeeded"
ROTATION_FAILED = "rotation.failed"
ROTATION_RESUMED = "rotation.resumed"
ROTATION_CANCELLED = "rotation.cancelled"
ROTATION_ABANDONED = "rotation.abandoned"
ROTATION_OVERDUE = "rotation.overdue"
SECRET_CREATED = "secret.created"
#: A version was added or a stage moved (a put, a stage update, a rotation's end step).
SECRET_CHANGED = "secret.changed"
SECRET_DELETION_SCHEDULED = "secret.deletion_scheduled"
SECRET_RESTORED = "secret.restored"
SECRET_DELETED = "secret.deleted"
MASTER_KEY_ROTATED = "master_key.rotated"

#: Every event type, with what it means (the docs list them from here).
TYPES: dict[str, str] = {
    ROTATION_STARTED: "a rotation started (by a person, an API call or the schedule)",
    ROTATION_SUCCEEDED: "a rotation's new version is Current",
    ROTATION_FAILED: "a rotation failed after its last attempt; data has step and error_code",
    ROTATION_RESUMED: "a rotation whose runner stopped was taken over by another",
    ROTATION_CANCELLED: "a running rotation was cancelled",
    ROTATION_ABANDONED: "a value was written while a rotation ran; the rotation promoted nothing",
    ROTATION_OVERDUE: "a scheduled rotation is due and has not started within the grace period",
    SECRET_CREATED: "a secret was created",
    SECRET_CHANGED: "a version was added or a stage moved; data has the stages",
    SECRET_DELETION_SCHEDULED: "a secret was scheduled for deletion; data has delete_after",
    SECRET_RESTORED: "a secret's scheduled deletion was cancelled",
    SECRET_DELETED: "a secret was deleted (forced, or at the end of its recovery window)",
    MASTER_KEY_ROTATED: "the master key was rotated and every data key rewrapped",
}

#: An arbitrary constant: the PostgreSQL advisory lock that orders event commits.
_ORDER_LOCK = 0x726F746F72  # "rotor"

MAX_BATCH = 100

# Every change records an event: its statements go straight to the driver (as the read
# path's do), without building and caching SQLAlchemy expressions each time.
_ORDER_SQL = "SELECT pg_advisory_xact_lock(?)"
_INSERT_SQL = (
    "INSERT INTO events (id, type, secret_name, at, node, data) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING seq"
)
_SUBSCRIPTIONS_SQL = "SELECT id, events, prefix FROM notifications"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    seq: int
    id: str
    type: str
    secret_name: str | None
    at: dt.datetime
    node: str
    data: dict[str, Any]


def validate_types(types: Iterable[str]) -> list[str]:
    """Event types as given (``*`` for all), each known; refused when none or unknown."""
    given = list(dict.fromkeys(types))
    if not given:
        raise errors.InvalidParameter("give at least one event type (or * for all)")
    unknown = [name for name in given if name != "*" and name not in TYPES]
    if unknown:
        raise errors.InvalidParameter(
            f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(TYPES))}"
        )
    return ["*"] if "*" in given else given


def matches(types: Sequence[str], prefix: str, event_type: str, secret_name: str | None) -> bool:
    """Whether a subscription to ``types`` under ``prefix`` takes an event. An event of no
    secret (master_key.rotated) goes only to subscriptions without a prefix."""
    if "*" not in types and event_type not in types:
        return False
    if secret_name is None:
        return prefix == ""
    return secret_name.startswith(prefix)


def record(
    conn: sa.Connection,
    store: Store,
    event_type: str,
    secret_name: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add an event to the log, and its outbox rows, inside the caller's write transaction
    (call it last in that transaction: see the module's note on order)."""
    if not store.is_sqlite:
        driver_execute(conn, _ORDER_SQL, (_ORDER_LOCK,))
    now = utcnow()
    body = {"secret": secret_name, **(data or {})} if secret_name is not None else dict(data or {})
    [(seq,)] = driver_execute(
        conn,
        _INSERT_SQL,
        (
            f"evt_{uuid.uuid4().hex}",
            event_type,
            secret_name,
            bind_time(conn, now),
            store.node,
            json.dumps(body, separators=(",", ":")),
        ),
    )
    subscribed = [
        sid
        for sid, types, prefix in driver_execute(conn, _SUBSCRIPTIONS_SQL)
        if matches(json.loads(types), prefix, event_type, secret_name)
    ]
    if subscribed:
        conn.execute(
            t.deliveries.insert(),
            [
                {
                    "subscription_id": sid,
                    "event_seq": seq,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for sid in subscribed
            ],
        )


def _event(row: Any) -> Event:
    return Event(
        seq=row.seq,
        id=row.id,
        type=row.type,
        secret_name=row.secret_name,
        at=row.at,
        node=row.node,
        data=json.loads(row.data),
    )


def after(store: Store, seq: int, *, limit: int = MAX_BATCH) -> list[Event]:
    """The events after ``seq``, oldest first, at most ``limit``."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.events).where(t.events.c.seq > seq).order_by(t.events.c.seq).limit(limit)
        ).all()
    return [_event(row) for row in rows]


def last_seq(store: Store) -> int:
    """The newest event's ``seq`` (0 when there is none): where a new reader starts."""
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.max(t.events.c.seq))).scalar() or 0)


def get(conn: sa.Connection, seq: int) -> Event:
    row = conn.execute(sa.select(t.events).where(t.events.c.seq == seq)).one()
    return _event(row)


def note_overdue(store: Store, name: str, due: dt.datetime) -> bool:
    """Record ``rotation.overdue`` for a due time, once however many nodes notice it;
    False when it was recorded already (or the schedule moved on)."""
    with store.write() as conn:
        noted = conn.execute(
            t.rotation_configs.update()
            .where(
                t.rotation_configs.c.secret_id
                == sa.select(t.secrets.c.id).where(t.secrets.c.name == name).scalar_subquery(),
                t.rotation_configs.c.next_rotation_at == due,
                sa.or_(
                    t.rotation_configs.c.overdue_noted_for.is_(None),
                    t.rotation_configs.c.overdue_noted_for != due,
                ),
            )
            .values(overdue_noted_for=due)
        )
        if noted.rowcount != 1:
            return False
        record(conn, store, ROTATION_OVERDUE, name, {"due_at": iso(due)})
        return True


def prune(store: Store, older_than: dt.datetime) -> int:
    """Delete events older than ``older_than`` that no delivery still waits on (delivered
    deliveries go with them; pending and failed ones keep their events)."""
    with store.write() as conn:
        waiting = sa.select(t.deliveries.c.event_seq).where(t.deliveries.c.state != "delivered")
        result = conn.execute(
            t.events.delete().where(t.events.c.at < older_than, t.events.c.seq.not_in(waiting))
        )
        return int(result.rowcount or 0)


def iso(at: dt.datetime) -> str:
    """A time as the API writes every time (UTC, microseconds, ``Z``)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
