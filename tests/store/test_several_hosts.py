"""A store URL may list several PostgreSQL hosts (a primary and its standby): the store is
opened on the first that takes writes, as the deployment guide says."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import quote

from rotor.store import secrets, versions
from rotor.store.database import Store
from tests.conftest import make_settings
from tests.services.postgres import PostgresServer, temporary_database


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


def test_a_url_with_a_dead_host_first_opens_on_the_live_one(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    with temporary_database(postgres_server) as name:
        user, password = quote(postgres_server.user), quote(postgres_server.password)
        url = (
            f"postgresql+psycopg://{user}:{password}@/{name}"
            f"?host=127.0.0.1:{closed_port()}&host=127.0.0.1:{postgres_server.port}"
            "&target_session_attrs=read-write"
        )
        store = Store.open(make_settings(tmp_path, url))
        try:
            secrets.create_secret(store, name="several/hosts", value="v")
            assert versions.get_value(store, "several/hosts").value == "v"
        finally:
            store.close()
