"""Throwaway PostgreSQL server for the test suite (a pytest plugin).

Fixtures:

- ``postgres_server`` (session): starts one real PostgreSQL (the newest found under
  ``/usr/lib/postgresql/*/bin``) in a temporary directory, as the ``postgres`` system user
  when running as root, listening on 127.0.0.1 on a free port with scram-sha-256
  password authentication. Returns a :class:`PostgresServer`.
- ``postgres_database`` (function): a fresh, uniquely named database for one test; yields
  its SQLAlchemy URL (``postgresql+psycopg://...``) and drops it afterwards.

The server is started lazily (only if a test asks for it) and once per session. If the
binaries are missing the fixture fails (it never skips): install them with
``apt-get install postgresql`` or ``.ci/install-system-packages``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

PG_LIB_DIR = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
# Not $TMPDIR: the postgres user must be able to reach our directories, and unix socket
# paths must stay short.
TMP_DIR = Path("/tmp")  # noqa: S108
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 5

# Durability off: a test database is thrown away anyway.
SERVER_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "200",
    "jit": "off",
    "logging_collector": "off",
}


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway PostgreSQL server and its superuser's credentials."""

    host: str
    port: int
    user: str
    password: str
    version: str
    socket_dir: Path
    data_dir: Path

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for ``dbname`` as the superuser over TCP."""
        user = quote(self.user, safe="")
        password = quote(self.password, safe="")
        return f"postgresql+psycopg://{user}:{password}@{self.host}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres", **overrides: Any) -> str:
        """libpq connection string for psycopg (superuser over TCP unless overridden)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname,
            "connect_timeout": 5,
        }
        params.update(overrides)
        return psycopg.conninfo.make_conninfo(**params)

    def connect(
        self, dbname: str = "postgres", *, autocommit: bool = True, **overrides: Any
    ) -> psycopg.Connection[TupleRow]:
        """A new psycopg connection (autocommit by default); ``overrides`` are libpq params."""
        return psycopg.connect(self.conninfo(dbname, **overrides), autocommit=autocommit)


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in bin_dir.parent.name.split(".") if part.isdigit())


def find_postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, postgres and pg_ctl."""
    candidates = [
        bin_dir
        for bin_dir in PG_LIB_DIR.glob("*/bin")
        if all((bin_dir / name).is_file() for name in ("initdb", "postgres", "pg_ctl"))
    ]
    if not candidates:
        pytest.fail(
            f"PostgreSQL server binaries not found (looked for {PG_LIB_DIR}/*/bin/initdb). "
            "The tests need a real PostgreSQL: run `apt-get install postgresql` "
            "(or .ci/install-system-packages).",
            pytrace=False,
        )
    return max(candidates, key=_version_key)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_system_user(argv: Sequence[str]) -> list[str]:
    """Run as the postgres user when we are root (PostgreSQL refuses to run as root)."""
    if _running_as_root():
        return ["runuser", "-u", SYSTEM_USER, "--", *argv]
    return list(argv)


def _system_user_ids() -> tuple[int, int] | None:
    """(uid, gid) of the postgres user if we are root (and must switch to it), else None."""
    if not _running_as_root():
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pytest.fail(
            f"No '{SYSTEM_USER}' system user to run PostgreSQL as (it refuses root): "
            "run `apt-get install postgresql`.",
            pytrace=False,
        )
    return entry.pw_uid, entry.pw_gid


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _run(argv: Sequence[str], cwd: Path, what: str) -> None:
    result = subprocess.run(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n{result.stdout}",
            pytrace=False,
        )


class _PostgresProcess:
    """One postgres process in the foreground (so an early exit is noticed at once)."""

    def __init__(
        self, bin_dir: Path, workdir: Path, port: int, extra: dict[str, str] | None = None
    ) -> None:
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = port
        self.log_path = workdir / f"postgres-{port}.log"
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir)]
        settings = {
            **SERVER_SETTINGS,
            "listen_addresses": HOST,
            "port": str(port),
            "unix_socket_directories": str(workdir),
            **(extra or {}),
        }
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                _as_system_user(argv),
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: a Ctrl-C in the terminal must not reach the server
                # before the session teardown stops it cleanly.
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(
                    _as_system_user(
                        [
                            str(self.bin_dir / "pg_ctl"),
                            "-D",
                            str(self.data_dir),
                            "stop",
                            "-m",
                            "fast",
                            "-w",
                            "-t",
                            str(int(STOP_TIMEOUT)),
                        ]
                    ),
                    cwd=self.workdir,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=STOP_TIMEOUT + 5,
                    check=False,
                )
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _wait_until_ready(process: _PostgresProcess, password: str) -> str | None:
    """Poll until a password login over TCP works; returns the server version.

    Returns None if the server exited because its port was taken (the caller retries with
    another port); fails the test on any other exit or on timeout.
    """
    conninfo = psycopg.conninfo.make_conninfo(
        host=HOST,
        port=process.port,
        user=SUPERUSER,
        password=password,
        dbname="postgres",
        connect_timeout=2,
    )
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            log = _tail(process.log_path)
            if "Address already in use" in log:
                return None
            pytest.fail(
                f"PostgreSQL exited during startup (exit {process.proc.returncode}); "
                f"log {process.log_path}:\n{log}",
                pytrace=False,
            )
        try:
            with psycopg.connect(conninfo) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                assert row is not None
                return str(row[0])
        except psycopg.OperationalError as exc:
            last_error = exc
            time.sleep(0.02)
    pytest.fail(
        f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f}s "
        f"(last error: {last_error}); log {process.log_path}:\n{_tail(process.log_path)}",
        pytrace=False,
    )


def initdb(bin_dir: Path, workdir: Path, password: str) -> None:
    """A new cluster in ``workdir/data`` whose superuser has ``password`` (as the postgres
    user when we are root)."""
    owner = _system_user_ids()
    pwfile = workdir / "pwfile"
    pwfile.write_text(password + "\n")
    if owner is not None:
        os.chown(workdir, *owner)
        os.chown(pwfile, *owner)
    _run(
        _as_system_user(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(workdir / "data"),
                "--username",
                SUPERUSER,
                f"--pwfile={pwfile}",
                # The socket dir is private (mode 0700), so trust there only lets in
                # root and postgres; everything over TCP needs the password.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ]
        ),
        cwd=workdir,
        what="initdb",
    )
    pwfile.unlink()


@contextlib.contextmanager
def run_postgres_server(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """Initialise, start, and finally stop and delete a throwaway PostgreSQL server
    (``settings``: more ``-c name=value`` of its command line)."""
    bin_dir = find_postgres_bin_dir()
    workdir = Path(tempfile.mkdtemp(prefix="rotor-pg-", dir=TMP_DIR))
    process: _PostgresProcess | None = None
    try:
        password = secrets.token_hex(16)
        initdb(bin_dir, workdir, password)
        version: str | None = None
        for _attempt in range(PORT_ATTEMPTS):
            process = _PostgresProcess(bin_dir, workdir, _free_port(), settings)
            version = _wait_until_ready(process, password)
            if version is not None:
                break
            process.stop()
            process = None
        if process is None or version is None:
            pytest.fail(f"PostgreSQL found no free port in {PORT_ATTEMPTS} attempts", pytrace=False)
        yield PostgresServer(
            host=HOST,
            port=process.port,
            user=SUPERUSER,
            password=password,
            version=version,
            socket_dir=workdir,
            data_dir=workdir / "data",
        )
    finally:
        if process is not None:
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def temporary_database(server: PostgresServer) -> Iterator[str]:
    """Create a fresh uniquely named database; yield its name; drop it (even if in use)."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with server.connect() as conn:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
        if conn.info.server_version >= 150000:
            # About twice as fast as the default WAL_LOG for a tiny template (fsync is off).
            create += sql.SQL(" STRATEGY FILE_COPY")
        conn.execute(create)
    try:
        yield name
    finally:
        with server.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole session, started on first use."""
    with run_postgres_server() as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh database, dropped after the test."""
    with temporary_database(postgres_server) as name:
        yield postgres_server.url(name)
