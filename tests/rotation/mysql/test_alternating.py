"""``mysql-alternating`` through the engine, against real MariaDB (plain and TLS)."""

from __future__ import annotations

import json
import ssl
import string
import threading
from typing import Any

import pymysql
import pytest

from rotor.rotation import functions as registry
from rotor.rotation.engine import Engine
from rotor.rotation.functions import base, mysql_connections
from rotor.store import secrets, versions
from rotor.store.rotations import Status
from tests.rotation.mysql.support import (
    App,
    Database,
    fails_and_changes_nothing,
    make_app,
    record_connects,
    unique_name,
)


def _grant_everything_kind(db: Database, app: App, schema: str) -> str:
    """Database (wildcard), table, column and routine grants, a grant option, a role."""
    role = unique_name("role")
    pattern = f"{app.account[:12]}\\_%"
    db.admin(
        f"CREATE TABLE `{schema}`.t (a INT, b INT, `odd TO name` INT)",
        f"CREATE PROCEDURE `{schema}`.p() SELECT 1",
        f"CREATE FUNCTION `{schema}`.f() RETURNS INT RETURN 1",
        f"CREATE ROLE {role}",
        f"GRANT SELECT ON `{schema}`.t TO {role}",
    )
    grantee = f"'{app.account}'@'%'"
    db.admin(
        f"GRANT SELECT, INSERT ON `{pattern}`.* TO {grantee} WITH GRANT OPTION",
        f"GRANT SELECT, UPDATE ON `{schema}`.* TO {grantee}",
        f"GRANT SELECT (a, `odd TO name`), UPDATE (b) ON `{schema}`.t TO {grantee}",
        f"GRANT EXECUTE ON PROCEDURE `{schema}`.p TO {grantee}",
        f"GRANT EXECUTE, ALTER ROUTINE ON FUNCTION `{schema}`.f TO {grantee}",
        f"GRANT PROCESS ON *.* TO {grantee}",
        f"GRANT {role} TO {grantee}",
        f"SET DEFAULT ROLE {role} FOR {grantee}",
        f"ALTER USER {grantee} WITH MAX_USER_CONNECTIONS 20 MAX_QUERIES_PER_HOUR 5000",
    )
    return role


def test_two_rotations_alternate_accounts_with_identical_privileges(
    engine: Engine, db: Database, mariadb_database: str
) -> None:
    # mariadb_database lives on the plain server; the TLS one gets a schema of its own.
    schema = mariadb_database if db.ssl_field is False else unique_name("s")
    if db.ssl_field is not False:
        db.admin(f"CREATE DATABASE `{schema}`")
    app = make_app(engine, db, dry_run=True)
    role = _grant_everything_kind(db, app, schema)
    other = app.account + "_rt"

    first = app.rotate()
    assert first.status is Status.SUCCEEDED, first.error
    current = app.value()
    assert current["AccountName"] == other
    assert current["AccountPassword"] != app.password
    assert current["MasterSecret"] == app.master
    assert current["Port"] == db.server.port
    assert db.hosts(other) == ["%"]
    assert db.grants(other) == db.grants(app.account)
    assert any(f"`{role}`" in row for row in db.grants(other))
    assert any("WITH GRANT OPTION" in row for row in db.grants(other))
    assert db.properties(other) == db.properties(app.account)
    app.both_log_in()
    assert app.value(stage="Previous")["AccountPassword"] == app.password

    second = app.rotate()
    assert second.status is Status.SUCCEEDED, second.error
    back = app.value()
    assert back["AccountName"] == app.account
    assert back["AccountPassword"] not in (app.password, current["AccountPassword"])
    assert not db.logs_in(app.account, app.password)
    app.both_log_in()
    assert db.grants(other) == db.grants(app.account)
    # The history keeps account names readable (only secret-like fields are blanked).
    history = "\n".join(app.history(first))
    assert f"set: created '{other}'@'%'" in history
    assert "holds the same privileges" in history
    assert current["AccountPassword"] not in history


def test_privileges_changed_between_rotations_do_not_drift(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    app = make_app(engine, plain_db)
    grantee = f"'{app.account}'@'%'"
    plain_db.admin(
        f"GRANT SELECT, INSERT, DELETE ON `{mariadb_database}`.* TO {grantee}",
        f"GRANT RELOAD ON *.* TO {grantee} WITH GRANT OPTION",
    )
    assert app.rotate().status is Status.SUCCEEDED
    other = app.account + "_rt"
    # While app_rt is Current, an operator changes its privileges.
    plain_db.admin(
        f"REVOKE DELETE ON `{mariadb_database}`.* FROM '{other}'@'%'",
        f"REVOKE GRANT OPTION ON *.* FROM '{other}'@'%'",
        f"GRANT UPDATE ON `{mariadb_database}`.* TO '{other}'@'%'",
    )
    assert app.rotate().status is Status.SUCCEEDED
    rows = plain_db.grants(app.account)
    assert rows == plain_db.grants(other)
    assert f"GRANT SELECT, INSERT, UPDATE ON `{mariadb_database}`.* TO <grantee>" in rows
    assert not any("GRANT OPTION" in row for row in rows)


def test_every_host_of_the_account_is_rotated(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    account = unique_name("app")
    plain_db.create_account(account, "Initial-pass-123")
    plain_db.create_account(account, "Other-host-pass-1", host="10.%")
    plain_db.create_account(account, "Local-pass-1234", host="localhost")
    plain_db.admin(
        f"GRANT SELECT ON `{mariadb_database}`.* TO '{account}'@'%'",
        f"GRANT INSERT ON `{mariadb_database}`.* TO '{account}'@'10.%'",
        f"ALTER USER '{account}'@'10.%' REQUIRE SSL",
    )
    app = make_app(engine, plain_db, account=account, create_account=False)
    assert app.rotate().status is Status.SUCCEEDED
    other = account + "_rt"
    assert plain_db.hosts(other) == ["%", "10.%", "localhost"]
    for host in ("%", "10.%", "localhost"):
        assert plain_db.grants(other, host) == plain_db.grants(account, host)
        assert plain_db.properties(other, host) == plain_db.properties(account, host)
    assert plain_db.properties(other, "10.%")[1] == "ANY"


def test_a_stray_host_of_the_other_account_is_refused_before_any_change(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    app = make_app(engine, plain_db)
    other = app.account + "_rt"
    plain_db.create_account(other, "Stray-pass-1234", host="10.%")
    done = app.rotate()
    assert done.status is Status.FAILED
    assert f"'{other}'@'10.%' exists but '{app.account}' has no entry on that host" in (
        done.error or ""
    )
    assert plain_db.hosts(other) == ["10.%"]
    assert app.value()["AccountName"] == app.account
    assert plain_db.logs_in(app.account, app.password)


def test_an_application_sees_no_login_failure_during_twenty_rotations(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    app = make_app(engine, plain_db)
    plain_db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO '{app.account}'@'%'")
    failures: list[tuple[str, Any]] = []
    logins = 0
    stop = threading.Event()

    def application() -> None:
        nonlocal logins
        while not stop.is_set():
            value = json.loads(str(versions.get_value(engine.store, app.name).value))
            try:
                with (
                    plain_db.connect(
                        value["AccountName"], value["AccountPassword"], database=mariadb_database
                    ) as conn,
                    conn.cursor() as cursor,
                ):
                    cursor.execute("SELECT 1")
                logins += 1
            except pymysql.err.MySQLError as exc:
                failures.append((value["AccountName"], exc.args))

    thread = threading.Thread(target=application, name="application")
    thread.start()
    try:
        for _ in range(20):
            done = app.rotate()
            assert done.status is Status.SUCCEEDED, done.error
            app.both_log_in()
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert logins >= 20
    assert {app.value()["AccountName"], app.value(stage="Previous")["AccountName"]} == {
        app.account,
        app.account + "_rt",
    }


def test_a_name_at_the_length_limit_is_refused_and_nothing_changes(
    engine: Engine, plain_db: Database
) -> None:
    server = mysql_connections.ServerVersion.parse(plain_db.server.version)
    limit = server.max_user_name_length
    assert limit == 128  # MariaDB 10.6 and later; 80 before, 16/32 on MySQL
    account = unique_name("long")
    account += "x" * (limit - len(account))
    app = make_app(engine, plain_db, account=account)
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "is too long to rotate" in (done.error or "")
    assert f"the server allows {limit}" in (done.error or "")
    assert plain_db.hosts(account[: limit - 3] + "_rt") == []
    assert app.value()["AccountName"] == account
    assert plain_db.logs_in(account, app.password)


def test_wrong_master_password(engine: Engine, plain_db: Database) -> None:
    master = plain_db.secret(plain_db.server.user, "not-the-password")
    app = make_app(engine, plain_db, master_value=master)
    error = fails_and_changes_nothing(
        app, f"with the master credentials of secret {app.master!r}: access denied"
    )
    assert "not-the-password" not in error


def test_unreachable_endpoint(engine: Engine, plain_db: Database) -> None:
    account = unique_name("app")
    closed = plain_db.secret(account, "Initial-pass-123", master="db/none", Port=1)
    app = make_app(engine, plain_db, account=account, value=closed)
    fails_and_changes_nothing(app, "cannot connect to 127.0.0.1:1: connection refused")


def test_master_on_another_endpoint(engine: Engine, plain_db: Database) -> None:
    master = plain_db.secret(plain_db.server.user, plain_db.server.password, Endpoint="localhost")
    app = make_app(engine, plain_db, master_value=master)
    fails_and_changes_nothing(app, f"the master secret '{app.master}' is for another server")


def test_master_without_grant_option(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    weak = unique_name("master")
    plain_db.create_account(weak, "Master-pass-123")
    plain_db.admin(f"GRANT ALL PRIVILEGES ON *.* TO '{weak}'@'%'")
    app = make_app(engine, plain_db, master_value=plain_db.secret(weak, "Master-pass-123"))
    plain_db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO '{app.account}'@'%'")
    fails_and_changes_nothing(
        app,
        f"the master account '{weak}'@'%' of secret {app.master!r} cannot give "
        f"'{app.account}_rt' the privileges of '{app.account}': it lacks SELECT ON "
        f"`{mariadb_database}`.* with the grant option; an administrator grants that with: "
        f"GRANT SELECT ON `{mariadb_database}`.* TO '{weak}'@'%' WITH GRANT OPTION",
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        ('{"Endpoint": "127.0.0.1", "AccountName": "x"}', "has no field 'AccountPassword'"),
        (
            '{"Endpoint": "127.0.0.1", "AccountName": "x", "AccountPassword": "p"}',
            "has no field 'MasterSecret'",
        ),
        (
            '{"Endpoint": "127.0.0.1", "AccountName": 7, "AccountPassword": "p", '
            '"MasterSecret": "m"}',
            "field 'AccountName' has the wrong type",
        ),
        (
            '{"Endpoint": "127.0.0.1", "Port": "abc", "AccountName": "x", '
            '"AccountPassword": "p", "MasterSecret": "m"}',
            "field 'Port' must be a port number",
        ),
    ],
)
def test_malformed_secret(engine: Engine, plain_db: Database, value: str, fragment: str) -> None:
    app = make_app(engine, plain_db, value=value)
    fails_and_changes_nothing(app, fragment)


def test_malformed_master_secret(engine: Engine, plain_db: Database) -> None:
    app = make_app(engine, plain_db, master_value='{"Endpoint": "127.0.0.1"}')
    fails_and_changes_nothing(app, f"the master secret '{app.master}' has no field 'AccountName'")


def test_master_secret_for_an_account_being_rotated_is_refused(
    engine: Engine, plain_db: Database
) -> None:
    account = unique_name("app")
    app = make_app(
        engine, plain_db, account=account, master_value=plain_db.secret(account + "_rt", "x-pass")
    )
    fails_and_changes_nothing(app, "one of the accounts being rotated")


def test_a_pending_account_that_is_not_the_other_one_is_refused(
    engine: Engine, plain_db: Database
) -> None:
    app = make_app(engine, plain_db)
    stranger = plain_db.secret("root", "Pending-pass-1", master=app.master)
    versions.put_value(engine.store, app.name, stranger, version_id="v1", stages=["Pending"])
    done = app.rotate(version_id="v1")
    assert done.status is Status.FAILED
    assert "the Pending account 'root' is not the other account" in (done.error or "")
    assert plain_db.logs_in(app.account, app.password)


def test_a_rotation_interrupted_after_set_completes_with_the_same_version(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    """new and set ran (the process died before recording them); a rotation resumes."""
    app = make_app(engine, plain_db)
    plain_db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO '{app.account}'@'%'")
    lines: list[str] = []
    parameters = dict(plain_db.parameters)
    context = base.InvocationContext(
        request_id="resumed-1",
        rotation_id="crashed",
        dry_run=False,
        parameters=parameters,
        expected_current="v0",
        secrets=base.SecretsAccess(
            engine.store, app.name, frozenset({app.master}), base.Redactor()
        ),
        log=lines.append,
        mint_credentials=lambda: pytest.fail("not used"),
        api_url="",
        timeout_seconds=30,
    )
    function = registry.load("mysql-alternating")
    for step in ("new", "set"):
        function.invoke({"SecretName": app.name, "Step": step, "VersionId": "resumed-1"}, context)
    pending = app.value(version_id="resumed-1")
    assert plain_db.logs_in(pending["AccountName"], pending["AccountPassword"])

    done = app.rotate(version_id="resumed-1")
    assert done.status is Status.SUCCEEDED, done.error
    assert app.value() == pending
    assert any("already logs in with the new password" in line for line in app.history(done))
    app.both_log_in()


def test_passwords_with_every_punctuation_character(engine: Engine, db: Database) -> None:
    initial = string.punctuation + " Aa1"
    app = make_app(engine, db, password=initial, parameters={"ExcludeCharacters": ""})
    # A Pending value written by hand, so that every character is certainly in it.
    chosen = "Zz9 " + string.punctuation[::-1] + "%s%%"
    pending = {**app.value(), "AccountName": app.account + "_rt", "AccountPassword": chosen}
    versions.put_value(
        engine.store, app.name, json.dumps(pending), version_id="v1", stages=["Pending"]
    )
    assert app.rotate(version_id="v1").status is Status.SUCCEEDED
    assert db.logs_in(app.account + "_rt", chosen)
    # Generated passwords may hold any punctuation when nothing is excluded.
    third = app.rotate()
    assert third.status is Status.SUCCEEDED, third.error
    app.both_log_in()


def test_account_names_with_quotes_and_backslashes(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    account = unique_name("q") + "'`\"\\ TO x"
    app = make_app(engine, plain_db, account=account)
    plain_db.admin(
        f"GRANT SELECT ON `{mariadb_database}`.* TO %s@'%%' WITH GRANT OPTION", args=(account,)
    )
    for _ in range(2):
        done = app.rotate()
        assert done.status is Status.SUCCEEDED, done.error
        app.both_log_in()
    assert plain_db.hosts(account + "_rt") == ["%"]
    assert plain_db.grants(account + "_rt") == plain_db.grants(account)
    assert len(plain_db.grants(account)) == 2


def test_default_password_policy_excludes_quotes_and_slashes(
    engine: Engine, plain_db: Database
) -> None:
    app = make_app(engine, plain_db, parameters={"PasswordLength": 64})
    assert app.rotate().status is Status.SUCCEEDED
    password = app.value()["AccountPassword"]
    assert len(password) == 64
    assert not set(password) & set("/@\"'\\")


def test_dry_run_when_enabling_checks_without_changing(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    app = make_app(engine, plain_db, dry_run=True)
    assert plain_db.hosts(app.account + "_rt") == []
    assert set(secrets.get_secret(engine.store, app.name).stages) == {"Current"}

    weak = unique_name("master")
    plain_db.create_account(weak, "Master-pass-123")
    plain_db.admin(f"GRANT ALL PRIVILEGES ON *.* TO '{weak}'@'%'")
    account = unique_name("app")
    plain_db.create_account(account, "Initial-pass-123")
    plain_db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO '{account}'@'%'")
    with pytest.raises(Exception, match=f"lacks SELECT ON `{mariadb_database}`.* with the grant"):
        make_app(
            engine,
            plain_db,
            account=account,
            create_account=False,
            dry_run=True,
            master_value=plain_db.secret(weak, "Master-pass-123"),
        )
    assert plain_db.hosts(account + "_rt") == []


def test_rotations_build_no_tls_context_per_connect(
    engine: Engine, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trap that made rotations 50x slower: a TLS context built on every connect.
    Counted, not timed (speed is measured in bench/)."""
    built: list[object] = []
    real = mysql_connections._build_context

    def counting(settings: mysql_connections.TlsSettings) -> ssl.SSLContext:
        built.append(settings)
        return real(settings)

    monkeypatch.setattr(mysql_connections, "_build_context", counting)
    connects = record_connects(monkeypatch)
    app = make_app(engine, db)
    for _ in range(3):
        assert app.rotate().status is Status.SUCCEEDED
    assert len(connects) > 3 * 3  # each rotation connects several times...
    assert len(built) <= 1  # ...with at most one context, built once and reused
