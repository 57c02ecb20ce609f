"""Registering custom functions: what a registration may say, checked before it is stored.

A registration names the code (a Python handler and its interpreter, or an HTTP
endpoint), optionally a flow, and the roles and secrets (name patterns) a rotation
configuration may give it. Registering needs ``rotor:RegisterFunction`` on
``rotor:function/NAME``, plus ``rotor:PassRole`` on each role listed and
``kms:GetSecretValue`` on an HTTP function's headers secret: a registrant cannot
hand a function more than it holds either.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

import httpx

from rotor import errors
from rotor.access import delegation, policies
from rotor.access.keys import Identity, secret_resource
from rotor.rotation import flows
from rotor.rotation import functions as installed
from rotor.rotation.function_credentials import ROTATION_PRINCIPAL
from rotor.rotation.functions import python_handler
from rotor.settings import Settings
from rotor.store import functions, principals
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction
from rotor.store.names import validate_name

REGISTER = "rotor:RegisterFunction"
_PYTHON_FIELDS = ("handler", "python", "python_path", "timeout_seconds", "flow")
_FIELDS = {
    functions.PYTHON_HANDLER: _PYTHON_FIELDS,
    functions.LAMBDA_HANDLER: _PYTHON_FIELDS,
    functions.HTTP_FUNCTION: ("url", "headers_secret", "timeout_seconds", "flow"),
}
_PATTERN_RE = re.compile(r"[A-Za-z0-9/_+=.@*?-]{1,192}")
MAX_LIST = 100


def resource(name: str) -> str:
    return policies.FUNCTION_RESOURCE.format(name=name)


def _timeout(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise errors.InvalidParameter("timeout_seconds must be a number of seconds")
    if not math.isfinite(raw) or raw <= 0:
        raise errors.InvalidParameter("timeout_seconds must be a positive number of seconds")
    return float(raw)


def _python_definition(fields: Mapping[str, Any]) -> dict[str, Any]:
    handler = fields.get("handler")
    if not isinstance(handler, str) or not handler:
        raise errors.InvalidParameter(
            "handler is required: module:function or /absolute/path/file.py:function"
        )
    module = handler.rpartition(":")[0]
    if module.endswith(".py") and not os.path.isabs(module):
        raise errors.InvalidParameter(f"handler file {module!r} must be an absolute path")
    python_path = fields.get("python_path") or []
    if not isinstance(python_path, list) or not all(isinstance(p, str) for p in python_path):
        raise errors.InvalidParameter("python_path must be a list of absolute directories")
    for entry in python_path:
        if not os.path.isabs(entry) or not os.path.isdir(entry):
            raise errors.InvalidParameter(
                f"python_path entry {entry!r} is not an absolute directory"
            )
    out: dict[str, Any] = {"handler": handler}
    python_handler.check_location(handler)
    if python_path:
        out["python_path"] = python_path
    python = fields.get("python")
    if python is not None:
        if not isinstance(python, str) or not os.path.isabs(python):
            raise errors.InvalidParameter("python must be the absolute path of an interpreter")
        out["python"] = python_handler.check_python(python)
    return out


def _http_definition(
    fields: Mapping[str, Any], identity: Identity, settings: Settings
) -> dict[str, Any]:
    raw_url = fields.get("url")
    try:
        url = httpx.URL(raw_url) if isinstance(raw_url, str) else None
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise errors.InvalidParameter("url must be an http:// or https:// URL")
    out: dict[str, Any] = {"url": str(url)}
    headers_secret = fields.get("headers_secret")
    if headers_secret is not None:
        validate_name(headers_secret)
        target = secret_resource(
            headers_secret, region=settings.region, account=settings.account_id
        )
        if not identity.allows("kms:GetSecretValue", target):
            raise errors.DelegationDenied(
                f"{identity.principal_name} may not give the function the secret "
                f"{headers_secret!r}: that needs kms:GetSecretValue on {target}"
            )
        out["headers_secret"] = headers_secret
    return out


def _names(raw: object, what: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise errors.InvalidParameter(f"{what} must be a list of strings")
    if len(raw) > MAX_LIST:
        raise errors.InvalidParameter(f"{what} has at most {MAX_LIST} entries")
    for entry in raw:
        if not pattern.fullmatch(entry):
            raise errors.InvalidParameter(f"{what} entry {entry!r} is not valid")
    return tuple(dict.fromkeys(raw))


def register(
    store: Store,
    settings: Settings,
    identity: Identity,
    name: str,
    *,
    kind: str,
    fields: Mapping[str, Any],
    roles: object = None,
    secrets: object = None,
    description: str = "",
) -> tuple[RegisteredFunction, bool]:
    """Check and store a registration; returns it and whether it is new."""
    functions.validate_function_name(name)
    identity.require(REGISTER, resource(name))
    if name in installed.available():
        raise errors.Conflict(f"{name!r} is an installed function; choose another name")
    if kind not in _FIELDS:
        raise errors.InvalidParameter(f"kind must be one of {', '.join(functions.KINDS)}")
    unknown = sorted(set(fields) - set(_FIELDS[kind]))
    if unknown:
        raise errors.InvalidParameter(
            f"a {kind} registration does not take {', '.join(unknown)}; "
            f"it takes {', '.join(_FIELDS[kind])}"
        )
    definition = (
        _python_definition(fields)
        if kind in (functions.PYTHON_HANDLER, functions.LAMBDA_HANDLER)
        else _http_definition(fields, identity, settings)
    )
    if fields.get("timeout_seconds") is not None:
        definition["timeout_seconds"] = _timeout(fields["timeout_seconds"])
    if fields.get("flow"):
        flow = fields["flow"]
        if not isinstance(flow, str):
            raise errors.InvalidParameter("flow must be a flow definition (YAML text)")
        definition["flow"] = flows.parse_flow(flow).to_json()
    role_names = _names(roles, "roles", re.compile(r"[A-Za-z0-9_.@+=-]{1,128}"))
    for role in role_names:
        found = principals.get_principal(store, role)
        default = role == ROTATION_PRINCIPAL and found is None  # made at its first use
        if not default and (found is None or found.kind != principals.ROLE):
            raise errors.InvalidParameter(f"roles: {role!r} is not a role")
        target = policies.PRINCIPAL_RESOURCE.format(name=role)
        if not identity.allows(delegation.PASS_ROLE, target):
            raise errors.DelegationDenied(
                f"{identity.principal_name} may not give the function the role {role!r}: "
                f"that needs {delegation.PASS_ROLE} on {target}"
            )
    return functions.put_function(
        store,
        name,
        kind=kind,
        definition=definition,
        roles=role_names,
        secrets=_names(secrets, "secrets", _PATTERN_RE),
        description=description,
        registered_by=identity.principal_name,
    )
