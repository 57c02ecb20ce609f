"""The PostgreSQL rotation functions against the session's real PostgreSQL, driven by the
engine. Roles are cluster-wide and live for the session, so every test makes its own
role names; each test has a fresh database."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from rotor.rotation.engine import Engine
from rotor.store.database import Store
from tests.rotation.postgres.support import Database
from tests.services.postgres import PostgresServer, temporary_database


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
def logged_pg(pg: Database) -> Database:
    """The test's database with every statement in it logged (``log_statement = all``),
    and every connection to the server logged: the server log is the test's evidence."""
    pg.admin(f"ALTER DATABASE \"{pg.name}\" SET log_statement = 'all'")
    pg.admin("ALTER SYSTEM SET log_connections = on", "SELECT pg_reload_conf()")
    return pg
