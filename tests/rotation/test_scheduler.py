"""The scheduler's pool: due rotations beyond its room run as soon as room frees up."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

from rotor.clock import utcnow
from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.store import rotation_configs, rotation_steps, secrets
from rotor.store import tables as t
from rotor.store.database import Store
from tests.conftest import admin_identity

#: How long the test waits for the burst before it fails (not a margin: with the
#: interval below, a scheduler that waited for its next tick would never finish).
GIVE_UP_SECONDS = 120.0


def _due_secrets(engine: Engine, count: int) -> list[str]:
    identity = admin_identity(engine.store)
    names = [f"burst/s{i}" for i in range(count)]
    for name in names:
        value = json.dumps({"AccountName": "app", "AccountPassword": "initial"})
        secrets.create_secret(engine.store, name=name, value=value)
        configuration.configure(
            engine,
            name,
            configuration.RotationRequest(
                function="generated-password",
                parameters={},
                every="1d",
                rotate_now=False,
                dry_run=False,
            ),
            identity=identity,
        )
    # Written and configured two days ago: due now, by the facts and by the due time.
    ago = utcnow() - dt.timedelta(days=2)
    with engine.store.write() as conn:
        conn.execute(t.versions.update().values(created_at=ago))
        conn.execute(t.rotation_configs.update().values(enabled_at=ago, next_rotation_at=ago))
    return names


def _rotated(store: Store, names: list[str]) -> int:
    configs = [rotation_configs.get_config(store, name) for name in names]
    return sum(1 for c in configs if c is not None and c.last_rotated_at is not None)


def test_more_due_rotations_than_workers_run_without_waiting_for_the_next_tick(
    store: Store,
) -> None:
    settings = dataclasses.replace(
        store.settings, rotation_workers=2, scheduler_interval_seconds=3600.0
    )
    engine = Engine(store, settings, owner="burst")
    names = _due_secrets(engine, 7)
    scheduler = Scheduler(engine)
    scheduler.start()
    try:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while _rotated(store, names) < len(names) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert scheduler.stop()
    assert _rotated(store, names) == len(names)
    # Each ran once: the pool's limit left the rest due, not started and orphaned.
    assert rotation_steps.resumable(store, utcnow()) == []
    for name in names:
        config = rotation_configs.get_config(store, name)
        assert config is not None
        assert config.next_rotation_at is not None
        assert config.next_rotation_at > utcnow() + dt.timedelta(hours=23)
