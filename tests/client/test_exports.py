"""The client's public surface, and the layers it must not pull in."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import rotor.client

EXPECTED = {
    "AUDIT_OUTCOMES",
    "AccessKey",
    "AsyncClient",
    "Attachments",
    "AuditEvent",
    "CallerIdentity",
    "DatabaseCredentials",
    "Delivery",
    "DryRun",
    "Event",
    "EventBatch",
    "NewAccessKey",
    "NewNotification",
    "Node",
    "Notification",
    "Policy",
    "PolicyInfo",
    "Principal",
    "RegisteredFunction",
    "SessionCredentials",
    "Client",
    "ClientConfig",
    "ConfiguredRotation",
    "Credentials",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "DELIVERY_STATES",
    "Page",
    "PasswordOptions",
    "ROTATION_STATUSES",
    "Retry",
    "Rotation",
    "RotationConfig",
    "RotationEvent",
    "RotationStatus",
    "RotationStep",
    "SecretCache",
    "SecretInfo",
    "SecretRotationStatus",
    "SecretStages",
    "SecretValue",
    "VersionInfo",
    "resolve_config",
}

FORBIDDEN = ("rotor.store", "rotor.api", "rotor.access", "sqlalchemy", "fastapi", "alembic")


def test_all_is_explicit_and_complete() -> None:
    assert set(rotor.client.__all__) == EXPECTED
    public = {
        name
        for name, value in vars(rotor.client).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public -= {"annotations"}  # the __future__ import
    assert public == EXPECTED
    for name in rotor.client.__all__:
        assert getattr(rotor.client, name) is not None


def imported_by(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    modules: list[str] = json.loads(out.stdout)
    return [m for m in modules if m.startswith(FORBIDDEN)]


def test_client_does_not_import_the_server() -> None:
    assert imported_by("import rotor.client") == []


def test_cli_does_not_import_the_server_until_needed() -> None:
    # `rotor secret ...` must start fast and work without the server's dependencies.
    assert imported_by("import rotor.cli.main") == []
