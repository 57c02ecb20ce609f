"""The MySQL/MariaDB rotation functions against real MariaDB servers, driven by the engine.

Accounts live for the whole session (one server for all tests), so every test makes
its own user names (``support.unique_name``).
"""

from __future__ import annotations

import dataclasses

import pytest

from rotor.rotation.engine import Engine
from rotor.store.database import Store
from tests.rotation.mysql.support import Database
from tests.services.mariadb import MariaDBServer, MariaDBTLSServer


@pytest.fixture
def engine(store: Store) -> Engine:
    fast = dataclasses.replace(
        store.settings,
        rotation_retry_seconds=0.01,
        rotation_retry_max_seconds=0.02,
        rotation_attempts=2,
    )
    return Engine(store, fast, owner="mysql-tests")


@pytest.fixture
def plain_db(mariadb_server: MariaDBServer) -> Database:
    """The plain server, secrets with ``"SSL": false``."""
    return Database(server=mariadb_server, parameters={}, ssl_field=False)


@pytest.fixture
def tls_db(mariadb_tls_server: MariaDBTLSServer) -> Database:
    """The TLS server, secrets with ``"SSL": true`` and the test CA and client certificate."""
    return Database(
        server=mariadb_tls_server,
        parameters={
            "CaBundle": str(mariadb_tls_server.ca_cert),
            "ClientCertificate": str(mariadb_tls_server.client_cert),
            "ClientKey": str(mariadb_tls_server.client_key),
        },
        ssl_field=True,
    )


@pytest.fixture(params=["plain", "tls"])
def db(request: pytest.FixtureRequest) -> Database:
    """Each server in turn."""
    fixture = "plain_db" if request.param == "plain" else "tls_db"
    found: Database = request.getfixturevalue(fixture)
    return found
