"""Migrations build exactly the schema the tables describe, and re-running them is a no-op."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rotor.settings import Settings
from rotor.store import secrets, tables, versions
from rotor.store.database import Store
from tests.conftest import admin_identity


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
        assert MigrationContext.configure(conn).get_current_revision() == "0009"
    again.close()


def test_a_store_made_by_an_older_release_upgrades_in_place(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    from rotor.store import rotation_configs
    from rotor.store.database import MIGRATIONS

    # Write a secret, then take the schema back to the first release's (the data stays).
    first = Store.open(settings)  # creates data dir and master key, migrates to head...
    secrets.create_secret(first, name="from/v1", value="old value")
    with first.engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")  # ...so step back to the first release's schema
    first.close()
    upgraded = Store.open(settings)
    assert versions.get_value(upgraded, "from/v1").value == "old value"
    with upgraded.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0009"
    rotation_configs.put_config(
        upgraded,
        "from/v1",
        enabled=True,
        function="generated-password",
        parameters={},
        interval_seconds=None,
        cron=None,
        window_seconds=None,
        flow=None,
        next_rotation_at=None,
        configured_by=admin_identity(upgraded).principal_id,
        delegated_secrets=None,
    )
    assert rotation_configs.get_config(upgraded, "from/v1") is not None
    upgraded.close()
