"""Opening a store refuses a keyring that lacks a key id the store's data keys are wrapped
under, and lets every round of a master-key rotation through."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from rotor import errors
from rotor.store import rekey, secrets, versions
from rotor.store.database import Store
from rotor.store.master_key import generate_key, key_id
from tests.conftest import make_settings

VALUE = "wrapped under the first key 51c0"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def open_with(tmp_path: Path, *keys: bytes) -> Store:
    return Store.open(make_settings(tmp_path, master_key=",".join(b64(k) for k in keys)))


def test_a_store_opened_with_another_key_is_refused(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    store = open_with(tmp_path, a)
    secrets.create_secret(store, name="s", value=VALUE)
    store.close()
    with pytest.raises(errors.InvalidParameter) as refused:
        open_with(tmp_path, b)
    message = refused.value.message
    assert message.startswith("this node's master key does not match the store: ")
    assert f"wrapped under master key id {key_id(a)}, which this node does not have" in message
    assert f"(its keys, from ROTOR_MASTER_KEY: {key_id(b)})" in message
    assert str(tmp_path / "data" / "master.key") in message
    assert b64(a) not in message
    assert b64(b) not in message
    assert refused.value.exit_code == 2
    # With A still in the keyring (B active) the store opens and reads.
    both = open_with(tmp_path, b, a)
    assert versions.get_value(both, "s").value == VALUE
    both.close()


def test_an_empty_store_takes_any_key(tmp_path: Path) -> None:
    open_with(tmp_path, generate_key()).close()  # made, migrated, nothing wrapped yet
    again = open_with(tmp_path, generate_key())
    secrets.create_secret(again, name="first", value=VALUE)
    again.close()


def test_the_rotation_rounds_open_at_every_step(tmp_path: Path) -> None:
    """OLD, then OLD,NEW, then NEW,OLD, rewrap, then NEW (docs/how-to/several-nodes.md)."""
    old, new = generate_key(), generate_key()
    store = open_with(tmp_path, old)
    secrets.create_secret(store, name="r", value=VALUE)
    store.close()
    open_with(tmp_path, old, new).close()
    both = open_with(tmp_path, new, old)
    secrets.create_secret(both, name="under-new", value=VALUE)  # wrapped under NEW
    # A node still on round 1 reads both keys' data keys.
    open_with(tmp_path, old, new).close()
    assert rekey.rotate_master_key(both) == 1  # r; under-new is wrapped under NEW already
    both.close()
    only_new = open_with(tmp_path, new)
    assert versions.get_value(only_new, "r").value == VALUE
    only_new.close()
    with pytest.raises(errors.InvalidParameter, match=f"master key id {key_id(new)}"):
        open_with(tmp_path, old)


def test_access_keys_count_too(tmp_path: Path) -> None:
    """A store with no secret yet but an access key (every served store has the admin's)."""
    from rotor.access import keys
    from rotor.store import principals

    a = generate_key()
    store = open_with(tmp_path, a)
    keys.create_access_key(store, principals.create_principal(store, "someone"))
    store.close()
    with pytest.raises(errors.InvalidParameter, match=f"master key id {key_id(a)}"):
        open_with(tmp_path, generate_key())


def test_a_lost_key_file_is_not_replaced_by_a_new_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store.open(settings)
    secrets.create_secret(store, name="s", value=VALUE)
    old_id = store.envelope.keyring.active_id
    store.close()
    key_file = settings.data_dir / "master.key"
    key_file.unlink()
    with pytest.raises(errors.InvalidParameter) as refused:
        Store.open(settings)
    assert f"master key id {old_id}, which this node does not have (it has none: " in (
        refused.value.message
    )
    assert not key_file.exists()


def test_a_key_file_with_another_key_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store.open(settings)
    secrets.create_secret(store, name="s", value=VALUE)
    store.close()
    key_file = settings.data_dir / "master.key"
    other = generate_key()
    key_file.write_text(b64(other) + "\n")
    with pytest.raises(errors.InvalidParameter, match=f"from {key_file}: {key_id(other)}"):
        Store.open(settings)
