"""Helpers of the PostgreSQL rotation tests: the server seen by the tests, an app secret."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.store import rotation_configs, rotations, secrets, versions
from rotor.store.rotations import Rotation, Status
from tests.conftest import admin_identity
from tests.services.postgres import PostgresServer


def unique_name(prefix: str = "r") -> str:
    """A role name no other test uses (roles are cluster-wide and live for the session)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclasses.dataclass
class Database:
    """The session's PostgreSQL and one fresh database of a test."""

    server: PostgresServer
    name: str

    @property
    def log_path(self) -> Path:
        return self.server.socket_dir / f"postgres-{self.server.port}.log"

    def admin(self, *statements: str | sql.Composed, args: Any = None) -> list[Any]:
        """Run statements as the superuser in the test's database; the last one's rows."""
        rows: list[Any] = []
        with self.server.connect(self.name) as conn:
            for statement in statements:
                cursor = conn.execute(statement, args)
                rows = cursor.fetchall() if cursor.description else []
        return rows

    def connect(self, user: str, password: str, **kwargs: Any) -> psycopg.Connection[Any]:
        return self.server.connect(self.name, user=user, password=password, **kwargs)

    def logs_in(self, user: str, password: str) -> bool:
        try:
            with self.connect(user, password) as conn:
                row = conn.execute("SELECT session_user").fetchone()
                return row is not None and row[0] == user
        except psycopg.OperationalError:
            return False

    def create_role(self, name: str, password: str, extra: str = "") -> None:
        self.admin(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + extra).format(
                sql.Identifier(name), sql.Literal(password)
            ),
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(self.name), sql.Identifier(name)
            ),
        )

    def role_exists(self, name: str) -> bool:
        return bool(self.admin("SELECT 1 FROM pg_roles WHERE rolname = %s", args=(name,)))

    def secret(
        self, account: str, password: str, *, master: str | None = None, **extra: Any
    ) -> str:
        value: dict[str, Any] = {
            "Endpoint": self.server.host,
            "Port": self.server.port,
            "DBName": self.name,
            "AccountName": account,
            "AccountPassword": password,
            "SSL": False,
        }
        if master is not None:
            value["MasterSecret"] = master
        value.update(extra)
        return json.dumps({k: v for k, v in value.items() if v is not None})


@dataclasses.dataclass
class App:
    """A secret of an application role (and a master secret), ready to rotate."""

    name: str
    account: str
    password: str
    master: str
    db: Database
    engine: Engine
    #: What configuring it did, when it was configured with a dry run.
    configured: configuration.Configured | None = None

    def value(self, **lookup: Any) -> dict[str, Any]:
        raw = versions.get_value(self.engine.store, self.name, **lookup).value
        assert isinstance(raw, str)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def rotate(self, version_id: str | None = None) -> Rotation:
        rotation, created = self.engine.start(self.name, started_by="test", version_id=version_id)
        assert created
        return self.engine.run(rotation.id)

    def rotated(self) -> dict[str, Any]:
        done = self.rotate()
        assert done.status is Status.SUCCEEDED, done.error
        return self.value()

    def history(self, rotation: Rotation) -> list[str]:
        return [
            f"{event.kind}: {event.message}"
            for event in rotations.list_events(self.engine.store, rotation.id)
        ]


def make_app(
    engine: Engine,
    db: Database,
    *,
    function: str = "postgres-alternating",
    account: str | None = None,
    password: str = "Initial-pass-123",
    master_value: str | None = None,
    value: str | None = None,
    parameters: dict[str, Any] | None = None,
    create_role: bool = True,
    dry_run: bool = False,
    fields: dict[str, Any] | None = None,
) -> App:
    """A role on ``db`` (unless told not to), its secrets, and its rotation configured:
    with ``dry_run`` as ``rotor rotation configure`` does it (enabled without rotating
    now, so the function's dry run runs first and a failure stores nothing). ``fields``
    go into the default app and master secrets (e.g. ``SSL``)."""
    account = account or unique_name("app")
    if create_role:
        db.create_role(account, password)
    master = f"db/master-{uuid.uuid4().hex[:6]}"
    name = f"db/app-{uuid.uuid4().hex[:8]}"
    secrets.create_secret(
        engine.store,
        name=master,
        value=master_value or db.secret(db.server.user, db.server.password, **(fields or {})),
    )
    if value is None:
        alternating = function == "postgres-alternating"
        value = db.secret(
            account, password, master=master if alternating else None, **(fields or {})
        )
    secrets.create_secret(engine.store, name=name, value=value, version_id="v0")
    if dry_run:
        configured = configuration.configure(
            engine,
            name,
            configuration.RotationRequest(
                function=function, parameters=parameters or {}, rotate_now=False
            ),
            identity=admin_identity(engine.store),
        )
        return App(
            name=name,
            account=account,
            password=password,
            master=master,
            db=db,
            engine=engine,
            configured=configured,
        )
    rotation_configs.put_config(
        engine.store,
        name,
        enabled=True,
        function=function,
        parameters=parameters or {},
        interval_seconds=None,
        cron=None,
        window_seconds=None,
        flow=None,
        next_rotation_at=None,
        configured_by=admin_identity(engine.store).principal_id,
        delegated_secrets=None,
    )
    return App(name=name, account=account, password=password, master=master, db=db, engine=engine)
