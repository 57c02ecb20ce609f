"""Bodies the server cannot use, and methods a path does not have, over real HTTP: each
gets a documented code (never the bare ``InvalidRequest``) and a message saying what is
wrong."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import assert_error, unique

JSON = {"Content-Type": "application/json"}
BODY_ROUTES = [
    ("POST", "/v1/secrets"),
    ("POST", "/v1/passwords"),
    ("PATCH", "/v1/secrets/{name}"),
    ("POST", "/v1/secrets/{name}:versions"),
    ("PUT", "/v1/policies/p-{name}"),
]


def _path(template: str) -> str:
    return template.format(name=unique("bodies"))


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_that_is_not_utf8(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, _path(path), content=b'{"name": "\xff\xfe"}', headers=JSON)
    body = assert_error(response, 400, "MalformedRequest")
    assert "UTF-8" in body["message"]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_nested_5000_deep(client: httpx.Client, method: str, path: str) -> None:
    for deep in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        response = client.request(method, _path(path), content=deep, headers=JSON)
        body = assert_error(response, 400, "MalformedRequest")
        assert "nested too deeply" in body["message"]


def test_a_body_that_is_not_json(client: httpx.Client) -> None:
    response = client.post("/v1/secrets", content=b'{"name": ', headers=JSON)
    body = assert_error(response, 400, "MalformedRequest")
    assert body["message"].startswith("the request body is not valid JSON")


def test_an_empty_body_names_the_missing_fields(client: httpx.Client) -> None:
    body = assert_error(client.post("/v1/secrets", headers=JSON), 400, "InvalidParameter")
    assert body["message"] == "the request body is missing: a JSON object with name"
    body = assert_error(client.post("/v1/principals", headers=JSON), 400, "InvalidParameter")
    assert "with name" in body["message"]
    body = assert_error(
        client.put(f"/v1/functions/{unique('f')}", headers=JSON), 400, "InvalidParameter"
    )
    assert "with kind" in body["message"]


def test_an_empty_body_of_an_operation_with_no_required_field(client: httpx.Client) -> None:
    response = client.patch(f"/v1/secrets/{unique('bodies')}", headers=JSON)
    body = assert_error(response, 400, "InvalidParameter")
    assert "the request body is missing" in body["message"]


def test_no_response_carries_the_undocumented_code(client: httpx.Client) -> None:
    """The requests that used to get ``InvalidRequest``."""
    for content in (b"\xff", b"[" * 5000, b"", b"null", b"[]", b'"x"'):
        response = client.post("/v1/secrets", content=content, headers=JSON)
        assert response.status_code == 400, response.text
        assert response.json()["code"] in {"MalformedRequest", "InvalidParameter"}


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "PURGE", "OPTIONS"])
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/secrets", {"GET", "POST"}),
        ("/v1/secrets/{name}:value", {"GET"}),
        ("/v1/whoami", {"GET"}),
        ("/healthz", {"GET"}),
    ],
)
def test_an_unknown_method_on_a_known_path(
    client: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, _path(path))
    body = assert_error(response, 405, "MethodNotAllowed")
    assert method in body["message"]
    assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}


def test_an_unknown_method_without_credentials_is_unauthenticated(anon: httpx.Client) -> None:
    """Under /v1 authentication still comes first: no probing of paths without a key."""
    assert_error(anon.request("TRACE", "/v1/secrets"), 401, "Unauthenticated")


def test_an_unknown_path_is_still_no_operation(client: httpx.Client) -> None:
    assert_error(client.request("TRACE", "/v1/nope"), 404, "UnknownOperation")
    assert_error(client.get("/v1/nope"), 404, "UnknownOperation")


def test_a_method_of_the_api_the_path_lacks_is_no_operation(client: httpx.Client) -> None:
    """``PUT /v1/secrets`` is an operation the API does not have (tests/api/test_errors.py)."""
    response = client.put("/v1/secrets", json={})
    assert_error(response, 404, "UnknownOperation")
    assert "allow" not in response.headers
