"""Audit rows on SQLite and PostgreSQL: written in batches, read back filtered, newest first."""

from __future__ import annotations

import datetime as dt

from rotor.clock import utcnow
from rotor.store import audit
from rotor.store.audit import AuditEvent
from rotor.store.database import Store


def test_batches_round_trip_with_filters(store: Store) -> None:
    start = utcnow()
    events = [
        AuditEvent(
            at=start + dt.timedelta(milliseconds=i),
            action="kms:GetSecretValue" if i % 2 else "kms:PutSecretValue",
            outcome="allowed" if i % 3 else "denied",
            principal="alice",
            secret_name=f"app/{i % 4}",
            request_id=f"r{i}",
        )
        for i in range(50)
    ]
    audit.insert_events(store, events)
    page = audit.list_events(store, page_size=100)
    assert [e.request_id for e in page.items] == [f"r{i}" for i in range(49, -1, -1)]
    assert page.items[0].at == events[-1].at
    assert page.items[0].at.tzinfo is not None
    denied = audit.list_events(store, outcome="denied", secret_name="app/0").items
    assert {e.request_id for e in denied} == {
        f"r{i}" for i in range(50) if i % 3 == 0 and i % 4 == 0
    }
    later = audit.list_events(store, since=events[40].at).items
    assert len(later) == 10
