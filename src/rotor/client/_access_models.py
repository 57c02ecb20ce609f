"""What the access-control, audit and node operations answer with, parsed by each ``from_json``.

Strict like :mod:`rotor.client._models`; no repr shows an access key secret or a
session token.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from rotor.client._models import parse_time, text_field


def _optional_time(value: str | None) -> dt.datetime | None:
    return None if value is None else parse_time(value)


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of names")
    return tuple(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccessKey:
    """An access key as listed: never its secret."""

    access_key_id: str
    principal: str
    status: str
    """``active`` or ``disabled``."""
    created_at: dt.datetime
    expires_at: dt.datetime | None
    """When the key stops working; None: never."""
    session: bool
    """Whether it is a short-lived key of an assumed role (it then needs its session token)."""

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= dt.datetime.now(dt.UTC)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccessKey:
        return cls(
            access_key_id=text_field(data, "access_key_id"),
            principal=text_field(data, "principal"),
            status=text_field(data, "status"),
            created_at=parse_time(data["created_at"]),
            expires_at=_optional_time(data.get("expires_at")),
            session=_flag(data.get("session", False)),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewAccessKey(AccessKey):
    """A key just created, with its secret: the only time the server shows it."""

    access_key_secret: str = dataclasses.field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NewAccessKey:
        key = AccessKey.from_json(data)
        return cls(
            **{f.name: getattr(key, f.name) for f in dataclasses.fields(AccessKey)},
            access_key_secret=text_field(data, "access_key_secret"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Principal:
    """A user or a role."""

    name: str
    kind: str
    """``user`` or ``role`` (only roles can be assumed)."""
    created_at: dt.datetime
    policies: tuple[str, ...] | None = None
    """The names of its attached policies; filled by :meth:`Client.get_principal` only."""
    access_keys: tuple[AccessKey, ...] | None = None
    """Its keys, from :meth:`Client.get_principal` for a caller allowed to list them."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Principal:
        keys = data.get("access_keys")
        policies = data.get("policies")
        return cls(
            name=text_field(data, "name"),
            kind=text_field(data, "kind"),
            created_at=parse_time(data["created_at"]),
            policies=None if policies is None else _names(policies),
            access_keys=None if keys is None else tuple(AccessKey.from_json(k) for k in keys),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class PolicyInfo:
    """A policy as listed: without its document."""

    name: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyInfo:
        return cls(
            name=text_field(data, "name"),
            description=data.get("description") or "",
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Policy(PolicyInfo):
    """A policy with its document and where it is attached."""

    document: Mapping[str, Any]
    attached_to: tuple[str, ...]
    """The principals it is attached to."""
    unmatched_actions: tuple[str, ...]
    """Actions written in the document that match no rotor operation: they grant nothing."""
    created: bool | None = None
    """From :meth:`Client.put_policy`: True when it created the policy, False when it replaced
    one; None elsewhere."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        document = data["document"]
        if not isinstance(document, dict):
            raise TypeError("document is not an object")
        created = data.get("created")
        return cls(
            **dataclasses.asdict(PolicyInfo.from_json(data)),
            document=document,
            attached_to=_names(data.get("attached_to") or []),
            unmatched_actions=_names(data.get("unmatched_actions") or []),
            created=None if created is None else _flag(created),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Attachments:
    """The policies attached to a principal after an attach or detach."""

    principal: str
    policies: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attachments:
        return cls(principal=text_field(data, "principal"), policies=_names(data["policies"]))


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallerIdentity:
    """Who the client's access key belongs to (:meth:`Client.get_caller_identity`)."""

    principal: str
    kind: str | None
    access_key_id: str
    session: bool
    """Whether the key is a short-lived key of an assumed role."""
    expires_at: dt.datetime | None
    policies: tuple[str, ...]
    """The policies attached to the principal (a session may be narrowed further)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallerIdentity:
        return cls(
            principal=text_field(data, "principal"),
            kind=data.get("kind"),
            access_key_id=text_field(data, "access_key_id"),
            session=_flag(data.get("session", False)),
            expires_at=_optional_time(data.get("expires_at")),
            policies=_names(data.get("policies") or []),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionCredentials:
    """Short-lived credentials of an assumed role; all three parts are needed."""

    role: str
    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    security_token: str = dataclasses.field(repr=False)
    expires_at: dt.datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionCredentials:
        return cls(
            role=text_field(data, "role"),
            access_key_id=text_field(data, "access_key_id"),
            access_key_secret=text_field(data, "access_key_secret"),
            security_token=text_field(data, "security_token"),
            expires_at=parse_time(data["expires_at"]),
        )


AUDIT_OUTCOMES = (
    "allowed",
    "denied",
    "unauthenticated",
    "failed",
    "succeeded",
    "cancelled",
    "abandoned",
)
"""Every outcome an audit event can have: a request is ``allowed``, ``denied``,
``unauthenticated`` or ``failed`` (allowed, but it failed); a rotation step ``succeeded`` or
``failed``; a whole rotation ``succeeded``, ``failed``, ``cancelled`` or ``abandoned``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegisteredFunction:
    """Custom rotation code an administrator registered, and what it may be given."""

    name: str
    kind: str
    """``python-handler``, ``lambda-handler`` or ``http-function``."""
    handler: str | None
    python: str | None
    python_path: tuple[str, ...]
    url: str | None
    headers_secret: str | None
    timeout_seconds: float | None
    custom_flow: bool
    roles: tuple[str, ...]
    """Roles a rotation configuration may give it (parameter ``Role``)."""
    secrets: tuple[str, ...]
    """Secret name patterns a configuration may give it beyond the rotated secret."""
    description: str
    registered_by: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegisteredFunction:
        timeout = data.get("timeout_seconds")
        return cls(
            name=text_field(data, "name"),
            kind=text_field(data, "kind"),
            handler=data.get("handler"),
            python=data.get("python"),
            python_path=_names(data.get("python_path") or []),
            url=data.get("url"),
            headers_secret=data.get("headers_secret"),
            timeout_seconds=None if timeout is None else float(timeout),
            custom_flow=_flag(data.get("custom_flow", False)),
            roles=_names(data["roles"]),
            secrets=_names(data["secrets"]),
            description=text_field(data, "description"),
            registered_by=text_field(data, "registered_by"),
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One audited request, rotation step or rotation; never a secret value."""

    at: dt.datetime
    action: str
    """The action (``kms:GetSecretValue``), or ``METHOD /path`` for a request that has none."""
    outcome: str
    """One of :data:`AUDIT_OUTCOMES`."""
    principal: str | None
    access_key_id: str | None
    source: str | None
    """The caller's address."""
    secret: str | None
    version_id: str | None
    rotation_id: str | None
    """The rotation of a rotation step's event, or of a rotation function's request."""
    error_code: str | None
    request_id: str | None
    function: str | None = None
    """A rotation function's request: the function (``principal`` is its role)."""
    on_behalf_of: str | None = None
    """A rotation function's request: the principal who configured the rotation."""
    node: str | None = None
    """The node that served the request or ran the step."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEvent:
        return cls(
            at=parse_time(data["at"]),
            action=text_field(data, "action"),
            outcome=text_field(data, "outcome"),
            principal=data.get("principal"),
            access_key_id=data.get("access_key_id"),
            source=data.get("source"),
            secret=data.get("secret"),
            version_id=data.get("version_id"),
            rotation_id=data.get("rotation_id"),
            error_code=data.get("error_code"),
            request_id=data.get("request_id"),
            function=data.get("function"),
            on_behalf_of=data.get("on_behalf_of"),
            node=data.get("node"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Node:
    """A server process serving the store, from the heartbeats it records."""

    node: str
    """Its node id (``ROTOR_NODE_ID``, default host:pid)."""
    instance: str
    """The node id plus a random part: one per process."""
    version: str
    """The rotor release it runs."""
    url: str
    started_at: dt.datetime
    last_heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    """When it stopped cleanly; None while it runs, or when it died."""
    live: bool
    """Whether it has not stopped and its last heartbeat is recent."""
    this_node: bool
    """Whether it is the node that answered."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Node:
        stopped = data.get("stopped_at")
        return cls(
            node=text_field(data, "node"),
            instance=text_field(data, "instance"),
            version=text_field(data, "version"),
            url=str(data.get("url") or ""),
            started_at=parse_time(data["started_at"]),
            last_heartbeat_at=parse_time(data["last_heartbeat_at"]),
            stopped_at=None if stopped is None else parse_time(stopped),
            live=data.get("live") is True,
            this_node=data.get("this_node") is True,
        )
