"""Notification subscriptions and the outbox of their deliveries, as rows.

A subscription names a URL, the event types it takes and a secret-name prefix; its
signing secret is envelope-encrypted like a secret value. The outbox has one row per
(subscription, event), written in the event's own transaction (:func:`rotor.store.events.record`),
so an event is queued exactly once whatever number of nodes serve the store. A sender
(:mod:`rotor.notifications.sender`, in every server process) claims a due row with a
lease, as a rotation runner claims a rotation, posts it, and settles it: delivered, due
again later, or failed after its last attempt, when it waits for someone to retry it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import events
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.envelope import Sealed, notification_context
from rotor.store.paging import Page, decode_offset, encode_token, validate_page_size

MAX_URL = 2048
MAX_PREFIX = 256
MAX_DESCRIPTION = 1024
MAX_SUBSCRIPTIONS = 100
#: The signing secret's size: Standard Webhooks asks for 24 to 64 random bytes.
SECRET_BYTES = 32

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
STATES = (PENDING, DELIVERED, FAILED)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Subscription:
    id: str
    url: str
    events: tuple[str, ...]
    prefix: str
    description: str
    created_by: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    id: int
    subscription_id: str
    event: events.Event
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    last_attempt_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Claimed:
    """A delivery a sender holds: what to post, where, and the key to sign it with."""

    delivery: Delivery
    url: str
    signing_secret: bytes


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        events=tuple(json.loads(row.events)),
        prefix=row.prefix,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def create(
    store: Store,
    *,
    url: str,
    event_types: Sequence[str],
    prefix: str,
    description: str,
    created_by: str,
) -> tuple[Subscription, str]:
    """A new subscription and its signing secret (``whsec_`` + base64, shown only now).

    The URL's target rules are the caller's to check (:mod:`rotor.notifications.targets`):
    they depend on where it resolves, and are checked again at every delivery."""
    if not url or len(url) > MAX_URL:
        raise errors.InvalidParameter(f"url must be 1-{MAX_URL} characters")
    if len(prefix) > MAX_PREFIX:
        raise errors.InvalidParameter(f"prefix must be at most {MAX_PREFIX} characters")
    if len(description) > MAX_DESCRIPTION:
        raise errors.InvalidParameter(f"description must be at most {MAX_DESCRIPTION} characters")
    types = events.validate_types(event_types)
    subscription_id = f"ntf_{uuid.uuid4().hex}"
    key = os.urandom(SECRET_BYTES)
    sealed = store.envelope.seal(key, notification_context(subscription_id))
    now = utcnow()
    with store.write() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(t.notifications)).scalar_one()
        if count >= MAX_SUBSCRIPTIONS:
            raise errors.Conflict(
                f"at most {MAX_SUBSCRIPTIONS} notification subscriptions; delete one first"
            )
        conn.execute(
            t.notifications.insert().values(
                id=subscription_id,
                url=url,
                events=json.dumps(types),
                prefix=prefix,
                description=description,
                master_key_id=sealed.master_key_id,
                data_key=sealed.data_key,
                ciphertext=sealed.ciphertext,
                created_by=created_by[:128],
                created_at=now,
            )
        )
        row = conn.execute(
            sa.select(t.notifications).where(t.notifications.c.id == subscription_id)
        ).one()
    return _subscription(row), "whsec_" + base64.b64encode(key).decode()


def get(store: Store, subscription_id: str) -> Subscription:
    with store.read() as conn:
        row = conn.execute(
            sa.select(t.notifications).where(t.notifications.c.id == subscription_id)
        ).first()
    if row is None:
        raise errors.NotFound(f"notification {subscription_id!r} not found")
    return _subscription(row)


def list_all(store: Store) -> list[Subscription]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.notifications).order_by(t.notifications.c.created_at, t.notifications.c.id)
        ).all()
    return [_subscription(row) for row in rows]


def delete(store: Store, subscription_id: str) -> None:
    """Delete a subscription and its deliveries, sent or not (the foreign key cascades,
    on SQLite too: every connection turns foreign keys on)."""
    with store.write() as conn:
        gone = conn.execute(t.notifications.delete().where(t.notifications.c.id == subscription_id))
        if gone.rowcount != 1:
            raise errors.NotFound(f"notification {subscription_id!r} not found")


# -- deliveries -------------------------------------------------------------------------


def _delivery(row: Any, event: events.Event) -> Delivery:
    return Delivery(
        id=row.id,
        subscription_id=row.subscription_id,
        event=event,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


def claim_due(store: Store, owner: str, lease_seconds: float, limit: int = 20) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for ``owner`` until their lease ends: each is
    claimed by a compare-and-set, so of several senders one gets it."""
    now = utcnow()
    due = sa.and_(
        t.deliveries.c.state == PENDING,
        t.deliveries.c.next_attempt_at <= now,
        sa.or_(t.deliveries.c.lease_expires_at.is_(None), t.deliveries.c.lease_expires_at < now),
    )
    with store.read() as conn:
        candidates = (
            conn.execute(
                sa.select(t.deliveries.c.id)
                .where(due)
                .order_by(t.deliveries.c.next_attempt_at, t.deliveries.c.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    claimed: list[Claimed] = []
    until = now + dt.timedelta(seconds=lease_seconds)
    for delivery_id in candidates:
        with store.write() as conn:
            won = conn.execute(
                t.deliveries.update()
                .where(t.deliveries.c.id == delivery_id, due)
                .values(lease_owner=owner, lease_expires_at=until)
            )
            if won.rowcount != 1:
                continue
            row = conn.execute(
                sa.select(
                    t.deliveries,
                    t.notifications.c.url,
                    t.notifications.c.master_key_id,
                    t.notifications.c.data_key,
                    t.notifications.c.ciphertext,
                )
                .join(t.notifications, t.notifications.c.id == t.deliveries.c.subscription_id)
                .where(t.deliveries.c.id == delivery_id)
            ).one()
            event = events.get(conn, row.event_seq)
        key = store.envelope.open(
            Sealed(row.master_key_id, row.data_key, row.ciphertext),
            notification_context(row.subscription_id),
        )
        claimed.append(Claimed(delivery=_delivery(row, event), url=row.url, signing_secret=key))
    return claimed


def settle(
    store: Store,
    delivery_id: int,
    owner: str,
    *,
    status: int | None,
    error: str | None,
    retry_at: dt.datetime | None,
) -> bool:
    """Record an attempt of a claimed delivery: delivered when ``error`` is None, else due
    again at ``retry_at``, or failed when that is None (its last attempt). False when the
    lease was lost meanwhile (another sender holds it now; this attempt is not recorded)."""
    now = utcnow()
    values: dict[str, Any] = {
        "attempts": t.deliveries.c.attempts + 1,
        "last_attempt_at": now,
        "last_status": status,
        "last_error": None if error is None else error[:512],
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if error is None:
        values |= {"state": DELIVERED, "delivered_at": now}
    elif retry_at is None:
        values |= {"state": FAILED}
    else:
        values |= {"next_attempt_at": retry_at}
    with store.write() as conn:
        done = conn.execute(
            t.deliveries.update()
            .where(
                t.deliveries.c.id == delivery_id,
                t.deliveries.c.lease_owner == owner,
                t.deliveries.c.state == PENDING,
            )
            .values(**values)
        )
        return done.rowcount == 1


def list_deliveries(
    store: Store,
    *,
    state: str | None = None,
    subscription_id: str | None = None,
    page_size: int = 50,
    page_token: str | None = None,
) -> Page[Delivery]:
    """Deliveries, newest event first, of one state and subscription when given."""
    if state is not None and state not in STATES:
        raise errors.InvalidParameter(f"state must be one of {', '.join(STATES)}")
    validate_page_size(page_size)
    offset = decode_offset(page_token)
    query = sa.select(t.deliveries, *(c.label(f"ev_{c.name}") for c in t.events.c)).join(
        t.events, t.events.c.seq == t.deliveries.c.event_seq
    )
    if state is not None:
        query = query.where(t.deliveries.c.state == state)
    if subscription_id is not None:
        query = query.where(t.deliveries.c.subscription_id == subscription_id)
    with store.read() as conn:
        rows = conn.execute(
            query.order_by(t.deliveries.c.event_seq.desc(), t.deliveries.c.id)
            .offset(offset)
            .limit(page_size + 1)
        ).all()
    items = [
        _delivery(
            row,
            events.Event(
                seq=row.ev_seq,
                id=row.ev_id,
                type=row.ev_type,
                secret_name=row.ev_secret_name,
                at=row.ev_at,
                node=row.ev_node,
                data=json.loads(row.ev_data),
            ),
        )
        for row in rows[:page_size]
    ]
    more = len(rows) > page_size
    return Page(items=items, next_page_token=encode_token(offset + page_size) if more else None)


def retry(
    store: Store, *, delivery_id: int | None = None, subscription_id: str | None = None
) -> int:
    """Make failed deliveries due again now with a fresh count of attempts: one by id, or
    every failed one (of a subscription); returns how many."""
    query = t.deliveries.update().where(t.deliveries.c.state == FAILED)
    if delivery_id is not None:
        query = query.where(t.deliveries.c.id == delivery_id)
    if subscription_id is not None:
        query = query.where(t.deliveries.c.subscription_id == subscription_id)
    with store.write() as conn:
        if delivery_id is not None:
            found = conn.execute(
                sa.select(t.deliveries.c.state).where(t.deliveries.c.id == delivery_id)
            ).first()
            if found is None:
                raise errors.NotFound(f"delivery {delivery_id} not found")
            if found.state != FAILED:
                raise errors.Conflict(
                    f"delivery {delivery_id} is {found.state}: only a failed one is retried"
                )
        done = conn.execute(query.values(state=PENDING, attempts=0, next_attempt_at=utcnow()))
        return int(done.rowcount or 0)
