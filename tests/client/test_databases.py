"""The database connect helpers against a real rotor server, MariaDB and PostgreSQL.

The MySQL secrets rotate with ``mysql-alternating`` and a master secret, run by the
session's ``rotor serve``. rotor has no PostgreSQL rotation yet, so the PostgreSQL
tests change a role's password by hand and put the new ``Current`` with ``put_value``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from psycopg import sql

import rotor.client
from rotor import errors
from rotor.client import mysql, postgres
from rotor.client import sqlalchemy as rotor_sqlalchemy
from rotor.client._database import DatabaseCredentials, DatabaseLogin
from tests.rotation.mysql.support import Database, unique_name
from tests.services.mariadb import MariaDBServer
from tests.services.postgres import PostgresServer
from tests.services.server import RunningServer

ROTATIONS = 20
FIRST_PASSWORD = "Initial-pass-123"


class CountingSource:
    """A real client in front of the server, counting the secret reads that go through it."""

    def __init__(self, client: rotor.client.Client) -> None:
        self.client = client
        self.reads = 0
        self._lock = threading.Lock()

    def get_json(self, name: str) -> dict[str, Any]:
        with self._lock:
            self.reads += 1
        return self.client.get_json(name)


# -- MySQL / MariaDB ---------------------------------------------------------------------------


@dataclasses.dataclass
class MySQLApp:
    """An application account on the plain MariaDB, its secret and its master secret."""

    name: str
    account: str
    database: str
    db: Database
    client: rotor.client.Client

    def value(self, **changes: Any) -> dict[str, Any]:
        return {**self.client.get_json(self.name), **changes}

    def change_password(self, password: str, *, store: bool = True) -> None:
        """A new password for the account, set by hand; ``store``: and put as Current."""
        self.db.admin("ALTER USER %s@%s IDENTIFIED BY %s", args=(self.account, "%", password))
        if store:
            self.client.put_value(self.name, json.dumps(self.value(AccountPassword=password)))

    def refused_logins(self) -> int:
        rows = self.db.admin("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'")
        return int(rows[0][1])


@pytest.fixture
def mysql_app(
    client: rotor.client.Client, mariadb_server: MariaDBServer, mariadb_database: str, name: str
) -> MySQLApp:
    db = Database(server=mariadb_server, parameters={}, ssl_field=False)
    account = unique_name("app")
    db.create_account(account, FIRST_PASSWORD)
    db.admin(
        f"CREATE TABLE `{mariadb_database}`.orders (id INT PRIMARY KEY)",
        f"INSERT INTO `{mariadb_database}`.orders VALUES (1), (2)",
    )
    db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO %s@%s", args=(account, "%"))
    master = name.replace("/secret", "/master")
    client.create_secret(master, value=db.secret(db.server.user, db.server.password))
    client.create_secret(
        name, value=db.secret(account, FIRST_PASSWORD, master=master, DBName=mariadb_database)
    )
    return MySQLApp(name=name, account=account, database=mariadb_database, db=db, client=client)


def mysql_user(conn: pymysql.connections.Connection[Any]) -> str:
    """The account a connection logged in as (its orders are readable, too)."""
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert cur.fetchone() == (2,)
        cur.execute("SELECT CURRENT_USER()")
        row = cur.fetchone()
    assert row is not None
    return str(row[0]).rpartition("@")[0]


class AppLoop(threading.Thread):
    """An application: runs its operations back to back until stopped, counting failures."""

    def __init__(self, operations: dict[str, Callable[[], str]]) -> None:
        super().__init__(daemon=True)
        self.operations = operations
        self.stop = threading.Event()
        self.done = 0
        self.failures: list[str] = []
        self.users: set[str] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            for what, operation in self.operations.items():
                try:
                    self.users.add(operation())
                except Exception as exc:
                    self.failures.append(f"{what}: {exc!r}")
                self.done += 1


def test_an_application_runs_through_rotations_without_a_failure(
    rotor_server: RunningServer, mysql_app: MySQLApp
) -> None:
    name, account = mysql_app.name, mysql_app.account
    with rotor_server.client() as app_client, rotor_server.client() as operator:
        engine_source, plain_source = CountingSource(app_client), CountingSource(app_client)
        engine = rotor_sqlalchemy.create_engine(
            "mysql+pymysql://", DatabaseCredentials(name, client=engine_source), pool_size=2
        )
        plain = DatabaseCredentials(name, client=plain_source)

        def with_engine() -> str:
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT COUNT(*) FROM orders")).scalar() == 2
                user = conn.execute(sa.text("SELECT CURRENT_USER()")).scalar()
            return str(user).rpartition("@")[0]

        def with_held_login() -> str:
            with mysql.connect(plain, autocommit=True) as conn:
                return mysql_user(conn)

        def with_fresh_read() -> str:
            with mysql.connect(name, client=app_client) as conn:
                return mysql_user(conn)

        app = AppLoop({"engine": with_engine, "held": with_held_login, "fresh": with_fresh_read})
        app.start()
        try:
            started = operator.configure_rotation(name, function="mysql-alternating").started
            assert started is not None
            rotation_ids = [started.id]
            assert operator.wait_for_rotation(started.id, timeout=60, poll=0.05).succeeded
            engine.dispose()
            for _ in range(ROTATIONS - 1):
                before = app.done
                rotation = operator.rotate_secret(name, require_new=True)
                rotation_ids.append(rotation.id)
                final = operator.wait_for_rotation(rotation.id, timeout=60, poll=0.05)
                assert final.succeeded, final.error
                # New connections after each rotation: the pool's, and the helpers' anyway.
                engine.dispose()
                deadline = time.monotonic() + 10
                while app.done < before + 6 and time.monotonic() < deadline:
                    time.sleep(0.01)
        finally:
            app.stop.set()
            app.join(30)
            engine.dispose()

    assert not app.is_alive()
    assert app.failures == []
    assert len(set(rotation_ids)) == ROTATIONS
    assert app.done >= 6 * ROTATIONS
    assert app.users == {account, account + "_rt"}
    current = mysql_app.value()
    assert current["AccountName"] == account  # an even number of rotations
    assert current["AccountPassword"] != FIRST_PASSWORD
    # A held login goes stale at the second rotation after it was read (when set gives
    # its account a new password), and is read again when refused.
    assert plain_source.reads >= ROTATIONS // 2
    assert engine_source.reads >= ROTATIONS // 4


def test_a_refused_login_is_read_again_and_retried_once(mysql_app: MySQLApp) -> None:
    source = CountingSource(mysql_app.client)
    credentials = DatabaseCredentials(mysql_app.name, client=source)
    with mysql.connect(credentials) as conn:
        assert mysql_user(conn) == mysql_app.account
    stale = credentials.current()
    mysql_app.change_password("Second-pass-456")

    refused = mysql_app.refused_logins()
    with mysql.connect(credentials) as conn:
        assert mysql_user(conn) == mysql_app.account
    assert mysql_app.refused_logins() == refused + 1
    assert source.reads == 2
    assert credentials.current() != stale
    assert credentials.current().password == "Second-pass-456"


def test_the_engine_reads_a_refused_login_again(mysql_app: MySQLApp) -> None:
    source = CountingSource(mysql_app.client)
    engine = rotor_sqlalchemy.create_engine(
        "mysql+pymysql://", DatabaseCredentials(mysql_app.name, client=source)
    )
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM orders")).scalar() == 2
        mysql_app.change_password("Second-pass-456")
        engine.dispose()
        refused = mysql_app.refused_logins()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM orders")).scalar() == 2
        assert mysql_app.refused_logins() == refused + 1
        assert source.reads == 2
    finally:
        engine.dispose()


def test_a_refusal_with_an_unchanged_secret_is_raised_without_a_retry(
    mysql_app: MySQLApp,
) -> None:
    source = CountingSource(mysql_app.client)
    credentials = DatabaseCredentials(mysql_app.name, client=source)
    credentials.current()
    mysql_app.change_password("Changed-by-hand-789", store=False)

    refused = mysql_app.refused_logins()
    with pytest.raises(pymysql.err.OperationalError) as caught:
        mysql.connect(credentials)
    assert caught.value.args[0] == 1045
    assert mysql.is_auth_failure(caught.value)
    assert "Changed-by-hand-789" not in str(caught.value)
    assert mysql_app.refused_logins() == refused + 1
    assert source.reads == 2


def test_other_errors_pass_through_unchanged(mysql_app: MySQLApp) -> None:
    mysql_app.client.put_value(
        mysql_app.name, json.dumps(mysql_app.value(DBName="no_such_database"))
    )
    source = CountingSource(mysql_app.client)
    with pytest.raises(pymysql.err.OperationalError) as caught:
        mysql.connect(mysql_app.name, client=source)
    assert caught.value.args[0] in (1044, 1049)  # no access to / no such database
    assert not mysql.is_auth_failure(caught.value)
    assert source.reads == 1

    engine = rotor_sqlalchemy.create_engine("mysql+pymysql://", mysql_app.name, client=source)
    try:
        with pytest.raises(sa.exc.OperationalError) as wrapped:
            engine.connect()
    finally:
        engine.dispose()
    assert isinstance(wrapped.value.orig, pymysql.err.OperationalError)
    assert wrapped.value.orig.args[0] in (1044, 1049)
    assert source.reads == 2


def test_arguments_win_over_the_secret(mysql_app: MySQLApp, mariadb_server: MariaDBServer) -> None:
    with (
        mysql.connect(mysql_app.name, client=mysql_app.client, database=None) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == (None,)
    engine = rotor_sqlalchemy.create_engine(
        f"mysql+pymysql://ignored@{mariadb_server.host}:{mariadb_server.port}/information_schema",
        mysql_app.name,
        client=mysql_app.client,
    )
    try:
        with engine.connect() as connection:
            database = connection.execute(sa.text("SELECT DATABASE()")).scalar()
            assert database == "information_schema"
            user = connection.execute(sa.text("SELECT CURRENT_USER()")).scalar()
            assert str(user).startswith(mysql_app.account + "@")
    finally:
        engine.dispose()


def test_urls_with_a_password_or_another_driver_are_refused(mysql_app: MySQLApp) -> None:
    with pytest.raises(ValueError, match="password"):
        rotor_sqlalchemy.create_engine("mysql+pymysql://app:pw@db/x", mysql_app.name)
    with pytest.raises(ValueError, match=r"mysql\+pymysql"):
        rotor_sqlalchemy.create_engine("mysql://db/x", mysql_app.name)
    with pytest.raises(TypeError):
        mysql.connect(DatabaseCredentials(mysql_app.name), client=mysql_app.client)


def test_the_client_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, rotor_server: RunningServer, mysql_app: MySQLApp
) -> None:
    monkeypatch.setenv("ROTOR_URL", rotor_server.url)
    for variable, value in rotor_server.credentials_env.items():
        monkeypatch.setenv(variable, value)
    with mysql.connect(mysql_app.name) as conn:
        assert mysql_user(conn) == mysql_app.account


# -- imports -----------------------------------------------------------------------------------


def imported(statement: str, *prefixes: str) -> list[str]:
    """The modules starting with one of ``prefixes`` that ``statement`` imports."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    return [m for m in json.loads(out.stdout) if m.startswith(prefixes)]


SERVER = ("rotor.store", "rotor.api", "rotor.access", "rotor.rotation", "fastapi")


def test_each_helper_imports_only_its_driver() -> None:
    drivers = ("pymysql", "psycopg", "sqlalchemy")
    assert imported("import rotor.client", *SERVER, *drivers) == []
    assert imported("import rotor.client.mysql", *SERVER, "psycopg", "sqlalchemy") == []
    assert imported("import rotor.client.postgres", *SERVER, "pymysql", "sqlalchemy") == []
    assert imported("import rotor.client.sqlalchemy", *SERVER, "pymysql", "psycopg") == []


# -- secrets -----------------------------------------------------------------------------------


def test_a_login_is_parsed_from_the_rotation_format() -> None:
    login = DatabaseLogin.of(
        {
            "Endpoint": "db.internal:3307",
            "AccountName": "app",
            "AccountPassword": "very-secret-password",
            "DBName": "",
            "SSL": "true",
            "MasterSecret": "db/master",
        },
        "app/db",
    )
    assert (login.host, login.port, login.user, login.database, login.ssl) == (
        "db.internal",
        3307,
        "app",
        None,
        True,
    )
    assert "very-secret-password" not in repr(login)
    v6 = DatabaseLogin.of(
        {"Endpoint": "[::1]", "Port": "5432", "AccountName": "a", "AccountPassword": "p"}, "x"
    )
    assert (v6.host, v6.port, v6.ssl) == ("::1", 5432, None)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"AccountName": "a", "AccountPassword": "hidden-value"}, "Endpoint"),
        ({"Endpoint": "h", "AccountPassword": "hidden-value"}, "AccountName"),
        ({"Endpoint": "h", "AccountName": "a"}, "AccountPassword"),
        (
            {"Endpoint": "h:1", "Port": 2, "AccountName": "a", "AccountPassword": "hidden-value"},
            "Port",
        ),
        (
            {"Endpoint": "h", "Port": 0, "AccountName": "a", "AccountPassword": "hidden-value"},
            "Port",
        ),
        *(
            (
                {"Endpoint": "h", "AccountName": "a", "AccountPassword": "hidden-value", "SSL": s},
                "SSL",
            )
            # Never read as "absent" (which lets the driver connect without TLS).
            for s in ("yes", 1, "required", " true", "hidden-value")
        ),
    ],
)
def test_a_malformed_secret_names_the_field_not_the_value(
    value: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.InvalidParameter, match=field) as caught:
        DatabaseLogin.of(value, "app/db")
    assert "hidden-value" not in str(caught.value)


# -- PostgreSQL --------------------------------------------------------------------------------


@dataclasses.dataclass
class PostgresApp:
    """A login role on the PostgreSQL server and its secret."""

    name: str
    role: str
    database: str
    server: PostgresServer
    client: rotor.client.Client

    def value(self, **changes: Any) -> dict[str, Any]:
        return {**self.client.get_json(self.name), **changes}

    def admin(self, statement: sql.Composed) -> None:
        with self.server.connect() as conn:
            conn.execute(statement)

    def change_password(self, password: str, *, store: bool = True) -> None:
        self.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(self.role), sql.Literal(password)
            )
        )
        if store:
            self.client.put_value(self.name, json.dumps(self.value(AccountPassword=password)))


@pytest.fixture
def postgres_app(
    client: rotor.client.Client,
    postgres_server: PostgresServer,
    postgres_database: str,
    name: str,
) -> Iterator[PostgresApp]:
    role = unique_name("r")
    database = sa.make_url(postgres_database).database
    assert database is not None
    app = PostgresApp(
        name=name, role=role, database=database, server=postgres_server, client=client
    )
    app.admin(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(FIRST_PASSWORD)
        )
    )
    value = {
        "Endpoint": postgres_server.host,
        "Port": postgres_server.port,
        "DBName": database,
        "AccountName": role,
        "AccountPassword": FIRST_PASSWORD,
        "SSL": False,
    }
    client.create_secret(name, value=json.dumps(value))
    try:
        yield app
    finally:
        app.admin(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def postgres_login(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    row = conn.execute("SELECT session_user, current_database()").fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def test_postgres_reads_a_refused_login_again(postgres_app: PostgresApp) -> None:
    source = CountingSource(postgres_app.client)
    credentials = DatabaseCredentials(postgres_app.name, client=source)
    with postgres.connect(credentials) as conn:
        assert postgres_login(conn) == (postgres_app.role, postgres_app.database)
    postgres_app.change_password("Second-pass-456")

    with postgres.connect(credentials) as conn:
        assert postgres_login(conn) == (postgres_app.role, postgres_app.database)
    assert source.reads == 2
    assert credentials.current().password == "Second-pass-456"


def test_postgres_engine_reads_a_refused_login_again(postgres_app: PostgresApp) -> None:
    source = CountingSource(postgres_app.client)
    engine = rotor_sqlalchemy.create_engine(
        "postgresql+psycopg://", DatabaseCredentials(postgres_app.name, client=source)
    )
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT session_user")).scalar() == postgres_app.role
        postgres_app.change_password("Second-pass-456")
        engine.dispose()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT session_user")).scalar() == postgres_app.role
        assert source.reads == 2
    finally:
        engine.dispose()


def test_postgres_invalid_password_is_an_auth_failure(postgres_app: PostgresApp) -> None:
    source = CountingSource(postgres_app.client)
    credentials = DatabaseCredentials(postgres_app.name, client=source)
    credentials.current()
    postgres_app.change_password("Changed-by-hand-789", store=False)

    with pytest.raises(psycopg.OperationalError) as caught:
        postgres.connect(credentials)
    assert postgres.is_auth_failure(caught.value)  # 28P01, invalid_password
    assert "password authentication failed" in str(caught.value)
    assert source.reads == 2  # read again, unchanged, so not retried


def test_postgres_a_role_that_may_no_longer_log_in_moves_to_the_new_one(
    postgres_app: PostgresApp,
) -> None:
    # What an alternating rotation could do: a second role, then the first one disabled.
    other = postgres_app.role + "_rt"
    postgres_app.admin(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(other), sql.Literal("Other-pass-456")
        )
    )
    try:
        source = CountingSource(postgres_app.client)
        credentials = DatabaseCredentials(postgres_app.name, client=source)
        credentials.current()
        postgres_app.client.put_value(
            postgres_app.name,
            json.dumps(postgres_app.value(AccountName=other, AccountPassword="Other-pass-456")),
        )
        postgres_app.admin(
            sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(postgres_app.role))
        )
        with postgres.connect(credentials) as conn:
            assert postgres_login(conn) == (other, postgres_app.database)
        assert source.reads == 2
    finally:
        postgres_app.admin(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(other)))


def test_postgres_other_errors_pass_through(postgres_app: PostgresApp) -> None:
    postgres_app.client.put_value(
        postgres_app.name, json.dumps(postgres_app.value(DBName="no_such_database"))
    )
    source = CountingSource(postgres_app.client)
    with pytest.raises(psycopg.OperationalError, match="does not exist") as caught:
        postgres.connect(postgres_app.name, client=source)
    assert not postgres.is_auth_failure(caught.value)
    assert source.reads == 1
