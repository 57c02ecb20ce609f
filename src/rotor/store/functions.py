"""Registered functions as rows: custom code an administrator registered, and what it may be given.

A rotation configuration names a built-in function or one of these; it never
carries a handler path, an interpreter or a URL itself. The definition is checked
by :mod:`rotor.rotation.registrations` before it is stored here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
from typing import Any

import sqlalchemy as sa

from rotor import errors, protocol
from rotor.clock import utcnow
from rotor.store import tables as t
from rotor.store import versions
from rotor.store.database import Store

log = logging.getLogger(__name__)

KINDS = protocol.FUNCTION_KINDS
PYTHON_HANDLER: protocol.FunctionKind = "python-handler"
#: A Python handler in AWS Lambda's convention (``lambda_handler(event, context)``).
LAMBDA_HANDLER: protocol.FunctionKind = "lambda-handler"
HTTP_FUNCTION: protocol.FunctionKind = "http-function"
#: The kinds a first-release configuration named directly (:func:`adopt_unregistered`).
LEGACY_KINDS = (PYTHON_HANDLER, HTTP_FUNCTION)
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_NAME_RE = re.compile(NAME_PATTERN)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RegisteredFunction:
    name: str
    #: :data:`PYTHON_HANDLER`, :data:`LAMBDA_HANDLER` or :data:`HTTP_FUNCTION`.
    kind: str
    #: ``handler``, ``python``, ``python_path`` (a python or Lambda-style handler) or ``url`` and
    #: ``headers_secret`` (an HTTP function); ``timeout_seconds``; ``flow`` (parsed, JSON).
    definition: dict[str, Any]
    #: Roles a configuration may give it (parameter ``Role``).
    roles: tuple[str, ...]
    #: Secret name patterns (``*`` wildcard) a configuration may give it beyond the
    #: rotated secret (``*Secret`` parameters, ``MasterSecret`` in the value).
    secrets: tuple[str, ...]
    description: str
    #: The principal who registered it.
    registered_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


def validate_function_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise errors.InvalidParameter(
            "a function name is 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter "
            "or digit"
        )
    return name


def _function(row: Any) -> RegisteredFunction:
    return RegisteredFunction(
        name=row.name,
        kind=row.kind,
        definition=json.loads(row.definition),
        roles=tuple(json.loads(row.roles)),
        secrets=tuple(json.loads(row.secrets)),
        description=row.description,
        registered_by=row.registered_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def put_function(
    store: Store,
    name: str,
    *,
    kind: str,
    definition: dict[str, Any],
    roles: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (),
    description: str = "",
    registered_by: str,
) -> tuple[RegisteredFunction, bool]:
    """Register ``name``, or replace its registration; returns it and whether it is new."""
    validate_function_name(name)
    if kind not in KINDS:
        raise errors.InvalidParameter(f"kind must be one of {', '.join(KINDS)}")
    now = utcnow()
    values = {
        "kind": kind,
        "definition": json.dumps(definition, sort_keys=True),
        "roles": json.dumps(list(roles)),
        "secrets": json.dumps(list(secrets)),
        "description": description,
        "registered_by": registered_by,
        "updated_at": now,
    }
    with store.write() as conn:
        found = conn.execute(
            sa.select(t.functions.c.name).where(t.functions.c.name == name).with_for_update()
        ).first()
        if found is None:
            conn.execute(t.functions.insert().values(name=name, created_at=now, **values))
        else:
            conn.execute(t.functions.update().where(t.functions.c.name == name).values(**values))
        row = conn.execute(sa.select(t.functions).where(t.functions.c.name == name)).one()
    return _function(row), found is None


def get_function(store: Store, name: str) -> RegisteredFunction | None:
    with store.read() as conn:
        row = conn.execute(sa.select(t.functions).where(t.functions.c.name == name)).first()
    return None if row is None else _function(row)


def require_function(store: Store, name: str) -> RegisteredFunction:
    found = get_function(store, name)
    if found is None:
        raise errors.NotFound(f"function {name!r} is not registered")
    return found


def list_functions(store: Store) -> list[RegisteredFunction]:
    with store.read() as conn:
        rows = conn.execute(sa.select(t.functions).order_by(t.functions.c.name)).all()
    return [_function(r) for r in rows]


def configurations_using(store: Store, name: str) -> list[str]:
    """Names of the secrets whose rotation configuration names ``name`` (or a flow of it)."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.secrets.c.name, t.rotation_configs.c.function, t.rotation_configs.c.flow)
            .join(t.secrets, t.secrets.c.id == t.rotation_configs.c.secret_id)
            .order_by(t.secrets.c.name)
        ).all()
    return [r.name for r in rows if r.function == name or name in _flow_resources(r.flow)]


def _flow_resources(flow: str | None) -> set[str]:
    """The ``resourceArn`` of each task of a stored flow (JSON in the workflow's shape)."""
    if flow is None:
        return set()
    steps = json.loads(flow).get("steps") or []
    return {str(step.get("resourceArn")) for step in steps if isinstance(step, dict)}


def delete_function(store: Store, name: str) -> None:
    """Remove a registration; refused while a rotation configuration names it."""
    users = configurations_using(store, name)
    if users:
        raise errors.Conflict(
            f"function {name!r} is used by the rotation of {', '.join(users[:10])}"
            + (f" and {len(users) - 10} more" if len(users) > 10 else "")
            + "; configure those secrets with another function first"
        )
    with store.write() as conn:
        result = conn.execute(t.functions.delete().where(t.functions.c.name == name))
    if result.rowcount == 0:
        raise errors.NotFound(f"function {name!r} is not registered")


# -- upgrading configurations of the first release ------------------------------------------


def _legacy_definition(store: Store, kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """What a first-release configuration kept in its parameters, as a definition."""
    definition: dict[str, Any] = {}
    if kind == PYTHON_HANDLER:
        definition["handler"] = parameters.get("Handler")
        if parameters.get("Python"):
            definition["python"] = parameters["Python"]
        if parameters.get("PythonPath"):
            definition["python_path"] = str(parameters["PythonPath"]).split(os.pathsep)
    else:
        webhook = str(parameters.get("WebhookSecret") or "")
        value = json.loads(versions.get_value(store, webhook).value)
        definition["url"] = value["Url"]
        if value.get("Headers"):
            definition["headers_secret"] = webhook
    if parameters.get("TimeoutSeconds") not in (None, ""):
        definition["timeout_seconds"] = float(parameters["TimeoutSeconds"])
    return definition


LEGACY_PARAMETERS = ("Handler", "Python", "PythonPath", "Url", "WebhookSecret", "TimeoutSeconds")


def adopt_unregistered(store: Store, *, owner: str) -> list[str]:
    """Move rotation configurations that name ``python-handler`` or ``http-function`` directly
    (with the handler or URL in their parameters, as the first release kept them) onto
    registered functions owned by ``owner``; returns the functions registered.

    Idempotent: once moved, a configuration names its registered function. One that
    cannot be moved (its webhook secret is unreadable) is disabled, with a warning.
    """
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.rotation_configs, t.secrets.c.name)
            .join(t.secrets, t.secrets.c.id == t.rotation_configs.c.secret_id)
            .where(t.rotation_configs.c.function.in_(LEGACY_KINDS))
        ).all()
    registered: list[str] = []
    for row in rows:
        parameters = json.loads(row.parameters)
        kept = {k: v for k, v in parameters.items() if k not in LEGACY_PARAMETERS}
        try:
            definition = _legacy_definition(store, row.function, parameters)
        except (errors.RotorError, ValueError, KeyError, TypeError):
            log.warning(
                "rotation of %s names %s without a readable definition; disabled it: "
                "register the function and configure the rotation again",
                row.name,
                row.function,
            )
            with store.write() as conn:
                conn.execute(
                    t.rotation_configs.update()
                    .where(t.rotation_configs.c.secret_id == row.secret_id)
                    .values(enabled=False, next_rotation_at=None)
                )
            continue
        digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
        name = f"{row.function}-{digest[:10]}"
        roles = (str(kept["Role"]),) if kept.get("Role") else ()
        if get_function(store, name) is None:
            put_function(
                store,
                name,
                kind=row.function,
                definition=definition,
                roles=roles,
                secrets=("*",),  # as before: any secret its configuration names
                description=f"registered on upgrade from the rotation of {row.name}",
                registered_by=owner,
            )
            registered.append(name)
        with store.write() as conn:
            conn.execute(
                t.rotation_configs.update()
                .where(t.rotation_configs.c.secret_id == row.secret_id)
                .values(function=name, parameters=json.dumps(kept))
            )
        log.info("rotation of %s now names the registered function %s", row.name, name)
    return registered
