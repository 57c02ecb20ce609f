"""Delegation: what a rotation reaches beyond its own secret, and who may give it that.

A rotation's function may be given more than the secret it rotates: the secrets
its parameters name (any ``*Secret`` parameter), the secrets the rotated secret's
Current value names (``MasterSecret``, or ``masterarn`` with a secret's AWS ARN or name,
as AWS's rotation templates write it), a role (parameter ``Role``), and custom
code (a registered function). Like a cloud's "pass role", the principal who
configures the rotation must hold each of these itself and be allowed to delegate
it:

- a secret beyond the rotated one: ``kms:GetSecretValue`` and ``rotor:PassSecret``
  on that secret (the function gets read access only);
- a role: ``rotor:PassRole`` on ``rotor:principal/ROLE``;
- a registered function: ``rotor:AttachFunction`` on ``rotor:function/NAME``, and
  the function's registration must list each role and secret it is given.

:func:`check` runs when the rotation is configured (with the caller's identity)
and again before every rotation (with the configurer's rights at that moment), so
revoking the configurer's access stops the delegation.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rotor import errors
from rotor.access import policies
from rotor.access.keys import Identity, arn_lookup, secret_resource
from rotor.settings import Settings
from rotor.store import principals, secrets, stages, versions
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction

PASS_SECRET = "rotor:PassSecret"
PASS_ROLE = "rotor:PassRole"
ATTACH_FUNCTION = "rotor:AttachFunction"
#: The actions checked when a rotation is configured (and before it runs), not by a route.
ACTIONS = (PASS_SECRET, PASS_ROLE, ATTACH_FUNCTION)
#: Parameters and value fields whose values name other secrets (``MasterSecret``...).
SECRET_REFERENCE_SUFFIX = "Secret"
#: The value field of AWS's rotation templates that names the master secret (by ARN).
AWS_MASTER_FIELD = "masterarn"
#: What a function may do with a secret it was given beyond the rotated one.
READ_ACTIONS = ("kms:GetSecretValue", "kms:DescribeSecret", "kms:ListSecretVersionIds")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Delegation:
    """Everything a rotation of ``secret_name`` is given beyond that secret."""

    secret_name: str
    #: Other secrets it may read.
    secrets: frozenset[str]
    #: The role its function's credentials belong to; None for the default role.
    role: str | None
    #: The registered functions it runs.
    functions: tuple[RegisteredFunction, ...]
    #: The principal who configured it (once checked), for its functions' audit events.
    on_behalf_of: str = ""


def referenced_secrets(mapping: Mapping[str, Any]) -> set[str]:
    """The secret names of a mapping's ``*Secret`` string fields."""
    return {
        v
        for k, v in mapping.items()
        if isinstance(k, str) and k.endswith(SECRET_REFERENCE_SUFFIX) and isinstance(v, str) and v
    }


def aws_master(store: Store, value: Mapping[str, Any], settings: Settings) -> set[str]:
    """The secret a value's ``masterarn`` names (an AWS-form ARN of this server, complete
    or partial, or a name), as the name the rest of rotor uses; empty when there is none."""
    reference = value.get(AWS_MASTER_FIELD)
    if not isinstance(reference, str) or not reference:
        return set()
    if not reference.startswith("arn:"):
        return {reference}
    try:
        return {
            secrets.name_of_aws_arn(
                store, reference, region=settings.region, account=settings.account_id
            )
        }
    except (errors.NotFound, errors.InvalidParameter):
        return set()  # names no secret of this server: nothing to give


def current_object(store: Store, name: str) -> Mapping[str, Any]:
    """The rotated secret's Current value as a JSON object; empty when it is not one."""
    try:
        value = versions.get_value(store, name, stage=stages.CURRENT)
    except errors.NotFound:
        return {}
    if not isinstance(value.value, str):
        return {}
    try:
        parsed = json.loads(value.value)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def required(
    store: Store,
    name: str,
    parameters: Mapping[str, Any],
    functions: Iterable[RegisteredFunction] = (),
    *,
    settings: Settings,
) -> Delegation:
    """What a rotation of ``name`` with ``parameters`` would be given, reading Current now."""
    current = current_object(store, name)
    given = (
        referenced_secrets(parameters)
        | referenced_secrets(current)
        | aws_master(store, current, settings)
    )
    given.discard(name)
    role = parameters.get("Role")
    if role is not None and (not isinstance(role, str) or not role):
        raise errors.InvalidParameter("Role must be the name of a role")
    return Delegation(
        secret_name=name, secrets=frozenset(given), role=role, functions=tuple(functions)
    )


def check(identity: Identity | None, delegation: Delegation, settings: Settings) -> None:
    """Raise DelegationDenied unless ``identity`` may give the rotation all it is given.

    ``identity`` None: the configurer is gone (deleted), so nothing may be delegated.
    """
    who = identity.principal_name if identity is not None else "the principal who configured it"

    def need(action: str, resource: str, what: str) -> None:
        if identity is None or not identity.allows(action, resource):
            raise errors.DelegationDenied(
                f"{who} may not give this rotation {what}: that needs {action} on {resource}"
            )

    for function in delegation.functions:
        need(
            ATTACH_FUNCTION,
            policies.FUNCTION_RESOURCE.format(name=function.name),
            f"the function {function.name!r}",
        )
        if delegation.role is not None and delegation.role not in function.roles:
            raise errors.DelegationDenied(
                f"the function {function.name!r} is not registered to be given the role "
                f"{delegation.role!r}"
            )
        for secret in sorted(delegation.secrets):
            if not any(policies.matches_pattern(p, secret) for p in function.secrets):
                raise errors.DelegationDenied(
                    f"the function {function.name!r} is not registered to be given the "
                    f"secret {secret!r}"
                )
    if delegation.role is not None:
        need(
            PASS_ROLE,
            policies.PRINCIPAL_RESOURCE.format(name=delegation.role),
            f"the role {delegation.role!r}",
        )
    for secret in sorted(delegation.secrets):
        resource = secret_resource(secret, region=settings.region, account=settings.account_id)
        for action in ("kms:GetSecretValue", PASS_SECRET):
            need(action, resource, f"the secret {secret!r}")


def principal_identity(store: Store, principal_id: str | None) -> Identity | None:
    """The rights a principal holds now (its policies, no session); None when it is gone."""
    if principal_id is None:
        return None
    principal = principals.get_principal_by_id(store, principal_id)
    if principal is None:
        return None
    layer = tuple(
        policies.parse_policy(doc) for doc in principals.policy_documents_of(store, principal.id)
    )
    return Identity(
        principal_id=principal.id,
        principal_name=principal.name,
        access_key_id="",
        layers=(layer,),
        arn_of=arn_lookup(store),
    )
