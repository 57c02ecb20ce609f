"""The KMS dialect's actions (version 2016-01-20), on rotor's store and rotation engine.

Each action is a function of a :class:`Call` returning the response body (without
``RequestId``). :data:`ACTIONS` names each action's parameters: any other is
refused before the action runs. Every action checks ``kms:<Action>`` on the
secret's resource (``acs:kms:<region>:<account>:secret/<name>``) before it reads
or writes anything.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

from rotor import errors
from rotor.access.keys import Identity, secret_resource
from rotor.api.dialects.aliyun.wire import (
    KmsError,
    Params,
    invalid,
    stage_in,
    stage_out,
    stages_out,
    timestamp,
)
from rotor.rotation import configuration, schedules
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store import deletion, passwords, rotation_configs, stages, versions
from rotor.store import secrets as secrets_store
from rotor.store.database import Store
from rotor.store.paging import MAX_PAGE_SIZE
from rotor.store.secrets import Secret

MIN_ROTATION_INTERVAL = 6 * schedules.HOUR
MAX_ROTATION_INTERVAL = 8760 * schedules.HOUR
FILTER_KEYS = frozenset(
    {"SecretName", "Description", "TagKey", "TagValue", "SecretType", "DKMSInstanceId", "Creator"}
)


@dataclasses.dataclass(kw_only=True)
class Call:
    """One request: who asks, with what, and what the server has to answer it."""

    identity: Identity
    params: Params
    settings: Settings
    engine: Engine
    scheduler: Scheduler
    #: What the audit event of this call records (secret name, version id).
    audit: dict[str, Any]

    @property
    def store(self) -> Store:
        return self.engine.store

    def arn(self, name: str) -> str:
        return secret_resource(name, region=self.settings.region, account=self.settings.account_id)

    def authorize(self, action: str, name: str | None = None) -> None:
        if name is not None:
            self.audit["secret_name"] = name
        self.identity.require(f"kms:{action}", self.arn(name) if name is not None else "*")

    def secret_name(self) -> str:
        """``SecretName``, given as a name or as the secret's ARN."""
        name = self.params.required("SecretName")
        if not name.startswith("acs:"):
            return name
        prefix = self.arn("")
        if not name.startswith(prefix):
            raise errors.NotFound(f"no secret {name}: this server's ARNs start with {prefix}")
        return name[len(prefix) :]


# -- values -----------------------------------------------------------------------------


def _decode(call: Call, kind_name: str = "SecretDataType") -> str | bytes:
    data = call.params.required("SecretData")
    kind = call.params.text(kind_name, versions.TEXT)
    if kind == versions.TEXT:
        return data
    if kind == versions.BINARY:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("SecretData", "binary data must be base64") from None
    raise invalid(kind_name, "expected text or binary")


def _encode(value: str | bytes) -> tuple[str, str]:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode(), versions.BINARY
    return value, versions.TEXT


def _extended_config(call: Call, name: str = "ExtendedConfig") -> dict[str, Any] | None:
    value = call.params.json(name)
    if value is not None and not isinstance(value, dict):
        raise invalid(name, "expected a JSON object")
    return value


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


def _tags_out(secret: Secret) -> dict[str, list[dict[str, str]]]:
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in sorted(secret.tags.items())]}


def _rotation_fields(call: Call, name: str) -> dict[str, str]:
    config = rotation_configs.get_config(call.store, name)
    if config is None:
        return {"AutomaticRotation": "Disabled"}
    out = {"AutomaticRotation": "Enabled" if config.enabled else "Disabled"}
    if config.interval_seconds is not None:
        out["RotationInterval"] = f"{config.interval_seconds}s"
    if config.last_rotated_at is not None:
        out["LastRotationDate"] = timestamp(config.last_rotated_at)
    if config.enabled and config.next_rotation_at is not None:
        out["NextRotationDate"] = timestamp(config.next_rotation_at)
    return out


def _extended_out(secret: Secret) -> dict[str, str]:
    if secret.extended_config is None:
        return {}
    return {"ExtendedConfig": json.dumps(secret.extended_config, separators=(",", ":"))}


# -- actions ----------------------------------------------------------------------------


def create_secret(call: Call) -> dict[str, Any]:
    name = call.params.required("SecretName")
    call.authorize("CreateSecret", name)
    version_id = call.params.required("VersionId")
    value = _decode(call)
    enable = call.params.boolean("EnableAutomaticRotation")
    if enable:
        raise KmsError(
            "UnsupportedOperation",
            "Automatic rotation needs a rotation function; create the secret, configure its "
            "function (rotor rotation enable), then call UpdateSecretRotationPolicy.",
        )
    _interval(call)  # checked, though only UpdateSecretRotationPolicy can use it
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
        extended_config=_extended_config(call),
    )
    call.audit["version_id"] = version_id
    return {
        "Arn": call.arn(name),
        "SecretName": name,
        "SecretType": secret.secret_type,
        "VersionId": version_id,
        "AutomaticRotation": "Disabled",
        **_extended_out(secret),
    }


def get_secret_value(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("GetSecretValue", name)
    version_id = call.params.text("VersionId")
    stage_text = call.params.text("VersionStage")
    if call.params.boolean("DryRun"):
        return {"SecretName": name}
    stage = stage_in(stage_text) if stage_text else (None if version_id else stages.CURRENT)
    value = versions.get_value(call.store, name, stage=stage, version_id=version_id)
    call.audit["version_id"] = value.version_id
    data, kind = _encode(value.value)
    body: dict[str, Any] = {
        "SecretName": name,
        "VersionId": value.version_id,
        "SecretData": data,
        "SecretDataType": kind,
        "SecretType": value.secret_type,
        "VersionStages": stages_out(value.stages),
        "CreateTime": timestamp(value.created_at),
        **_rotation_fields(call, name),
    }
    if call.params.boolean("FetchExtendedConfig"):
        body.update(_extended_out(secrets_store.get_secret(call.store, name)))
    return body


def put_secret_value(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("PutSecretValue", name)
    version_id = call.params.required("VersionId")
    value = _decode(call)
    wanted = call.params.json("VersionStages")
    if isinstance(wanted, dict) and set(wanted) == {"VersionStage"}:
        wanted = wanted["VersionStage"]
    if wanted is not None and (
        not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted)
    ):
        raise invalid("VersionStages", 'expected a JSON list of stage names, e.g. ["ACSPending"]')
    chosen = [stage_in(s, "VersionStages") for s in wanted] if wanted is not None else None
    version, _ = versions.put_value(call.store, name, value, version_id=version_id, stages=chosen)
    call.audit["version_id"] = version.version_id
    return {
        "SecretName": name,
        "VersionId": version.version_id,
        "VersionStages": stages_out(version.stages),
    }


def update_secret_version_stage(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("UpdateSecretVersionStage", name)
    stage = stage_in(call.params.required("VersionStage"))
    move_to = call.params.text("MoveToVersion")
    remove_from = call.params.text("RemoveFromVersion")
    if move_to is None and remove_from is None:
        raise KmsError("MissingParameter", 'Give "MoveToVersion", "RemoveFromVersion" or both.')
    if stage in (stages.CURRENT, stages.PREVIOUS) and move_to is None:
        raise invalid(
            "VersionStage", f"{stage_out(stage)} cannot be removed, only moved (MoveToVersion)"
        )
    stages.update_stage(
        call.store, name, stage, move_to_version=move_to, remove_from_version=remove_from
    )
    call.audit["version_id"] = move_to or remove_from
    return {"SecretName": name}


def get_random_password(call: Call) -> dict[str, Any]:
    call.authorize("GetRandomPassword")
    p = call.params
    password = passwords.generate_password(
        length=p.integer(
            "PasswordLength", passwords.DEFAULT_LENGTH, passwords.MIN_LENGTH, passwords.MAX_LENGTH
        ),
        exclude_characters=p.text("ExcludeCharacters", "") or "",
        exclude_lowercase=p.boolean("ExcludeLowercase"),
        exclude_uppercase=p.boolean("ExcludeUppercase"),
        exclude_numbers=p.boolean("ExcludeNumbers"),
        exclude_punctuation=p.boolean("ExcludePunctuation"),
        require_each_included_type=p.boolean("RequireEachIncludedType", default=True),
    )
    return {"RandomPassword": password}


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
        **_rotation_fields(call, secret.name),
        **_extended_out(secret),
    }


def describe_secret(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("DescribeSecret", name)
    secret = secrets_store.get_secret(call.store, name)
    body = _describe(call, secret)
    if call.params.boolean("FetchTags"):
        body["Tags"] = _tags_out(secret)
    return body


def _all_secrets(call: Call) -> Iterator[Secret]:
    token = None
    while True:
        page = secrets_store.list_secrets(
            call.store, page_size=MAX_PAGE_SIZE, page_token=token, include_pending_deletion=True
        )
        yield from page.items
        token = page.next_page_token
        if token is None:
            return


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


def _page(call: Call, default_size: int) -> tuple[int, int]:
    number = call.params.integer("PageNumber", 1, 1, 1_000_000)
    size = call.params.integer("PageSize", default_size, 1, 100)
    return number, size


def list_secrets(call: Call) -> dict[str, Any]:
    call.audit["action"] = "kms:ListSecrets"
    number, size = _page(call, 10)
    keep = _filter(call)
    fetch_tags = call.params.boolean("FetchTags")
    shown = [
        s
        for s in _all_secrets(call)
        if keep(s) and call.identity.allows("kms:ListSecrets", call.arn(s.name))
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
            item["Tags"] = _tags_out(secret)
        items.append(item)
    return {
        "PageNumber": number,
        "PageSize": size,
        "TotalCount": len(shown),
        "SecretList": {"Secret": items},
    }


def list_secret_version_ids(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("ListSecretVersionIds", name)
    number, size = _page(call, 20)
    include_all = call.params.boolean("IncludeDeprecated")
    found = []
    token = None
    while True:
        page = versions.list_versions(call.store, name, page_size=MAX_PAGE_SIZE, page_token=token)
        found += [v for v in page.items if include_all or v.stages]
        token = page.next_page_token
        if token is None:
            break
    return {
        "SecretName": name,
        "PageNumber": number,
        "PageSize": size,
        "TotalCount": len(found),
        "VersionIds": {
            "VersionId": [
                {
                    "VersionId": v.version_id,
                    "CreateTime": timestamp(v.created_at),
                    "VersionStages": stages_out(v.stages),
                }
                for v in found[(number - 1) * size : number * size]
            ]
        },
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


def _no_function(name: str) -> KmsError:
    return KmsError(
        "UnsupportedOperation",
        f"Secret {name!r} has no rotation function; configure one first "
        f"(rotor rotation enable {name} --function ...).",
    )


def rotate_secret(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("RotateSecret", name)
    version_id = call.params.required("VersionId")
    versions.validate_version_id(version_id)
    if rotation_configs.get_config(call.store, name) is None:
        raise _no_function(name)
    rotation, _ = call.scheduler.rotate(
        name, started_by=f"principal {call.identity.principal_name}", version_id=version_id
    )
    call.audit["version_id"] = rotation.version_id
    return {"SecretName": name, "VersionId": rotation.version_id, "Arn": call.arn(name)}


def _interval(call: Call) -> str | None:
    text = call.params.text("RotationInterval")
    if text is None:
        return None
    try:
        seconds = schedules.parse_duration(text)
    except errors.InvalidParameter:
        raise invalid(
            "RotationInterval", "expected a whole number with d, h, m or s, e.g. 7d or 604800s"
        ) from None
    if not MIN_ROTATION_INTERVAL <= seconds <= MAX_ROTATION_INTERVAL:
        raise invalid("RotationInterval", "must be from 6h to 8760h")
    return f"{seconds}s"


def update_secret_rotation_policy(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("UpdateSecretRotationPolicy", name)
    enable = call.params.boolean("EnableAutomaticRotation")
    every = _interval(call)
    secrets_store.get_secret(call.store, name)  # unknown secret: not found, before anything
    existing = rotation_configs.get_config(call.store, name)
    if existing is None:
        raise _no_function(name)
    if not enable:
        configuration.disable(call.engine, name)
        return {"SecretName": name}
    if every is None and existing.interval_seconds is None and existing.cron is None:
        raise KmsError("MissingParameter", 'Give "RotationInterval" to enable automatic rotation.')
    configuration.configure(
        call.engine,
        name,
        configuration.RotationRequest(
            enabled=True, every=every, rotate_now=False, dry_run=not existing.enabled
        ),
        identity=call.identity,
        started_by=f"principal {call.identity.principal_name}",
    )
    return {"SecretName": name}


Action = Callable[[Call], dict[str, Any]]

#: Every action: its function and the parameters it takes (the signature protocol's
#: own and ``RegionId`` are always allowed). A name ending in ``.`` is an object the tea
#: SDK flattens into one parameter per key (``ExtendedConfig.CustomData.owner``).
ACTIONS: dict[str, tuple[Action, frozenset[str]]] = {
    "CreateSecret": (
        create_secret,
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
        get_secret_value,
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
        put_secret_value,
        frozenset({"SecretName", "VersionId", "SecretData", "SecretDataType", "VersionStages"}),
    ),
    "UpdateSecretVersionStage": (
        update_secret_version_stage,
        frozenset({"SecretName", "VersionStage", "MoveToVersion", "RemoveFromVersion"}),
    ),
    "GetRandomPassword": (
        get_random_password,
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
    "DescribeSecret": (describe_secret, frozenset({"SecretName", "FetchTags"})),
    "ListSecrets": (list_secrets, frozenset({"PageNumber", "PageSize", "FetchTags", "Filters"})),
    "ListSecretVersionIds": (
        list_secret_version_ids,
        frozenset({"SecretName", "IncludeDeprecated", "PageNumber", "PageSize"}),
    ),
    "UpdateSecret": (
        update_secret,
        frozenset({"SecretName", "Description", CUSTOM_DATA, CUSTOM_DATA + "."}),
    ),
    "DeleteSecret": (
        delete_secret,
        frozenset({"SecretName", "ForceDeleteWithoutRecovery", "RecoveryWindowInDays"}),
    ),
    "RestoreSecret": (restore_secret, frozenset({"SecretName"})),
    "RotateSecret": (rotate_secret, frozenset({"SecretName", "VersionId"})),
    "UpdateSecretRotationPolicy": (
        update_secret_rotation_policy,
        frozenset({"SecretName", "EnableAutomaticRotation", "RotationInterval"}),
    ),
}
