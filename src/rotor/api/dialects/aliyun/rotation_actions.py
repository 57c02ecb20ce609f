"""The KMS dialect's rotation actions (RotateSecret, UpdateSecretRotationPolicy) and
the rotation fields other actions answer with.

RotateSecret's ``VersionId`` is an idempotency key; the rules are the engine's, the
same for every dialect (:mod:`rotor.rotation.engine`), and the rotation starts and
runs through :meth:`rotor.rotation.scheduler.Scheduler.rotate`.
"""

from __future__ import annotations

from typing import Any

from rotor import errors
from rotor.api.dialects.aliyun.call import Call
from rotor.api.dialects.aliyun.wire import KmsError, invalid, timestamp
from rotor.rotation import configuration, schedules
from rotor.store import rotation_configs, versions
from rotor.store import secrets as secrets_store

MIN_ROTATION_INTERVAL = 6 * schedules.HOUR
MAX_ROTATION_INTERVAL = 8760 * schedules.HOUR


def rotation_fields(call: Call, name: str) -> dict[str, str]:
    return schedule_fields(rotation_configs.get_config(call.store, name))


def schedule_fields(
    schedule: rotation_configs.RotationConfig | rotation_configs.RotationSchedule | None,
) -> dict[str, str]:
    """The rotation fields the KMS API answers, of a configuration (or of the schedule a
    value's read fetched with it)."""
    if schedule is None:
        return {"AutomaticRotation": "Disabled"}
    out = {"AutomaticRotation": "Enabled" if schedule.enabled else "Disabled"}
    if schedule.interval_seconds is not None:
        out["RotationInterval"] = f"{schedule.interval_seconds}s"
    if schedule.last_rotated_at is not None:
        out["LastRotationDate"] = timestamp(schedule.last_rotated_at)
    if schedule.enabled and schedule.next_rotation_at is not None:
        out["NextRotationDate"] = timestamp(schedule.next_rotation_at)
    return out


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


def interval(call: Call) -> str | None:
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
    every = interval(call)
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
