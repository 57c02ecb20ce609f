"""The KMS dialect's value actions: a secret's versions and their stages (get, put,
list, move a stage), and random passwords.
"""

from __future__ import annotations

import base64
from typing import Any

from rotor.api import secret_reads
from rotor.api.dialects.aliyun import rotation_actions, secret_actions
from rotor.api.dialects.aliyun.call import Call
from rotor.api.dialects.aliyun.wire import (
    KmsError,
    invalid,
    stage_in,
    stage_out,
    stages_out,
    timestamp,
)
from rotor.store import passwords, stages, versions
from rotor.store import secrets as secrets_store
from rotor.store.paging import MAX_PAGE_SIZE


def _encode(value: str | bytes) -> tuple[str, str]:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode(), versions.BINARY
    return value, versions.TEXT


def get_secret_value(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    version_id = call.params.text("VersionId")
    stage_text = call.params.text("VersionStage")
    if call.params.boolean("DryRun"):
        call.authorize("GetSecretValue", name)
        return {"SecretName": name}
    stage = stage_in(stage_text) if stage_text else (None if version_id else stages.CURRENT)
    # The read every dialect goes through: authorized, fetched and audited alike; the
    # rotation fields come with the value, in the same query.
    read = secret_reads.Read(name, stage, version_id)
    value = secret_reads.read(
        call.store, call.settings, call.identity, read, call.audit, with_rotation=True
    )
    data, kind = _encode(value.value)
    body: dict[str, Any] = {
        "SecretName": name,
        "VersionId": value.version_id,
        "SecretData": data,
        "SecretDataType": kind,
        "SecretType": value.secret_type,
        "VersionStages": stages_out(value.stages),
        "CreateTime": timestamp(value.created_at),
        **rotation_actions.schedule_fields(value.rotation),
    }
    if call.params.boolean("FetchExtendedConfig"):
        body.update(secret_actions.extended_out(secrets_store.get_secret(call.store, name)))
    return body


def put_secret_value(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("PutSecretValue", name)
    version_id = call.params.required("VersionId")
    value = call.secret_data()
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


def list_secret_version_ids(call: Call) -> dict[str, Any]:
    name = call.secret_name()
    call.authorize("ListSecretVersionIds", name)
    number, size = call.page(20)
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
