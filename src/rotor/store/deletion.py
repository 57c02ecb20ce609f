"""Deleting secrets: a recovery window (7-30 days), restore, force-delete, and the purge."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import events
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.names import load_row, validate_name

log = logging.getLogger(__name__)

MIN_RECOVERY_DAYS = 7
MAX_RECOVERY_DAYS = 30
DEFAULT_RECOVERY_DAYS = 30


def delete_secret(
    store: Store, name: str, *, recovery_days: int | None = None, force: bool = False
) -> dt.datetime:
    """Schedule the secret's deletion, or delete it at once with ``force``.

    Returns when it will be (or was) deleted. While scheduled, it refuses reads and writes.
    """
    validate_name(name)
    if force and recovery_days is not None:
        raise errors.InvalidParameter("give either recovery_days or force, not both")
    days = DEFAULT_RECOVERY_DAYS if recovery_days is None else recovery_days
    if not force and not MIN_RECOVERY_DAYS <= days <= MAX_RECOVERY_DAYS:
        raise errors.InvalidParameter(
            f"recovery_days must be between {MIN_RECOVERY_DAYS} and {MAX_RECOVERY_DAYS}"
        )
    now = utcnow()
    with store.write() as conn:
        row = load_row(conn, name, for_update=True, allow_pending_deletion=force)
        if force:
            conn.execute(t.secrets.delete().where(t.secrets.c.id == row.id))
            events.record(conn, store, events.SECRET_DELETED, name, {"forced": True})
            return now
        when = now + dt.timedelta(days=days)
        conn.execute(
            t.secrets.update()
            .where(t.secrets.c.id == row.id)
            .values(delete_after=when, updated_at=now)
        )
        scheduled = {"delete_after": events.iso(when)}
        events.record(conn, store, events.SECRET_DELETION_SCHEDULED, name, scheduled)
        return when


def restore_secret(store: Store, name: str) -> None:
    """Cancel a scheduled deletion."""
    validate_name(name)
    with store.write() as conn:
        row = load_row(conn, name, for_update=True, allow_pending_deletion=True)
        if row.delete_after is None:
            raise errors.InvalidParameter(f"secret {name!r} is not scheduled for deletion")
        conn.execute(
            t.secrets.update()
            .where(t.secrets.c.id == row.id)
            .values(delete_after=None, updated_at=utcnow())
        )
        events.record(conn, store, events.SECRET_RESTORED, name)


def purge(store: Store, *, now: dt.datetime | None = None) -> list[str]:
    """Delete the secrets whose recovery window has ended; returns their names."""
    now = now or utcnow()
    with store.write() as conn:
        rows = conn.execute(
            sa.select(t.secrets.c.id, t.secrets.c.name).where(t.secrets.c.delete_after <= now)
        ).all()
        if rows:
            conn.execute(t.secrets.delete().where(t.secrets.c.id.in_([r.id for r in rows])))
            for r in rows:
                events.record(conn, store, events.SECRET_DELETED, r.name, {"forced": False})
    names = sorted(r.name for r in rows)
    for name in names:
        log.info("purged secret %s", name)
    return names
