"""The KMS dialect's secret actions: create, describe, list, update, delete, restore;
and the secret fields other actions answer with (tags, extended configuration).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rotor.api.dialects.aliyun import rotation_actions
from rotor.api.dialects.aliyun.call import Call
from rotor.api.dialects.aliyun.wire import KmsError, Params, invalid, timestamp
from rotor.store import deletion
from rotor.store import secrets as secrets_store
from rotor.store.secrets import Secret

FILTER_KEYS = frozenset(
    {"SecretName", "Description", "TagKey", "TagValue", "SecretType", "DKMSInstanceId", "Creator"}
)


def extended_config(call: Call, name: str = "ExtendedConfig") -> dict[str, Any] | None:
    value = call.params.json(name)
    if value is not None and not isinstance(value, dict):
        raise invalid(name, "expected a JSON object")
    return value


def extended_out(secret: Secret) -> dict[str, str]:
    if secret.extended_config is None:
        return {}
    return {"ExtendedConfig": json.dumps(secret.extended_config, separators=(",", ":"))}


def _tags(call: Call) -> dict[str, str]:
    value = call.params.json("Tags")
    if value is None:
        return {}
    if not isinstance(value, list):
        raise invalid("Tags", 'expected [{"TagKey": ..., "TagValue": ...}]')
    tags = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("TagKey"), str):
            raise invalid("Tags", 'expected [{"TagKey": ..., "TagValue": ...}]')
        tags[item["TagKey"]] = str(item.get("TagValue", ""))
    return tags


def tags_out(secret: Secret) -> dict[str, list[dict[str, str]]]:
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in sorted(secret.tags.items())]}


def create_secret(call: Call) -> dict[str, Any]:
    name = call.params.required("SecretName")
    call.authorize("CreateSecret", name)
    version_id = call.params.required("VersionId")
    value = call.secret_data()
    enable = call.params.boolean("EnableAutomaticRotation")
    if enable:
        raise KmsError(
            "UnsupportedOperation",
            "Automatic rotation needs a rotation function; create the secret, configure its "
            "function (rotor rotation enable), then call UpdateSecretRotationPolicy.",
        )
    rotation_actions.interval(call)  # checked, though only UpdateSecretRotationPolicy can use it
    for unsupported in ("DKMSInstanceId", "Policy"):
        if call.params.text(unsupported):
            raise KmsError(
                "UnsupportedOperation",
                f'"{unsupported}" is not supported: rotor has no dedicated KMS instances '
                "or secret policies; use rotor's policies instead.",
            )
    secret = secrets_store.create_secret(
        call.store,
        name=name,
        secret_type=call.params.text("SecretType", "Generic") or "Generic",
        description=call.params.text("Description", "") or "",
        tags=_tags(call),
        value=value,
        version_id=version_id,
        extended_config=extended_config(call),
    )
    call.audit["version_id"] = version_id
    return {
        "Arn": call.arn(name),
        "SecretName": name,
        "SecretType": secret.secret_type,
        "VersionId": version_id,
        "AutomaticRotation": "Disabled",
        **extended_out(secret),
    }


def _describe(call: Call, secret: Secret) -> dict[str, Any]:
    return {
        "Arn": call.arn(secret.name),
        "SecretName": secret.name,
        "SecretType": secret.secret_type,
        "Description": secret.description,
        "CreateTime": timestamp(secret.created_at),
        "UpdateTime": timestamp(secret.updated_at),
        "PlannedDeleteTime": timestamp(secret.delete_after),
        "EncryptionKeyId": "",
        "OwingService": "",
        "DKMSInstanceId": "",
        **rotation_actions.rotation_fields(call, secret.name),
        **extended_out(secret),
    }


def describe_secret(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("DescribeSecret", name)
    secret = secrets_store.get_secret(call.store, name)
    body = _describe(call, secret)
    if call.params.boolean("FetchTags"):
        body["Tags"] = tags_out(secret)
    return body


def _filter(call: Call) -> Callable[[Secret], bool]:
    filters = call.params.json("Filters") or []
    if not isinstance(filters, list):
        raise invalid("Filters", 'expected [{"Key": ..., "Values": [...]}]')
    checks: list[Callable[[Secret], bool]] = []
    for item in filters:
        if (
            not isinstance(item, dict)
            or item.get("Key") not in FILTER_KEYS
            or not isinstance(item.get("Values"), list)
            or not all(isinstance(v, str) for v in item["Values"])
        ):
            raise invalid(
                "Filters",
                f"each filter is {{'Key': one of {sorted(FILTER_KEYS)}, 'Values': [text, ...]}}",
            )
        checks.append(_one_filter(item["Key"], item["Values"]))
    return lambda secret: all(check(secret) for check in checks)


def _one_filter(key: str, values: list[str]) -> Callable[[Secret], bool]:
    if key == "SecretName":
        return lambda s: any(v in s.name for v in values)
    if key == "Description":
        return lambda s: any(v in s.description for v in values)
    if key == "TagKey":
        return lambda s: any(v in s.tags for v in values)
    if key == "TagValue":
        return lambda s: any(v in s.tags.values() for v in values)
    if key == "SecretType":
        return lambda s: s.secret_type in values
    # rotor has no dedicated KMS instances and records no creator: only "" matches.
    return lambda s: "" in values


def list_secrets(call: Call) -> dict[str, Any]:
    call.audit["action"] = "kms:ListSecrets"
    number, size = call.page(10)
    keep = _filter(call)
    fetch_tags = call.params.boolean("FetchTags")
    shown = [
        s
        for s in secrets_store.every_secret(call.store, include_pending_deletion=True)
        if keep(s)
        and call.identity.allows(
            "kms:ListSecrets",
            call.arn(s.name),
            arn=secrets_store.aws_arn(
                s.name, s.arn_suffix, region=call.settings.region, account=call.settings.account_id
            ),
        )
    ]
    items = []
    for secret in shown[(number - 1) * size : number * size]:
        item: dict[str, Any] = {
            "SecretName": secret.name,
            "SecretType": secret.secret_type,
            "CreateTime": timestamp(secret.created_at),
            "UpdateTime": timestamp(secret.updated_at),
            "PlannedDeleteTime": timestamp(secret.delete_after),
            "OwingService": "",
        }
        if fetch_tags:
            item["Tags"] = tags_out(secret)
        items.append(item)
    return {
        "PageNumber": number,
        "PageSize": size,
        "TotalCount": len(shown),
        "SecretList": {"Secret": items},
    }


def update_secret(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("UpdateSecret", name)
    description = call.params.text("Description")
    custom = _custom_data(call.params)
    extended = None
    if custom is not None:
        if not isinstance(custom, dict):
            raise invalid("ExtendedConfig.CustomData", "expected a JSON object")
        current = secrets_store.get_secret(call.store, name).extended_config or {}
        extended = {**current, "CustomData": custom}
    if description is None and extended is None:
        raise KmsError("MissingParameter", 'Give "Description" or "ExtendedConfig.CustomData".')
    secrets_store.update_secret(call.store, name, description=description, extended_config=extended)
    return {"SecretName": name}


CUSTOM_DATA = "ExtendedConfig.CustomData"


def _custom_data(params: Params) -> Any:
    """``ExtendedConfig.CustomData``: JSON text (V1 SDK), or flattened into one parameter
    per key, ``ExtendedConfig.CustomData.owner=team-a`` (tea SDK; nested keys go deeper)."""
    flat = {k: v for k, v in params.values.items() if k.startswith(CUSTOM_DATA + ".")}
    if not flat:
        return params.json(CUSTOM_DATA)
    if params.text(CUSTOM_DATA):
        raise invalid(CUSTOM_DATA, "give it as JSON or as flattened keys, not both")
    data: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        *parents, leaf = key[len(CUSTOM_DATA) + 1 :].split(".")
        node = data
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise invalid(key, "conflicts with another CustomData key")
            node = child
        if not leaf or isinstance(node.get(leaf), dict):
            raise invalid(key, "conflicts with another CustomData key")
        node[leaf] = value
    return data


def delete_secret(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("DeleteSecret", name)
    force = call.params.boolean("ForceDeleteWithoutRecovery")
    days_text = call.params.text("RecoveryWindowInDays")
    if force and days_text:
        raise invalid(
            "RecoveryWindowInDays", "give it or ForceDeleteWithoutRecovery=true, not both"
        )
    days = None
    if days_text:
        days = call.params.integer(
            "RecoveryWindowInDays",
            deletion.DEFAULT_RECOVERY_DAYS,
            deletion.MIN_RECOVERY_DAYS,
            deletion.MAX_RECOVERY_DAYS,
        )
    when = deletion.delete_secret(call.store, name, recovery_days=days, force=force)
    return {"SecretName": name, "PlannedDeleteTime": timestamp(when)}


def restore_secret(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("RestoreSecret", name)
    deletion.restore_secret(call.store, name)
    return {"SecretName": name}
