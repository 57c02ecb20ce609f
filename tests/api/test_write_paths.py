"""The same write through every path gives the same answer and the same audit event.

A write (``POST /v1/secrets/NAME:versions``) reaches
:func:`rotor.api.native.secrets.write_value` three ways: the native endpoint's plain
write with a bearer key, the same with a ``ROTOR-HMAC-SHA256`` signature, and the
framework's documented route (a body sent as ``application/json; charset=utf-8``, which
the plain write leaves to it). Each must write, refuse and audit alike; a body the
route's model refuses is always the route's to answer.
"""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from typing import Any

import httpx
import pytest

import rotor.client
from rotor.api.native.endpoint import plain_write
from tests.api.test_read_paths import _user, audit_event, sent
from tests.services.server import RunningServer

PATHS = ("bearer", "signed", "route")


def write(
    server: RunningServer, path: str, key: tuple[str, str], name: str, body: bytes
) -> tuple[int, dict[str, Any], str]:
    """(status, JSON body, request id) of a write along ``path``."""
    media = "application/json; charset=utf-8" if path == "route" else "application/json"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        request = http.build_request(
            "POST", f"/v1/secrets/{name}:versions", content=body, headers={"Content-Type": media}
        )
        return sent(http, request, signed=path == "signed", key=key)


@pytest.fixture
def admin(rotor_server: RunningServer) -> Any:
    with rotor_server.client() as client:
        yield client


def _secret(admin: rotor.client.Client) -> str:
    name = f"writes/{uuid.uuid4().hex[:12]}"
    admin.create_secret(name, value="first", version_id="v1")
    return name


def test_every_path_writes_a_new_current_version_and_audits_it(
    rotor_server: RunningServer, admin: rotor.client.Client
) -> None:
    for path in PATHS:
        name = _secret(admin)
        key = _user(admin, ["kms:PutSecretValue"], name)
        status, body, request_id = write(rotor_server, path, key, name, b'{"value": "second"}')
        assert status == 201, (path, body)
        assert (body["name"], body["stages"], body["type"]) == (name, ["Current"], "text")
        assert admin.get_value(name).value == "second"
        assert admin.get_value(name, stage="Previous").version_id == "v1"
        event = audit_event(admin, name, request_id)
        assert event.pop("principal", "").startswith("reader-")
        assert event == {
            "action": "kms:PutSecretValue",
            "outcome": "allowed",
            "access_key_id": key[0],
            "secret": name,
            "version_id": body["version_id"],
        }


@pytest.mark.parametrize(
    ("case", "body", "status", "code"),
    [
        ("same value again", {"value": "first", "version_id": "v1"}, 200, None),
        ("another value", {"value": "other", "version_id": "v1"}, 409, "VersionConflict"),
        ("given stages", {"value": "x", "version_id": "v2", "stages": ["Pending"]}, 201, None),
        ("Previous", {"value": "x", "stages": ["Previous"]}, 400, "InvalidParameter"),
        ("value and binary", {"value": "x", "binary": "eA=="}, 400, "InvalidParameter"),
        ("no value", {}, 400, "InvalidParameter"),
        ("bad base64", {"binary": "not base64!"}, 400, "InvalidParameter"),
        ("too large", {"value": "x" * (64 * 1024 + 1)}, 413, "ValueTooLarge"),
    ],
)
def test_every_path_answers_and_audits_alike(
    rotor_server: RunningServer,
    admin: rotor.client.Client,
    case: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    answers = {}
    for path in PATHS:
        name = _secret(admin)
        key = _user(admin, ["kms:PutSecretValue"], name)
        got, answer, request_id = write(rotor_server, path, key, name, json.dumps(body).encode())
        event = audit_event(admin, name, request_id)
        answer.pop("request_id", None)
        answer.pop("created_at", None)
        answer.pop("name", None)
        if "message" in answer:
            answer["message"] = answer["message"].replace(name, "NAME")
        if body.get("version_id") is None:
            answer.pop("version_id", None)
        answers[path] = (got, answer, event["outcome"], event["version_id"], event["action"])
    assert answers["bearer"][0] == status, answers
    if code is not None:
        assert answers["bearer"][1]["code"] == code
    assert answers["signed"] == answers["bearer"] == answers["route"], case


@pytest.mark.parametrize(
    ("case", "body", "code"),
    [
        ("not JSON", b'{"value": ', "MalformedRequest"),
        ("not an object", b'["x"]', "MalformedRequest"),
        ("unknown field", b'{"value": "x", "colour": "red"}', "InvalidParameter"),
        ("not a string", b'{"value": 7}', "InvalidParameter"),
        ("empty", b"", "InvalidParameter"),
    ],
)
def test_a_body_the_model_refuses_is_refused_as_the_route_does(
    rotor_server: RunningServer, admin: rotor.client.Client, case: str, body: bytes, code: str
) -> None:
    name = _secret(admin)
    key = _user(admin, ["kms:PutSecretValue"], name)
    answers = {}
    for path in PATHS:
        status, answer, _ = write(rotor_server, path, key, name, body)
        answer.pop("request_id")
        answers[path] = (status, answer)
    assert answers["bearer"][1]["code"] == code, answers
    assert answers["signed"] == answers["bearer"] == answers["route"], case
    assert [v.version_id for v in admin.list_versions(name).items] == ["v1"]  # nothing written


@pytest.mark.parametrize("path", PATHS)
def test_a_caller_not_allowed_is_refused_and_audited_on_every_path(
    rotor_server: RunningServer, admin: rotor.client.Client, path: str
) -> None:
    name = _secret(admin)
    key = _user(admin, ["kms:GetSecretValue"], name)
    status, answer, request_id = write(rotor_server, path, key, name, b'{"value": "x"}')
    assert (status, answer["code"]) == (403, "AccessDenied")
    event = audit_event(admin, name, request_id)
    assert (event["action"], event["outcome"], event["version_id"]) == (
        "kms:PutSecretValue",
        "denied",
        None,
    )
    assert admin.get_value(name).value == "first"


@pytest.mark.parametrize("path", PATHS)
def test_a_missing_or_deleted_secret_is_refused_on_every_path(
    rotor_server: RunningServer, admin: rotor.client.Client, path: str
) -> None:
    missing = f"writes/{uuid.uuid4().hex[:12]}"
    key = _user(admin, ["kms:PutSecretValue"], missing)
    status, answer, request_id = write(rotor_server, path, key, missing, b'{"value": "x"}')
    assert (status, answer["code"]) == (404, "NotFound")
    assert audit_event(admin, missing, request_id)["outcome"] == "failed"
    deleted = _secret(admin)
    admin.delete_secret(deleted)
    key = _user(admin, ["kms:PutSecretValue"], deleted)
    status, answer, _ = write(rotor_server, path, key, deleted, b'{"value": "x"}')
    assert (status, answer["code"]) == (409, "SecretPendingDeletion")


@pytest.mark.parametrize(
    ("path", "query", "media", "taken"),
    [
        ("/v1/secrets/a/b:versions", b"", b"application/json", True),
        ("/v1/secrets/a/b:versions", b"x=1", b"application/json", False),
        ("/v1/secrets/a/b:versions", b"", b"application/json; charset=utf-8", False),
        ("/v1/secrets/a/b:versions", b"", None, False),
        ("/v1/secrets/a/b:value", b"", b"application/json", False),
        ("/v1/secrets/a:b:versions", b"", b"application/json", False),
    ],
)
def test_only_a_plain_write_is_answered_by_the_endpoint(
    path: str, query: bytes, media: bytes | None, taken: bool
) -> None:
    headers = {} if media is None else {b"content-type": media}
    scope = {"path": path, "query_string": query}
    assert plain_write(scope, headers) == ("a/b" if taken else None)


def test_concurrent_plain_writes_each_make_a_version_and_move_current_once(
    rotor_server: RunningServer, admin: rotor.client.Client
) -> None:
    name = _secret(admin)
    key = _user(admin, ["kms:PutSecretValue"], name)
    bodies = [json.dumps({"value": f"v-{i}"}).encode() for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: write(rotor_server, "bearer", key, name, b), bodies))
    assert [status for status, _, _ in answers] == [201] * 16
    written = {body["version_id"] for _, body, _ in answers}
    assert len(written) == 16
    listed = [v.version_id for v in admin.list_versions(name, page_size=50).items]
    assert set(listed) >= written
    # The newest is Current and the one before it Previous: each write moved them once.
    assert admin.get_value(name).version_id == listed[0]
    assert admin.get_value(name, stage="Previous").version_id == listed[1]
