"""Passwords never in a statement's text: the server's general log of a rotation holds none.

PyMySQL puts query arguments into the statement text, which the server shows in its
process list and writes to its general log. So a rotation must send what the server
stores (the verifier) rather than the password, and these tests read the general log of
a real MariaDB to check that the new password appears nowhere in it.
"""

from __future__ import annotations

import re
import string

import pytest

from rotor.rotation.engine import Engine
from rotor.rotation.functions import mysql, mysql_accounts, mysql_verifiers
from rotor.rotation.functions.mysql_connections import ServerVersion
from rotor.store.rotations import Status
from tests.rotation.mysql.support import Database, make_app, unique_name
from tests.services.mariadb import client_runs, general_log

#: How a password would look in statement text: a literal after BY, or inside PASSWORD().
CLEARTEXT = re.compile(r"IDENTIFIED\s+BY\s+'|PASSWORD\s*\(", re.IGNORECASE)


def _leaks(statements: list[str], password: str) -> list[str]:
    return [s for s in statements if password in s or CLEARTEXT.search(s)]


def test_alternating_rotation_sends_no_password(engine: Engine, db: Database) -> None:
    app = make_app(engine, db)
    other = app.account + "_rt"
    with general_log(db.server) as logged:
        # The first rotation creates app_rt; the second changes app's password.
        for account in (other, app.account):
            done = app.rotate()
            assert done.status is Status.SUCCEEDED, done.error
            current = app.value()
            assert current["AccountName"] == account
            assert db.logs_in(account, current["AccountPassword"])
            statements = logged()
            assert _leaks(statements, current["AccountPassword"]) == []
    # The log did record the rotation: the accounts were given verifiers.
    assert any(f"CREATE USER '{other}'" in s for s in statements)
    assert any("IDENTIFIED BY PASSWORD '*" in s for s in statements)
    app.both_log_in()


def test_single_user_rotation_sends_no_password(engine: Engine, db: Database) -> None:
    app = make_app(engine, db, function="mysql-single-user")
    with general_log(db.server) as logged:
        for _ in range(2):
            done = app.rotate()
            assert done.status is Status.SUCCEEDED, done.error
            password = app.value()["AccountPassword"]
            assert db.logs_in(app.account, password)
            statements = logged()
            assert _leaks(statements, password) == []
    assert any("SET PASSWORD = '*" in s for s in statements)


@pytest.fixture
def ed25519_db(plain_db: Database) -> Database:
    """The plain server with MariaDB's ed25519 plugin loaded (once; it stays loaded)."""
    loaded = plain_db.admin(
        "SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'"
    )
    if not loaded:
        plain_db.admin("INSTALL SONAME 'auth_ed25519'")
    return plain_db


def _ed25519_account(db: Database, password: str) -> str:
    """An ed25519 account whose key the server derived from ``password`` itself."""
    name = unique_name("ed")
    db.admin(
        "CREATE USER %s@%s IDENTIFIED VIA ed25519 USING PASSWORD(%s)", args=(name, "%", password)
    )
    return name


def test_ed25519_account_copy_and_password_change_send_the_public_key(
    ed25519_db: Database,
) -> None:
    """What set does as the master, for an ed25519 account; logins by the mariadb client.

    A whole rotation cannot run here: PyMySQL signs ed25519 logins only with PyNaCl,
    which rotor does not depend on, so only the mariadb client can prove the login.
    """
    db = ed25519_db
    current = _ed25519_account(db, "Initial-pass-123")
    other = current + "_rt"
    first, second = "First-new-pass-1", "Second-new-pass-2"
    history: list[str] = []
    with db.connect(db.server.user, db.server.password) as conn:
        server = ServerVersion.parse(db.server.version)
        with general_log(db.server) as logged:
            for password in (first, second):  # creates the account, then changes it
                with conn.cursor() as cursor:
                    plan = mysql_accounts.plan_copy(cursor, server, current, other)
                mysql_accounts.apply_copy(conn, plan, password, history.append)
            statements = logged()
    for password in (first, second):
        assert _leaks(statements, password) == []
    assert any("IDENTIFIED VIA ed25519 USING '" in s for s in statements)
    assert db.properties(other)[0] == "ed25519"
    assert client_runs(db.server, other, second, "SELECT 1")
    assert not client_runs(db.server, other, first, "SELECT 1")
    assert client_runs(db.server, current, "Initial-pass-123", "SELECT 1")
    assert not any("statement text" in line for line in history)


def test_ed25519_account_changes_its_own_password_with_the_public_key(
    ed25519_db: Database,
) -> None:
    """The statement of mysql-single-user, run by the account itself (mariadb client)."""
    db = ed25519_db
    account = _ed25519_account(db, "Initial-pass-123")
    row = db.admin("SHOW CREATE USER %s@%s", args=(account, "%"))
    assert mysql_verifiers.create_user_plugin(str(row[0][0])) == "ed25519"
    server = ServerVersion.parse(db.server.version)
    sql, args = mysql.own_password_statement(server, "ed25519", "Next-pass-456", "Initial-pass-123")
    assert "Next-pass-456" not in args
    with db.connect(db.server.user, db.server.password) as conn:
        statement = sql % tuple(conn.escape(arg) for arg in args)
    assert client_runs(db.server, account, "Initial-pass-123", statement)
    assert client_runs(db.server, account, "Next-pass-456", "SELECT 1")
    assert not client_runs(db.server, account, "Initial-pass-123", "SELECT 1")


def test_show_create_user_names_the_plugin(plain_db: Database) -> None:
    name = unique_name("n")
    plain_db.create_account(name, "Initial-pass-123", extra="REQUIRE SUBJECT 'CN=a OR b'")
    row = plain_db.admin("SHOW CREATE USER %s@%s", args=(name, "%"))
    assert mysql_verifiers.create_user_plugin(str(row[0][0])) == "mysql_native_password"


@pytest.mark.parametrize(
    "password", ["secret", string.punctuation + " Aa1", "pässwörd ✓", "x" * 200]
)
def test_verifiers_equal_what_the_server_derives(ed25519_db: Database, password: str) -> None:
    db = ed25519_db
    assert db.admin("SELECT PASSWORD(%s)", args=(password,)) == [
        (mysql_verifiers.native_verifier(password),)
    ]
    account = _ed25519_account(db, password)
    stored = db.admin(
        "SELECT authentication_string FROM mysql.user WHERE User = %s", args=(account,)
    )
    assert stored == [(mysql_verifiers.ed25519_verifier(password),)]
