"""``postgres-alternating`` through the engine, against the session's real PostgreSQL."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest

from rotor.rotation.engine import Engine
from rotor.store import versions
from rotor.store.rotations import Status
from tests.rotation.postgres.support import App, Database, make_app, unique_name


def _ownership_model(pg: Database, app: App) -> str:
    """The documented model: a NOLOGIN group owns the schema; sessions act as the group."""
    group = unique_name("owner")
    pg.admin(
        f'CREATE ROLE "{group}" NOLOGIN',
        f'CREATE SCHEMA appdata AUTHORIZATION "{group}"',
        f'GRANT "{group}" TO "{app.account}"',
        f"ALTER ROLE \"{app.account}\" SET role = '{group}'",
        f'ALTER ROLE "{app.account}" SET search_path = appdata',
    )
    return group


def _run(pg: Database, value: dict[str, object], *statements: str) -> list[object]:
    with pg.connect(str(value["AccountName"]), str(value["AccountPassword"])) as conn:
        rows: list[object] = []
        for statement in statements:
            cursor = conn.execute(statement.encode())
            rows = list(cursor.fetchall()) if cursor.description else []
        return rows


def test_objects_either_role_creates_work_for_the_other(engine: Engine, pg: Database) -> None:
    app = make_app(engine, pg)
    group = _ownership_model(pg, app)
    clone = app.rotated()
    assert clone["AccountName"] == app.account + "_rt"
    assert clone["MasterSecret"] == app.master
    # The clone, while Current, creates a table...
    _run(pg, clone, "CREATE TABLE made_by_clone (n int)", "INSERT INTO made_by_clone VALUES (1)")
    original = app.rotated()
    assert original["AccountName"] == app.account
    # ... which the original reads and writes after the next rotation, and the reverse.
    assert _run(
        pg, original, "INSERT INTO made_by_clone VALUES (2)", "SELECT count(*) FROM made_by_clone"
    ) == [(2,)]
    _run(
        pg,
        original,
        "CREATE TABLE made_by_original (n int)",
        "INSERT INTO made_by_original VALUES (1)",
    )
    clone = app.rotated()
    assert _run(
        pg, clone, "UPDATE made_by_original SET n = 5", "SELECT n FROM made_by_original"
    ) == [(5,)]
    owners = pg.admin("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'appdata'")
    assert owners == [(group,)]


def test_grants_attributes_and_removals_are_resynced(engine: Engine, pg: Database) -> None:
    app = make_app(engine, pg)
    other = app.account + "_rt"
    pg.admin(
        "CREATE TABLE t (n int)",
        "CREATE SEQUENCE s",
        "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS 'SELECT a'",
        f'GRANT SELECT, INSERT ON t TO "{app.account}" WITH GRANT OPTION',
        f'GRANT USAGE ON SEQUENCE s TO "{app.account}"',
        f'GRANT EXECUTE ON FUNCTION f(int) TO "{app.account}"',
        f'GRANT CREATE ON SCHEMA public TO "{app.account}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT SELECT ON TABLES TO "{app.account}"',
        f"ALTER ROLE \"{app.account}\" CONNECTION LIMIT 7 VALID UNTIL '2100-01-01' CREATEDB",
    )
    clone = app.rotated()
    assert _run(pg, clone, "INSERT INTO t VALUES (1)", "SELECT nextval('s')", "SELECT f(3)") == [
        (3,)
    ]
    rows = pg.admin(
        "SELECT rolconnlimit, rolvaliduntil::date::text, rolcreatedb FROM pg_roles "
        "WHERE rolname = %s",
        args=(other,),
    )
    assert rows == [(7, "2100-01-01", True)]
    # A privilege removed from the current role (now the clone) is removed from the other.
    pg.admin(f'REVOKE INSERT ON t FROM "{other}"')
    original = app.rotated()
    try:
        _run(pg, original, "INSERT INTO t VALUES (2)")
        raise AssertionError("INSERT still allowed")
    except psycopg.errors.InsufficientPrivilege:
        pass
    assert _run(pg, original, "SELECT count(*) FROM t") == [(1,)]
    # Both still log in (Previous keeps working until the rotation after next).
    assert pg.logs_in(clone["AccountName"], clone["AccountPassword"])


def test_wrong_master_password_fails_and_changes_nothing(engine: Engine, pg: Database) -> None:
    app = make_app(engine, pg, master_value=pg_secret_of(pg, "postgres", "wrong-pass"))
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "with the master credentials" in (done.error or "")
    assert "access denied" in (done.error or "")
    assert not pg.role_exists(app.account + "_rt")
    assert versions.get_value(engine.store, app.name).version_id == "v0"


def test_master_without_createrole_is_refused_naming_what_is_missing(
    engine: Engine, pg: Database
) -> None:
    weak = unique_name("master")
    pg.create_role(weak, "Master-pass-123")
    app = make_app(engine, pg, master_value=pg_secret_of(pg, weak, "Master-pass-123"))
    done = app.rotate()
    assert done.status is Status.FAILED
    assert f'lacks CREATEROLE (ALTER ROLE "{weak}" CREATEROLE)' in (done.error or "")
    assert not pg.role_exists(app.account + "_rt")


def test_a_name_too_long_for_63_bytes_is_refused(engine: Engine, pg: Database) -> None:
    account = "é" * 26 + unique_name("")  # 62 bytes: with _rt, 65
    app = make_app(engine, pg, account=account)
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "would have 65 bytes, and the server allows 63" in (done.error or "")


@pytest.mark.parametrize(("helper", "rotations"), [("connect", 20), ("sqlalchemy", 10)])
def test_an_application_loop_survives_rotations(
    engine: Engine, pg: Database, helper: str, rotations: int
) -> None:
    """An application connecting through rotor.client.postgres.connect (a new connection
    each time), or through a pooled SQLAlchemy engine, never fails a login or a query."""
    import sqlalchemy as sa

    from rotor.client import postgres as client_postgres
    from rotor.client import sqlalchemy as client_sqlalchemy

    app = make_app(engine, pg)
    pg.admin("CREATE TABLE hits (n int)", f'GRANT SELECT, INSERT ON hits TO "{app.account}"')
    failures: list[BaseException] = []
    queries = 0
    stop = threading.Event()

    class Source:
        """What an application's client reads: Current, from the store (no server here)."""

        def get_json(self, name: str) -> dict[str, object]:
            raw = versions.get_value(engine.store, name).value
            assert isinstance(raw, str)
            parsed: dict[str, object] = json.loads(raw)
            return parsed

    credentials = client_postgres.DatabaseCredentials(app.name, client=Source())
    url = f"postgresql+psycopg://{pg.server.host}:{pg.server.port}/{pg.name}"
    pooled = client_sqlalchemy.create_engine(url, credentials, pool_size=2, max_overflow=0)

    def query() -> None:
        if helper == "connect":
            with client_postgres.connect(credentials, autocommit=True) as conn:
                conn.execute("INSERT INTO hits VALUES (1)")
        else:
            with pooled.begin() as conn:
                conn.execute(sa.text("INSERT INTO hits VALUES (1)"))

    def loop() -> None:
        nonlocal queries
        while not stop.is_set():
            try:
                query()
                queries += 1
            except BaseException as exc:
                failures.append(exc)

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        for _ in range(rotations):
            app.rotated()
    finally:
        stop.set()
        worker.join(timeout=60)
        pooled.dispose()
    assert failures == []
    assert queries > 0
    assert pg.admin("SELECT count(*) FROM hits") == [(queries,)]


def pg_secret_of(pg: Database, account: str, password: str) -> str:
    return json.dumps(json.loads(pg.secret(account, password)))
