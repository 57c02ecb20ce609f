"""The AWS dialect's value operations: create a secret, read and write its values.

``GetSecretValue`` goes through :func:`rotor.api.secret_reads.read`, as every
dialect's read does.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any

from rotor import errors
from rotor.api import secret_reads
from rotor.api.dialects.aws.call import Call
from rotor.api.dialects.aws.wire import AwsError, invalid_parameter, stage_in, stages_out, timestamp
from rotor.store import secrets as secrets_store
from rotor.store import stages, versions


def _value_out(value: str | bytes) -> dict[str, str]:
    if isinstance(value, bytes):
        return {"SecretBinary": base64.b64encode(value).decode()}
    return {"SecretString": value}


def get_secret_value(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    version_id = call.body.text("VersionId")
    stage_text = call.body.text("VersionStage")
    stage = stage_in(stage_text) if stage_text else (None if version_id else stages.CURRENT)
    # The read every dialect goes through: authorized, fetched and audited alike.
    read = secret_reads.Read(name, stage, version_id)
    value = secret_reads.read(call.store, call.settings, call.identity, read, call.audit)
    if stage is not None and version_id is not None and value.version_id != version_id:
        raise AwsError(
            "InvalidRequestException",
            f"The version {version_id} does not carry the stage {stage_text}.",
        )
    return value_entry(call, value)


def value_entry(call: Call, value: versions.SecretValue) -> dict[str, Any]:
    """A value read, as ``GetSecretValue`` and ``BatchGetSecretValue`` answer it."""
    return {
        "ARN": call.arn_of(value.name, value.arn_suffix),
        "Name": value.name,
        "VersionId": value.version_id,
        **_value_out(value.value),
        "VersionStages": stages_out(value.stages),
        "CreatedDate": timestamp(value.created_at),
    }


def create_secret(call: Call) -> dict[str, Any]:
    name = call.body.required("Name")
    call.authorize("kms:CreateSecret", name)
    value = call.value()
    version_id = call.body.text("ClientRequestToken")
    try:
        secret = secrets_store.create_secret(
            call.store,
            name=name,
            description=call.body.text("Description") or "",
            tags=call.tags() or {},
            value=value,
            version_id=version_id if value is not None else None,
        )
    except errors.SecretExists:
        # A retry of the same request (same token, same value) is answered as the first.
        if version_id is None or value is None or not _holds(call, name, version_id, value):
            raise
        secret = secrets_store.get_secret(call.store, name)
    answer: dict[str, Any] = {"ARN": call.arn(secret), "Name": secret.name}
    if value is not None:
        first = version_id or secret.stages[stages.CURRENT]
        call.audit["version_id"] = first
        answer["VersionId"] = first
    return answer


def _holds(call: Call, name: str, version_id: str, value: str | bytes) -> bool:
    """Whether the secret has a version ``version_id`` holding ``value``."""
    try:
        held = versions.get_value(call.store, name, version_id=version_id)
    except errors.RotorError:
        return False
    held_kind, held_raw = versions.check_value(held.value)
    kind, raw = versions.check_value(value)
    return held_kind == kind and hmac.compare_digest(held_raw, raw)


def put_secret_value(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:PutSecretValue", name)
    value = call.value()
    if value is None:
        raise invalid_parameter("SecretString", "give SecretString or SecretBinary")
    wanted = call.body.strings("VersionStages")
    chosen = [stage_in(s, "VersionStages") for s in wanted] if wanted is not None else None
    version = put_version(call, name, value, chosen)
    return {
        "ARN": call.arn_of(name),
        "Name": name,
        "VersionId": version.version_id,
        "VersionStages": stages_out(version.stages),
    }


def put_version(
    call: Call, name: str, value: str | bytes, on: list[str] | None = None
) -> versions.VersionInfo:
    """A new version of ``name`` holding ``value``, with the id ``ClientRequestToken``
    if given and the stages ``on`` (Current by default), as PutSecretValue and
    UpdateSecret write one; a token sent again with its value writes nothing."""
    version, _ = versions.put_value(
        call.store, name, value, version_id=call.body.text("ClientRequestToken"), stages=on
    )
    call.audit["version_id"] = version.version_id
    return version
