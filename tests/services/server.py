"""A real ``rotor serve`` for the test suite (a pytest plugin).

- ``rotor_server`` (session): one ``python -m rotor serve --data-dir <tmp> --port 0``
  subprocess, shared by every test that asks for it; returns a :class:`RunningServer`.
  Tests sharing it must use unique secret names.
- :func:`start_server` / :func:`stop_server`: a server of a test's own (restarts, other
  settings). ``start_server`` waits for ``server.json`` (written by this very process),
  ``admin-credentials.json`` and ``GET /healthz``; on failure the error carries the tail of
  the server's output.

The server runs with every ``ROTOR_*`` variable removed from its environment except
those passed in ``env``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

import rotor.client

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
TAIL_LINES = 40


class ServerStartError(RuntimeError):
    """``rotor serve`` did not come up; the message ends with its output."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunningServer:
    """A ``rotor serve`` subprocess and what a client needs to talk to it."""

    url: str
    data_dir: Path
    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    process: subprocess.Popen[bytes] = dataclasses.field(repr=False)
    log_path: Path

    def client(self, **kwargs: Any) -> rotor.client.Client:
        """A client of this server with the admin key (``kwargs`` go to :class:`Client`)."""
        kwargs.setdefault("access_key_id", self.access_key_id)
        kwargs.setdefault("access_key_secret", self.access_key_secret)
        return rotor.client.Client(self.url, **kwargs)

    @property
    def credentials_env(self) -> dict[str, str]:
        """Environment variables that authenticate as the admin."""
        return {
            "ROTOR_ACCESS_KEY_ID": self.access_key_id,
            "ROTOR_ACCESS_KEY_SECRET": self.access_key_secret,
        }

    def output(self) -> str:
        return _tail(self.log_path)


def server_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without any ROTOR_* variable, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROTOR_")}
    clean.update(env or {})
    return clean


def start_server(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> RunningServer:
    """Start ``rotor serve`` on a free port of 127.0.0.1 and wait until it answers."""
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    command = [
        sys.executable,
        "-m",
        "rotor",
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *extra_args,
    ]
    with log_path.open("ab") as log:
        log.write(f"--- {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(env),
            start_new_session=True,
        )
    try:
        return _wait_until_up(process, data_dir, log_path)
    except BaseException:
        _terminate(process)
        raise


def _wait_until_up(
    process: subprocess.Popen[bytes], data_dir: Path, log_path: Path
) -> RunningServer:
    deadline = time.monotonic() + START_TIMEOUT
    server_file = data_dir / "server.json"
    credentials_file = data_dir / "admin-credentials.json"
    waiting_for = "server.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"rotor serve exited with status {process.returncode} before answering:\n"
                + _tail(log_path)
            )
        url = _recorded_url(server_file, process.pid)
        if url is None:
            time.sleep(0.05)
            continue
        waiting_for = "admin-credentials.json"
        if not credentials_file.is_file():
            time.sleep(0.05)
            continue
        waiting_for = "GET /healthz"
        if _healthy(url):
            creds = json.loads(credentials_file.read_text())
            return RunningServer(
                url=url,
                data_dir=data_dir,
                access_key_id=creds["access_key_id"],
                access_key_secret=creds["access_key_secret"],
                process=process,
                log_path=log_path,
            )
        time.sleep(0.05)
    raise ServerStartError(
        f"rotor serve did not come up within {START_TIMEOUT:.0f} s (waiting for {waiting_for}):\n"
        + _tail(log_path)
    )


def _recorded_url(server_file: Path, pid: int) -> str | None:
    """The URL in server.json, if this process wrote it (a stale file names another pid)."""
    try:
        data = json.loads(server_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("pid") != pid:
        return None
    url = data.get("url")
    return url if isinstance(url, str) else None


def _healthy(url: str) -> bool:
    try:
        response = httpx.get(f"{url}/healthz", timeout=2.0)
    except httpx.TransportError:
        return False
    return response.status_code == 200


def _tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join(lines[-TAIL_LINES:]) or "(no output)"


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def stop_server(server: RunningServer) -> int:
    """Stop a server (SIGTERM, then SIGKILL after a grace period); returns its exit status."""
    _terminate(server.process)
    return server.process.returncode


@pytest.fixture(scope="session")
def rotor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real ``rotor serve`` for the whole session, with an SQLite store in a temp dir."""
    server = start_server(tmp_path_factory.mktemp("rotor-server") / "data")
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            stop_server(server)
