"""``mysql-alternating`` with MariaDB roles: what the master needs, and no half-made account.

Granting a role needs ADMIN OPTION on it (GRANT OPTION on privileges is not enough),
and ``SET DEFAULT ROLE ... FOR`` another account needs UPDATE on ``mysql.*``.
"""

from __future__ import annotations

import pytest

from rotor import errors
from rotor.rotation.engine import Engine
from rotor.rotation.functions import mysql_authority
from rotor.store.rotations import Status
from tests.rotation.mysql.support import (
    App,
    Database,
    fails_and_changes_nothing,
    make_app,
    unique_name,
)

MASTER_PASSWORD = "Master-pass-123"


def _master(db: Database, *grants: str) -> tuple[str, str]:
    """A master account with ``grants`` (``{m}`` is its name); its name and secret value."""
    name = unique_name("master")
    db.create_account(name, MASTER_PASSWORD)
    db.admin(*(grant.format(m=f"'{name}'@'%'") for grant in grants))
    return name, db.secret(name, MASTER_PASSWORD)


#: The README's master grant, without its line for roles.
_WITHOUT_ROLES = "GRANT ALL PRIVILEGES ON *.* TO {m} WITH GRANT OPTION"


def _account_with_role(db: Database, schema: str) -> tuple[str, str]:
    """An account whose privileges come from a role, its default role; (account, role)."""
    account, role = unique_name("app"), unique_name("role")
    db.create_account(account, "Initial-pass-123")
    db.admin(
        f"CREATE TABLE IF NOT EXISTS `{schema}`.t (a INT)",
        f"CREATE ROLE `{role}`",
        f"GRANT SELECT ON `{schema}`.t TO `{role}`",
        f"GRANT `{role}` TO '{account}'@'%'",
        f"SET DEFAULT ROLE `{role}` FOR '{account}'@'%'",
    )
    return account, role


def _app(engine: Engine, db: Database, account: str, master: str, *, dry_run: bool = False) -> App:
    return make_app(
        engine, db, account=account, create_account=False, master_value=master, dry_run=dry_run
    )


def test_the_dry_run_names_the_admin_option_the_master_lacks_and_how_to_grant_it(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    account, role = _account_with_role(plain_db, mariadb_database)
    name, master = _master(plain_db, _WITHOUT_ROLES)
    with pytest.raises(errors.InvalidParameter) as failed:
        _app(engine, plain_db, account, master, dry_run=True)
    message = str(failed.value)
    assert f"the master account '{name}'@'%' of secret 'db/master-" in message
    assert f"ADMIN OPTION on role `{role}`" in message
    assert f"GRANT `{role}` TO '{name}'@'%' WITH ADMIN OPTION" in message
    assert plain_db.hosts(account + "_rt") == []


def test_the_dry_run_names_every_privilege_the_master_lacks(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    account, role = _account_with_role(plain_db, mariadb_database)
    plain_db.admin(f"GRANT INSERT ON `{mariadb_database}`.* TO '{account}'@'%'")
    name, master = _master(
        plain_db,
        "GRANT SELECT ON `mysql`.* TO {m}",
        f"GRANT SELECT ON `{mariadb_database}`.* TO {{m}}",
    )
    with pytest.raises(errors.InvalidParameter) as failed:
        _app(engine, plain_db, account, master, dry_run=True)
    message = str(failed.value)
    for statement in (
        f"GRANT CREATE USER ON *.* TO '{name}'@'%'",
        f"GRANT INSERT ON `{mariadb_database}`.* TO '{name}'@'%' WITH GRANT OPTION",
        f"GRANT `{role}` TO '{name}'@'%' WITH ADMIN OPTION",
        f"GRANT UPDATE ON `mysql`.* TO '{name}'@'%'",
    ):
        assert statement in message, message


def test_a_master_that_cannot_read_the_accounts_is_told_how_to_grant_it(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    account, _ = _account_with_role(plain_db, mariadb_database)
    name, master = _master(plain_db, "GRANT CREATE USER ON *.* TO {m}")
    app = _app(engine, plain_db, account, master)
    fails_and_changes_nothing(app, f"GRANT SELECT ON `mysql`.* TO '{name}'@'%'")


def test_a_rotation_without_admin_option_fails_before_creating_anything(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    account, role = _account_with_role(plain_db, mariadb_database)
    name, master = _master(plain_db, _WITHOUT_ROLES)
    app = _app(engine, plain_db, account, master)
    fails_and_changes_nothing(app, f"GRANT `{role}` TO '{name}'@'%' WITH ADMIN OPTION")


def test_what_the_server_refuses_after_creating_the_account_is_dropped(
    engine: Engine, plain_db: Database, mariadb_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refusal the checks did not foresee: the account set created is dropped again."""
    account, role = _account_with_role(plain_db, mariadb_database)
    _, master = _master(plain_db, _WITHOUT_ROLES)
    app = _app(engine, plain_db, account, master)
    monkeypatch.setattr(mysql_authority, "missing_authority", lambda *_, **__: [])
    error = fails_and_changes_nothing(
        app, f"GRANT '{role}' TO '{account}_rt'@'%' failed: access denied (MySQL error 1698)"
    )
    assert f"'{account}_rt'@'%', created by this attempt, was dropped" in error
    assert f"as the master account of secret {app.master!r}" in error


def test_with_admin_option_the_other_account_gets_the_roles_and_default_role(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    account, role = _account_with_role(plain_db, mariadb_database)
    _, master = _master(plain_db, _WITHOUT_ROLES, f"GRANT `{role}` TO {{m}} WITH ADMIN OPTION")
    app = _app(engine, plain_db, account, master, dry_run=True)
    done = app.rotate()
    assert done.status is Status.SUCCEEDED, done.error
    other = account + "_rt"
    rows = plain_db.grants(other)
    assert rows == plain_db.grants(account)
    assert f"GRANT `{role}` TO <grantee>" in rows
    assert f"SET DEFAULT ROLE `{role}` FOR <grantee>" in rows
    value = app.value()
    assert value["AccountName"] == other
    with plain_db.connect(other, value["AccountPassword"]) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT CURRENT_ROLE()")
        assert cursor.fetchone() == (role,)
        cursor.execute(f"SELECT COUNT(*) FROM `{mariadb_database}`.t")
        assert cursor.fetchone() == (0,)
    app.both_log_in()


def test_a_half_made_account_left_behind_is_completed(
    engine: Engine, plain_db: Database, mariadb_database: str
) -> None:
    """An ``_rt`` account with a throwaway password and none of the privileges, as a set
    interrupted after creating it leaves it: the next rotation completes it."""
    account, role = _account_with_role(plain_db, mariadb_database)
    plain_db.create_account(account + "_rt", "Throwaway-pass-1")
    _, master = _master(plain_db, _WITHOUT_ROLES, f"GRANT `{role}` TO {{m}} WITH ADMIN OPTION")
    app = _app(engine, plain_db, account, master)
    done = app.rotate()
    assert done.status is Status.SUCCEEDED, done.error
    assert plain_db.grants(account + "_rt") == plain_db.grants(account)
    assert not plain_db.logs_in(account + "_rt", "Throwaway-pass-1")
    app.both_log_in()
