"""The KMS dialect's wire conventions: parameters, stage names, times and errors.

Everything arrives as text (query or form parameters); booleans in any case
(``True`` from the V1 SDK, ``true`` from others), lists and objects as JSON
text. Errors are ``{"RequestId", "HostId", "Code", "Message"}``
with the cloud's codes and statuses; rotor's own errors are translated here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rotor import errors
from rotor.access.aliyun_request_parts import SignatureRejected
from rotor.access.keys import KeyRefused
from rotor.store import stages

API_VERSION = "2016-01-20"
HOST_ID = "kms.rotor"

#: The dialect's stage names and the store's.
STAGES_IN = {
    "ACSCurrent": stages.CURRENT,
    "ACSPending": stages.PENDING,
    "ACSPrevious": stages.PREVIOUS,
}
STAGES_OUT = {store: acs for acs, store in STAGES_IN.items()}


class KmsError(Exception):
    """An error answered in the dialect's shape."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def missing(name: str) -> KmsError:
    return KmsError(
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
    )


def invalid(name: str, why: str) -> KmsError:
    return KmsError("InvalidParameter", f'The parameter "{name}" is invalid: {why}')


#: rotor error class -> (code, status), most specific first.
_TRANSLATIONS: tuple[tuple[type[errors.RotorError], str, int], ...] = (
    (errors.SecretExists, "Rejected.ResourceExist", 400),
    (errors.VersionConflict, "Rejected.ResourceExist", 400),
    (errors.SecretPendingDeletion, "Rejected.ResourceInDeletion", 400),
    (errors.RotationInProgress, "Rejected.RotationInProgress", 400),
    (errors.NotFound, "Forbidden.ResourceNotFound", 404),
    (errors.RequestTooLarge, "RequestTooLarge", 413),
    (errors.ValueTooLarge, "InvalidParameter", 400),
    (errors.InvalidRequest, "InvalidParameter", 400),
    (errors.Conflict, "Rejected.Conflict", 400),
    (errors.ServiceUnavailable, "ServiceUnavailableTemporary", 503),
)
_KEY_REFUSALS = {
    "disabled": ("InvalidAccessKeyId.Inactive", "Specified access key is disabled.", 400),
    "expired": ("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.", 400),
    "token-missing": ("MissingSecurityToken", "SecurityToken is mandatory for this key.", 400),
    "token-mismatch": (
        "InvalidSecurityToken.MismatchWithAccessKey",
        "Specified SecurityToken mismatch with the AccessKey.",
        400,
    ),
}


def translate(error: Exception) -> KmsError:
    """An error as the dialect answers it; internal errors say nothing more."""
    if isinstance(error, KmsError):
        return error
    if isinstance(error, SignatureRejected):
        return KmsError(error.acs_code, error.message, error.acs_status)
    if isinstance(error, KeyRefused):
        return KmsError(*_KEY_REFUSALS[error.reason])
    if isinstance(error, errors.Unauthenticated):
        return KmsError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    if isinstance(error, errors.AccessDenied):
        return KmsError(
            "Forbidden.NoPermission",
            f"This operation is forbidden by permission system: {error.message}",
            403,
        )
    for kind, code, status in _TRANSLATIONS:
        if isinstance(error, kind):
            return KmsError(code, str(error), status)
    return KmsError(
        "InternalFailure", "The request processing has failed due to some unknown error.", 500
    )


def error_body(error: KmsError, request_id: str) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "HostId": HOST_ID,
        "Code": error.code,
        "Message": error.message,
    }


def timestamp(value: dt.datetime | None) -> str:
    """``2024-01-02T03:04:05Z``, or "" for no time."""
    return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stage_out(stage: str) -> str:
    return STAGES_OUT.get(stage, stage)


def stages_out(names: Iterable[str]) -> dict[str, list[str]]:
    """The wrapped list every stage list is sent as."""
    return {"VersionStage": [stage_out(s) for s in names]}


def stage_in(stage: str, name: str = "VersionStage") -> str:
    """A stage as the store names it. rotor's own spellings are refused here: in this
    dialect ``Current`` would be a custom stage, which the store cannot tell apart."""
    if stage in STAGES_IN:
        return STAGES_IN[stage]
    if stage.lower() in {s.lower() for s in stages.RESERVED}:
        raise invalid(
            name, f"stage {stage!r} is reserved; use ACSCurrent, ACSPending or ACSPrevious"
        )
    return stages.validate_stage(stage)


class Params:
    """An action's parameters, read by kind. Absent and empty mean the same."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return value if value else default

    def required(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise missing(name)
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if not value:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid(name, f"expected true or false, got {value!r}")
        return lowered == "true"

    def optional_boolean(self, name: str) -> bool | None:
        return self.boolean(name) if self.values.get(name) else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.values.get(name)
        if not value:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise invalid(name, f"expected a whole number from {low} to {high}, got {value!r}")
        return int(value)

    def json(self, name: str) -> Any:
        """The parsed JSON value, or None when absent."""
        value = self.values.get(name)
        if not value:
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise invalid(name, "it is not valid JSON") from None
