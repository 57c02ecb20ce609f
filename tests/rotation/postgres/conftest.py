"""The PostgreSQL rotation functions against the session's real PostgreSQL, driven by the
engine. Roles are cluster-wide and live for the session, so every test makes its own
role names; each test has a fresh database."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotor.rotation.engine import Engine
from rotor.store.database import Store
from tests.rotation.postgres.support import Database
from tests.services import tls
from tests.services.postgres import (
    SYSTEM_USER,
    TMP_DIR,
    PostgresServer,
    run_postgres_server,
    temporary_database,
)


@dataclasses.dataclass(frozen=True)
class TlsPostgres:
    """A PostgreSQL with ``ssl = on`` (a certificate for 127.0.0.1 from a test CA), every
    connection logged; and a CA that did not sign it."""

    server: PostgresServer
    certificates: tls.Certificates
    wrong_ca: Path

    @property
    def ca(self) -> Path:
        return self.certificates.ca


@pytest.fixture(scope="session")
def postgres_tls_server() -> Iterator[TlsPostgres]:
    """A second PostgreSQL for the session, with TLS (started on first use)."""
    directory = Path(tempfile.mkdtemp(prefix="rotor-pg-tls-", dir=TMP_DIR))
    try:
        certificates = tls.issue(directory / "server")
        wrong = tls.issue(directory / "other", ca_name="another test CA")
        if os.geteuid() == 0:  # the server runs as postgres, which must read its key
            user = pwd.getpwnam(SYSTEM_USER)
            for path in (directory, directory / "server", certificates.cert, certificates.key):
                os.chown(path, user.pw_uid, user.pw_gid)
        settings = {
            "ssl": "on",
            "ssl_cert_file": str(certificates.cert),
            "ssl_key_file": str(certificates.key),
            "log_connections": "on",
        }
        with run_postgres_server(settings) as server:
            yield TlsPostgres(server=server, certificates=certificates, wrong_ca=wrong.ca)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def engine(store: Store) -> Engine:
    fast = dataclasses.replace(
        store.settings,
        rotation_retry_seconds=0.01,
        rotation_retry_max_seconds=0.02,
        rotation_attempts=2,
    )
    return Engine(store, fast, owner="postgres-tests")


@pytest.fixture
def pg(postgres_server: PostgresServer) -> Iterator[Database]:
    with temporary_database(postgres_server) as name:
        yield Database(server=postgres_server, name=name)


@pytest.fixture
def tls_pg(postgres_tls_server: TlsPostgres) -> Iterator[Database]:
    """A fresh database on the TLS server."""
    with temporary_database(postgres_tls_server.server) as name:
        yield Database(server=postgres_tls_server.server, name=name)


@pytest.fixture
def logged_pg(pg: Database) -> Database:
    """The test's database with every statement in it logged (``log_statement = all``),
    and every connection to the server logged: the server log is the test's evidence."""
    pg.admin(f"ALTER DATABASE \"{pg.name}\" SET log_statement = 'all'")
    pg.admin("ALTER SYSTEM SET log_connections = on", "SELECT pg_reload_conf()")
    return pg
