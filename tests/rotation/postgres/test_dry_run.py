"""The dry run of the PostgreSQL functions, as enabling a rotation runs it (``rotor rotation
configure`` / ``PUT /v1/secrets/{name}:rotation`` without rotating now): it changes
nothing on the server, and a master that could not do the rotation is refused, naming
what it lacks and the statement that grants it."""

from __future__ import annotations

import pytest

from rotor import errors
from rotor.rotation.engine import Engine
from rotor.store import secrets
from tests.rotation.postgres.support import App, Database, make_app, unique_name

MASTER_PASSWORD = "Master-pass-123"


def _verifier(pg: Database, role: str) -> str:
    rows = pg.admin("SELECT rolpassword FROM pg_authid WHERE rolname = %s", args=(role,))
    return str(rows[0][0])


def _unchanged(app: App, verifier: str) -> None:
    assert not app.db.role_exists(app.account + "_rt")
    assert _verifier(app.db, app.account) == verifier
    assert app.db.logs_in(app.account, app.password)
    assert set(secrets.get_secret(app.engine.store, app.name).stages) == {"Current"}


def _weak_master(pg: Database, *attributes: str) -> tuple[str, str]:
    """A master role without superuser, able to pass on what every app role of these
    tests holds (CONNECT, TEMPORARY on the database); its name and secret."""
    name = unique_name("master")
    pg.create_role(name, MASTER_PASSWORD, " ".join(attributes))
    pg.admin(f'GRANT CONNECT, TEMPORARY ON DATABASE "{pg.name}" TO "{name}" WITH GRANT OPTION')
    return name, pg.secret(name, MASTER_PASSWORD)


def _dry_run_fails(engine: Engine, pg: Database, account: str, master: str, verifier: str) -> str:
    with pytest.raises(errors.InvalidParameter) as failed:
        make_app(engine, pg, account=account, create_role=False, master_value=master, dry_run=True)
    assert not pg.role_exists(account + "_rt")
    assert _verifier(pg, account) == verifier
    return str(failed.value)


@pytest.mark.parametrize("function", ["postgres-alternating", "postgres-single-user"])
def test_a_capable_configuration_passes_and_changes_nothing(
    engine: Engine, pg: Database, function: str
) -> None:
    account = unique_name("app")
    pg.create_role(account, "Initial-pass-123")
    verifier = _verifier(pg, account)
    app = make_app(engine, pg, function=function, account=account, create_role=False, dry_run=True)
    assert app.configured is not None
    assert app.configured.dry_run is not None
    report = app.configured.dry_run
    assert [task.split(" ")[-1] for task in report.ran] == ["(new)", "(test)"]
    assert any("test: dry run:" in line for line in report.log), report.log
    _unchanged(app, verifier)


def test_a_master_without_createrole_is_named_with_the_statement_that_grants_it(
    engine: Engine, pg: Database
) -> None:
    account = unique_name("app")
    pg.create_role(account, "Initial-pass-123")
    verifier = _verifier(pg, account)
    name, master = _weak_master(pg)
    message = _dry_run_fails(engine, pg, account, master, verifier)
    assert "dry run of rotation failed at" in message
    assert f'lacks CREATEROLE (ALTER ROLE "{name}" CREATEROLE)' in message


def test_a_master_without_the_grant_option_on_a_privilege_is_named_with_its_grant(
    engine: Engine, pg: Database
) -> None:
    account = unique_name("app")
    pg.create_role(account, "Initial-pass-123")
    name, master = _weak_master(pg, "CREATEROLE")
    pg.admin(
        "CREATE TABLE orders (n int)",
        "CREATE SEQUENCE order_ids",
        f'GRANT SELECT, INSERT ON orders TO "{account}"',
        f'GRANT USAGE ON SEQUENCE order_ids TO "{account}"',
        # The master may pass on SELECT, and nothing else.
        f'GRANT SELECT ON orders TO "{name}" WITH GRANT OPTION',
    )
    verifier = _verifier(pg, account)
    message = _dry_run_fails(engine, pg, account, master, verifier)
    for lacking in (
        f"INSERT ON TABLE public.orders WITH GRANT OPTION (GRANT INSERT ON TABLE public.orders "
        f'TO "{name}" WITH GRANT OPTION)',
        f"USAGE ON SEQUENCE public.order_ids WITH GRANT OPTION (GRANT USAGE ON SEQUENCE "
        f'public.order_ids TO "{name}" WITH GRANT OPTION)',
    ):
        assert lacking in message, message
    assert "SELECT ON TABLE public.orders" not in message
    assert "CREATEROLE" not in message


def test_a_master_that_cannot_copy_default_privileges_is_named_with_the_membership(
    engine: Engine, pg: Database
) -> None:
    account = unique_name("app")
    pg.create_role(account, "Initial-pass-123")
    owner = unique_name("owner")
    name, master = _weak_master(pg, "CREATEROLE")
    pg.admin(
        f'CREATE ROLE "{owner}" NOLOGIN',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT SELECT ON TABLES TO "{account}"',
    )
    verifier = _verifier(pg, account)
    message = _dry_run_fails(engine, pg, account, master, verifier)
    assert f"membership in {owner}, to copy the default privileges" in message, message
    assert f'(GRANT {owner} TO "{name}")' in message
    # Granted what it lacked, the same master passes, and a real rotation copies them.
    pg.admin(f'GRANT "{owner}" TO "{name}"')
    app = make_app(
        engine, pg, account=account, create_role=False, master_value=master, dry_run=True
    )
    _unchanged(app, verifier)
    assert app.rotate().error is None
    rows = pg.admin(
        "SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) a "
        "JOIN pg_roles r ON r.oid = a.grantee WHERE r.rolname = %s",
        args=(account + "_rt",),
    )
    assert rows == [(1,)]
