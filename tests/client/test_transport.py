"""Retries and error mapping, through the client's injectable transport.

The real server cannot be made to fail on demand with a 503 or a dropped
connection, so these tests answer through ``httpx.MockTransport`` (the seam a
``Client`` exposes for this); everything else is tested against a real server.
"""

from __future__ import annotations

import json

import httpx
import pytest

import rotor.client
from rotor import errors

FAST = rotor.client.Retry(attempts=3, backoff=0.001, max_backoff=0.002)
NOW = "2026-11-28T10:00:00.000000Z"
SECRET = {
    "name": "app/db",
    "type": "Generic",
    "description": "",
    "tags": {},
    "created_at": NOW,
    "updated_at": NOW,
    "delete_after": None,
    "stages": {"Current": "v1"},
}


def error_body(code: str, message: str = "boom", request_id: str = "rid123") -> dict[str, str]:
    return {"code": code, "message": message, "request_id": request_id}


class Script:
    """Answers requests from a list of responses (or exceptions), recording each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script: Script) -> rotor.client.Client:
    return rotor.client.Client(
        "http://rotor.test",
        access_key_id="RKID",
        access_key_secret="keysecret",
        retry=FAST,
        transport=httpx.MockTransport(script),
    )


def test_get_retried_on_5xx() -> None:
    script = Script(
        httpx.Response(503, json=error_body("ServiceUnavailable")),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, json=SECRET),
    )
    with make_client(script) as client:
        assert client.describe_secret("app/db").name == "app/db"
    assert len(script.requests) == 3


def test_retries_give_up_with_the_last_error() -> None:
    script = Script(httpx.Response(503, json=error_body("ServiceUnavailable", "store down")))
    with make_client(script) as client, pytest.raises(errors.ServiceUnavailable) as caught:
        client.describe_secret("app/db")
    assert len(script.requests) == 1 + FAST.attempts
    assert caught.value.exit_code == 6
    assert "rid123" in caught.value.message


def test_non_idempotent_not_retried_on_5xx() -> None:
    script = Script(httpx.Response(503, json=error_body("ServiceUnavailable")))
    with make_client(script) as client, pytest.raises(errors.ServiceUnavailable):
        client.create_secret("app/db")
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "InvalidParameter", errors.InvalidParameter),
        (401, "Unauthenticated", errors.Unauthenticated),
        (403, "AccessDenied", errors.AccessDenied),
        (404, "NotFound", errors.NotFound),
        (404, "UnknownOperation", errors.UnknownOperation),
        (409, "VersionConflict", errors.VersionConflict),
        (409, "SomethingNew", errors.Conflict),
        (413, "ValueTooLarge", errors.ValueTooLarge),
        (429, "SlowDown", errors.InvalidRequest),
    ],
)
def test_4xx_mapped_and_never_retried(
    status: int, code: str, error: type[errors.RotorError]
) -> None:
    script = Script(httpx.Response(status, json=error_body(code, "server says no")))
    with make_client(script) as client, pytest.raises(error) as caught:
        client.get_value("app/db")
    assert type(caught.value) is error
    assert caught.value.message == "server says no"
    assert len(script.requests) == 1


def test_decryption_failure_not_retried() -> None:
    script = Script(httpx.Response(500, json=error_body("DecryptionFailed")))
    with make_client(script) as client, pytest.raises(errors.DecryptionFailed):
        client.get_value("app/db")
    assert len(script.requests) == 1


def test_put_retried_with_the_same_version_id() -> None:
    version = {"name": "app/db", "version_id": "x", "stages": ["Current"], "created_at": NOW}
    script = Script(
        httpx.ReadError("connection reset"),
        httpx.Response(500, json=error_body("InternalError")),
        httpx.Response(200, json=version),
    )
    with make_client(script) as client:
        client.put_value("app/db", "value")
    bodies = [json.loads(request.content) for request in script.requests]
    assert len(bodies) == 3
    assert bodies[0]["version_id"]
    assert all(body == bodies[0] for body in bodies)


def test_connect_errors_retried_for_any_request() -> None:
    # The request never reached the server, so even a create can be sent again.
    script = Script(httpx.ConnectError("connection refused"), httpx.Response(201, json=SECRET))
    with make_client(script) as client:
        assert client.create_secret("app/db").name == "app/db"
    assert len(script.requests) == 2


def test_lost_response_of_a_create_not_retried() -> None:
    script = Script(httpx.ReadError("connection reset"), httpx.Response(201, json=SECRET))
    with make_client(script) as client, pytest.raises(errors.ServerUnreachable) as caught:
        client.create_secret("app/db")
    assert len(script.requests) == 1
    assert "http://rotor.test" in caught.value.message


def test_timeout_reported_as_unreachable() -> None:
    script = Script(httpx.ReadTimeout("slow"))
    with make_client(script) as client, pytest.raises(errors.ServerUnreachable, match="timed out"):
        client.describe_secret("app/db")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>hello</html>"),
        httpx.Response(200, json={"unexpected": "shape", "value": "leaked-secret"}),
        httpx.Response(
            200,
            json={
                "name": "app/db",
                "version_id": "v",
                "stages": [],
                "created_at": "yesterday",
                "value": "leaked-secret",
            },
        ),
    ],
)
def test_unexpected_success_body(answer: httpx.Response) -> None:
    with make_client(Script(answer)) as client, pytest.raises(errors.InternalError) as caught:
        client.get_value("app/db")
    assert "leaked-secret" not in caught.value.message
    assert caught.value.__cause__ is None


def test_non_rotor_error_page() -> None:
    script = Script(httpx.Response(404, text="<html>not here</html>"))
    with make_client(script) as client, pytest.raises(errors.NotFound, match="rotor server"):
        client.describe_secret("app/db")


def test_requests_on_the_wire() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(200, json={"secrets": [SECRET], "next_page_token": None})

    client = rotor.client.Client(
        "http://rotor.test/",
        access_key_id="RKID",
        access_key_secret="keysecret",
        transport=httpx.MockTransport(answer),
    )
    with client:
        client.healthz()
        list(client.iter_secrets(prefix="app/", tags={"team": "a", "env": "prod"}))
    health, listing = seen
    assert "authorization" not in health.headers
    assert listing.headers["authorization"] == "Bearer RKID.keysecret"
    assert listing.url.path == "/v1/secrets"
    assert listing.url.params.get_list("tag") == ["team=a", "env=prod"]
    assert listing.url.params["prefix"] == "app/"


def test_paths() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=SECRET)

    with rotor.client.Client(
        "http://rotor.test",
        access_key_id="RKID",
        access_key_secret="keysecret",
        transport=httpx.MockTransport(answer),
    ) as client:
        client.describe_secret("app/db")
        client.describe_secret("a+b=c@d.e_f-g")
        client.describe_secret("a/../b")
        client.restore_secret("./x")
    assert seen == [
        "/v1/secrets/app/db",
        "/v1/secrets/a+b=c@d.e_f-g",
        "/v1/secrets/a/%2E%2E/b",
        "/v1/secrets/%2E/x:restore",
    ]


def test_backoff_is_capped_and_grows() -> None:
    retry = rotor.client.Retry(backoff=0.5, max_backoff=2.0)
    assert all(0.25 <= retry.delay(1) <= 0.5 for _ in range(50))
    assert all(0.5 <= retry.delay(2) <= 1.0 for _ in range(50))
    assert all(1.0 <= retry.delay(20) <= 2.0 for _ in range(50))


def test_no_retry_when_disabled() -> None:
    client = rotor.client.Client(
        "http://rotor.test",
        access_key_id="RKID",
        access_key_secret="keysecret",
        retry=rotor.client.Retry(attempts=0),
        transport=httpx.MockTransport(Script(httpx.ConnectError("refused"))),
    )
    with client, pytest.raises(errors.ServerUnreachable):
        client.healthz()


def test_requests_carry_the_timeouts() -> None:
    script = Script(httpx.Response(200, json={"events": [], "next": 7}))
    timeout = httpx.Timeout(3.0, connect=1.0)
    with rotor.client.Client(
        "http://rotor.test",
        access_key_id="RKID",
        access_key_secret="keysecret",
        timeout=timeout,
        transport=httpx.MockTransport(script),
    ) as client:
        client.list_events(since=1, wait=20)
        client.list_events()
    held, plain = (request.extensions["timeout"] for request in script.requests)
    assert plain == timeout.as_dict()
    # A long poll's read timeout is longer by the time the server may hold the answer back.
    assert held == {**timeout.as_dict(), "read": 23.0}


def test_headers_kept_per_client_stay_each_requests_own() -> None:
    script = Script(
        httpx.Response(200, json=SECRET),
        httpx.Response(200, json=SECRET),
        httpx.Response(200, json={"status": "ok"}),
    )
    client = rotor.client.Client(
        "http://rotor.test:8200",
        access_key_id="RKID",
        access_key_secret="keysecret",
        signing="hmac",
        transport=httpx.MockTransport(script),
    )
    with client:
        client.describe_secret("app/db")
        client.describe_secret("app/db")
        client.healthz()
    first, second, health = script.requests
    signed = [request.headers.get_list("authorization") for request in (first, second)]
    assert [len(values) for values in signed] == [1, 1]
    assert signed[0] != signed[1]  # a fresh nonce each, not the first request's header
    assert "authorization" not in health.headers
    assert {request.headers["host"] for request in script.requests} == {"rotor.test:8200"}
    assert first.headers["user-agent"] == "rotor-client"
