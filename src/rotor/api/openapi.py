"""The OpenAPI document (``/openapi.json``): what each operation takes and answers, failures too.

Every failure is the one envelope ``{"code", "message", "request_id"}`` (the ``Error``
component). Each operation lists the statuses it can fail with and, for each status, the
codes it can carry (:func:`failures`); the framework's 422, which rotor never sends, is
taken out. The rules for names, ids, page sizes and tokens are written here once, from
the store's own validators, and attached to every parameter and body field with that
meaning: requests are still validated by the store (with its messages), and the suite
(schemathesis) checks that the document and the server agree.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import Field

from rotor import errors, protocol
from rotor.store import deletion, functions, paging, principals, stages, versions

Schema = dict[str, Any]

ERROR = "Error"
ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "Every failure: a stable code, a message for people, the request's id.",
    "properties": {
        "code": {"type": "string", "description": "Stable; see the error reference."},
        "message": {"type": "string"},
        "request_id": {"type": "string", "description": "Also in the X-Request-Id header."},
    },
    "required": ["code", "message", "request_id"],
    "additionalProperties": False,
}


def _anchored(pattern: str) -> str:
    return f"^{pattern}$"


def _secret_name() -> Schema:
    """1-192 characters of the name alphabet, and no ``.`` or ``..`` between slashes.

    Written without look-arounds (JSON Schema patterns are ECMA regexes, and generators
    handle them badly): segments split by ``/``, each empty, or holding a character
    other than ``.``, or three dots or more."""
    alphabet = f"[{protocol.NAME_CHARACTERS}]"
    in_segment = alphabet.replace("/", "")
    not_dot = in_segment.replace(".", "")
    segment = rf"(?:\.*{not_dot}{in_segment}*|\.{{3,}})?"
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": protocol.NAME_MAX_LENGTH,
        "pattern": _anchored(rf"{segment}(?:/{segment})*"),
        "description": f"{protocol.NAME_RULE}, with no '.' or '..' between slashes.",
        "examples": ["prod/db/app"],
    }


SECRET_NAME = _secret_name()


def _text(pattern: str, description: str) -> Schema:
    return {"type": "string", "pattern": _anchored(pattern), "description": description}


PRINCIPAL_NAME = _text(
    principals._NAME_RE.pattern,
    "A principal or policy name: 1-128 characters of A-Z a-z 0-9 _ . @ + = -.",
)
FUNCTION_NAME = _text(
    functions.NAME_PATTERN,
    "1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit.",
)
VERSION_ID = _text(versions._VERSION_ID_RE.pattern, "1-64 characters of A-Z a-z 0-9 _ . -")
STAGE = _text(
    stages._STAGE_RE.pattern,
    "1-64 characters of A-Z a-z 0-9 _ . -; Current, Pending and Previous are reserved, and so "
    "are their other spellings (AWSCURRENT, ACSCurrent, ...).",
)
PAGE_SIZE: Schema = {"type": "integer", "minimum": 1, "maximum": paging.MAX_PAGE_SIZE}
PAGE_TOKEN: Schema = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]*={0,2}$",
    "description": "Opaque: the next_page_token of the previous page (URL-safe base64); "
    "empty or absent for the first page.",
}
ACCESS_KEY_ID: Schema = {"type": "string", "pattern": "^RK[A-Z2-7]{22}$"}
ROTATION_ID: Schema = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
RECOVERY_DAYS: Schema = {
    "type": "integer",
    "minimum": deletion.MIN_RECOVERY_DAYS,
    "maximum": deletion.MAX_RECOVERY_DAYS,
}
TAG_FILTER: Schema = {"type": "string", "pattern": "^[^=]+=", "description": "key=value"}
TIME: Schema = {"type": "string", "format": "date-time"}

#: Path parameters by the collection they address: ``{name}`` is a secret's name under
#: /v1/secrets, a principal's under /v1/principals...
_PATH_PARAMETERS: dict[tuple[str, str], Schema] = {
    ("secrets", "name"): SECRET_NAME,
    ("principals", "name"): PRINCIPAL_NAME,
    ("principals", "policy"): PRINCIPAL_NAME,
    ("policies", "name"): PRINCIPAL_NAME,
    ("functions", "name"): FUNCTION_NAME,
    ("access-keys", "key_id"): ACCESS_KEY_ID,
    ("rotations", "rotation_id"): ROTATION_ID,
}
#: Query parameters mean the same on every operation that takes them.
_QUERY_PARAMETERS: dict[str, Schema] = {
    "page_size": PAGE_SIZE,
    "page_token": PAGE_TOKEN,
    "version_id": VERSION_ID,
    "stage": STAGE,
    "recovery_days": RECOVERY_DAYS,
    "since": TIME,
    "until": TIME,
}
#: Query parameters a collection gives a meaning of its own (the event log's ``since`` is a
#: cursor, not a time): their routes' own schemas stand.
_OWN_QUERY_PARAMETERS = {("events", "since")}

#: What any /v1 operation can fail with, before and around the route itself: no or bad
#: credentials, a repeated query parameter, a body over the cap, a store that does not
#: answer, and an unexpected error.
V1_FAILURES: tuple[type[errors.RotorError], ...] = (
    errors.InvalidParameter,
    errors.Unauthenticated,
    errors.RequestTooLarge,
    errors.InternalError,
    errors.ServiceUnavailable,
)
#: What a request body can be refused for (beside its fields' values).
BODY_FAILURES = (errors.MalformedRequest,)
#: What an operation on one named secret can fail with.
SECRET_FAILURES = (errors.AccessDenied, errors.NotFound, errors.SecretPendingDeletion)


def rule(schema: Schema) -> Any:
    """A body field documented with ``schema`` (``Annotated[str, openapi.rule(...)]``); the
    store still checks the value, with its own message."""
    return Field(json_schema_extra={k: v for k, v in schema.items() if k != "type"})


def failures(*raised: type[errors.RotorError], v1: bool = True) -> dict[int | str, Any]:
    """``responses=`` for an operation that fails with ``raised`` (and, under /v1, with
    :data:`V1_FAILURES`): one entry per status, naming its codes."""
    by_status: dict[int, dict[str, str]] = {}
    for cls in (*V1_FAILURES, *raised) if v1 else raised:
        by_status.setdefault(cls.http_status, {})[cls.code] = (cls.__doc__ or "").strip()
    return {status: _failure(codes) for status, codes in sorted(by_status.items())}


def _failure(codes: dict[str, str]) -> dict[str, Any]:
    """One status's response: the envelope, with ``code`` one of ``codes`` (code -> text)."""
    listed = "; ".join(f"`{code}`: {text}" for code, text in sorted(codes.items()))
    return {
        "description": listed,
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": f"#/components/schemas/{ERROR}"},
                        {"properties": {"code": {"enum": sorted(codes)}}},
                    ]
                }
            }
        },
    }


def also(status: int, description: str) -> dict[int | str, Any]:
    """A second success status of an operation (200 when it changed nothing, ...)."""
    return {status: {"description": description}}


def install(app: FastAPI) -> None:
    """Serve :func:`document` (built once) as the app's ``/openapi.json``."""
    app.openapi = functools.cache(functools.partial(document, app))  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas[ERROR] = ERROR_SCHEMA
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            parameters = operation.get("parameters", ())
            _describe_parameters(path, parameters)
            if any(p["in"] == "path" for p in parameters):
                # A path parameter outside its alphabet (a secret name with a space...)
                # makes a path that no operation has.
                _add_failure(operation["responses"], errors.UnknownOperation)
    return doc


def _add_failure(responses: dict[str, Any], cls: type[errors.RotorError]) -> None:
    status = str(cls.http_status)
    codes = {cls.code: (cls.__doc__ or "").strip()}
    if status in responses:
        schema = responses[status]["content"]["application/json"]["schema"]
        for code in schema["allOf"][1]["properties"]["code"]["enum"]:
            codes[code] = (errors.by_code()[code].__doc__ or "").strip()
    responses[status] = _failure(codes)


def _describe_parameters(path: str, parameters: Iterable[dict[str, Any]]) -> None:
    parts = path.split("/")
    collection = parts[2] if len(parts) > 2 and parts[1] == "v1" else ""
    for parameter in parameters:
        name = parameter["name"]
        if parameter["in"] == "path":
            rule = _PATH_PARAMETERS.get((collection, name))
        elif (collection, name) in _OWN_QUERY_PARAMETERS:
            rule = None
        else:
            rule = _QUERY_PARAMETERS.get(name)
        if name == "tag":
            parameter["schema"]["items"] = TAG_FILTER
        elif rule is not None:
            described = {k: v for k, v in parameter["schema"].items() if k in ("default", "title")}
            parameter["schema"] = {**described, **rule}
            if "description" in rule:
                parameter.setdefault("description", rule["description"])
