"""``rotor serve`` as a real process: restarts, bad settings, and the test fixture itself."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import run_cli
from tests.services.server import RunningServer, server_env, start_server, stop_server


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rotor", "serve", *args],
        env=server_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_restart_keeps_data_and_credentials(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data")
    try:
        with first.client() as client:
            client.create_secret("kept", value="across restarts")
    finally:
        stop_server(first)
    second = start_server(tmp_path / "data")
    try:
        assert (second.access_key_id, second.access_key_secret) == (
            first.access_key_id,
            first.access_key_secret,
        )
        with second.client() as client:
            assert client.get_value("kept").value == "across restarts"
    finally:
        stop_server(second)


def test_shared_server_fixture(rotor_server: RunningServer) -> None:
    assert rotor_server.process.poll() is None
    recorded = json.loads((rotor_server.data_dir / "server.json").read_text())
    assert recorded == {"url": rotor_server.url, "pid": rotor_server.process.pid}
    assert rotor_server.access_key_secret not in repr(rotor_server)
    with rotor_server.client() as client:
        assert client.readyz() == "ready"


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve("--data-dir", str(tmp_path / "data"), "--port", str(port))
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cannot start the server")
    assert "Traceback" not in done.stderr


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    assert serve("--port", "eighty").returncode == 2
    assert serve("--log-level", "loud").returncode == 2
    bad_env = serve("--data-dir", str(tmp_path), env={"ROTOR_MAX_REQUEST_BYTES": "lots"})
    assert bad_env.returncode == 2
    assert "ROTOR_MAX_REQUEST_BYTES" in bad_env.stderr


def test_help_documents_the_environment() -> None:
    result = run_cli(["serve", "--help"])
    assert result.exit_code == 0
    for var in (
        "ROTOR_DATA_DIR",
        "ROTOR_HOST",
        "ROTOR_PORT",
        "ROTOR_DATABASE_URL",
        "ROTOR_MASTER_KEY",
    ):
        assert var in result.stdout
