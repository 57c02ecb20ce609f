"""The AWS dialect's operations, on rotor's store and its one read handler.

Each operation is a function of a :class:`~rotor.api.dialects.aws.call.Call` returning
the answer's JSON object: the value operations in
:mod:`~rotor.api.dialects.aws.value_operations`, the others in
:mod:`~rotor.api.dialects.aws.version_operations`. :data:`OPERATIONS`, here, names each
operation's function and fields: any other field is refused before it runs. Every
operation authorizes rotor's action for it (``kms:<Action>`` on the secret's resource,
the table in docs/reference/aws-api.md) before it reads or writes anything. An
operation of the AWS API not in :data:`OPERATIONS` answers ``InvalidRequestException``
saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rotor.api.dialects.aws import (
    rotation_operations,
    secret_operations,
    value_operations,
    version_operations,
)
from rotor.api.dialects.aws.call import Call

Operation = Callable[[Call], dict[str, Any]]

#: Each supported operation and the fields its request may carry.
OPERATIONS: dict[str, tuple[Operation, frozenset[str]]] = {
    "GetSecretValue": (
        value_operations.get_secret_value,
        frozenset({"SecretId", "VersionId", "VersionStage"}),
    ),
    "CreateSecret": (
        value_operations.create_secret,
        frozenset(
            {
                "Name",
                "ClientRequestToken",
                "Description",
                "SecretString",
                "SecretBinary",
                "Tags",
                "KmsKeyId",
                "AddReplicaRegions",
                "ForceOverwriteReplicaSecret",
            }
        ),
    ),
    "DescribeSecret": (version_operations.describe_secret, frozenset({"SecretId"})),
    "ListSecretVersionIds": (
        version_operations.list_secret_version_ids,
        frozenset({"SecretId", "MaxResults", "NextToken", "IncludeDeprecated"}),
    ),
    "UpdateSecretVersionStage": (
        version_operations.update_secret_version_stage,
        frozenset({"SecretId", "VersionStage", "MoveToVersionId", "RemoveFromVersionId"}),
    ),
    "DeleteSecret": (
        version_operations.delete_secret,
        frozenset({"SecretId", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery"}),
    ),
    "RestoreSecret": (version_operations.restore_secret, frozenset({"SecretId"})),
    "GetRandomPassword": (
        version_operations.get_random_password,
        frozenset(
            {
                "PasswordLength",
                "ExcludeCharacters",
                "ExcludeNumbers",
                "ExcludePunctuation",
                "ExcludeUppercase",
                "ExcludeLowercase",
                "IncludeSpace",
                "RequireEachIncludedType",
            }
        ),
    ),
    "ListSecrets": (
        secret_operations.list_secrets,
        frozenset(
            {"IncludePlannedDeletion", "MaxResults", "NextToken", "Filters", "SortOrder", "SortBy"}
        ),
    ),
    "BatchGetSecretValue": (
        secret_operations.batch_get_secret_value,
        frozenset({"SecretIdList", "Filters", "MaxResults", "NextToken"}),
    ),
    "UpdateSecret": (
        secret_operations.update_secret,
        frozenset(
            {
                "SecretId",
                "ClientRequestToken",
                "Description",
                "KmsKeyId",
                "SecretString",
                "SecretBinary",
            }
        ),
    ),
    "TagResource": (secret_operations.tag_resource, frozenset({"SecretId", "Tags"})),
    "UntagResource": (secret_operations.untag_resource, frozenset({"SecretId", "TagKeys"})),
    **{
        name: (secret_operations.refuse_resource_policy, fields)
        for name, fields in {
            "GetResourcePolicy": frozenset({"SecretId", "PolicyName"}),
            "PutResourcePolicy": frozenset(
                {"SecretId", "ResourcePolicy", "PolicyName", "BlockPublicPolicy"}
            ),
            "DeleteResourcePolicy": frozenset({"SecretId", "PolicyName"}),
            "ValidateResourcePolicy": frozenset({"SecretId", "ResourcePolicy"}),
            "ListResourcePolicies": frozenset({"SecretId", "MaxResults", "NextToken"}),
        }.items()
    },
    **{
        name: (secret_operations.refuse_replication, fields)
        for name, fields in {
            "ReplicateSecretToRegions": frozenset(
                {"SecretId", "AddReplicaRegions", "ForceOverwriteReplicaSecret"}
            ),
            "RemoveRegionsFromReplication": frozenset({"SecretId", "RemoveReplicaRegions"}),
            "StopReplicationToReplica": frozenset({"SecretId"}),
            "AssociateCrossAccountReplica": frozenset(
                {"SecretId", "CrossAccountReplicaARN", "ReplicaRestriction", "ReplicationRoleARN"}
            ),
            "DisassociateCrossAccountReplica": frozenset({"SecretId", "CrossAccountReplicaARN"}),
        }.items()
    },
    "PutSecretValue": (
        value_operations.put_secret_value,
        frozenset(
            {
                "SecretId",
                "ClientRequestToken",
                "SecretString",
                "SecretBinary",
                "VersionStages",
                "RotationToken",
            }
        ),
    ),
    **rotation_operations.OPERATIONS,
}
