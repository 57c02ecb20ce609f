"""Offline commands (``rotor purge``, ``rotor master-key rotate``) on a server's data dir."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli
from tests.services.server import RunningServer, start_server, stop_server


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server of this test's own, so offline work on its data dir touches no other test."""
    server = start_server(tmp_path / "data")
    try:
        yield server
    finally:
        stop_server(server)


def test_purge_keeps_secrets_still_in_their_window(own_server: RunningServer) -> None:
    with own_server.client() as client:
        client.create_secret("kept", value="v")
        client.delete_secret("kept", recovery_days=7)
    result = run_cli(["purge", "--data-dir", str(own_server.data_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"purged": []}
    human = run_cli(["purge"], env={"ROTOR_DATA_DIR": str(own_server.data_dir)})
    assert human.exit_code == 0, human.output
    assert "No secrets" in human.stdout
    with own_server.client() as client:
        assert client.restore_secret("kept").name == "kept"


def test_master_key_rotation_while_serving(own_server: RunningServer) -> None:
    with own_server.client() as client:
        for i in range(3):
            client.create_secret(f"s{i}", value=f"value {i}")
        client.put_value("s0", b"\x00binary")
    key_file = own_server.data_dir / "master.key"
    before = key_file.read_text()

    result = run_cli(["master-key", "rotate", "--data-dir", str(own_server.data_dir)])
    assert result.exit_code == 0, result.output
    assert "Rewrapped" in result.stdout
    # 4 versions and the admin access key, at least
    count = int(result.stdout.split()[1])
    assert count >= 5
    assert key_file.read_text() != before

    with own_server.client() as client:  # the running server still reads everything
        assert client.get_value("s0").value == b"\x00binary"
        assert client.get_value("s0", stage="Previous").value == "value 0"
        assert client.get_value("s2").value == "value 2"
        client.put_value("s1", "after rotation")
        assert client.get_value("s1").value == "after rotation"


def test_offline_commands_need_a_store(tmp_path: Path) -> None:
    for args in (["purge"], ["master-key", "rotate"]):
        result = run_cli([*args, "--data-dir", str(tmp_path / "nothing")])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("Error: no rotor store")
        assert not (tmp_path / "nothing").exists()
