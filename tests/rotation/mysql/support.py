"""Helpers of the MySQL/MariaDB rotation tests: a server seen by the tests, an app secret."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from typing import Any

import pymysql
import pytest

from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.store import rotation_configs, rotations, secrets, versions
from rotor.store.rotations import Rotation, Status
from tests.conftest import admin_identity
from tests.services.mariadb import MariaDBServer, MariaDBTLSServer


def unique_name(prefix: str = "u") -> str:
    """A user name no other test uses (accounts live for the whole session)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def record_connects(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every ``pymysql.connect`` from now on, in this process."""
    opened: list[dict[str, Any]] = []
    connect = pymysql.connect

    def recording(*args: Any, **kwargs: Any) -> Any:
        opened.append(kwargs)
        return connect(*args, **kwargs)

    monkeypatch.setattr("pymysql.connect", recording)
    return opened


@dataclasses.dataclass
class Database:
    """A MariaDB server seen by the tests: run SQL as its admin, try logins."""

    server: MariaDBServer
    #: What the rotation functions are told (CaBundle etc.).
    parameters: dict[str, Any]
    #: The secrets' SSL field (absent when None).
    ssl_field: object = None

    def admin(self, *statements: str, args: tuple[Any, ...] | None = None) -> list[Any]:
        """Run statements as the admin; returns the last one's rows."""
        rows: list[Any] = []
        with self.connect(self.server.user, self.server.password) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement, args)
                rows = list(cur.fetchall())
        return rows

    def connect(
        self, user: str, password: str, *, database: str | None = None
    ) -> pymysql.connections.Connection[Any]:
        kwargs: dict[str, Any] = {"autocommit": True}
        if isinstance(self.server, MariaDBTLSServer):
            kwargs["ssl"] = self.server.ssl_context(client_cert=True)
        return self.server.connect(user, password, database, **kwargs)

    def logs_in(self, user: str, password: str) -> bool:
        try:
            with self.connect(user, password) as conn, conn.cursor() as cur:
                cur.execute("SELECT CURRENT_USER()")
                row = cur.fetchone()
                return row is not None and str(row[0]).rpartition("@")[0] == user
        except pymysql.err.OperationalError:
            return False

    def create_account(self, name: str, password: str, *, host: str = "%", extra: str = "") -> None:
        self.admin(f"CREATE USER %s@%s IDENTIFIED BY %s {extra}", args=(name, host, password))

    def hosts(self, name: str) -> list[str]:
        rows = self.admin("SELECT Host FROM mysql.user WHERE User = %s", args=(name,))
        return sorted(str(row[0]) for row in rows)

    def grants(self, name: str, host: str = "%") -> list[str]:
        """SHOW GRANTS, normalised: no password hash, the grantee written as <grantee>."""
        rows = self.admin("SHOW GRANTS FOR %s@%s", args=(name, host))
        grantee = "`{}`@`{}`".format(name.replace("`", "``"), host.replace("`", "``"))
        normalised = []
        for (row,) in rows:
            text = re.sub(r" IDENTIFIED BY PASSWORD '[^']*'", "", str(row))
            normalised.append(text.replace(grantee, "<grantee>"))
        return sorted(normalised)

    def properties(self, name: str, host: str = "%") -> tuple[Any, ...]:
        rows = self.admin(
            "SELECT plugin, ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, "
            "max_updates, max_connections, max_user_connections, max_statement_time "
            "FROM mysql.user WHERE User = %s AND Host = %s",
            args=(name, host),
        )
        assert len(rows) == 1
        return tuple(rows[0])

    def secret(
        self, account: str, password: str, *, master: str | None = None, **extra: Any
    ) -> str:
        value: dict[str, Any] = {
            "Endpoint": self.server.host,
            "Port": self.server.port,
            "AccountName": account,
            "AccountPassword": password,
        }
        if self.ssl_field is not None:
            value["SSL"] = self.ssl_field
        if master is not None:
            value["MasterSecret"] = master
        value.update(extra)
        return json.dumps(value)


@dataclasses.dataclass
class App:
    """A secret of an application account, with a master secret, ready to rotate."""

    name: str
    account: str
    password: str
    master: str
    db: Database
    engine: Engine

    def value(self, **lookup: Any) -> dict[str, Any]:
        raw = versions.get_value(self.engine.store, self.name, **lookup).value
        assert isinstance(raw, str)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def rotate(self, version_id: str | None = None) -> Rotation:
        rotation, created = self.engine.start(self.name, started_by="test", version_id=version_id)
        assert created
        return self.engine.run(rotation.id)

    def history(self, rotation: Rotation) -> list[str]:
        return [
            f"{event.kind}: {event.message}"
            for event in rotations.list_events(self.engine.store, rotation.id)
        ]

    def both_log_in(self) -> None:
        """Current and Previous credentials both work."""
        for stage in ("Current", "Previous"):
            value = self.value(stage=stage)
            assert self.db.logs_in(value["AccountName"], value["AccountPassword"]), stage


def make_app(
    engine: Engine,
    db: Database,
    *,
    account: str | None = None,
    password: str = "Initial-pass-123",
    function: str = "mysql-alternating",
    master_value: str | None = None,
    value: str | None = None,
    dry_run: bool = False,
    parameters: dict[str, Any] | None = None,
    create_account: bool = True,
    require: str = "",
    extra: dict[str, Any] | None = None,
) -> App:
    """An account on ``db`` (unless told not to), its secrets, and a configured rotation."""
    account = account or unique_name("app")
    if create_account:
        db.create_account(account, password, extra=f"REQUIRE {require}" if require else "")
    master = f"db/master-{uuid.uuid4().hex[:6]}"
    name = f"db/app-{uuid.uuid4().hex[:8]}"
    secrets.create_secret(
        engine.store,
        name=master,
        value=master_value or db.secret(db.server.user, db.server.password),
    )
    if value is None:
        value = db.secret(
            account,
            password,
            master=master if function == "mysql-alternating" else None,
            **(extra or {}),
        )
    secrets.create_secret(engine.store, name=name, value=value, version_id="v0")
    params = {**db.parameters, **(parameters or {})}
    if dry_run:
        configuration.configure(
            engine,
            name,
            configuration.RotationRequest(function=function, parameters=params, rotate_now=False),
            identity=admin_identity(engine.store),
        )
    else:
        rotation_configs.put_config(
            engine.store,
            name,
            enabled=True,
            function=function,
            parameters=params,
            interval_seconds=None,
            cron=None,
            window_seconds=None,
            flow=None,
            next_rotation_at=None,
            configured_by=admin_identity(engine.store).principal_id,
            delegated_secrets=None,
        )
    return App(name=name, account=account, password=password, master=master, db=db, engine=engine)


def fails_and_changes_nothing(app: App, fragment: str) -> str:
    """A rotation of ``app`` fails with ``fragment`` in its error, and nothing changed."""
    done = app.rotate()
    assert done.status is Status.FAILED
    error = done.error or ""
    assert fragment in error, error
    assert versions.get_value(app.engine.store, app.name).version_id == "v0"
    assert set(secrets.get_secret(app.engine.store, app.name).stages) == {"Current"}
    assert app.db.hosts(app.account + "_rt") == []
    assert app.db.logs_in(app.account, app.password)
    return error
