"""A real ``rotor serve`` for the test suite (a pytest plugin).

- ``rotor_server`` (session): one ``python -m rotor serve --data-dir <tmp> --port 0``
  subprocess, shared by every test that asks for it; returns a :class:`RunningServer`.
  Tests sharing it must use unique secret names.
- ``module_rotor_server`` (module): a server of one test module's own, with its own data
  dir, for a module whose requests would disturb the shared one (it creates and deletes at
  random) or that must be the only one talking to its server.
- :func:`start_server` / :func:`stop_server`: a server of a test's own (restarts, other
  settings). ``start_server`` waits for ``server.json`` (written by this very process),
  ``admin-credentials.json`` and ``GET /healthz``; on failure the error carries the tail of
  the server's output. For a server started with ``--tls-cert``/``--tls-key``, pass the CA
  that signed its certificate as ``ca_bundle``: the health check and ``client()`` trust it.

The server runs with every ``ROTOR_*`` variable removed from its environment except
those passed in ``env``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import rotor.client
from tests.services import tls

# Generous: a loaded machine starting several workers (each imports rotor) is slow.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
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
    ca_bundle: Path | None = None

    def client(self, **kwargs: Any) -> rotor.client.Client:
        """A client of this server with the admin key (``kwargs`` go to :class:`Client`)."""
        kwargs.setdefault("access_key_id", self.access_key_id)
        kwargs.setdefault("access_key_secret", self.access_key_secret)
        if self.ca_bundle is not None:
            kwargs.setdefault("ca_bundle", self.ca_bundle)
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
    """The current environment without any ROTOR_* variable, plus ``env``.

    The back-off on failed authentication is off: suites here fail on purpose hundreds
    of times from one address; tests of the back-off turn it on.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROTOR_")}
    clean["ROTOR_AUTH_FAILURE_MAX_DELAY_SECONDS"] = "0"
    clean.update(env or {})
    return clean


def start_server(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    ca_bundle: Path | None = None,
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
        return _wait_until_up(process, data_dir, log_path, ca_bundle)
    except BaseException:
        _terminate(process)
        raise


def _wait_until_up(
    process: subprocess.Popen[bytes], data_dir: Path, log_path: Path, ca_bundle: Path | None
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
        if _healthy(url, ca_bundle):
            creds = json.loads(credentials_file.read_text())
            return RunningServer(
                url=url,
                data_dir=data_dir,
                access_key_id=creds["access_key_id"],
                access_key_secret=creds["access_key_secret"],
                process=process,
                log_path=log_path,
                ca_bundle=ca_bundle,
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


def _healthy(url: str, ca_bundle: Path | None = None) -> bool:
    verify = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    try:
        response = httpx.get(f"{url}/healthz", timeout=2.0, verify=verify)
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


@contextlib.contextmanager
def running_server(
    data_dir: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """A server of a test's own (:func:`start_server`), stopped on exit."""
    server = start_server(data_dir, env=env)
    try:
        yield server
    finally:
        stop_server(server)


def stop_server(server: RunningServer) -> int:
    """Stop a server (SIGTERM, then SIGKILL after a grace period); returns its exit status."""
    _terminate(server.process)
    return server.process.returncode


@pytest.fixture(scope="module")
def module_rotor_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[RunningServer]:
    """A real ``rotor serve`` of this test module's own, with an SQLite store in a temp dir."""
    server = start_server(tmp_path_factory.mktemp(request.module.__name__.split(".")[-1]) / "data")
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            stop_server(server)


@pytest.fixture(scope="session")
def rotor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real ``rotor serve`` for the whole session, with an SQLite store in a temp dir."""
    server = start_server(tmp_path_factory.mktemp("rotor-server") / "data")
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            stop_server(server)
    leaks = secret_values_leaked(server)
    assert leaks == [], f"secret values in the audit log or server log: {len(leaks)} found"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tls.Certificates:
    """A CA and a certificate for 127.0.0.1 it signed, for a test module's TLS server."""
    return tls.issue(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, certificates: tls.Certificates
) -> Iterator[RunningServer]:
    """A ``rotor serve --tls-cert --tls-key`` of the test module's own, its client given the CA."""
    server = start_server(
        tmp_path_factory.mktemp("tls-server") / "data",
        extra_args=["--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key)],
        ca_bundle=certificates.ca,
    )
    try:
        yield server
    finally:
        stop_server(server)


def secret_values_leaked(server: RunningServer) -> list[str]:
    """Every secret value the session stored, found in an audit row, a rotation event, the
    event log, a notification delivery or the server's log (after the server stopped).
    Returns where each was seen."""
    from rotor.rotation.functions.base import Redactor
    from rotor.settings import Settings
    from rotor.store import tables
    from rotor.store.database import Store
    from rotor.store.envelope import Sealed, version_context

    store = Store.open(Settings.load({"data_dir": server.data_dir}, environ={}), initialise=False)
    try:
        with store.read() as conn:
            versions = conn.execute(sa.select(tables.versions)).all()
            audit_rows = conn.execute(sa.select(tables.audit_events)).all()
            events = conn.execute(sa.select(tables.rotation_events)).all()
            logged = conn.execute(sa.select(tables.events)).all()
            deliveries = conn.execute(sa.select(tables.deliveries)).all()
        values: set[str] = {server.access_key_secret}
        for row in versions:
            raw = store.envelope.open(
                Sealed(row.master_key_id, row.data_key, row.ciphertext),
                version_context(row.secret_id, row.version_id),
            )
            text = raw.decode(errors="replace")
            values.add(text)
            with contextlib.suppress(ValueError):
                parsed = json.loads(text)
                if isinstance(parsed, dict):
                    # Passwords and keys, not the names and endpoints beside them.
                    values |= {
                        v
                        for k, v in parsed.items()
                        if isinstance(v, str)
                        and any(w in k.lower() for w in Redactor.SECRET_FIELD_WORDS)
                    }
    finally:
        store.close()
    # Short values (an account name, "x") would match by chance; passwords are longer.
    values = {v for v in values if len(v) >= 12}
    haystacks = {
        "audit": "\n".join(repr(tuple(r)) for r in audit_rows),
        "rotation events": "\n".join(repr(tuple(r)) for r in events),
        "event log": "\n".join(repr(tuple(r)) for r in logged),
        "notification deliveries": "\n".join(repr(tuple(r)) for r in deliveries),
        "server log": server.log_path.read_text(errors="replace"),
    }
    assert audit_rows, "the session wrote no audit events at all"
    return [where for where, text in haystacks.items() for v in values if v in text]
