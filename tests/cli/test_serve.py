"""``rotor serve`` as a real process: restarts, bad settings, and the test fixture itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

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
    assert done.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is in use (another rotor?) — stop it or give --port"
    ]
    assert not (tmp_path / "data").exists()  # refused before it initialised anything


def test_second_rotor_on_the_same_port(tmp_path: Path) -> None:
    first = start_server(tmp_path / "first")
    try:
        port = urlsplit(first.url).port
        done = serve(
            "--data-dir", str(tmp_path / "second"), "--host", "127.0.0.1", "--port", str(port)
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"Error: port {port} on 127.0.0.1 is in use (another rotor?) — stop it or give --port"
        ]
        assert first.process.poll() is None
    finally:
        stop_server(first)


def test_second_start_on_a_served_data_dir(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data")
    try:
        recorded = (first.data_dir / "server.json").read_text()
        done = serve("--data-dir", str(first.data_dir), "--port", "0")
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line == (
            f"Error: {first.data_dir} is already served by rotor (pid {first.process.pid}) on "
            f"{first.url}: stop it, or give another --data-dir"
        )
        assert (first.data_dir / "server.json").read_text() == recorded
        with first.client() as client:
            assert client.readyz() == "ready"
    finally:
        stop_server(first)


def test_a_stale_server_file_does_not_block_a_start(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data")
    stop_server(first)
    server_file = first.data_dir / "server.json"
    with socket.socket() as closed:  # a port nothing listens on once this is closed
        closed.bind(("127.0.0.1", 0))
        nobody = closed.getsockname()[1]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [
        # The server was killed: its pid is gone.
        {"url": first.url, "pid": dead.pid},
        # Its pid was reused by another process (this one), which serves nothing there.
        {"url": f"http://127.0.0.1:{nobody}", "pid": os.getpid()},
        # Not even JSON.
        "{",
    ]
    for content in stale:
        server_file.write_text(content if isinstance(content, str) else json.dumps(content))
        again = start_server(first.data_dir)
        try:
            with again.client() as client:
                assert client.readyz() == "ready"
        finally:
            stop_server(again)


def test_a_data_dir_without_the_admin_credentials_says_how_to_get_a_key(
    tmp_path: Path,
) -> None:
    """A second node sharing the first one's store: the admin exists, but not here."""
    first = start_server(tmp_path / "data")
    stop_server(first)
    credentials = first.data_dir / "admin-credentials.json"
    credentials.unlink()
    log = tmp_path / "second.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rotor",
                "serve",
                "--data-dir",
                str(first.data_dir),
                "--port",
                "0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server_env(),
        )
    try:
        deadline = time.monotonic() + 30
        while f'"pid": {process.pid}' not in _read(first.data_dir / "server.json"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(30)
    output = " ".join(log.read_text().split())
    assert f"rotor: no admin credentials in {first.data_dir}" in output
    for hint in (
        "rotor access-key create admin",
        "ROTOR_ACCESS_KEY_ID",
        "ROTOR_ACCESS_KEY_SECRET",
        f"copy its admin-credentials.json to {credentials} (mode 0600)",
    ):
        assert hint in output
    assert not credentials.exists()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


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
