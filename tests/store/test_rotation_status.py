"""The status query (``rotation_configs.config_statuses``) on SQLite and PostgreSQL: every
configuration with its secret's latest finished and running rotations, in one statement."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.store import deletion, rotation_configs, rotation_steps, secrets
from rotor.store.database import Store
from rotor.store.rotations import Status
from tests.conftest import admin_identity


@pytest.fixture
def engine(store: Store) -> Engine:
    fast = dataclasses.replace(store.settings, rotation_retry_seconds=0.01)
    return Engine(store, fast, owner="test-runner")


def _configured(engine: Engine, name: str) -> str:
    secrets.create_secret(engine.store, name=name, value="v0")
    configuration.configure(
        engine,
        name,
        configuration.RotationRequest(function="generated-password", rotate_now=False),
        identity=admin_identity(engine.store),
    )
    return name


def _succeeds(engine: Engine, name: str) -> str:
    rotation, _ = engine.start(name, started_by="test")
    assert engine.run(rotation.id).status is Status.SUCCEEDED
    return rotation.id


def _fails(engine: Engine, name: str, message: str) -> str:
    rotation, _ = engine.start(name, started_by="test")
    assert rotation_steps.finish(engine.store, rotation.id, Status.FAILED, message=message)
    return rotation.id


@contextlib.contextmanager
def selects(store: Store) -> Iterator[list[str]]:
    """The SELECT statements sent to the store inside the block."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)


def test_each_configuration_has_its_latest_finished_and_its_running_rotation(
    engine: Engine,
) -> None:
    store = engine.store
    recovered = _configured(engine, "st/recovered")
    _fails(engine, recovered, "set failed")
    recovered_last = _succeeds(engine, recovered)
    broke = _configured(engine, "st/broke")
    _succeeds(engine, broke)
    broke_last = _fails(engine, broke, "RotateSecretSet (set) failed: AccessDenied: no")
    busy = _configured(engine, "st/busy")
    busy_last = _succeeds(engine, busy)
    busy_now, _ = engine.start(busy, started_by="test")
    never = _configured(engine, "st/never")
    secrets.create_secret(store, name="st/unconfigured", value="v")
    deleted = _configured(engine, "st/deleted")
    deletion.delete_secret(store, deleted)

    with selects(store) as sent:
        found = {s.config.secret_name: s for s in rotation_configs.config_statuses(store)}
    # One statement, whatever the number of secrets (no query per configuration).
    assert len(sent) == 1, sent
    # By name; a secret without a configuration, or scheduled for deletion, is not there.
    assert list(found) == sorted([recovered, broke, busy, never])

    assert found[recovered].last_finished is not None
    assert found[recovered].last_finished.id == recovered_last
    assert found[recovered].last_finished.status is Status.SUCCEEDED
    assert found[recovered].last_finished.error is None
    assert found[recovered].running is None

    last = found[broke].last_finished
    assert last is not None
    assert (last.id, last.status) == (broke_last, Status.FAILED)
    assert last.error == "RotateSecretSet (set) failed: AccessDenied: no"
    assert last.finished_at is not None
    assert last.finished_at >= last.started_at

    assert found[busy].last_finished is not None
    assert found[busy].last_finished.id == busy_last
    assert found[busy].running is not None
    assert found[busy].running.id == busy_now.id
    assert found[busy].running.status is Status.RUNNING
    assert found[busy].running.finished_at is None

    assert found[never].last_finished is None
    assert found[never].running is None
    assert found[never].config == rotation_configs.get_config(store, never)


def test_the_prefix_is_a_prefix_not_a_pattern(engine: Engine) -> None:
    for name in ("st_a/one", "st_a/two", "stXa/three", "other/st_a"):
        _configured(engine, name)
    every = rotation_configs.config_statuses(engine.store)
    assert len(every) == 4
    by_prefix = rotation_configs.config_statuses(engine.store, prefix="st_a/")
    assert {s.config.secret_name for s in by_prefix} == {"st_a/one", "st_a/two"}
    assert rotation_configs.config_statuses(engine.store, prefix="st%") == []
