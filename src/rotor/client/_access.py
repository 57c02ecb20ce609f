"""Request builders of the access-control and audit operations (see :mod:`rotor.client._base`).

Principals, access keys, policies and their attachments, the caller's identity,
assume-role, and the audit log. Each function returns a :class:`_base.Call`; no
I/O happens here.
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
    Policy,
    PolicyInfo,
    Principal,
    SessionCredentials,
)
from rotor.client._base import Call
from rotor.client._models import Page

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


def _document(document: PolicyDocument) -> str | dict[str, Any]:
    if isinstance(document, str):
        return document
    if isinstance(document, Mapping):
        return dict(document)
    raise TypeError(f"a policy is JSON text or a mapping, not {type(document).__name__}")


def list_of(key: str, item: Callable[[Any], T]) -> Callable[[Mapping[str, Any]], tuple[T, ...]]:
    def parse(data: Mapping[str, Any]) -> tuple[T, ...]:
        return tuple(item(entry) for entry in data[key])

    return parse


# -- principals --------------------------------------------------------------------------------


def create_principal(name: str, *, kind: Literal["user", "role"] = "user") -> Call[Principal]:
    return Call(
        method="POST",
        path="/v1/principals",
        body={"name": _name(name, "principal"), "kind": kind},
        parse=Principal.from_json,
    )


def list_principals() -> Call[tuple[Principal, ...]]:
    return Call(
        method="GET",
        path="/v1/principals",
        idempotent=True,
        parse=list_of("principals", Principal.from_json),
    )


def get_principal(name: str) -> Call[Principal]:
    return Call(method="GET", path=principal_path(name), idempotent=True, parse=Principal.from_json)


def delete_principal(name: str) -> Call[Principal]:
    return Call(method="DELETE", path=principal_path(name), parse=Principal.from_json)


# -- registered functions ----------------------------------------------------------------------


def function_path(name: str) -> str:
    if not isinstance(name, str) or not _FUNCTION.fullmatch(name):
        raise errors.InvalidParameter(
            f"invalid function name {name!r}: use 1-64 characters of A-Za-z0-9_.-"
        )
    return f"/v1/functions/{name}"


# -- access keys -------------------------------------------------------------------------------


def create_access_key(
    principal: str, *, expires_in_seconds: int | None = None
) -> Call[NewAccessKey]:
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
    return Call(
        method="GET",
        path=principal_path(principal, "/access-keys"),
        idempotent=True,
        parse=list_of("access_keys", AccessKey.from_json),
    )


def set_access_key_status(key_id: str, *, enabled: bool) -> Call[AccessKey]:
    # Setting an absolute status twice has the effect of once.
    return Call(
        method="POST",
        path=key_path(key_id, "enable" if enabled else "disable"),
        idempotent=True,
        parse=AccessKey.from_json,
    )


def delete_access_key(key_id: str) -> Call[AccessKey]:
    return Call(method="DELETE", path=key_path(key_id), parse=AccessKey.from_json)


# -- policies ----------------------------------------------------------------------------------


def put_policy(name: str, document: PolicyDocument, *, description: str = "") -> Call[Policy]:
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
    return Call(
        method="GET",
        path="/v1/policies",
        idempotent=True,
        parse=list_of("policies", PolicyInfo.from_json),
    )


def delete_policy(name: str) -> Call[PolicyInfo]:
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
    return Call(method="GET", path="/v1/whoami", idempotent=True, parse=CallerIdentity.from_json)


def assume_role(
    role: str, *, duration_seconds: int | None = None, policy: PolicyDocument | None = None
) -> Call[SessionCredentials]:
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
    if page_size is not None:
        params.append(("page_size", str(page_size)))
    if page_token:
        params.append(("page_token", page_token))
    return Call(
        method="GET",
        path="/v1/audit",
        params=tuple(params),
        idempotent=True,
        parse=lambda data: Page.from_json(data, "events", AuditEvent.from_json),
    )
