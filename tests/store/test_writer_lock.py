"""SQLite's writers queue on the store's WriterLock, across threads and store handles."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from rotor import errors
from rotor.store import secrets, versions
from rotor.store.database import Store, WriterLock, driver_execute
from tests.conftest import make_settings


def _locked_elsewhere(path: Path) -> bool:
    """Whether another open file (as another process has) finds ``path`` locked."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_the_file_is_locked_while_held_and_nested_holds_keep_it(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "db-writer.lock")
    with lock.held():
        assert _locked_elsewhere(tmp_path / "db-writer.lock")
        with lock.held():
            pass
        assert _locked_elsewhere(tmp_path / "db-writer.lock")  # the outer hold is not over
    assert not _locked_elsewhere(tmp_path / "db-writer.lock")
    lock.close()


def test_a_write_waits_for_another_handles_write_then_commits(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first, second = Store.open(settings), Store.open(settings, initialise=False)
    try:
        secrets.create_secret(first, name="w/one", secret_type="Generic", value="v0")
        assert first.writer.path == settings.data_dir / "rotor.db-writer.lock"
        entered, release = threading.Event(), threading.Event()
        written: list[str] = []

        def hold() -> None:
            with first.write():
                entered.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        assert entered.wait(30)
        writer = threading.Thread(
            target=lambda: written.append(versions.put_value(second, "w/one", "v1")[0].version_id)
        )
        writer.start()
        assert _locked_elsewhere(first.writer.path)
        assert written == []  # still waiting: the first handle's transaction is open
        release.set()
        holder.join(30)
        writer.join(30)
        assert versions.get_value(first, "w/one").version_id == written[0]
    finally:
        first.close()
        second.close()


def test_postgresql_writes_take_no_file_lock(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("PostgreSQL only")
    assert store.writer.path is None


def test_writes_after_a_refusal_or_a_failure_inside_one_are_sound(store: Store) -> None:
    secrets.create_secret(store, name="w/two", secret_type="Generic", value="v0")
    with pytest.raises(errors.NotFound):
        versions.put_value(store, "w/none", "x")

    def buggy() -> None:
        with store.write() as conn:  # a bug, mid-transaction
            conn.exec_driver_sql("UPDATE secrets SET description = 'half' WHERE name = 'w/two'")
            raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        buggy()
    assert secrets.get_secret(store, "w/two").description == ""  # rolled back
    version, created = versions.put_value(store, "w/two", "v1")
    assert created
    assert versions.get_value(store, "w/two").version_id == version.version_id


def test_driver_statements_run_in_the_writes_transaction(store: Store) -> None:
    secrets.create_secret(store, name="w/three", secret_type="Generic")
    touch = "UPDATE secrets SET description = ? WHERE name = ?"

    def rolled_back() -> None:
        with store.write() as conn:
            assert driver_execute(conn, touch, ("gone", "w/three")) == []
            raise errors.InvalidParameter("refused after the statement")

    with pytest.raises(errors.InvalidParameter):
        rolled_back()
    assert secrets.get_secret(store, "w/three").description == ""
    with store.write() as conn:
        driver_execute(conn, touch, ("kept", "w/three"))
        rows = driver_execute(conn, "SELECT description FROM secrets WHERE name = ?", ("w/three",))
    assert rows == [("kept",)]
    assert secrets.get_secret(store, "w/three").description == "kept"


def test_a_drivers_operational_error_is_unavailable_as_sqlalchemys_is(tmp_path: Path) -> None:
    store = Store.open(make_settings(tmp_path))
    try:
        with pytest.raises(errors.ServiceUnavailable), store.write() as conn:
            driver_execute(conn, "SELECT * FROM a_table_that_is_not_there")
    finally:
        store.close()
