"""The KMS dialect's actions (version 2016-01-20), on rotor's store and rotation engine.

Each action is a function of a :class:`~rotor.api.dialects.aliyun.call.Call`
returning the response body (without ``RequestId``): the secret actions in
:mod:`~rotor.api.dialects.aliyun.secret_actions`, the value, version and stage ones in
:mod:`~rotor.api.dialects.aliyun.version_actions`, the rotation ones in
:mod:`~rotor.api.dialects.aliyun.rotation_actions`. :data:`ACTIONS`, here, names each
action's function and parameters: any other parameter is refused before the action
runs. Every action checks ``kms:<Action>`` on the secret's resource
(``acs:kms:<region>:<account>:secret/<name>``) before it reads or writes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rotor.api.dialects.aliyun import rotation_actions, secret_actions, version_actions
from rotor.api.dialects.aliyun.call import Call

Action = Callable[[Call], dict[str, Any]]

ACTIONS: dict[str, tuple[Action, frozenset[str]]] = {
    "CreateSecret": (
        secret_actions.create_secret,
        frozenset(
            {
                "SecretName",
                "VersionId",
                "SecretData",
                "SecretDataType",
                "SecretType",
                "Description",
                "EncryptionKeyId",
                "EnableAutomaticRotation",
                "RotationInterval",
                "Tags",
                "ExtendedConfig",
                "DKMSInstanceId",
                "Policy",
            }
        ),
    ),
    "GetSecretValue": (
        version_actions.get_secret_value,
        frozenset(
            {
                "SecretName",
                "VersionStage",
                "VersionId",
                "FetchExtendedConfig",
                "DryRun",
                "Recipient",
            }
        ),
    ),
    "PutSecretValue": (
        version_actions.put_secret_value,
        frozenset({"SecretName", "VersionId", "SecretData", "SecretDataType", "VersionStages"}),
    ),
    "UpdateSecretVersionStage": (
        version_actions.update_secret_version_stage,
        frozenset({"SecretName", "VersionStage", "MoveToVersion", "RemoveFromVersion"}),
    ),
    "GetRandomPassword": (
        version_actions.get_random_password,
        frozenset(
            {
                "PasswordLength",
                "ExcludeCharacters",
                "ExcludeLowercase",
                "ExcludeUppercase",
                "ExcludeNumbers",
                "ExcludePunctuation",
                "RequireEachIncludedType",
            }
        ),
    ),
    "DescribeSecret": (secret_actions.describe_secret, frozenset({"SecretName", "FetchTags"})),
    "ListSecrets": (
        secret_actions.list_secrets,
        frozenset({"PageNumber", "PageSize", "FetchTags", "Filters"}),
    ),
    "ListSecretVersionIds": (
        version_actions.list_secret_version_ids,
        frozenset({"SecretName", "IncludeDeprecated", "PageNumber", "PageSize"}),
    ),
    "UpdateSecret": (
        secret_actions.update_secret,
        frozenset(
            {
                "SecretName",
                "Description",
                secret_actions.CUSTOM_DATA,
                secret_actions.CUSTOM_DATA + ".",
            }
        ),
    ),
    "DeleteSecret": (
        secret_actions.delete_secret,
        frozenset({"SecretName", "ForceDeleteWithoutRecovery", "RecoveryWindowInDays"}),
    ),
    "RestoreSecret": (secret_actions.restore_secret, frozenset({"SecretName"})),
    "RotateSecret": (rotation_actions.rotate_secret, frozenset({"SecretName", "VersionId"})),
    "UpdateSecretRotationPolicy": (
        rotation_actions.update_secret_rotation_policy,
        frozenset({"SecretName", "EnableAutomaticRotation", "RotationInterval"}),
    ),
}
