"""The access-control and audit methods of :class:`rotor.client.Client`.

Kept apart from the secret and rotation methods so each class stays one concept;
:class:`AccessMethods` is a base of ``Client`` and needs only its ``_send``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal, Protocol, TypeVar

from rotor.client import _access, _access_models, _base, _models

T = TypeVar("T")


class _Sender(Protocol):
    def _send(self, call: _base.Call[T]) -> T: ...


class AccessMethods:
    """Principals, access keys, policies, the caller's identity, assume-role, the audit log."""

    # -- principals ----------------------------------------------------------------------------

    def create_principal(
        self: _Sender, name: str, *, kind: Literal["user", "role"] = "user"
    ) -> _access_models.Principal:
        """Create a user, or a role (which can be assumed, see :meth:`assume_role`)."""
        return self._send(_access.create_principal(name, kind=kind))

    def list_principals(self: _Sender) -> tuple[_access_models.Principal, ...]:
        """The principals the caller may list, by name."""
        return self._send(_access.list_principals())

    def get_principal(self: _Sender, name: str) -> _access_models.Principal:
        """A principal with its attached policies and (if the caller may list them) its keys."""
        return self._send(_access.get_principal(name))

    def delete_principal(self: _Sender, name: str) -> _access_models.Principal:
        """Delete a principal with its keys; its credentials stop working at once."""
        return self._send(_access.delete_principal(name))

    # -- access keys ---------------------------------------------------------------------------

    def create_access_key(
        self: _Sender, principal: str, *, expires_in_seconds: int | None = None
    ) -> _access_models.NewAccessKey:
        """A new key for ``principal``; its ``access_key_secret`` is never shown again."""
        return self._send(
            _access.create_access_key(principal, expires_in_seconds=expires_in_seconds)
        )

    def list_access_keys(self: _Sender, principal: str) -> tuple[_access_models.AccessKey, ...]:
        """A principal's keys, oldest first (never their secrets)."""
        return self._send(_access.list_access_keys(principal))

    def disable_access_key(self: _Sender, key_id: str) -> _access_models.AccessKey:
        """Refuse the key from the next request on, until it is enabled again."""
        return self._send(_access.set_access_key_status(key_id, enabled=False))

    def enable_access_key(self: _Sender, key_id: str) -> _access_models.AccessKey:
        return self._send(_access.set_access_key_status(key_id, enabled=True))

    def delete_access_key(self: _Sender, key_id: str) -> _access_models.AccessKey:
        return self._send(_access.delete_access_key(key_id))

    # -- policies ------------------------------------------------------------------------------

    def put_policy(
        self: _Sender, name: str, document: _access.PolicyDocument, *, description: str = ""
    ) -> _access_models.Policy:
        """Create or replace a policy. JSON text is kept exactly as written.

        An invalid document raises InvalidParameter naming the problem; actions that
        no rotor operation has are kept and listed in ``unmatched_actions``.
        """
        return self._send(_access.put_policy(name, document, description=description))

    def get_policy(self: _Sender, name: str) -> _access_models.Policy:
        return self._send(_access.get_policy(name))

    def list_policies(self: _Sender) -> tuple[_access_models.PolicyInfo, ...]:
        """The policies the caller may read, by name (without documents)."""
        return self._send(_access.list_policies())

    def delete_policy(self: _Sender, name: str) -> _access_models.PolicyInfo:
        """Delete a policy; Conflict while it is attached to a principal."""
        return self._send(_access.delete_policy(name))

    def attach_policy(self: _Sender, policy: str, principal: str) -> _access_models.Attachments:
        return self._send(_access.attach_policy(policy, principal))

    def detach_policy(self: _Sender, policy: str, principal: str) -> _access_models.Attachments:
        return self._send(_access.detach_policy(policy, principal))

    # -- identity ------------------------------------------------------------------------------

    def get_caller_identity(self: _Sender) -> _access_models.CallerIdentity:
        """Who this client's access key belongs to (needs no permission)."""
        return self._send(_access.get_caller_identity())

    def assume_role(
        self: _Sender,
        role: str,
        *,
        duration_seconds: int | None = None,
        policy: _access.PolicyDocument | None = None,
    ) -> _access_models.SessionCredentials:
        """Short-lived credentials of ``role`` (900-43200 s, default 3600), carrying its
        policies, narrowed further by ``policy`` when given. Use all three parts:
        ``Client(url, access_key_id=..., access_key_secret=..., security_token=...)``.
        """
        return self._send(
            _access.assume_role(role, duration_seconds=duration_seconds, policy=policy)
        )

    # -- audit ---------------------------------------------------------------------------------

    def list_audit_events(
        self: _Sender,
        *,
        secret: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: dt.datetime | str | None = None,
        until: dt.datetime | str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> _models.Page[_access_models.AuditEvent]:
        """One page of audit events, newest first; ``since`` inclusive, ``until`` exclusive."""
        return self._send(
            _access.list_audit_events(
                secret=secret,
                principal=principal,
                action=action,
                outcome=outcome,
                since=since,
                until=until,
                page_size=page_size,
                page_token=page_token,
            )
        )

    def iter_audit_events(
        self: _Sender,
        *,
        secret: str | None = None,
        principal: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: dt.datetime | str | None = None,
        until: dt.datetime | str | None = None,
        page_size: int | None = None,
    ) -> Iterator[_access_models.AuditEvent]:
        """Every matching audit event, newest first, fetching pages as needed."""
        token: str | None = None
        while True:
            page = self._send(
                _access.list_audit_events(
                    secret=secret,
                    principal=principal,
                    action=action,
                    outcome=outcome,
                    since=since,
                    until=until,
                    page_size=page_size,
                    page_token=token,
                )
            )
            yield from page.items
            if page.next_page_token is None:
                return
            token = page.next_page_token
