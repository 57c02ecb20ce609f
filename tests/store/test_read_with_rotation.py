"""A read can bring the secret's rotation schedule in its own query (the KMS dialect
answers the rotation fields with every value); it is what the configuration says."""

from __future__ import annotations

import datetime as dt

from rotor.clock import utcnow
from rotor.store import rotation_configs, secrets, versions
from rotor.store.database import Store
from tests.store.conftest import put_daily_rotation


def test_the_schedule_read_with_the_value_is_the_configuration(store: Store) -> None:
    secrets.create_secret(store, name="app/rotated", value="v1")
    assert versions.get_value(store, "app/rotated", with_rotation=True).rotation is None
    due = utcnow().replace(microsecond=0) + dt.timedelta(days=1)
    put_daily_rotation(store, "app/rotated", next_rotation_at=due)
    value = versions.get_value(store, "app/rotated", with_rotation=True)
    config = rotation_configs.get_config(store, "app/rotated")
    assert config is not None
    assert value.rotation == rotation_configs.RotationSchedule(
        enabled=config.enabled,
        interval_seconds=config.interval_seconds,
        last_rotated_at=config.last_rotated_at,
        next_rotation_at=config.next_rotation_at,
    )
    assert value.rotation.next_rotation_at == due
    assert value.value == "v1"
    # The native read does not pay for it.
    assert versions.get_value(store, "app/rotated").rotation is None
