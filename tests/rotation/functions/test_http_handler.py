"""``http-function``: a real HTTP endpoint in a thread, its headers in a real rotor secret."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rotor import errors
from rotor.rotation.functions.http_handler import HttpFunction
from rotor.store import secrets
from rotor.store.database import Store
from tests.rotation.functions.conftest import (
    API_URL,
    CREDENTIALS,
    Harness,
    MakeContext,
    registration,
)

HOOK = "hooks/rotate-app"
TOKEN = "Bearer hook-token-93kd7"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    #: Every header line as sent, names lowercased.
    header_lines: list[tuple[str, str]]
    body: bytes


class Endpoint:
    """A function endpoint on 127.0.0.1 that records what it receives; answers by path."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.release = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                endpoint.received.append(
                    Received(
                        method="POST",
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        header_lines=[(k.lower(), v) for k, v in self.headers.items()],
                        body=body,
                    )
                )
                if self.path == "/ok":
                    event = json.loads(body)
                    self._send(
                        200, json.dumps({"VersionId": event["VersionId"], "Seen": event["Step"]})
                    )
                elif self.path == "/empty":
                    self._send(204, "")
                elif self.path == "/text":
                    self._send(200, "all good")
                elif self.path == "/fail":
                    self._send(500, f"boom, sent {self.headers['Authorization']} " + "y" * 2000)
                elif self.path == "/redirect":
                    self._send(302, "", location="/ok")
                elif self.path == "/slow":
                    endpoint.release.wait(10)
                    self._send(200, "{}")
                else:
                    self._send(404, "no such path")

            def _send(self, status: int, body: str, location: str | None = None) -> None:
                data = body.encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()
    served.thread.start()
    yield served
    served.release.set()
    served.server.shutdown()
    served.server.server_close()
    served.thread.join()


def hook_context(
    store: Store,
    make_context: MakeContext,
    url: object,
    headers: dict[str, str] | None = None,
    **parameters: Any,
) -> tuple[Harness, dict[str, Any]]:
    """A function registered with ``url`` and the headers secret HOOK holding ``headers``;
    ``timeout_seconds`` among ``parameters`` goes to the registration."""
    config = {"Headers": headers or {"Authorization": TOKEN}}
    secrets.create_secret(store, name=HOOK, value=json.dumps(config))
    definition: dict[str, Any] = {"url": url, "headers_secret": HOOK}
    if "timeout_seconds" in parameters:
        definition["timeout_seconds"] = parameters.pop("timeout_seconds")
    harness = make_context(
        "app/db", parameters, function=registration("http-function", **definition)
    )
    event = {"SecretName": "app/db", "Step": "new", "VersionId": "version-0001", **parameters}
    return harness, event


def test_the_event_is_posted_with_the_hook_and_rotor_headers(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    harness, event = hook_context(store, make_context, f"{endpoint.url}/ok")

    result = HttpFunction().invoke(event, harness.context)

    assert result == {"VersionId": "version-0001", "Seen": "new"}
    (received,) = endpoint.received
    assert received.path == "/ok"
    assert json.loads(received.body) == event
    assert received.headers["content-type"] == "application/json"
    assert received.headers["authorization"] == TOKEN
    assert received.headers["x-rotor-request-id"] == "version-0001"
    assert received.headers["x-rotor-url"] == API_URL
    assert received.headers["x-rotor-access-key-id"] == CREDENTIALS.access_key_id
    assert received.headers["x-rotor-access-key-secret"] == CREDENTIALS.access_key_secret
    assert received.headers["x-rotor-security-token"] == CREDENTIALS.security_token
    assert len(harness.minted) == 1


def test_the_hooks_headers_cannot_replace_rotors(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    headers = {"Authorization": TOKEN, "content-type": "text/plain", "x-rotor-url": "http://x"}
    harness, event = hook_context(store, make_context, f"{endpoint.url}/ok", headers)

    HttpFunction().invoke(event, harness.context)

    (received,) = endpoint.received
    lines = received.header_lines
    assert [v for k, v in lines if k == "content-type"] == ["application/json"]
    assert [v for k, v in lines if k == "x-rotor-url"] == [API_URL]
    assert [v for k, v in lines if k == "authorization"] == [TOKEN]


def test_headers_that_cannot_be_sent_are_refused(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    headers = {"Authorization": "Bearer tökén"}
    harness, event = hook_context(store, make_context, f"{endpoint.url}/ok", headers)
    with pytest.raises(errors.InvalidParameter, match="not valid HTTP headers"):
        HttpFunction().invoke(event, harness.context)
    assert endpoint.received == []


def test_an_empty_answer_is_no_result(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    harness, event = hook_context(store, make_context, f"{endpoint.url}/empty")
    assert HttpFunction().invoke(event, harness.context) is None


def test_an_answer_that_is_not_a_json_object_is_an_error(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    harness, event = hook_context(store, make_context, f"{endpoint.url}/text")
    with pytest.raises(errors.FunctionFailed, match="answered 200 with a body that is not a JSON"):
        HttpFunction().invoke(event, harness.context)


def test_an_error_status_fails_with_a_short_redacted_body(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    harness, event = hook_context(store, make_context, f"{endpoint.url}/fail")

    with pytest.raises(errors.FunctionFailed) as raised:
        HttpFunction().invoke(event, harness.context)

    message = raised.value.message
    assert message.startswith("the function endpoint answered 500: boom, sent *** yyy")
    assert TOKEN not in message
    assert len(message) < 600
    assert raised.value.code == "RotationFunctionFailed"


def test_redirects_are_not_followed(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    harness, event = hook_context(store, make_context, f"{endpoint.url}/redirect")
    with pytest.raises(errors.FunctionFailed, match="answered 302"):
        HttpFunction().invoke(event, harness.context)
    assert [r.path for r in endpoint.received] == ["/redirect"]


def test_a_slow_endpoint_times_out(
    store: Store, make_context: MakeContext, endpoint: Endpoint
) -> None:
    harness, event = hook_context(store, make_context, f"{endpoint.url}/slow", timeout_seconds=0.5)
    with pytest.raises(errors.FunctionFailed, match=r"did not answer within 0\.5 s"):
        HttpFunction().invoke(event, harness.context)


def test_an_unreachable_endpoint(store: Store, make_context: MakeContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://hookuser:hook-password-55@127.0.0.1:{port}/rotate?key=query-key-66"
    harness, event = hook_context(store, make_context, url)

    with pytest.raises(errors.FunctionFailed) as raised:
        HttpFunction().invoke(event, harness.context)

    message = raised.value.message
    assert message.startswith("cannot reach the function endpoint")
    for leak in ("hook-password-55", "query-key-66", "hookuser", str(port), TOKEN):
        assert leak not in message


def test_a_missing_headers_secret_is_not_found(
    make_context: MakeContext, endpoint: Endpoint
) -> None:
    function = registration("http-function", url=f"{endpoint.url}/ok", headers_secret=HOOK)
    harness = make_context("app/db", {}, function=function)
    with pytest.raises(errors.NotFound):
        HttpFunction().invoke({"SecretName": "app/db", "Step": "new"}, harness.context)
    assert harness.minted == []
    assert endpoint.received == []


def test_without_a_headers_secret_only_rotors_headers_are_sent(
    make_context: MakeContext, endpoint: Endpoint
) -> None:
    harness = make_context(
        "app/db", {}, function=registration("http-function", url=f"{endpoint.url}/ok")
    )
    HttpFunction().invoke(
        {"SecretName": "app/db", "Step": "new", "VersionId": "v1"}, harness.context
    )
    (received,) = endpoint.received
    assert "authorization" not in received.headers
    assert received.headers["x-rotor-access-key-id"] == CREDENTIALS.access_key_id


def test_the_adapter_runs_registered_functions_only(make_context: MakeContext) -> None:
    harness = make_context("app/db", {"WebhookSecret": HOOK})
    with pytest.raises(errors.InvalidParameter, match="registered functions only"):
        HttpFunction().invoke({"Step": "new", "WebhookSecret": HOOK}, harness.context)
    assert harness.minted == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd-secret-path", "ftp://files.example/secret-path", "secret-path", 42],
)
def test_urls_that_are_not_http_are_refused_at_registration(store: Store, url: object) -> None:
    from rotor.access import policies
    from rotor.access.keys import Identity
    from rotor.rotation import registrations
    from rotor.store import functions

    admin = Identity(
        principal_id="p",
        principal_name="admin",
        access_key_id="k",
        layers=((policies.parse_policy(policies.ADMINISTRATOR),),),
    )
    with pytest.raises(errors.InvalidParameter) as raised:
        registrations.register(
            store, store.settings, admin, "fn", kind="http-function", fields={"url": url}
        )
    assert "secret-path" not in raised.value.message
    assert functions.list_functions(store) == []
