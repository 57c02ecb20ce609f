"""The AWS dialect's operations on a secret's description, versions, stages and
deletion, and random passwords: each over the store call the other dialects use.
"""

from __future__ import annotations

from typing import Any

from rotor.api.dialects.aws import rotation_operations
from rotor.api.dialects.aws.call import Call
from rotor.api.dialects.aws.wire import AwsError, invalid_parameter, stage_in, stages_out, timestamp
from rotor.store import deletion, passwords, stages, versions
from rotor.store import secrets as secrets_store
from rotor.store.paging import MAX_PAGE_SIZE
from rotor.store.secrets import Secret


def secret_fields(call: Call, secret: Secret) -> dict[str, Any]:
    """What ``DescribeSecret`` and each ``ListSecrets`` entry say of a secret, but its
    versions' stages and rotation (:func:`rotation_operations.describe_rotation`)."""
    answer: dict[str, Any] = {
        "ARN": call.arn(secret),
        "Name": secret.name,
        "Description": secret.description,
        "CreatedDate": timestamp(secret.created_at),
        "LastChangedDate": timestamp(secret.updated_at),
        "Tags": [{"Key": k, "Value": v} for k, v in secret.tags.items()],
    }
    if secret.delete_after is not None:
        answer["DeletedDate"] = timestamp(secret.delete_after)
    return answer


def describe_secret(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:DescribeSecret", name)
    secret = secrets_store.get_secret(call.store, name)
    return {**secret_fields(call, secret), **rotation_operations.describe_rotation(call, secret)}


def list_secret_version_ids(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:ListSecretVersionIds", name)
    size = call.body.integer("MaxResults", 1, MAX_PAGE_SIZE) or MAX_PAGE_SIZE
    page = versions.list_versions(
        call.store, name, page_size=size, page_token=call.body.text("NextToken")
    )
    answer: dict[str, Any] = {
        "ARN": call.arn_of(name),
        "Name": name,
        "Versions": [
            {
                "VersionId": v.version_id,
                "VersionStages": stages_out(v.stages),
                "CreatedDate": timestamp(v.created_at),
            }
            for v in page.items
            if v.stages or call.body.flag("IncludeDeprecated")
        ],
    }
    if page.next_page_token:
        answer["NextToken"] = page.next_page_token
    return answer


def update_secret_version_stage(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:UpdateSecretVersionStage", name)
    stage = stage_in(call.body.required("VersionStage"))
    move_to = call.body.text("MoveToVersionId")
    remove_from = call.body.text("RemoveFromVersionId")
    if move_to is None and remove_from is None:
        raise invalid_parameter(
            "MoveToVersionId", "give MoveToVersionId, RemoveFromVersionId or both"
        )
    if stage == stages.CURRENT and move_to is None:
        raise AwsError(
            "InvalidParameterException",
            "You can only move staging label AWSCURRENT to a different secret version. "
            "It can't be completely removed.",
        )
    stages.update_stage(
        call.store, name, stage, move_to_version=move_to, remove_from_version=remove_from
    )
    call.audit["version_id"] = move_to or remove_from
    return {"ARN": call.arn_of(name), "Name": name}


def delete_secret(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:DeleteSecret", name)
    days = call.body.integer("RecoveryWindowInDays", 7, 30)
    force = call.body.flag("ForceDeleteWithoutRecovery")
    if force and days is not None:
        raise invalid_parameter(
            "RecoveryWindowInDays",
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        )
    arn = call.arn_of(name)  # before a forced deletion takes the secret away
    when = deletion.delete_secret(call.store, name, recovery_days=days, force=force)
    return {"ARN": arn, "Name": name, "DeletionDate": timestamp(when)}


def restore_secret(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:RestoreSecret", name)
    deletion.restore_secret(call.store, name)
    return {"ARN": call.arn_of(name), "Name": name}


def get_random_password(call: Call) -> dict[str, Any]:
    call.authorize("kms:GetRandomPassword", None)
    password = passwords.generate_password(
        length=call.body.integer("PasswordLength", 1, 4096) or 32,
        exclude_characters=call.body.text("ExcludeCharacters") or "",
        exclude_uppercase=call.body.flag("ExcludeUppercase"),
        exclude_lowercase=call.body.flag("ExcludeLowercase"),
        exclude_numbers=call.body.flag("ExcludeNumbers"),
        exclude_punctuation=call.body.flag("ExcludePunctuation"),
        include_space=call.body.flag("IncludeSpace"),
        require_each_included_type=call.body.flag("RequireEachIncludedType", default=True),
    )
    return {"RandomPassword": password}
