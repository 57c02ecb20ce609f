"""The error-envelope contract, over every route's failures.

Every failing request gets ``{"code", "message", "request_id"}`` and nothing else, the
request id of the ``X-Request-Id`` header, the documented status and code, no stack
trace, and never the secret value the test used.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api import support
from tests.api.support import assert_envelope, unique

CANARY = "canary-value-7f3c2e19-must-never-leak"
ONE_MIB = 1024 * 1024
TOO_LONG_NAME = "n" * 193

CREATE = ("post", "/v1/secrets")
LIST = ("get", "/v1/secrets")
DESCRIBE = ("get", "/v1/secrets/{name}")
UPDATE = ("patch", "/v1/secrets/{name}")
DELETE = ("delete", "/v1/secrets/{name}")
RESTORE = ("post", "/v1/secrets/{name}:restore")
GET_VALUE = ("get", "/v1/secrets/{name}:value")
PUT_VALUE = ("post", "/v1/secrets/{name}:versions")
LIST_VERSIONS = ("get", "/v1/secrets/{name}:versions")
STAGE = ("post", "/v1/secrets/{name}:stage")
PASSWORDS = ("post", "/v1/passwords")
ROUTES = [
    CREATE,
    LIST,
    DESCRIBE,
    UPDATE,
    DELETE,
    RESTORE,
    GET_VALUE,
    PUT_VALUE,
    LIST_VERSIONS,
    STAGE,
    PASSWORDS,
]

BAD_REQUEST = ((400, "InvalidParameter"),)
NOT_JSON = ((400, "MalformedRequest"),)
# A JSON body that is not an object: either 400 code is fine.
NOT_OBJECT = ((400, "MalformedRequest"), (400, "InvalidParameter"))
NOT_FOUND = ((404, "NotFound"),)
NO_OPERATION = ((404, "UnknownOperation"),)
# A name with characters no route accepts: a bad parameter, or no such route.
BAD_PATH_NAME = ((400, "InvalidParameter"), (404, "UnknownOperation"))
VALUE_TOO_LARGE = ((413, "ValueTooLarge"),)
REQUEST_TOO_LARGE = ((413, "RequestTooLarge"),)
EXISTS = ((409, "SecretExists"),)
VERSION_CONFLICT = ((409, "VersionConflict"),)
PENDING = ((409, "SecretPendingDeletion"),)

_UNSET: Any = object()


@dataclasses.dataclass(frozen=True)
class Case:
    """One failing request. ``{name}`` in the path is the prepared secret's name."""

    id: str
    route: tuple[str, str]
    expect: tuple[tuple[int, str], ...]
    json: Any = _UNSET
    content: bytes | None = None
    params: dict[str, str] | None = None
    name: str = "{existing}"
    content_type: str = "application/json"

    def path(self, names: dict[str, str]) -> str:
        return self.route[1].replace("{name}", self.name.format(**names))


def _big_body(size: int) -> bytes:
    return json.dumps({"name": "x", "value": CANARY + "x" * size}).encode()


TOO_BIG_TEXT = CANARY + "x" * (64 * 1024)
TOO_BIG_BINARY = base64.b64encode(CANARY.encode() + b"\x00" * (64 * 1024)).decode()
OVER_ONE_MIB = _big_body(ONE_MIB)

CASES: list[Case] = [
    # -- POST /v1/secrets
    Case(
        "create-bad-json", CREATE, NOT_JSON, content=b'{"name": "x", "value": "' + CANARY.encode()
    ),
    Case("create-json-array", CREATE, NOT_OBJECT, json=[{"name": "x"}]),
    Case("create-json-string", CREATE, NOT_OBJECT, json=CANARY),
    Case("create-json-null", CREATE, NOT_OBJECT, json=None),
    Case("create-no-body", CREATE, NOT_OBJECT + BAD_REQUEST, content=b""),
    Case("create-text-plain", CREATE, NOT_OBJECT, content=b"name=x", content_type="text/plain"),
    Case("create-missing-name", CREATE, BAD_REQUEST, json={"value": CANARY}),
    Case("create-name-not-string", CREATE, BAD_REQUEST, json={"name": 5, "value": CANARY}),
    Case("create-unknown-field", CREATE, BAD_REQUEST, json={"name": "{new}", "bogus": 1}),
    Case("create-empty-name", CREATE, BAD_REQUEST, json={"name": "", "value": CANARY}),
    Case("create-name-space", CREATE, BAD_REQUEST, json={"name": "a b", "value": CANARY}),
    Case("create-name-colon", CREATE, BAD_REQUEST, json={"name": "a:value", "value": CANARY}),
    Case("create-name-unicode", CREATE, BAD_REQUEST, json={"name": "ünï", "value": CANARY}),
    Case("create-name-too-long", CREATE, BAD_REQUEST, json={"name": TOO_LONG_NAME}),
    Case("create-name-dot-dot", CREATE, BAD_REQUEST, json={"name": "a/../b", "value": CANARY}),
    Case("create-name-dot", CREATE, BAD_REQUEST, json={"name": "./b", "value": CANARY}),
    Case("create-tags-list", CREATE, BAD_REQUEST, json={"name": "{new}", "tags": ["a"]}),
    Case("create-tag-value-int", CREATE, BAD_REQUEST, json={"name": "{new}", "tags": {"a": 1}}),
    Case("create-type-empty", CREATE, BAD_REQUEST, json={"name": "{new}", "type": ""}),
    Case("create-description-int", CREATE, BAD_REQUEST, json={"name": "{new}", "description": 1}),
    Case(
        "create-description-too-long",
        CREATE,
        BAD_REQUEST,
        json={"name": "{new}", "description": "d" * 1025},
    ),
    Case("create-value-int", CREATE, BAD_REQUEST, json={"name": "{new}", "value": 12345}),
    Case(
        "create-value-and-binary",
        CREATE,
        BAD_REQUEST,
        json={"name": "{new}", "value": CANARY, "binary": "AAAA"},
    ),
    Case("create-binary-not-base64", CREATE, BAD_REQUEST, json={"name": "{new}", "binary": CANARY}),
    Case(
        "create-bad-version-id",
        CREATE,
        BAD_REQUEST,
        json={"name": "{new}", "value": CANARY, "version_id": "no spaces"},
    ),
    Case("create-exists", CREATE, EXISTS, json={"name": "{existing}", "value": CANARY}),
    Case(
        "create-value-too-large",
        CREATE,
        VALUE_TOO_LARGE,
        json={"name": "{new}", "value": TOO_BIG_TEXT},
    ),
    Case(
        "create-binary-too-large",
        CREATE,
        VALUE_TOO_LARGE,
        json={"name": "{new}", "binary": TOO_BIG_BINARY},
    ),
    Case("create-request-too-large", CREATE, REQUEST_TOO_LARGE, content=OVER_ONE_MIB),
    # -- GET /v1/secrets
    Case("list-page-size-zero", LIST, BAD_REQUEST, params={"page_size": "0"}),
    Case("list-page-size-101", LIST, BAD_REQUEST, params={"page_size": "101"}),
    Case("list-page-size-text", LIST, BAD_REQUEST, params={"page_size": "ten"}),
    Case("list-page-token-garbage", LIST, BAD_REQUEST, params={"page_token": "!!not-a-token"}),
    Case(
        "list-page-token-wrong-kind",
        LIST,
        BAD_REQUEST,
        params={"page_token": base64.urlsafe_b64encode(b"[1, 2]").decode()},
    ),
    Case("list-tag-without-equals", LIST, BAD_REQUEST, params={"tag": "env"}),
    Case("list-tag-empty-key", LIST, BAD_REQUEST, params={"tag": "=prod"}),
    Case(
        "list-include-pending-bad", LIST, BAD_REQUEST, params={"include_pending_deletion": "maybe"}
    ),
    # -- GET /v1/secrets/{name}
    Case("describe-unknown", DESCRIBE, NOT_FOUND, name="{missing}"),
    Case("describe-name-too-long", DESCRIBE, BAD_REQUEST, name=TOO_LONG_NAME),
    Case("describe-name-bad-chars", DESCRIBE, BAD_PATH_NAME, name="bad name"),
    # -- PATCH /v1/secrets/{name}
    Case("update-bad-json", UPDATE, NOT_JSON, content=b"{description: x}"),
    Case("update-json-array", UPDATE, NOT_OBJECT, json=["description"]),
    Case("update-unknown-field", UPDATE, BAD_REQUEST, json={"value": CANARY}),
    Case("update-description-list", UPDATE, BAD_REQUEST, json={"description": ["x"]}),
    Case("update-tags-string", UPDATE, BAD_REQUEST, json={"tags": "a=b"}),
    Case("update-tag-value-null", UPDATE, BAD_REQUEST, json={"tags": {"a": None}}),
    Case(
        "update-too-many-tags", UPDATE, BAD_REQUEST, json={"tags": {str(i): "v" for i in range(51)}}
    ),
    Case("update-unknown", UPDATE, NOT_FOUND, json={"description": "x"}, name="{missing}"),
    Case(
        "update-name-too-long", UPDATE, BAD_REQUEST, json={"description": "x"}, name=TOO_LONG_NAME
    ),
    Case("update-request-too-large", UPDATE, REQUEST_TOO_LARGE, content=OVER_ONE_MIB),
    # -- DELETE /v1/secrets/{name}
    Case("delete-recovery-text", DELETE, BAD_REQUEST, params={"recovery_days": "week"}),
    Case("delete-recovery-short", DELETE, BAD_REQUEST, params={"recovery_days": "6"}),
    Case("delete-recovery-long", DELETE, BAD_REQUEST, params={"recovery_days": "31"}),
    Case("delete-force-bad", DELETE, BAD_REQUEST, params={"force": "maybe"}),
    Case(
        "delete-force-and-window",
        DELETE,
        BAD_REQUEST,
        params={"force": "true", "recovery_days": "7"},
    ),
    Case("delete-unknown", DELETE, NOT_FOUND, name="{missing}"),
    Case("delete-force-unknown", DELETE, NOT_FOUND, name="{missing}", params={"force": "true"}),
    Case("delete-pending", DELETE, PENDING, name="{pending}"),
    # -- POST /v1/secrets/{name}:restore
    Case("restore-unknown", RESTORE, NOT_FOUND, name="{missing}"),
    Case("restore-not-scheduled", RESTORE, BAD_REQUEST),
    Case("restore-name-too-long", RESTORE, BAD_REQUEST, name=TOO_LONG_NAME),
    Case("restore-request-too-large", RESTORE, REQUEST_TOO_LARGE, content=OVER_ONE_MIB),
    # -- GET /v1/secrets/{name}:value
    Case("value-unknown-secret", GET_VALUE, NOT_FOUND, name="{missing}"),
    Case("value-unknown-stage", GET_VALUE, NOT_FOUND, params={"stage": "Pending"}),
    Case("value-unknown-version", GET_VALUE, NOT_FOUND, params={"version_id": "ghost"}),
    Case(
        "value-stage-version-disagree",
        GET_VALUE,
        NOT_FOUND,
        params={"stage": "Current", "version_id": "v1"},
    ),
    Case("value-name-too-long", GET_VALUE, BAD_REQUEST, name=TOO_LONG_NAME),
    Case("value-name-bad-chars", GET_VALUE, BAD_PATH_NAME, name="bad name"),
    Case("value-pending-deletion", GET_VALUE, PENDING, name="{pending}"),
    # -- POST /v1/secrets/{name}:versions
    Case("put-bad-json", PUT_VALUE, NOT_JSON, content=b'{"value": "' + CANARY.encode() + b'",}'),
    Case("put-json-array", PUT_VALUE, NOT_OBJECT, json=[CANARY]),
    Case("put-json-number", PUT_VALUE, NOT_OBJECT, json=42),
    Case("put-no-value", PUT_VALUE, BAD_REQUEST, json={}),
    Case("put-value-and-binary", PUT_VALUE, BAD_REQUEST, json={"value": CANARY, "binary": "AA=="}),
    Case("put-value-list", PUT_VALUE, BAD_REQUEST, json={"value": [CANARY]}),
    Case("put-value-object", PUT_VALUE, BAD_REQUEST, json={"value": {"password": CANARY}}),
    Case("put-binary-not-base64", PUT_VALUE, BAD_REQUEST, json={"binary": CANARY + "!"}),
    Case("put-stages-string", PUT_VALUE, BAD_REQUEST, json={"value": CANARY, "stages": "Current"}),
    Case("put-stages-int", PUT_VALUE, BAD_REQUEST, json={"value": CANARY, "stages": [1]}),
    Case(
        "put-stages-previous",
        PUT_VALUE,
        BAD_REQUEST,
        json={"value": CANARY, "stages": ["Previous"]},
    ),
    Case(
        "put-stages-dialect",
        PUT_VALUE,
        BAD_REQUEST,
        json={"value": CANARY, "stages": ["AWSCURRENT"]},
    ),
    Case("put-unknown-field", PUT_VALUE, BAD_REQUEST, json={"value": CANARY, "stage": "Current"}),
    Case("put-version-id-int", PUT_VALUE, BAD_REQUEST, json={"value": CANARY, "version_id": 1}),
    Case("put-version-id-bad", PUT_VALUE, BAD_REQUEST, json={"value": CANARY, "version_id": "a/b"}),
    Case(
        "put-version-id-long",
        PUT_VALUE,
        BAD_REQUEST,
        json={"value": CANARY, "version_id": "v" * 65},
    ),
    Case(
        "put-version-conflict",
        PUT_VALUE,
        VERSION_CONFLICT,
        json={"value": CANARY + "-other", "version_id": "v1"},
    ),
    Case(
        "put-version-conflict-binary",
        PUT_VALUE,
        VERSION_CONFLICT,
        json={"binary": base64.b64encode(CANARY.encode()).decode(), "version_id": "v1"},
    ),
    Case("put-value-too-large", PUT_VALUE, VALUE_TOO_LARGE, json={"value": TOO_BIG_TEXT}),
    Case("put-binary-too-large", PUT_VALUE, VALUE_TOO_LARGE, json={"binary": TOO_BIG_BINARY}),
    Case(
        "put-value-far-too-large",
        PUT_VALUE,
        VALUE_TOO_LARGE,
        json={"value": CANARY + "x" * (ONE_MIB - 4096)},
    ),
    Case("put-request-too-large", PUT_VALUE, REQUEST_TOO_LARGE, content=OVER_ONE_MIB),
    Case("put-unknown-secret", PUT_VALUE, NOT_FOUND, json={"value": CANARY}, name="{missing}"),
    Case("put-name-too-long", PUT_VALUE, BAD_REQUEST, json={"value": CANARY}, name=TOO_LONG_NAME),
    Case("put-pending-deletion", PUT_VALUE, PENDING, json={"value": CANARY}, name="{pending}"),
    # -- GET /v1/secrets/{name}:versions
    Case("versions-page-size-zero", LIST_VERSIONS, BAD_REQUEST, params={"page_size": "0"}),
    Case("versions-page-size-101", LIST_VERSIONS, BAD_REQUEST, params={"page_size": "101"}),
    Case("versions-page-size-text", LIST_VERSIONS, BAD_REQUEST, params={"page_size": "1.5"}),
    Case("versions-page-token-garbage", LIST_VERSIONS, BAD_REQUEST, params={"page_token": "%%%"}),
    Case(
        "versions-page-token-wrong-kind",
        LIST_VERSIONS,
        BAD_REQUEST,
        params={"page_token": base64.urlsafe_b64encode(b'"name"').decode()},
    ),
    Case(
        "versions-page-token-negative",
        LIST_VERSIONS,
        BAD_REQUEST,
        params={"page_token": base64.urlsafe_b64encode(b"-3").decode()},
    ),
    Case("versions-unknown-secret", LIST_VERSIONS, NOT_FOUND, name="{missing}"),
    Case("versions-name-too-long", LIST_VERSIONS, BAD_REQUEST, name=TOO_LONG_NAME),
    # -- POST /v1/secrets/{name}:stage
    Case("stage-bad-json", STAGE, NOT_JSON, content=b"stage=Current"),
    Case("stage-json-array", STAGE, NOT_OBJECT, json=["Current", "v1"]),
    Case("stage-missing-stage", STAGE, BAD_REQUEST, json={"move_to_version": "v1"}),
    Case("stage-stage-int", STAGE, BAD_REQUEST, json={"stage": 1, "move_to_version": "v1"}),
    Case(
        "stage-unknown-field",
        STAGE,
        BAD_REQUEST,
        json={"stage": "Current", "move_to_version": "v1", "force": True},
    ),
    Case("stage-neither-move-nor-remove", STAGE, BAD_REQUEST, json={"stage": "Custom"}),
    Case(
        "stage-remove-current",
        STAGE,
        BAD_REQUEST,
        json={"stage": "Current", "remove_from_version": "v2"},
    ),
    Case(
        "stage-reserved-spelling",
        STAGE,
        BAD_REQUEST,
        json={"stage": "ACSCurrent", "move_to_version": "v1"},
    ),
    Case("stage-bad-name", STAGE, BAD_REQUEST, json={"stage": "a b", "move_to_version": "v1"}),
    Case(
        "stage-remove-wrong-version",
        STAGE,
        BAD_REQUEST,
        json={"stage": "Previous", "remove_from_version": "v2"},
    ),
    Case(
        "stage-unknown-version",
        STAGE,
        NOT_FOUND,
        json={"stage": "Current", "move_to_version": "ghost"},
    ),
    Case(
        "stage-unknown-secret",
        STAGE,
        NOT_FOUND,
        json={"stage": "Current", "move_to_version": "v1"},
        name="{missing}",
    ),
    Case(
        "stage-pending-deletion",
        STAGE,
        PENDING,
        json={"stage": "Custom", "move_to_version": "v1"},
        name="{pending}",
    ),
    Case("stage-request-too-large", STAGE, REQUEST_TOO_LARGE, content=OVER_ONE_MIB),
    # -- POST /v1/passwords
    Case("passwords-bad-json", PASSWORDS, NOT_JSON, content=b"{length: 10}"),
    Case("passwords-json-array", PASSWORDS, NOT_OBJECT, json=[32]),
    Case("passwords-length-string", PASSWORDS, BAD_REQUEST, json={"length": "32"}),
    Case("passwords-length-bool", PASSWORDS, BAD_REQUEST, json={"length": True}),
    Case("passwords-length-float", PASSWORDS, BAD_REQUEST, json={"length": 12.5}),
    Case("passwords-flag-string", PASSWORDS, BAD_REQUEST, json={"exclude_numbers": "yes"}),
    Case("passwords-unknown-field", PASSWORDS, BAD_REQUEST, json={"lenght": 12}),
    Case("passwords-too-short", PASSWORDS, BAD_REQUEST, json={"length": 7}),
    Case("passwords-too-long", PASSWORDS, BAD_REQUEST, json={"length": 129}),
    Case(
        "passwords-nothing-left",
        PASSWORDS,
        BAD_REQUEST,
        json={
            "exclude_uppercase": True,
            "exclude_lowercase": True,
            "exclude_numbers": True,
            "exclude_punctuation": True,
        },
    ),
    Case("passwords-request-too-large", PASSWORDS, REQUEST_TOO_LARGE, content=OVER_ONE_MIB),
]

UNKNOWN_OPERATIONS: list[tuple[str, str]] = [
    ("get", "/v1/nope"),
    ("get", "/v1"),
    ("get", "/"),
    ("get", "/v2/secrets"),
    ("put", "/v1/secrets"),
    ("delete", "/v1/secrets"),
    ("patch", "/v1/secrets"),
    ("put", "/v1/secrets/{existing}"),
    ("post", "/v1/secrets/{existing}"),
    ("get", "/v1/secrets/{existing}:bogus"),
    ("post", "/v1/secrets/{existing}:bogus"),
    ("delete", "/v1/secrets/{existing}:value"),
    ("post", "/v1/secrets/{existing}:value"),
    ("put", "/v1/secrets/{existing}:versions"),
    ("get", "/v1/secrets/{existing}:stage"),
    ("get", "/v1/secrets/{existing}:restore"),
    ("get", "/v1/passwords"),
    ("delete", "/v1/passwords"),
    ("post", "/healthz"),
    ("delete", "/readyz"),
]


@pytest.fixture(scope="module")
def names(api_server: support.ApiServer) -> dict[str, str]:
    """Secrets the failing requests refer to: one with values, one pending deletion."""
    existing = unique("errors/existing")
    pending = unique("errors/pending")
    with api_server.client() as c:
        for name in (existing, pending):
            assert c.post("/v1/secrets", json={"name": name}).status_code == 201
            for vid in ("v1", "v2"):
                put = c.post(
                    f"/v1/secrets/{name}:versions", json={"value": CANARY, "version_id": vid}
                )
                assert put.status_code == 201
        assert c.delete(f"/v1/secrets/{pending}").status_code == 200
    return {"existing": existing, "pending": pending, "missing": unique("errors/missing")}


def _substitute(data: Any, names: dict[str, str]) -> Any:
    if isinstance(data, str):
        if data == "{new}":
            return unique("errors/new")
        if data in ("{existing}", "{pending}", "{missing}"):
            return names[data[1:-1]]
        return data
    if isinstance(data, dict):
        return {k: _substitute(v, names) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, names) for v in data]
    return data


def send(
    client: httpx.Client, case: Case, names: dict[str, str], authorization: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": case.content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    content = case.content
    if case.json is not _UNSET:
        content = json.dumps(_substitute(case.json, names)).encode()
    if content is None and case.route[0] in ("post", "patch"):
        content = b"{}" if case.route != RESTORE else b""
    return client.request(
        case.route[0].upper(),
        case.path(names),
        params=case.params,
        content=content,
        headers=headers,
    )


def check_error(response: httpx.Response, expect: tuple[tuple[int, str], ...]) -> dict[str, Any]:
    body = assert_envelope(response)
    assert (response.status_code, body["code"]) in expect, (response.status_code, body)
    assert CANARY not in response.text
    assert CANARY not in str(response.headers)
    return body


def _documented_operations(client: httpx.Client) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document under /v1."""
    document = client.get("/openapi.json").json()
    return sorted(
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if path.startswith("/v1/")
    )


def test_every_native_route_has_failure_cases(client: httpx.Client) -> None:
    assert set(ROUTES) <= set(_documented_operations(client))
    assert {case.route for case in CASES} == set(ROUTES)
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_failing_request(client: httpx.Client, names: dict[str, str], case: Case) -> None:
    check_error(send(client, case, names), case.expect)


def test_failures_changed_nothing(client: httpx.Client, names: dict[str, str]) -> None:
    """After all the failing requests, the prepared secret is as it was made."""
    existing = names["existing"]
    described = client.get(f"/v1/secrets/{existing}").json()
    assert described["stages"] == {"Current": "v2", "Previous": "v1"}
    assert described["delete_after"] is None
    versions = client.get(f"/v1/secrets/{existing}:versions").json()["versions"]
    assert [v["version_id"] for v in versions] == ["v2", "v1"]
    assert client.get(f"/v1/secrets/{existing}:value").json()["value"] == CANARY
    pending = client.get(f"/v1/secrets/{names['pending']}").json()
    assert pending["delete_after"] is not None


@pytest.mark.parametrize(("method", "path"), UNKNOWN_OPERATIONS)
def test_unknown_operation(
    client: httpx.Client, names: dict[str, str], method: str, path: str
) -> None:
    response = client.request(method.upper(), path.format(**names), json={})
    body = check_error(response, NO_OPERATION)
    assert "Traceback" not in body["message"]


# --------------------------------------------------------------------------------------
# Authentication


def _valid_case(route: tuple[str, str]) -> Case:
    """A well-formed request (most would succeed with the right credentials)."""
    bodies: dict[tuple[str, str], Any] = {
        CREATE: {"name": "{new}", "value": CANARY},
        UPDATE: {"description": "changed"},
        PUT_VALUE: {"value": CANARY},
        STAGE: {"stage": "Custom", "move_to_version": "v1"},
        PASSWORDS: {},
    }
    params = {DELETE: {"force": "true"}}.get(route)
    return Case(f"valid-{route}", route, (), json=bodies.get(route, _UNSET), params=params)


AUTH_VARIANTS = (
    "missing",
    "empty",
    "wrong-secret",
    "secret-of-other-length",
    "unknown-key-id",
    "key-id-too-long",
    "no-dot",
    "no-key-id",
    "no-secret",
    "bearer-only",
    "basic-scheme",
    "other-scheme",
    "secret-as-key-id",
    "extra-part",
)


def _auth_header(server: support.ApiServer, variant: str) -> str | None:
    """The Authorization header of each kind of bad credential (None: no header)."""
    key_id, secret = server.access_key_id, server.access_key_secret
    wrong_secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    headers: dict[str, str | None] = {
        "missing": None,
        "empty": "",
        "wrong-secret": f"Bearer {key_id}.{wrong_secret}",
        "secret-of-other-length": f"Bearer {key_id}.x",
        "unknown-key-id": f"Bearer RKNOSUCHKEY000000000000.{secret}",
        "key-id-too-long": f"Bearer {'R' * 200}.{secret}",
        "no-dot": f"Bearer {key_id}{secret}",
        "no-key-id": f"Bearer .{secret}",
        "no-secret": f"Bearer {key_id}.",
        "bearer-only": "Bearer",
        "basic-scheme": "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode(),
        "other-scheme": f"Token {key_id}.{secret}",
        "secret-as-key-id": f"Bearer {secret}.{key_id}",
        "extra-part": f"Bearer {key_id}.{secret}.extra",
    }
    assert set(headers) == set(AUTH_VARIANTS)
    return headers[variant]


def _unauthenticated(
    anon: httpx.Client,
    server: support.ApiServer,
    names: dict[str, str],
    route: tuple[str, str],
    variant: str,
) -> httpx.Response:
    """A well-formed request, sent with a bad credential of kind ``variant``."""
    return send(anon, _valid_case(route), names, _auth_header(server, variant))


@pytest.mark.parametrize("variant", AUTH_VARIANTS)
@pytest.mark.parametrize("route", ROUTES, ids=[f"{m}-{p}" for m, p in ROUTES])
def test_bad_credentials_are_refused(
    api_server: support.ApiServer,
    names: dict[str, str],
    route: tuple[str, str],
    variant: str,
) -> None:
    with api_server.anonymous() as anon:
        response = _unauthenticated(anon, api_server, names, route, variant)
    check_error(response, ((401, "Unauthenticated"),))
    assert api_server.access_key_secret not in response.text
    assert api_server.access_key_id not in response.text


def test_bad_credentials_changed_nothing(
    client: httpx.Client, api_server: support.ApiServer, names: dict[str, str]
) -> None:
    existing = names["existing"]
    with api_server.anonymous() as anon:
        for variant in AUTH_VARIANTS:
            for route in ROUTES:
                _unauthenticated(anon, api_server, names, route, variant)
    described = client.get(f"/v1/secrets/{existing}").json()
    assert described["stages"] == {"Current": "v2", "Previous": "v1"}
    assert described["description"] == ""
    assert len(client.get(f"/v1/secrets/{existing}:versions").json()["versions"]) == 2


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m}-{p}" for m, p in ROUTES])
def test_unauthenticated_responses_are_identical(
    api_server: support.ApiServer, names: dict[str, str], route: tuple[str, str]
) -> None:
    """No hint of which part was wrong: the same status, body (but the request id), headers."""
    seen: dict[str, tuple[int, dict[str, Any], set[str]]] = {}
    for variant in ("missing", "wrong-secret", "unknown-key-id", "no-dot", "basic-scheme"):
        with api_server.anonymous() as anon:
            response = _unauthenticated(anon, api_server, names, route, variant)
        check_error(response, ((401, "Unauthenticated"),))
        body = dict(response.json())
        del body["request_id"]
        headers = {
            f"{k}={v}" if k != "content-length" else k
            for k, v in response.headers.items()
            if k not in ("date", "x-request-id")
        }
        seen[variant] = (response.status_code, body, headers)
    assert len({json.dumps([s, b, sorted(h)]) for s, b, h in seen.values()}) == 1, seen


def test_every_documented_operation_requires_credentials(
    api_server: support.ApiServer, client: httpx.Client, names: dict[str, str]
) -> None:
    """Not just the routes listed here: whatever /openapi.json lists under /v1."""
    operations = _documented_operations(client)
    assert len(operations) >= len(ROUTES)
    with api_server.anonymous() as anon:
        for method, template in operations:
            path = template.replace("{name}", names["existing"])
            path = re.sub(r"\{[A-Za-z_]+\}", "x", path)
            body = b"{}" if method in ("post", "put", "patch") else None
            for variant in ("missing", "wrong-secret", "unknown-key-id", "no-dot"):
                headers = {"Content-Type": "application/json"}
                header = _auth_header(api_server, variant)
                if header is not None:
                    headers["Authorization"] = header
                response = anon.request(method.upper(), path, content=body, headers=headers)
                assert response.status_code == 401, (method, path, variant, response.text)
                check_error(response, ((401, "Unauthenticated"),))


def test_authentication_comes_before_body_parsing(
    api_server: support.ApiServer, names: dict[str, str]
) -> None:
    """Without credentials, a malformed body still gets 401: nothing is processed first."""
    with api_server.anonymous() as anon:
        for route in (CREATE, UPDATE, PUT_VALUE, STAGE, PASSWORDS):
            case = Case("bad-json", route, (), content=b'{"value": "' + CANARY.encode())
            check_error(send(anon, case, names), ((401, "Unauthenticated"),))


def test_unknown_operation_without_credentials(anon: httpx.Client) -> None:
    check_error(anon.get("/v1/nope"), (*NO_OPERATION, (401, "Unauthenticated")))


def test_request_too_large_when_chunked(client: httpx.Client) -> None:
    """A body with no Content-Length is counted as it arrives."""

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(OVER_ONE_MIB), 64 * 1024):
            yield OVER_ONE_MIB[i : i + 64 * 1024]

    response = client.post(
        "/v1/secrets", content=chunks(), headers={"Content-Type": "application/json"}
    )
    check_error(response, REQUEST_TOO_LARGE)


def test_one_mib_body_is_not_too_large(client: httpx.Client, names: dict[str, str]) -> None:
    """Exactly the limit passes the body cap (and then the value is too large)."""
    prefix = b'{"value": "'
    body = prefix + b"x" * (1024 * 1024 - len(prefix) - 2) + b'"}'
    assert len(body) == ONE_MIB
    response = client.post(
        f"/v1/secrets/{names['existing']}:versions",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    check_error(response, VALUE_TOO_LARGE)
