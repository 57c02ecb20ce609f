"""The access-control and audit methods of both clients.

Kept apart from the secret and rotation methods so each class stays one concept.
Each method is written once and builds the :class:`_base.Call` it stands for;
:mod:`rotor.client._methods` makes it send that call on a
:class:`rotor.client.Client` and on a :class:`rotor.client.AsyncClient`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from rotor.client import _access, _access_models, _base, _models
from rotor.client._methods import Pages, operation, paginated


class AccessMethods:
    """Principals, access keys, policies, the caller's identity, assume-role, the audit log."""

    # -- principals ----------------------------------------------------------------------------

    @operation
    def create_principal(
        self, name: str, *, kind: Literal["user", "role"] = "user"
    ) -> _base.Call[_access_models.Principal]:
        """Create a user, or a role (which can be assumed, see :meth:`assume_role`)."""
        return _access.create_principal(name, kind=kind)

    @operation
    def list_principals(self) -> _base.Call[tuple[_access_models.Principal, ...]]:
        """The principals the caller may list, by name."""
        return _access.list_principals()

    @operation
    def get_principal(self, name: str) -> _base.Call[_access_models.Principal]:
        """A principal with its attached policies and (if the caller may list them) its keys."""
        return _access.get_principal(name)

    @operation
    def delete_principal(self, name: str) -> _base.Call[_access_models.Principal]:
        """Delete a principal with its keys; its credentials stop working at once."""
        return _access.delete_principal(name)

    # -- registered functions ------------------------------------------------------------------

    @operation
    def register_function(
        self,
        name: str,
        *,
        kind: Literal["python-handler", "http-function"],
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
    ) -> _base.Call[_access_models.RegisteredFunction]:
        """Register custom rotation code (or replace its registration): a Python handler
        (``handler``, ``python``, ``python_path``) or an HTTP endpoint (``url``,
        ``headers_secret``), with the ``roles`` and ``secrets`` (name patterns) a rotation
        configuration may give it. Needs ``rotor:RegisterFunction``."""
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
        return _base.Call(
            method="PUT",
            path=_access.function_path(name),
            body=body,
            idempotent=True,
            parse=_access_models.RegisteredFunction.from_json,
        )

    @operation
    def list_functions(self) -> _base.Call[tuple[_access_models.RegisteredFunction, ...]]:
        """The registered functions the caller may list, by name."""
        return _base.Call(
            method="GET",
            path="/v1/functions",
            idempotent=True,
            parse=_access.list_of("functions", _access_models.RegisteredFunction.from_json),
        )

    @operation
    def get_function(self, name: str) -> _base.Call[_access_models.RegisteredFunction]:
        return _base.Call(
            method="GET",
            path=_access.function_path(name),
            idempotent=True,
            parse=_access_models.RegisteredFunction.from_json,
        )

    @operation
    def remove_function(self, name: str) -> _base.Call[_access_models.RegisteredFunction]:
        """Remove a registration; refused (Conflict) while a rotation configuration names it."""
        return _base.Call(
            method="DELETE",
            path=_access.function_path(name),
            parse=_access_models.RegisteredFunction.from_json,
        )

    # -- access keys ---------------------------------------------------------------------------

    @operation
    def create_access_key(
        self, principal: str, *, expires_in_seconds: int | None = None
    ) -> _base.Call[_access_models.NewAccessKey]:
        """A new key for ``principal``; its ``access_key_secret`` is never shown again."""
        return _access.create_access_key(principal, expires_in_seconds=expires_in_seconds)

    @operation
    def list_access_keys(self, principal: str) -> _base.Call[tuple[_access_models.AccessKey, ...]]:
        """A principal's keys, oldest first (never their secrets)."""
        return _access.list_access_keys(principal)

    @operation
    def disable_access_key(self, key_id: str) -> _base.Call[_access_models.AccessKey]:
        """Refuse the key from the next request on, until it is enabled again."""
        return _access.set_access_key_status(key_id, enabled=False)

    @operation
    def enable_access_key(self, key_id: str) -> _base.Call[_access_models.AccessKey]:
        return _access.set_access_key_status(key_id, enabled=True)

    @operation
    def delete_access_key(self, key_id: str) -> _base.Call[_access_models.AccessKey]:
        return _access.delete_access_key(key_id)

    # -- policies ------------------------------------------------------------------------------

    @operation
    def put_policy(
        self, name: str, document: _access.PolicyDocument, *, description: str = ""
    ) -> _base.Call[_access_models.Policy]:
        """Create or replace a policy. JSON text is kept exactly as written.

        An invalid document raises InvalidParameter naming the problem; actions that
        no rotor operation has are kept and listed in ``unmatched_actions``.
        """
        return _access.put_policy(name, document, description=description)

    @operation
    def get_policy(self, name: str) -> _base.Call[_access_models.Policy]:
        return _access.get_policy(name)

    @operation
    def list_policies(self) -> _base.Call[tuple[_access_models.PolicyInfo, ...]]:
        """The policies the caller may read, by name (without documents)."""
        return _access.list_policies()

    @operation
    def delete_policy(self, name: str) -> _base.Call[_access_models.PolicyInfo]:
        """Delete a policy; Conflict while it is attached to a principal."""
        return _access.delete_policy(name)

    @operation
    def attach_policy(self, policy: str, principal: str) -> _base.Call[_access_models.Attachments]:
        return _access.attach_policy(policy, principal)

    @operation
    def detach_policy(self, policy: str, principal: str) -> _base.Call[_access_models.Attachments]:
        return _access.detach_policy(policy, principal)

    # -- identity ------------------------------------------------------------------------------

    @operation
    def get_caller_identity(self) -> _base.Call[_access_models.CallerIdentity]:
        """Who this client's access key belongs to (needs no permission)."""
        return _access.get_caller_identity()

    @operation
    def assume_role(
        self,
        role: str,
        *,
        duration_seconds: int | None = None,
        policy: _access.PolicyDocument | None = None,
    ) -> _base.Call[_access_models.SessionCredentials]:
        """Short-lived credentials of ``role`` (900-43200 s, default 3600), carrying its
        policies, narrowed further by ``policy`` when given. Use all three parts:
        ``Client(url, access_key_id=..., access_key_secret=..., security_token=...)``.
        """
        return _access.assume_role(role, duration_seconds=duration_seconds, policy=policy)

    # -- audit ---------------------------------------------------------------------------------

    @operation
    def list_audit_events(
        self,
        *,
        secret: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: dt.datetime | str | None = None,
        until: dt.datetime | str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> _base.Call[_models.Page[_access_models.AuditEvent]]:
        """One page of audit events, newest first; ``since`` inclusive, ``until`` exclusive."""
        return _access.list_audit_events(
            secret=secret,
            principal=principal,
            action=action,
            outcome=outcome,
            since=since,
            until=until,
            page_size=page_size,
            page_token=page_token,
        )

    @paginated
    def iter_audit_events(
        self,
        *,
        secret: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: dt.datetime | str | None = None,
        until: dt.datetime | str | None = None,
        page_size: int | None = None,
    ) -> Pages[_access_models.AuditEvent]:
        """Every matching audit event, newest first, fetching pages as needed."""
        return lambda token: _access.list_audit_events(
            secret=secret,
            principal=principal,
            action=action,
            outcome=outcome,
            since=since,
            until=until,
            page_size=page_size,
            page_token=token,
        )
