"""Helpers for the store's tests (the store fixtures are the suite's: tests/conftest.py)."""

from __future__ import annotations

import datetime as dt

from rotor.store import rotation_configs, rotations, secrets
from rotor.store.database import Store


def put_daily_rotation(
    store: Store, name: str, *, next_rotation_at: dt.datetime
) -> rotation_configs.RotationConfig:
    """An enabled generated-password rotation of ``name`` every day, next due then."""
    return rotation_configs.put_config(
        store,
        name,
        enabled=True,
        function="generated-password",
        parameters={},
        interval_seconds=86400,
        cron=None,
        window_seconds=None,
        flow=None,
        next_rotation_at=next_rotation_at,
        configured_by=None,
        delegated_secrets=None,
    )


def running_rotation(store: Store) -> rotations.Rotation:
    """A running generated-password rotation of a new secret app/db (Current v1) to v2."""
    secrets.create_secret(store, name="app/db", value="one", version_id="v1")
    rotation, _ = rotations.create_rotation(
        store,
        "app/db",
        version_id="v2",
        function="generated-password",
        parameters={},
        flow="default",
        tasks=[("new", "new")],
        started_by="test",
    )
    return rotation
