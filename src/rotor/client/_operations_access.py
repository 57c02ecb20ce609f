"""The access-control, audit and node operations of both clients.

Principals, registered rotation functions, access keys, policies and their
attachments, the caller's identity, assume-role, the audit log, and the nodes
serving the store. Each
operation is defined here once, as a function that returns the
:class:`_calls.Call` it stands for (:data:`_calls.Pages` for
``iter_audit_events``); its docstring, when it has one, is the client method's.
:mod:`rotor.client.client` makes each one a method of :class:`rotor.client.Client`
and of :class:`rotor.client.AsyncClient`. No I/O happens here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from rotor import errors
from rotor.client._access_models import (
    AUDIT_OUTCOMES,
    AccessKey,
    Attachments,
    AuditEvent,
    CallerIdentity,
    NewAccessKey,
    Node,
    Policy,
    PolicyInfo,
    Principal,
    RegisteredFunction,
    SessionCredentials,
)
from rotor.client._calls import Call, Pages, page_of
from rotor.client._models import Page
from rotor.protocol import FunctionKind

_NAME = re.compile(r"[A-Za-z0-9_.@+=-]{1,128}")
_FUNCTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEY_ID = re.compile(r"[A-Za-z0-9]{1,64}")

T = TypeVar("T")

PolicyDocument = str | Mapping[str, Any]
"""A policy: JSON text (kept exactly as written) or a JSON object."""


def _name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise errors.InvalidParameter(
            f"invalid {what} name {name!r}: use 1-128 characters of A-Za-z0-9_.@+=-"
        )
    return name


def principal_path(name: str, suffix: str = "") -> str:
    return f"/v1/principals/{_name(name, 'principal')}{suffix}"


def policy_path(name: str) -> str:
    return f"/v1/policies/{_name(name, 'policy')}"


def key_path(key_id: str, method: str = "") -> str:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise errors.InvalidParameter(f"invalid access key id {key_id!r}")
    return f"/v1/access-keys/{key_id}" + (f":{method}" if method else "")


def function_path(name: str) -> str:
    if not isinstance(name, str) or not _FUNCTION.fullmatch(name):
        raise errors.InvalidParameter(
            f"invalid function name {name!r}: use 1-64 characters of A-Za-z0-9_.-"
        )
    return f"/v1/functions/{name}"


def _document(document: PolicyDocument) -> str | dict[str, Any]:
    if isinstance(document, str):
        return document
    if isinstance(document, Mapping):
        return dict(document)
    raise TypeError(f"a policy is JSON text or a mapping, not {type(document).__name__}")


def _listing(path: str, key: str, item: Callable[[Any], T]) -> Call[tuple[T, ...]]:
    """``GET path``: the ``key`` list of its answer, each entry parsed by ``item``."""

    def parse(data: Mapping[str, Any]) -> tuple[T, ...]:
        return tuple(item(entry) for entry in data[key])

    return Call(method="GET", path=path, idempotent=True, parse=parse)


# -- principals --------------------------------------------------------------------------------


def create_principal(name: str, *, kind: Literal["user", "role"] = "user") -> Call[Principal]:
    """Create a user, or a role (which can be assumed, see :meth:`assume_role`)."""
    return Call(
        method="POST",
        path="/v1/principals",
        body={"name": _name(name, "principal"), "kind": kind},
        parse=Principal.from_json,
    )


def list_principals() -> Call[tuple[Principal, ...]]:
    """The principals the caller may list, by name."""
    return _listing("/v1/principals", "principals", Principal.from_json)


def get_principal(name: str) -> Call[Principal]:
    """A principal with its attached policies and (if the caller may list them) its keys."""
    return Call(method="GET", path=principal_path(name), idempotent=True, parse=Principal.from_json)


def delete_principal(name: str) -> Call[Principal]:
    """Delete a principal with its keys; its credentials stop working at once."""
    return Call(method="DELETE", path=principal_path(name), parse=Principal.from_json)


# -- registered functions ----------------------------------------------------------------------


def register_function(
    name: str,
    *,
    kind: FunctionKind,
    handler: str | None = None,
    python: str | None = None,
    python_path: tuple[str, ...] | list[str] = (),
    url: str | None = None,
    headers_secret: str | None = None,
    timeout_seconds: float | None = None,
    flow: str | None = None,
    roles: tuple[str, ...] | list[str] = (),
    secrets: tuple[str, ...] | list[str] = (),
    description: str = "",
) -> Call[RegisteredFunction]:
    """Register custom rotation code (or replace its registration): a Python handler
    (``handler``, ``python``, ``python_path``) or an HTTP endpoint (``url``,
    ``headers_secret``), with the ``roles`` and ``secrets`` (name patterns) a rotation
    configuration may give it. A ``lambda-handler`` is a Python handler in AWS Lambda's
    convention. Needs ``rotor:RegisterFunction``."""
    body: dict[str, Any] = {
        "kind": kind,
        "roles": list(roles),
        "secrets": list(secrets),
        "description": description,
    }
    for key, value in (
        ("handler", handler),
        ("python", python),
        ("python_path", list(python_path) or None),
        ("url", url),
        ("headers_secret", headers_secret),
        ("timeout_seconds", timeout_seconds),
        ("flow", flow),
    ):
        if value is not None:
            body[key] = value
    return Call(
        method="PUT",
        path=function_path(name),
        body=body,
        idempotent=True,
        parse=RegisteredFunction.from_json,
    )


def list_functions() -> Call[tuple[RegisteredFunction, ...]]:
    """The registered functions the caller may list, by name."""
    return _listing("/v1/functions", "functions", RegisteredFunction.from_json)


def get_function(name: str) -> Call[RegisteredFunction]:
    return Call(
        method="GET",
        path=function_path(name),
        idempotent=True,
        parse=RegisteredFunction.from_json,
    )


def remove_function(name: str) -> Call[RegisteredFunction]:
    """Remove a registration; refused (Conflict) while a rotation configuration names it."""
    return Call(method="DELETE", path=function_path(name), parse=RegisteredFunction.from_json)


# -- access keys -------------------------------------------------------------------------------


def create_access_key(
    principal: str, *, expires_in_seconds: int | None = None
) -> Call[NewAccessKey]:
    """A new key for ``principal``; its ``access_key_secret`` is never shown again."""
    body: dict[str, Any] = {}
    if expires_in_seconds is not None:
        body["expires_in_seconds"] = expires_in_seconds
    return Call(
        method="POST",
        path=principal_path(principal, "/access-keys"),
        body=body,
        parse=NewAccessKey.from_json,
    )


def list_access_keys(principal: str) -> Call[tuple[AccessKey, ...]]:
    """A principal's keys, oldest first (never their secrets)."""
    return _listing(principal_path(principal, "/access-keys"), "access_keys", AccessKey.from_json)


def _set_key_status(key_id: str, *, enabled: bool) -> Call[AccessKey]:
    # Setting an absolute status twice has the effect of once.
    return Call(
        method="POST",
        path=key_path(key_id, "enable" if enabled else "disable"),
        idempotent=True,
        parse=AccessKey.from_json,
    )


def disable_access_key(key_id: str) -> Call[AccessKey]:
    """Refuse the key from the next request on, until it is enabled again."""
    return _set_key_status(key_id, enabled=False)


def enable_access_key(key_id: str) -> Call[AccessKey]:
    return _set_key_status(key_id, enabled=True)


def delete_access_key(key_id: str) -> Call[AccessKey]:
    return Call(method="DELETE", path=key_path(key_id), parse=AccessKey.from_json)


# -- policies ----------------------------------------------------------------------------------


def put_policy(name: str, document: PolicyDocument, *, description: str = "") -> Call[Policy]:
    """Create or replace a policy. JSON text is kept exactly as written.

    An invalid document raises InvalidParameter naming the problem; actions that
    no rotor operation has are kept and listed in ``unmatched_actions``.
    """
    return Call(
        method="PUT",
        path=policy_path(name),
        body={"document": _document(document), "description": description},
        idempotent=True,
        parse=Policy.from_json,
    )


def get_policy(name: str) -> Call[Policy]:
    return Call(method="GET", path=policy_path(name), idempotent=True, parse=Policy.from_json)


def list_policies() -> Call[tuple[PolicyInfo, ...]]:
    """The policies the caller may read, by name (without documents)."""
    return _listing("/v1/policies", "policies", PolicyInfo.from_json)


def delete_policy(name: str) -> Call[PolicyInfo]:
    """Delete a policy; Conflict while it is attached to a principal."""
    return Call(method="DELETE", path=policy_path(name), parse=PolicyInfo.from_json)


def attach_policy(policy: str, principal: str) -> Call[Attachments]:
    return Call(
        method="PUT",
        path=principal_path(principal, f"/policies/{_name(policy, 'policy')}"),
        idempotent=True,
        parse=Attachments.from_json,
    )


def detach_policy(policy: str, principal: str) -> Call[Attachments]:
    return Call(
        method="DELETE",
        path=principal_path(principal, f"/policies/{_name(policy, 'policy')}"),
        parse=Attachments.from_json,
    )


# -- identity ----------------------------------------------------------------------------------


def get_caller_identity() -> Call[CallerIdentity]:
    """Who this client's access key belongs to (needs no permission)."""
    return Call(method="GET", path="/v1/whoami", idempotent=True, parse=CallerIdentity.from_json)


def assume_role(
    role: str, *, duration_seconds: int | None = None, policy: PolicyDocument | None = None
) -> Call[SessionCredentials]:
    """Short-lived credentials of ``role`` (900-43200 s, default 3600), carrying its
    policies, narrowed further by ``policy`` when given. Use all three parts:
    ``Client(url, access_key_id=..., access_key_secret=..., security_token=...)``.
    """
    body: dict[str, Any] = {"role": _name(role, "role")}
    if duration_seconds is not None:
        body["duration_seconds"] = duration_seconds
    if policy is not None:
        body["policy"] = _document(policy)
    return Call(
        method="POST", path="/v1/assume-role", body=body, parse=SessionCredentials.from_json
    )


# -- audit -------------------------------------------------------------------------------------


def rfc3339(value: dt.datetime | str) -> str:
    """A time for the API: an aware datetime in UTC, or text passed as given."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise errors.InvalidParameter("audit times must be timezone-aware")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def list_audit_events(
    *,
    secret: str | None = None,
    principal: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | str | None = None,
    until: dt.datetime | str | None = None,
    page_size: int | None = None,
    page_token: str | None = None,
) -> Call[Page[AuditEvent]]:
    """One page of audit events, newest first; ``since`` inclusive, ``until`` exclusive."""
    if outcome is not None and outcome not in AUDIT_OUTCOMES:
        raise errors.InvalidParameter(f"outcome must be one of {', '.join(AUDIT_OUTCOMES)}")
    params: list[tuple[str, str]] = []
    for key, value in (
        ("secret", secret),
        ("principal", principal),
        ("action", action),
        ("outcome", outcome),
    ):
        if value is not None:
            params.append((key, value))
    if since is not None:
        params.append(("since", rfc3339(since)))
    if until is not None:
        params.append(("until", rfc3339(until)))
    return page_of(
        "/v1/audit",
        "events",
        AuditEvent.from_json,
        params=params,
        page_size=page_size,
        page_token=page_token,
    )


def iter_audit_events(
    *,
    secret: str | None = None,
    principal: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | str | None = None,
    until: dt.datetime | str | None = None,
    page_size: int | None = None,
) -> Pages[AuditEvent]:
    """Every matching audit event, newest first, fetching pages as needed."""
    return lambda token: list_audit_events(
        secret=secret,
        principal=principal,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        page_size=page_size,
        page_token=token,
    )


# -- nodes -------------------------------------------------------------------------------------


def list_nodes(*, all: bool = False) -> Call[list[Node]]:
    """The live nodes serving the store, the most recently started first; with ``all``,
    also those stopped or silent within the last day."""
    return Call(
        method="GET",
        path="/v1/nodes",
        params=(("all", "true"),) if all else (),
        idempotent=True,
        parse=lambda data: [Node.from_json(item) for item in data["nodes"]],
    )
