"""What the access-control and audit commands show: principals, keys, policies, events.

Never an access key secret or session token, except in :func:`new_key_json` and
:func:`session_json`, which exist to hand a just-created one to the user once.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

import rotor.client
from rotor.cli.render import iso_time, when


def _fields() -> Table:
    return Table(show_header=False, box=None, padding=(0, 2, 0, 0))


# -- principals and keys -----------------------------------------------------------------------


def principal_json(principal: rotor.client.Principal) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": principal.name,
        "kind": principal.kind,
        "created_at": iso_time(principal.created_at),
    }
    if principal.policies is not None:
        data["policies"] = list(principal.policies)
    if principal.access_keys is not None:
        data["access_keys"] = [key_json(k) for k in principal.access_keys]
    return data


def key_json(key: rotor.client.AccessKey) -> dict[str, Any]:
    return {
        "access_key_id": key.access_key_id,
        "principal": key.principal,
        "status": key.status,
        "created_at": iso_time(key.created_at),
        "expires_at": iso_time(key.expires_at),
        "session": key.session,
    }


def new_key_json(key: rotor.client.NewAccessKey) -> dict[str, Any]:
    return {**key_json(key), "access_key_secret": key.access_key_secret}


def principals_table(items: Sequence[rotor.client.Principal]) -> Table:
    table = Table("Name", "Kind", "Created")
    for p in items:
        table.add_row(Text(p.name), p.kind, when(p.created_at))
    return table


def key_status(key: rotor.client.AccessKey) -> str:
    if key.status == "active" and key.expired:
        return "expired"
    return key.status


def keys_table(items: Sequence[rotor.client.AccessKey]) -> Table:
    table = Table("Access key id", "Status", "Created", "Expires", "Kind")
    for key in items:
        table.add_row(
            Text(key.access_key_id),
            key_status(key),
            when(key.created_at),
            "never" if key.expires_at is None else when(key.expires_at),
            "session" if key.session else "long-term",
        )
    return table


def principal_view(principal: rotor.client.Principal) -> Group:
    fields = _fields()
    fields.add_row("Name", Text(principal.name))
    fields.add_row("Kind", principal.kind)
    fields.add_row("Created", when(principal.created_at))
    fields.add_row("Policies", Text(", ".join(principal.policies or ()) or "-"))
    parts: list[Any] = [fields]
    if principal.access_keys is None:
        parts.append(Text("Access keys: not shown (you may not list them)"))
    elif principal.access_keys:
        parts.append(keys_table(principal.access_keys))
    else:
        parts.append(Text("Access keys: none"))
    return Group(*parts)


# -- policies ----------------------------------------------------------------------------------


def policy_info_json(policy: rotor.client.PolicyInfo) -> dict[str, Any]:
    return {
        "name": policy.name,
        "description": policy.description,
        "created_at": iso_time(policy.created_at),
        "updated_at": iso_time(policy.updated_at),
    }


def policy_json(policy: rotor.client.Policy) -> dict[str, Any]:
    return {
        **policy_info_json(policy),
        "document": dict(policy.document),
        "attached_to": list(policy.attached_to),
        "unmatched_actions": list(policy.unmatched_actions),
    }


def policies_table(items: Sequence[rotor.client.PolicyInfo]) -> Table:
    table = Table("Name", "Description", "Updated")
    for p in items:
        table.add_row(Text(p.name), Text(p.description or "-"), when(p.updated_at))
    return table


def unmatched_line(policy: rotor.client.Policy) -> Text:
    """The line saying which actions of a policy grant nothing in rotor."""
    if not policy.unmatched_actions:
        return Text("Every action in this policy matches a rotor operation.")
    return Text(
        "These actions match no rotor operation and grant nothing in rotor: "
        + ", ".join(policy.unmatched_actions)
    )


def policy_view(policy: rotor.client.Policy) -> Group:
    fields = _fields()
    fields.add_row("Name", Text(policy.name))
    fields.add_row("Description", Text(policy.description or "-"))
    fields.add_row("Attached to", Text(", ".join(policy.attached_to) or "-"))
    fields.add_row("Updated", when(policy.updated_at))
    document = Text(json.dumps(dict(policy.document), indent=2, ensure_ascii=False))
    return Group(fields, Text(""), document, Text(""), unmatched_line(policy))


# -- identity ----------------------------------------------------------------------------------


def identity_json(identity: rotor.client.CallerIdentity) -> dict[str, Any]:
    return {
        "principal": identity.principal,
        "kind": identity.kind,
        "access_key_id": identity.access_key_id,
        "session": identity.session,
        "expires_at": iso_time(identity.expires_at),
        "policies": list(identity.policies),
    }


def identity_view(identity: rotor.client.CallerIdentity) -> Table:
    fields = _fields()
    fields.add_row("Principal", Text(f"{identity.principal} ({identity.kind or '?'})"))
    fields.add_row("Access key", Text(identity.access_key_id))
    if identity.session:
        fields.add_row("Session", f"assumed role, expires {when(identity.expires_at)}")
    elif identity.expires_at is not None:
        fields.add_row("Expires", when(identity.expires_at))
    fields.add_row("Policies", Text(", ".join(identity.policies) or "-"))
    return fields


def session_json(credentials: rotor.client.SessionCredentials) -> dict[str, Any]:
    return {
        "role": credentials.role,
        "access_key_id": credentials.access_key_id,
        "access_key_secret": credentials.access_key_secret,
        "security_token": credentials.security_token,
        "expires_at": iso_time(credentials.expires_at),
    }


def session_exports(credentials: rotor.client.SessionCredentials) -> str:
    """``export`` lines for a POSIX shell: ``eval "$(rotor assume-role R --env)"``."""
    return "\n".join(
        f"export {name}={shlex.quote(value)}"
        for name, value in (
            ("ROTOR_ACCESS_KEY_ID", credentials.access_key_id),
            ("ROTOR_ACCESS_KEY_SECRET", credentials.access_key_secret),
            ("ROTOR_SECURITY_TOKEN", credentials.security_token),
        )
    )


# -- audit -------------------------------------------------------------------------------------


def event_json(event: rotor.client.AuditEvent) -> dict[str, Any]:
    return {
        "at": iso_time(event.at),
        "principal": event.principal,
        "access_key_id": event.access_key_id,
        "source": event.source,
        "action": event.action,
        "secret": event.secret,
        "version_id": event.version_id,
        "rotation_id": event.rotation_id,
        "function": event.function,
        "on_behalf_of": event.on_behalf_of,
        "outcome": event.outcome,
        "error_code": event.error_code,
        "request_id": event.request_id,
        "node": event.node,
    }


_OUTCOME_STYLE = {
    "allowed": "green",
    "succeeded": "green",
    "denied": "red",
    "unauthenticated": "red",
    "failed": "yellow",
    "abandoned": "yellow",
}


def _who(event: rotor.client.AuditEvent) -> str:
    """The principal; for a rotation function, also its function and whom it acted for."""
    who = event.principal or "-"
    if event.function:
        who += f" (function {event.function} for {event.on_behalf_of or '-'})"
    return who


def events_table(events: Sequence[rotor.client.AuditEvent]) -> Table:
    table = Table("Time", "Principal", "Action", "Secret", "Outcome", "Error", "Source", "Node")
    for e in events:
        table.add_row(
            when(e.at),
            Text(_who(e)),
            Text(e.action),
            Text(e.secret or "-"),
            Text(e.outcome, style=_OUTCOME_STYLE.get(e.outcome, "")),
            Text(e.error_code or "-"),
            Text(e.source or "-"),
            Text(e.node or "-"),
        )
    return table
