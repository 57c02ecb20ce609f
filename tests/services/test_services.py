"""The throwaway database servers start, accept the documented logins, and clean up."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.services import mariadb as mariadb_service
from tests.services import postgres as postgres_service
from tests.services.mariadb import MariaDBServer, MariaDBTLSServer
from tests.services.postgres import PostgresServer

ACCESS_DENIED = 1045

# --------------------------------------------------------------------------------------
# PostgreSQL


def test_postgres_server_requires_the_password(postgres_server: PostgresServer) -> None:
    assert postgres_server.host == "127.0.0.1"
    with postgres_server.connect() as conn:
        row = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone()
    assert row == (postgres_server.user, "127.0.0.1/32")

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_server.conninfo(password="wrong")).close()


def test_postgres_server_is_tuned_for_tests(postgres_server: PostgresServer) -> None:
    with postgres_server.connect() as conn:
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            row = conn.execute(f"SHOW {name}").fetchone()
            assert row == ("off",), name
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    assert row[0] == postgres_server.version


def test_postgres_url_is_a_sqlalchemy_url(postgres_server: PostgresServer) -> None:
    url = make_url(postgres_server.url("somedb"))
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database) == ("127.0.0.1", postgres_server.port, "somedb")
    assert (url.username, url.password) == (postgres_server.user, postgres_server.password)


def test_postgres_database_is_fresh_and_usable(postgres_database: str) -> None:
    engine = sa.create_engine(postgres_database)
    try:
        with engine.begin() as conn:
            assert (
                conn.scalar(sa.text("SELECT current_database()"))
                == make_url(postgres_database).database
            )
            tables = conn.scalar(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            )
            assert tables == 0
            conn.execute(sa.text("CREATE TABLE t (id int PRIMARY KEY, v text)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'ünïcode')"))
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT v FROM t WHERE id = 1")) == "ünïcode"
    finally:
        engine.dispose()


def test_postgres_temporary_database_is_dropped_even_while_in_use(
    postgres_server: PostgresServer,
) -> None:
    with postgres_service.temporary_database(postgres_server) as name:
        assert name.startswith("test_")
        # A connection left open must not keep the database alive (DROP ... WITH (FORCE)).
        lingering = postgres_server.connect(name)
    lingering.close()
    with postgres_server.connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        assert row.fetchone() == (0,)


# --------------------------------------------------------------------------------------
# MariaDB


def test_mariadb_admin_logs_in_over_tcp(mariadb_server: MariaDBServer) -> None:
    assert mariadb_server.host == "127.0.0.1"
    assert "MariaDB" in mariadb_server.version
    assert len(str(mariadb_server.socket)) < 108
    with mariadb_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER(), @@port, @@skip_name_resolve")
        assert cursor.fetchone() == (f"{mariadb_server.user}@%", mariadb_server.port, 1)
        cursor.execute("SHOW GRANTS")
        grants = [row[0] for row in cursor.fetchall()]
    assert any("ALL PRIVILEGES ON *.*" in g and "WITH GRANT OPTION" in g for g in grants)

    with pytest.raises(pymysql.err.OperationalError) as excinfo:
        mariadb_server.connect(password="wrong").close()
    assert excinfo.value.args[0] == ACCESS_DENIED


def test_mariadb_is_tuned_for_tests(mariadb_server: MariaDBServer) -> None:
    with mariadb_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT @@innodb_flush_log_at_trx_commit, @@innodb_doublewrite, "
            "@@character_set_server, @@have_ssl"
        )
        assert cursor.fetchone() == (0, 0, "utf8mb4", "DISABLED")


def test_mariadb_database_is_fresh_and_usable(
    mariadb_server: MariaDBServer, mariadb_database: str
) -> None:
    with mariadb_server.connect(database=mariadb_database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT DATABASE()")
        assert cursor.fetchone() == (mariadb_database,)
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == ()
        cursor.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        cursor.execute("INSERT INTO t VALUES (1, 'ünïcode')")
        conn.commit()
        cursor.execute("SELECT v FROM t")
        assert cursor.fetchone() == ("ünïcode",)


def test_mariadb_admin_can_create_accounts(
    mariadb_server: MariaDBServer, mariadb_database: str
) -> None:
    with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE USER 'svc_check'@'%' IDENTIFIED BY 'pw-1'")
        try:
            cursor.execute(f"GRANT SELECT ON `{mariadb_database}`.* TO 'svc_check'@'%'")
            with (
                mariadb_server.connect("svc_check", "pw-1", mariadb_database) as user_conn,
                user_conn.cursor() as user_cursor,
            ):
                user_cursor.execute("SELECT CURRENT_USER()")
                assert user_cursor.fetchone() == ("svc_check@%",)
        finally:
            cursor.execute("DROP USER 'svc_check'@'%'")


def test_mariadb_temporary_database_is_dropped(mariadb_server: MariaDBServer) -> None:
    with mariadb_service.temporary_database(mariadb_server) as name:
        assert name.startswith("test_")
    with mariadb_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SHOW DATABASES LIKE %s", (name,))
        assert cursor.fetchall() == ()


# --------------------------------------------------------------------------------------
# MariaDB with TLS


@pytest.fixture
def tls_users(mariadb_tls_server: MariaDBTLSServer) -> Iterator[None]:
    with mariadb_tls_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE USER 'need_ssl'@'%' IDENTIFIED BY 'pw-ssl' REQUIRE SSL")
        cursor.execute("CREATE USER 'need_x509'@'%' IDENTIFIED BY 'pw-x509' REQUIRE X509")
    yield
    with mariadb_tls_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("DROP USER IF EXISTS 'need_ssl'@'%', 'need_x509'@'%'")


def _cipher(conn: pymysql.connections.Connection[Any]) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        row = cursor.fetchone()
    assert row is not None
    return str(row[1])


@pytest.mark.usefixtures("tls_users")
def test_mariadb_require_ssl(mariadb_tls_server: MariaDBTLSServer) -> None:
    server = mariadb_tls_server
    assert server.ca_cert.is_file()
    assert server.client_cert.is_file()
    assert server.client_key.is_file()
    # The server certificate is verified, host name (the IP address) included.
    with server.connect("need_ssl", "pw-ssl", ssl=server.ssl_params()) as conn:
        assert _cipher(conn)
    with server.connect("need_ssl", "pw-ssl", ssl=server.ssl_context()) as conn:
        assert _cipher(conn)

    with pytest.raises(pymysql.err.OperationalError) as excinfo:
        server.connect("need_ssl", "pw-ssl").close()  # plain: refused
    assert excinfo.value.args[0] == ACCESS_DENIED


@pytest.mark.usefixtures("tls_users")
def test_mariadb_require_x509(mariadb_tls_server: MariaDBTLSServer) -> None:
    server = mariadb_tls_server
    with server.connect("need_x509", "pw-x509", ssl=server.ssl_params(client_cert=True)) as conn:
        assert _cipher(conn)
    with server.connect("need_x509", "pw-x509", ssl=server.ssl_context(client_cert=True)) as conn:
        assert _cipher(conn)

    for refused in ({"ssl": server.ssl_params()}, {"ssl_disabled": True}):
        with pytest.raises(pymysql.err.OperationalError) as excinfo:
            server.connect("need_x509", "pw-x509", **refused).close()
        assert excinfo.value.args[0] == ACCESS_DENIED


def test_mariadb_tls_server_rejects_unknown_ca(mariadb_tls_server: MariaDBTLSServer) -> None:
    # Default trust store: the test CA is not in it, so verification must fail.
    with pytest.raises(pymysql.err.OperationalError):
        mariadb_tls_server.connect(ssl=ssl.create_default_context()).close()


def test_mariadb_connect_is_plain_unless_asked(mariadb_tls_server: MariaDBTLSServer) -> None:
    # PyMySQL would otherwise negotiate unverified TLS on its own when the server offers it.
    with mariadb_tls_server.connect() as conn:
        assert _cipher(conn) == ""
    with mariadb_tls_server.connect(ssl=mariadb_tls_server.ssl_context()) as conn:
        assert _cipher(conn)
