"""Short-lived credentials of a custom rotation function, to call rotor's API.

They belong to the function's role (parameter ``Role``, which the delegation check let
through; default ``rotation-functions``, made on first use with the policy a function
needs) and are narrowed by a session policy to the rotated secret plus read access to
the delegated secrets. Their key records the function, the rotation and its configurer,
so the audit trail says on whose behalf a function acted. The engine deletes them when
the call returns; expired ones are purged.
"""

from __future__ import annotations

import json
from typing import Any

from rotor import errors
from rotor.access import delegation, keys
from rotor.access.delegation import Delegation
from rotor.rotation.functions.base import Credentials
from rotor.settings import Settings
from rotor.store import principals
from rotor.store.database import Store
from rotor.store.rotations import Rotation

ROTATION_PRINCIPAL = "rotation-functions"
ROTATION_POLICY = "RotationFunctionAccess"
ROTATION_POLICY_DOCUMENT = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "kms:GetSecretValue",
                "kms:PutSecretValue",
                "kms:UpdateSecretVersionStage",
                "kms:DescribeSecret",
                "kms:ListSecretVersionIds",
                "kms:GetRandomPassword",
            ],
            "Resource": "*",
        }
    ],
}


def mint(
    store: Store,
    settings: Settings,
    rotation: Rotation,
    function: str,
    granted: Delegation,
    *,
    reach: frozenset[str],
) -> Credentials:
    """Short-lived credentials for a custom function to call rotor's API: the function's
    role (parameter ``Role``, default ``rotation-functions``) narrowed to the rotated
    secret and read access to ``reach`` (the delegated secrets; none in a dry run)."""
    role_name = granted.role or ROTATION_PRINCIPAL
    role = principals.get_principal(store, role_name)
    if role is None or role.kind != principals.ROLE:
        if role_name != ROTATION_PRINCIPAL:
            raise errors.InvalidParameter(f"the function's role {role_name!r} is not a role")
        role = _default_role(store)

    def resource(name: str) -> str:
        return keys.secret_resource(name, region=settings.region, account=settings.account_id)

    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "*", "Resource": resource(rotation.secret_name)},
        {"Effect": "Allow", "Action": "kms:GetRandomPassword", "Resource": "*"},
    ]
    if reach:
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(delegation.READ_ACTIONS),
                "Resource": [resource(name) for name in sorted(reach)],
            }
        )
    key_id, secret, token = keys.create_access_key(
        store,
        role,
        expires_in_seconds=settings.rotation_function_timeout_seconds + 300,
        session_policy=json.dumps({"Version": "1", "Statement": statements}),
        function_session=principals.FunctionSession(
            function=function,
            rotation_id=rotation.id,
            on_behalf_of=granted.on_behalf_of,
        ),
    )
    return Credentials(access_key_id=key_id, access_key_secret=secret, security_token=token)


def _default_role(store: Store) -> principals.Principal:
    try:
        role = principals.create_principal(store, ROTATION_PRINCIPAL, principals.ROLE)
    except errors.Conflict:
        found = principals.get_principal(store, ROTATION_PRINCIPAL)
        assert found is not None
        return found
    principals.put_policy(
        store,
        ROTATION_POLICY,
        json.dumps(ROTATION_POLICY_DOCUMENT),
        "What a rotation function needs; each call is narrowed to its secrets.",
    )
    principals.attach_policy(store, ROTATION_PRINCIPAL, ROTATION_POLICY)
    return role
