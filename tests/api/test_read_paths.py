"""The same read through every path gives the same answer and the same audit event.

A read reaches :func:`rotor.api.secret_reads.read` four ways: the native endpoint's
fast path with a bearer key, the same with a ``ROTOR-HMAC-SHA256`` signature, the
framework's documented route (a read with a query parameter the fast path leaves to
it), and the KMS dialect's ``GetSecretValue`` through the cloud's official V1 SDK.
Each must allow, refuse and audit alike.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

import rotor.client
from rotor.client import _signing
from tests.aliyun.conftest import v1_client
from tests.services.server import RunningServer

PATHS = ("bearer", "signed", "route", "kms")
NATIVE_PATHS = PATHS[:3]
_KMS_STAGES = {"ACSCurrent": "Current", "ACSPrevious": "Previous", "ACSPending": "Pending"}
_KMS_STAGE_OF = {v: k for k, v in _KMS_STAGES.items()}


def _native(
    server: RunningServer,
    path: str,
    key: tuple[str, str],
    name: str,
    params: dict[str, str],
) -> tuple[int, dict[str, Any], str]:
    """(status, JSON body, request id) of a native read along ``path``."""
    if path == "route":
        # A parameter the fast path does not take: the framework's route answers.
        params = {**params, "trace": "1"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        request = http.build_request("GET", f"/v1/secrets/{name}:value", params=params)
        return sent(http, request, signed=path == "signed", key=key)


def sent(
    http: httpx.Client, request: httpx.Request, *, signed: bool, key: tuple[str, str]
) -> tuple[int, dict[str, Any], str]:
    """(status, JSON body, request id) of ``request`` sent with ``key``: signed
    (ROTOR-HMAC-SHA256) or as a bearer key."""
    if signed:
        request.headers["Authorization"] = _signing.authorization(
            request, access_key_id=key[0], access_key_secret=key[1]
        )
    else:
        request.headers["Authorization"] = f"Bearer {key[0]}.{key[1]}"
    response = http.send(request)
    return response.status_code, response.json(), response.headers["x-request-id"]


def _kms(
    server: RunningServer, key: tuple[str, str], name: str, params: dict[str, str]
) -> tuple[int, dict[str, Any], str]:
    """(status, JSON body, request id) of ``GetSecretValue`` through the V1 SDK."""
    request = GetSecretValueRequest()
    request.set_SecretName(name)
    if "stage" in params:
        request.set_VersionStage(_KMS_STAGE_OF[params["stage"]])
    if "version_id" in params:
        request.set_VersionId(params["version_id"])
    client = v1_client(server, *key)
    try:
        body = json.loads(client.do_action_with_exception(request))
        return 200, body, body["RequestId"]
    except ServerException as exc:
        return exc.get_http_status(), {"Code": exc.get_error_code()}, exc.get_request_id()


def read(
    server: RunningServer,
    path: str,
    key: tuple[str, str],
    name: str,
    **params: str,
) -> tuple[int, dict[str, Any], str]:
    if path == "kms":
        return _kms(server, key, name, params)
    return _native(server, path, key, name, params)


def value_of(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a successful read says, in one vocabulary."""
    if path == "kms":
        return {
            "value": body["SecretData"],
            "version_id": body["VersionId"],
            "stages": sorted(_KMS_STAGES[s] for s in body["VersionStages"]["VersionStage"]),
        }
    return {
        "value": body["value"],
        "version_id": body["version_id"],
        "stages": sorted(body["stages"]),
    }


def audit_event(admin: rotor.client.Client, name: str, request_id: str) -> dict[str, Any]:
    """The audit event of one request (polled: events are written in batches)."""
    deadline = time.monotonic() + 60
    while True:
        found = [e for e in admin.iter_audit_events(secret=name) if e.request_id == request_id]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(found) == 1, f"no single audit event for request {request_id}"
    event = found[0]
    return {
        "action": event.action,
        "outcome": event.outcome,
        "principal": event.principal,
        "access_key_id": event.access_key_id,
        "secret": event.secret,
        "version_id": event.version_id,
    }


@pytest.fixture
def admin(rotor_server: RunningServer) -> Any:
    with rotor_server.client() as client:
        yield client


@pytest.fixture
def name(admin: rotor.client.Client) -> str:
    """A secret with two versions: Previous ``first``, Current ``second``."""
    secret = f"reads/{uuid.uuid4().hex[:12]}"
    admin.create_secret(secret, value="first")
    admin.put_value(secret, "second")
    return secret


def _user(admin: rotor.client.Client, actions: list[str], name: str) -> tuple[str, str]:
    """A new user allowed ``actions`` on secret ``name``; its access key."""
    user = f"reader-{uuid.uuid4().hex[:10]}"
    admin.create_principal(user, kind="user")
    policy = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": actions,
                "Resource": [f"acs:kms:local:rotor:secret/{name}"],
            }
        ],
    }
    admin.put_policy(f"{user}-p", json.dumps(policy))
    admin.attach_policy(f"{user}-p", user)
    key = admin.create_access_key(user)
    return key.access_key_id, key.access_key_secret


@pytest.mark.parametrize(
    "params",
    [{}, {"stage": "Current"}, {"stage": "Previous"}, "by version id"],
    ids=["default", "current", "previous", "version-id"],
)
def test_every_path_reads_the_same(
    rotor_server: RunningServer, admin: rotor.client.Client, name: str, params: Any
) -> None:
    if params == "by version id":
        params = {"version_id": admin.get_value(name, stage="Previous").version_id}
    key = _user(admin, ["kms:GetSecretValue"], name)
    answers = {path: read(rotor_server, path, key, name, **params) for path in PATHS}
    assert {path: status for path, (status, _, _) in answers.items()} == dict.fromkeys(PATHS, 200)
    # The native paths answer byte for byte alike; the KMS one says the same in its words.
    native_bodies = {json.dumps(answers[path][1], sort_keys=True) for path in NATIVE_PATHS}
    assert len(native_bodies) == 1
    values = {path: value_of(path, body) for path, (_, body, _) in answers.items()}
    assert all(v == values["bearer"] for v in values.values()), values
    expected = "first" if params.get("stage") == "Previous" or "version_id" in params else "second"
    assert values["bearer"]["value"] == expected
    events = {path: audit_event(admin, name, rid) for path, (_, _, rid) in answers.items()}
    assert all(e == events["bearer"] for e in events.values()), events
    assert events["bearer"] == {
        "action": "kms:GetSecretValue",
        "outcome": "allowed",
        "principal": events["bearer"]["principal"],
        "access_key_id": key[0],
        "secret": name,
        "version_id": values["bearer"]["version_id"],
    }


def test_every_path_refuses_a_caller_without_the_permission(
    rotor_server: RunningServer, admin: rotor.client.Client, name: str
) -> None:
    key = _user(admin, ["kms:DescribeSecret"], name)
    answers = {path: read(rotor_server, path, key, name) for path in PATHS}
    assert {path: status for path, (status, _, _) in answers.items()} == dict.fromkeys(PATHS, 403)
    for path in NATIVE_PATHS:
        assert answers[path][1]["code"] == "AccessDenied"
        assert "second" not in json.dumps(answers[path][1])
    assert answers["kms"][1]["Code"] == "Forbidden.NoPermission"
    events = {path: audit_event(admin, name, rid) for path, (_, _, rid) in answers.items()}
    assert all(e == events["bearer"] for e in events.values()), events
    assert events["bearer"]["outcome"] == "denied"
    assert events["bearer"]["version_id"] is None


@pytest.mark.parametrize(
    "params", [{"version_id": "no-such-version"}, {"stage": "Pending"}], ids=["version", "stage"]
)
def test_every_path_reports_a_missing_version_alike(
    rotor_server: RunningServer, admin: rotor.client.Client, name: str, params: dict[str, str]
) -> None:
    key = _user(admin, ["kms:GetSecretValue"], name)
    answers = {path: read(rotor_server, path, key, name, **params) for path in PATHS}
    assert {path: status for path, (status, _, _) in answers.items()} == dict.fromkeys(PATHS, 404)
    assert {answers[path][1]["code"] for path in NATIVE_PATHS} == {"NotFound"}
    assert answers["kms"][1]["Code"] == "Forbidden.ResourceNotFound"
    events = {path: audit_event(admin, name, rid) for path, (_, _, rid) in answers.items()}
    assert all(e == events["bearer"] for e in events.values()), events
    assert events["bearer"]["outcome"] == "failed"
    assert events["bearer"]["secret"] == name
