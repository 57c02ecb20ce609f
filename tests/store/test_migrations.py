"""Migrations build exactly the schema the tables describe, and re-running them is a no-op."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rotor.config import Settings
from rotor.store import secrets, tables, versions
from rotor.store.database import Store


def test_upgrade_to_head_matches_the_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert diff == []


def test_reopening_an_existing_store_keeps_its_data(settings: Settings) -> None:
    first = Store.open(settings)
    secrets.create_secret(first, name="kept", value="v")
    first.close()
    again = Store.open(settings)
    again.migrate()
    assert versions.get_value(again, "kept").value == "v"
    with again.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0002"
    again.close()
