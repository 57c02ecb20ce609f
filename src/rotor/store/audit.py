"""Audit events as rows: who did what to which secret, when, from where, and the outcome.

Never a secret value, key secret or password: the columns have no room for one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

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


_COLUMNS = [f.name for f in dataclasses.fields(AuditEvent)]


def insert_events(store: Store, events: Sequence[AuditEvent]) -> None:
    if not events:
        return
    with store.write() as conn:
        conn.execute(t.audit_events.insert(), [dataclasses.asdict(e) for e in events])


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
