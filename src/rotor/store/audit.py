"""Audit events as rows: who did what to which secret, when, from where, and the outcome.

Never a secret value, key secret or password: the columns have no room for one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from rotor import errors
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.paging import Page, decode_offset, encode_token, validate_page_size


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class AuditEvent:
    at: dt.datetime
    action: str
    outcome: str
    request_id: str | None = None
    principal: str | None = None
    access_key_id: str | None = None
    source: str | None = None
    secret_name: str | None = None
    version_id: str | None = None
    error_code: str | None = None
    rotation_id: str | None = None
    #: A rotation function's request: the function, and the principal who configured
    #: the rotation it served (``principal`` is then the function's role).
    function: str | None = None
    on_behalf_of: str | None = None
    #: The node that served the request or ran the step (the writing node when None).
    node: str | None = None


_COLUMNS = [f.name for f in dataclasses.fields(AuditEvent)]


_INSERT = (
    f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)


def insert_events(store: Store, events: Sequence[AuditEvent]) -> None:
    """Write a batch in one transaction, straight on the driver (a busy server writes
    thousands a second; SQLAlchemy's per-row work would cost more than the insert)."""
    if not events:
        return

    def at(event: AuditEvent) -> str | dt.datetime:
        return _sqlite_time(event.at) if store.is_sqlite else event.at

    rows = [
        (at(e), *(getattr(e, name) for name in _COLUMNS[1:-1]), e.node or store.node)
        for e in events
    ]
    with store.writing():
        _insert(store, rows)


def _insert(store: Store, rows: list[tuple[object, ...]]) -> None:
    raw = store.raw_connection()
    try:
        cur = raw.cursor()
        try:
            if store.is_sqlite:
                cur.execute("BEGIN IMMEDIATE")
            cur.executemany(_INSERT if store.is_sqlite else _INSERT.replace("?", "%s"), rows)
        finally:
            cur.close()
        raw.commit()
    except store.driver_error as exc:
        raw.rollback()
        raise errors.ServiceUnavailable("the store is unavailable") from exc
    finally:
        raw.close()


def _sqlite_time(at: dt.datetime) -> str:
    """The text SQLAlchemy stores a UTC datetime as on SQLite."""
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def list_events(
    store: Store,
    *,
    secret_name: str | None = None,
    principal: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    page_size: int = 100,
    page_token: str | None = None,
) -> Page[AuditEvent]:
    """Events newest first, filtered; ``since`` inclusive, ``until`` exclusive."""
    validate_page_size(page_size)
    offset = decode_offset(page_token)
    c = t.audit_events.c
    query = sa.select(*(getattr(c, n) for n in _COLUMNS)).order_by(c.id.desc())
    for column, value in (
        (c.secret_name, secret_name),
        (c.principal, principal),
        (c.action, action),
        (c.outcome, outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(c.at >= since)
    if until is not None:
        query = query.where(c.at < until)
    with store.read() as conn:
        rows = conn.execute(query.offset(offset).limit(page_size + 1)).all()
    items = [AuditEvent(**r._mapping) for r in rows[:page_size]]
    more = len(rows) > page_size
    return Page(items=items, next_page_token=encode_token(offset + page_size) if more else None)
