from __future__ import annotations

import datetime as dt

import pytest

from rotor import errors
from rotor.clock import utcnow
from rotor.store import deletion, secrets, stages, versions
from rotor.store.database import Store


@pytest.fixture
def secret(store: Store) -> str:
    secrets.create_secret(store, name="gone/soon", value="v", version_id="v1")
    return "gone/soon"


@pytest.mark.parametrize("days", [6, 31, 0, -1])
def test_recovery_window_must_be_7_to_30_days(store: Store, secret: str, days: int) -> None:
    with pytest.raises(errors.InvalidParameter, match="recovery_days"):
        deletion.delete_secret(store, secret, recovery_days=days)
    assert secrets.get_secret(store, secret).delete_after is None


def test_default_window_is_30_days(store: Store, secret: str) -> None:
    when = deletion.delete_secret(store, secret)
    assert dt.timedelta(days=29, hours=23) < when - utcnow() <= dt.timedelta(days=30)
    assert secrets.get_secret(store, secret).delete_after == when


def test_scheduled_secret_refuses_reads_and_writes(store: Store, secret: str) -> None:
    deletion.delete_secret(store, secret, recovery_days=7)
    with pytest.raises(errors.SecretPendingDeletion):
        versions.get_value(store, secret)
    with pytest.raises(errors.SecretPendingDeletion):
        versions.put_value(store, secret, "x")
    with pytest.raises(errors.SecretPendingDeletion):
        stages.update_stage(store, secret, "x", move_to_version="v1")
    with pytest.raises(errors.SecretPendingDeletion):
        secrets.update_secret(store, secret, description="d")
    with pytest.raises(errors.SecretPendingDeletion):
        deletion.delete_secret(store, secret, recovery_days=7)
    assert secrets.list_secrets(store).items == []
    listed = secrets.list_secrets(store, include_pending_deletion=True).items
    assert [s.name for s in listed] == [secret]


def test_restore_undoes_the_schedule(store: Store, secret: str) -> None:
    deletion.delete_secret(store, secret, recovery_days=7)
    deletion.restore_secret(store, secret)
    assert versions.get_value(store, secret).value == "v"
    with pytest.raises(errors.InvalidParameter, match="not scheduled"):
        deletion.restore_secret(store, secret)


def test_force_deletes_at_once_even_when_scheduled(store: Store, secret: str) -> None:
    deletion.delete_secret(store, secret, recovery_days=7)
    deletion.delete_secret(store, secret, force=True)
    with pytest.raises(errors.NotFound):
        secrets.get_secret(store, secret)
    # The name is free again, and the new secret does not see old versions.
    secrets.create_secret(store, name=secret)
    with pytest.raises(errors.NotFound):
        versions.get_value(store, secret, version_id="v1")


def test_force_and_window_together_are_refused(store: Store, secret: str) -> None:
    with pytest.raises(errors.InvalidParameter):
        deletion.delete_secret(store, secret, recovery_days=7, force=True)


def test_purge_removes_only_expired(store: Store, secret: str) -> None:
    secrets.create_secret(store, name="later", value="x")
    secrets.create_secret(store, name="kept", value="x")
    deletion.delete_secret(store, secret, recovery_days=7)
    deletion.delete_secret(store, "later", recovery_days=30)
    assert deletion.purge(store) == []
    assert deletion.purge(store, now=utcnow() + dt.timedelta(days=8)) == [secret]
    with pytest.raises(errors.NotFound):
        secrets.get_secret(store, secret)
    assert secrets.get_secret(store, "later").delete_after is not None
    assert versions.get_value(store, "kept").value == "x"
