"""``postgres-single-user``: the role changes its own password with its own credentials."""

from __future__ import annotations

import json

from rotor.rotation.engine import Engine
from rotor.store import versions
from rotor.store.rotations import Status
from tests.nodes.conftest import wait_until
from tests.rotation.postgres.support import Database, make_app

SINGLE = "postgres-single-user"


def test_the_new_password_logs_in_the_old_is_refused_and_scram_is_stored(
    engine: Engine, pg: Database
) -> None:
    app = make_app(engine, pg, function=SINGLE)
    for _ in range(2):
        current = app.rotated()
        previous = app.value(stage="Previous")
        assert current["AccountName"] == app.account
        assert pg.logs_in(app.account, current["AccountPassword"])
        assert not pg.logs_in(app.account, previous["AccountPassword"])
    stored = pg.admin("SELECT rolpassword FROM pg_authid WHERE rolname = %s", args=(app.account,))
    assert stored[0][0].startswith("SCRAM-SHA-256$")
    for character in ":/@'\"\\ ":
        assert character not in current["AccountPassword"]


def test_the_password_appears_nowhere_in_the_server_log(
    engine: Engine, logged_pg: Database
) -> None:
    app = make_app(engine, logged_pg, function=SINGLE)
    password = app.rotated()["AccountPassword"]
    # The statement itself is logged (so the log is being written), with the verifier.
    wait_until(lambda: "ALTER ROLE" in logged_pg.log_path.read_text(errors="replace"), "the log")
    log = logged_pg.log_path.read_text(errors="replace")
    assert f'ALTER ROLE "{app.account}" PASSWORD \'SCRAM-SHA-256$' in log
    assert password not in log


def test_aliases_as_the_cloud_secrets_managers_spell_them(engine: Engine, pg: Database) -> None:
    value = {
        "engine": "postgres",
        "host": pg.server.host,
        "port": pg.server.port,
        "dbname": pg.name,
        "username": "",
        "password": "Initial-pass-123",
        "SSL": False,
    }
    app = make_app(engine, pg, function=SINGLE, value="{}")
    value["username"] = app.account
    versions.put_value(engine.store, app.name, json.dumps(value), version_id="v-aliases")
    current = app.rotated()
    assert set(current) == set(value)
    assert current["username"] == app.account
    assert pg.logs_in(app.account, current["password"])


def test_valid_until_from_a_parameter(engine: Engine, pg: Database) -> None:
    app = make_app(engine, pg, function=SINGLE, parameters={"PasswordValidDays": 30})
    pg.admin(f'ALTER ROLE "{app.account}" CREATEROLE')
    app.rotated()
    rows = pg.admin(
        "SELECT rolvaliduntil > now() + interval '29 days' AND "
        "rolvaliduntil < now() + interval '31 days' FROM pg_roles WHERE rolname = %s",
        args=(app.account,),
    )
    assert rows == [(True,)]


def test_wrong_current_password_fails_with_the_function_error_code(
    engine: Engine, pg: Database
) -> None:
    app = make_app(engine, pg, function=SINGLE)
    wrong = pg.secret(app.account, "not-the-password")
    versions.put_value(engine.store, app.name, wrong, version_id="v-wrong")
    done = app.rotate()
    assert done.status is Status.FAILED
    assert f"with the Current credentials of secret {app.name!r}: access denied" in (
        done.error or ""
    )
    assert "not-the-password" not in (done.error or "")
    assert pg.logs_in(app.account, app.password)


def test_a_missing_database_is_named(engine: Engine, pg: Database) -> None:
    app = make_app(engine, pg, function=SINGLE)
    missing = pg.secret(app.account, app.password, DBName="no_such_db")
    versions.put_value(engine.store, app.name, missing, version_id="v-nodb")
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "database 'no_such_db' does not exist" in (done.error or "")
    assert pg.logs_in(app.account, app.password)


def test_tls_required_against_a_server_without_tls_never_logs_in_in_plaintext(
    engine: Engine, logged_pg: Database
) -> None:
    app = make_app(engine, logged_pg, function=SINGLE)
    versions.put_value(
        engine.store,
        app.name,
        logged_pg.secret(app.account, app.password, SSL=True),
        version_id="v-tls",
    )
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "the server does not support TLS" in (done.error or "")
    # A plaintext login of the role is logged (the control), the rotation's never was.
    assert logged_pg.logs_in(app.account, app.password)
    marker = f"user={app.account}"
    wait_until(lambda: marker in logged_pg.log_path.read_text(errors="replace"), "the log")
    authorized = [
        line
        for line in logged_pg.log_path.read_text(errors="replace").splitlines()
        if marker in line and "connection authorized" in line
    ]
    assert len(authorized) == 1, authorized
    assert "application_name=rotor-rotation" not in authorized[0]
    assert app.value()["AccountPassword"] == app.password
