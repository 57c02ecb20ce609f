"""The AWS dialect's wire conventions: JSON 1.1 bodies, stage names, times and errors.

A request is a JSON object; an answer is a JSON object, or on failure
``{"__type": "<type>", "message": "..."}`` with the status AWS answers that type
with (400 for every client error, 500 for ``InternalServiceError``), so the SDKs
raise the same exception classes and retry the same errors. rotor's own errors are
translated here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from rotor import errors
from rotor.access.aws_signature import AwsSignatureRejected
from rotor.access.keys import KeyRefused
from rotor.store import stages

CONTENT_TYPE = b"application/x-amz-json-1.1"

#: The dialect's stage names and the store's.
STAGES_IN = {
    "AWSCURRENT": stages.CURRENT,
    "AWSPENDING": stages.PENDING,
    "AWSPREVIOUS": stages.PREVIOUS,
}
STAGES_OUT = {store: aws for aws, store in STAGES_IN.items()}


class AwsError(Exception):
    """An error answered in the dialect's shape."""

    def __init__(self, aws_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.aws_type = aws_type
        self.message = message
        self.status = status


def invalid_parameter(name: str, why: str) -> AwsError:
    return AwsError("InvalidParameterException", f"Invalid parameter {name}: {why}")


def missing(name: str) -> AwsError:
    return AwsError("InvalidParameterException", f"The parameter {name} is required.")


#: The error a policy's refusal answers (the audit trail counts it as denied).
ACCESS_DENIED = "AccessDeniedException"

#: rotor error class -> __type, most specific first (every one answers 400).
_TRANSLATIONS: tuple[tuple[type[errors.RotorError], str], ...] = (
    (errors.SecretExists, "ResourceExistsException"),
    (errors.VersionConflict, "ResourceExistsException"),
    (errors.SecretPendingDeletion, "InvalidRequestException"),
    (errors.NotFound, "ResourceNotFoundException"),
    (errors.ValueTooLarge, "InvalidParameterException"),
    (errors.RequestTooLarge, "InvalidRequestException"),
    (errors.InvalidRequest, "InvalidParameterException"),
    (errors.Conflict, "InvalidRequestException"),
    (errors.DecryptionFailed, "DecryptionFailure"),
)
_KEY_REFUSALS = {
    "disabled": (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
    "expired": ("ExpiredTokenException", "The security token included in the request is expired"),
    "token-missing": (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
    "token-mismatch": (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
}


def translate(error: Exception) -> AwsError:
    """An error as the dialect answers it; internal errors say nothing more."""
    if isinstance(error, AwsError):
        return error
    if isinstance(error, AwsSignatureRejected):
        return AwsError(error.aws_type, error.message, error.aws_status)
    if isinstance(error, KeyRefused):
        return AwsError(*_KEY_REFUSALS[error.reason])
    if isinstance(error, errors.Unauthenticated):
        return AwsError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if isinstance(error, errors.AccessDenied):
        return AwsError(ACCESS_DENIED, error.message)
    if isinstance(error, errors.ServiceUnavailable):
        return AwsError("ServiceUnavailable", error.message, 503)
    for kind, aws_type in _TRANSLATIONS:
        if isinstance(error, kind):
            return AwsError(aws_type, str(error))
    return AwsError("InternalServiceError", "An error occurred on the server side.", 500)


def error_body(error: AwsError) -> dict[str, Any]:
    return {"__type": error.aws_type, "message": error.message}


def timestamp(value: dt.datetime | None) -> float | None:
    """Seconds since the epoch, as the JSON protocol sends a time."""
    return None if value is None else value.timestamp()


def stage_out(stage: str) -> str:
    return STAGES_OUT.get(stage, stage)


def stages_out(names: Iterable[str]) -> list[str]:
    return [stage_out(s) for s in names]


def versions_to_stages(on: Mapping[str, str], pending: str | None = None) -> dict[str, list[str]]:
    """A secret's stages (stage -> version id) as AWS maps them: version id -> its stages,
    with ``pending`` (a rotation's version that has no value yet) under AWSPENDING."""
    by_version: dict[str, list[str]] = {} if pending is None else {pending: [stages.PENDING]}
    for stage, version_id in on.items():
        by_version.setdefault(version_id, []).append(stage)
    return {v: stages_out(sorted(s)) for v, s in by_version.items()}


def stage_in(stage: str, name: str = "VersionStage") -> str:
    """A stage as the store names it. rotor's own spellings of the reserved ones are
    refused: in this dialect ``Current`` would be a custom stage."""
    if stage in STAGES_IN:
        return STAGES_IN[stage]
    if stage.lower() in {s.lower() for s in stages.RESERVED}:
        raise invalid_parameter(
            name, f"stage {stage!r} is reserved; use AWSCURRENT, AWSPENDING or AWSPREVIOUS"
        )
    return stages.validate_stage(stage)


class Body:
    """An operation's JSON object, read by kind."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid_parameter(name, "expected a string")
        return value

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise missing(name)
        return value

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid_parameter(name, f"expected a whole number from {low} to {high}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name, default)
        if not isinstance(value, bool):
            raise invalid_parameter(name, "expected true or false")
        return value

    def strings(self, name: str) -> list[str] | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_parameter(name, "expected a list of strings")
        return list(value)
