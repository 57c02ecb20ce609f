"""Envelope encryption as stored: tampering, wrong keys, copied rows, rotation."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from rotor import errors
from rotor.settings import Settings
from rotor.store import rekey, secrets, tables, versions
from rotor.store.database import Store
from rotor.store.master_key import generate_key
from tests.conftest import make_settings

VALUE = "correct horse battery staple 7f3a"


def _version_row(store: Store, name: str) -> sa.Row[object]:
    with store.read() as conn:
        return conn.execute(
            sa.select(tables.versions)
            .join(tables.secrets, tables.secrets.c.id == tables.versions.c.secret_id)
            .where(tables.secrets.c.name == name)
        ).one()


def test_value_is_not_stored_in_plaintext(store: Store) -> None:
    secrets.create_secret(store, name="p", value=VALUE)
    with store.read() as conn:
        dump = b"".join(
            repr(tuple(row)).encode()
            for table in tables.metadata.sorted_tables
            for row in conn.execute(sa.select(table))
        )
    assert VALUE.encode() not in dump
    assert base64.b64encode(VALUE.encode()) not in dump


def test_sqlite_files_hold_no_plaintext_and_keys_are_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store.open(settings)
    secrets.create_secret(store, name="p", value=VALUE)
    store.close()
    for path in settings.data_dir.iterdir():
        assert VALUE.encode() not in path.read_bytes(), path
    assert stat.S_IMODE(os.stat(settings.data_dir / "master.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(settings.sqlite_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(settings.data_dir).st_mode) == 0o700


@pytest.mark.parametrize("column", ["ciphertext", "data_key"])
def test_tampered_row_fails_to_decrypt(store: Store, column: str) -> None:
    secrets.create_secret(store, name="t", value=VALUE)
    row = _version_row(store, "t")
    blob = bytearray(getattr(row, column))
    blob[-1] ^= 1
    with store.write() as conn:
        conn.execute(tables.versions.update().values({column: bytes(blob)}))
    with pytest.raises(errors.DecryptionFailed):
        versions.get_value(store, "t")


def test_row_copied_to_another_secret_fails_to_decrypt(store: Store) -> None:
    secrets.create_secret(store, name="victim", value=VALUE, version_id="v1")
    secrets.create_secret(store, name="attacker", value="mine", version_id="v1")
    stolen = _version_row(store, "victim")
    with store.write() as conn:
        target = conn.execute(
            sa.select(tables.secrets.c.id).where(tables.secrets.c.name == "attacker")
        ).scalar_one()
        conn.execute(
            tables.versions.update()
            .where(tables.versions.c.secret_id == target)
            .values(data_key=stolen.data_key, ciphertext=stolen.ciphertext)
        )
    with pytest.raises(errors.DecryptionFailed):
        versions.get_value(store, "attacker")


def test_row_copied_to_another_version_fails_to_decrypt(store: Store) -> None:
    secrets.create_secret(store, name="s", value=VALUE, version_id="v1")
    versions.put_value(store, "s", "other", version_id="v2")
    with store.read() as conn:
        rows = {r.version_id: r for r in conn.execute(sa.select(tables.versions))}
    with store.write() as conn:
        conn.execute(
            tables.versions.update()
            .where(tables.versions.c.version_id == "v2")
            .values(data_key=rows["v1"].data_key, ciphertext=rows["v1"].ciphertext)
        )
    with pytest.raises(errors.DecryptionFailed):
        versions.get_value(store, "s")


def test_wrong_master_key_fails_to_decrypt(tmp_path: Path, settings: Settings) -> None:
    store = Store.open(settings)
    secrets.create_secret(store, name="k", value=VALUE)
    store.close()
    (settings.data_dir / "master.key").write_text(base64.b64encode(generate_key()).decode())
    with pytest.raises(errors.InvalidParameter, match="does not match the store"):
        Store.open(settings)
    other = Store.open(settings, initialise=False)  # past the check: nothing decrypts
    with pytest.raises(errors.DecryptionFailed):
        versions.get_value(other, "k")
    other.close()


def test_master_key_from_environment(tmp_path: Path) -> None:
    key = base64.b64encode(generate_key()).decode()
    settings = make_settings(tmp_path, master_key=key)
    store = Store.open(settings)
    secrets.create_secret(store, name="e", value=VALUE)
    assert not (settings.data_dir / "master.key").exists()
    store.close()
    again = Store.open(make_settings(tmp_path, master_key=key))
    assert versions.get_value(again, "e").value == VALUE
    again.close()
    wrong_settings = make_settings(tmp_path, master_key=base64.b64encode(generate_key()).decode())
    with pytest.raises(errors.InvalidParameter, match="does not match the store"):
        Store.open(wrong_settings)
    wrong = Store.open(wrong_settings, initialise=False)
    with pytest.raises(errors.DecryptionFailed):
        versions.get_value(wrong, "e")
    wrong.close()


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_master_key_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="master key"):
        Store.open(make_settings(tmp_path, master_key=bad))


def test_master_key_rotation_rewraps_everything_while_readers_keep_reading(
    settings: Settings,
) -> None:
    store = Store.open(settings)
    for i in range(30):
        secrets.create_secret(store, name=f"r{i}", value=f"{VALUE} {i}")
    old_id = store.envelope.keyring.active_id
    # A second handle stands for a running server that started with the old key only.
    server = Store.open(settings)
    failures: list[BaseException] = []
    stop = threading.Event()

    def read_forever() -> None:
        while not stop.is_set():
            for i in range(0, 30, 7):
                try:
                    assert versions.get_value(server, f"r{i}").value == f"{VALUE} {i}"
                except BaseException as exc:
                    failures.append(exc)

    reader = threading.Thread(target=read_forever)
    reader.start()
    progress: list[tuple[int, int]] = []
    try:
        count = rekey.rotate_master_key(store, on_progress=lambda d, t: progress.append((d, t)))
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert count == 30 + 0  # 30 versions; no access keys in a bare store
    assert progress[0] == (0, 30)
    assert progress[-1] == (30, 30)
    new_id = store.envelope.keyring.active_id
    assert new_id != old_id
    with store.read() as conn:
        ids = set(conn.execute(sa.select(tables.versions.c.master_key_id)).scalars())
    assert ids == {new_id}
    # The old key is retired from the file: only the new one remains.
    assert len((settings.data_dir / "master.key").read_text().split()) == 1
    fresh = Store.open(settings)
    assert versions.get_value(fresh, "r29").value == f"{VALUE} 29"
    assert versions.get_value(server, "r3").value == f"{VALUE} 3"
    for handle in (store, server, fresh):
        handle.close()


def test_env_master_key_rotation_needs_new_key_first(tmp_path: Path) -> None:
    old = base64.b64encode(generate_key()).decode()
    new = base64.b64encode(generate_key()).decode()
    store = Store.open(make_settings(tmp_path, master_key=old))
    secrets.create_secret(store, name="e", value=VALUE)
    with pytest.raises(errors.InvalidParameter, match="NEW,OLD"):
        rekey.rotate_master_key(store)
    store.close()
    both = Store.open(make_settings(tmp_path, master_key=f"{new},{old}"))
    assert rekey.rotate_master_key(both) == 1
    both.close()
    only_new = Store.open(make_settings(tmp_path, master_key=new))
    assert versions.get_value(only_new, "e").value == VALUE
    only_new.close()
