"""Passwords, health checks and the OpenAPI document over HTTP."""

from __future__ import annotations

import string
from typing import Any

import httpx
import pytest

from tests.api.support import assert_error

UPPER = set(string.ascii_uppercase)
LOWER = set(string.ascii_lowercase)
DIGITS = set(string.digits)
PUNCT = set(string.punctuation)


def _password(client: httpx.Client, **options: Any) -> str:
    response = client.post("/v1/passwords", json=options)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"password"}
    password: str = body["password"]
    return password


def test_default_password(client: httpx.Client) -> None:
    passwords = {_password(client) for _ in range(5)}
    assert len(passwords) == 5
    for password in passwords:
        assert len(password) == 32
        chars = set(password)
        # Each included type is required by default; no space unless asked.
        assert chars & UPPER
        assert chars & LOWER
        assert chars & DIGITS
        assert chars & PUNCT
        assert " " not in chars
        assert chars <= UPPER | LOWER | DIGITS | PUNCT


def test_empty_body_is_all_defaults(client: httpx.Client) -> None:
    response = client.post("/v1/passwords", json={})
    assert response.status_code == 200
    assert len(response.json()["password"]) == 32


@pytest.mark.parametrize("length", [8, 9, 64, 128])
def test_password_length(client: httpx.Client, length: int) -> None:
    assert len(_password(client, length=length)) == length


def test_password_exclusions(client: httpx.Client) -> None:
    for _ in range(5):
        password = _password(client, exclude_punctuation=True, exclude_numbers=True)
        assert set(password) <= UPPER | LOWER
        assert set(password) & UPPER
        assert set(password) & LOWER

    password = _password(client, exclude_uppercase=True, exclude_lowercase=True, length=40)
    assert set(password) <= DIGITS | PUNCT

    excluded = "abcdefghijklmnopqrstuvwxyz0123456789!\"'`\\"
    for _ in range(5):
        password = _password(client, exclude_characters=excluded, length=128)
        assert not set(password) & set(excluded)


def test_password_only_digits(client: httpx.Client) -> None:
    password = _password(
        client,
        exclude_uppercase=True,
        exclude_lowercase=True,
        exclude_punctuation=True,
        length=20,
    )
    assert len(password) == 20
    assert set(password) <= DIGITS


def test_password_include_space(client: httpx.Client) -> None:
    for _ in range(5):
        password = _password(client, include_space=True, length=8)
        assert " " in password  # required, since each included type is


def test_password_without_required_types(client: httpx.Client) -> None:
    password = _password(
        client, require_each_included_type=False, exclude_punctuation=True, length=8
    )
    assert len(password) == 8
    assert set(password) <= UPPER | LOWER | DIGITS


@pytest.mark.parametrize(
    "options",
    [
        {"length": 7},
        {"length": 129},
        {"length": 0},
        {"length": -5},
        {
            "exclude_uppercase": True,
            "exclude_lowercase": True,
            "exclude_numbers": True,
            "exclude_punctuation": True,
        },
        {
            "exclude_uppercase": True,
            "exclude_lowercase": True,
            "exclude_punctuation": True,
            "exclude_characters": "0123456789",
        },
        # Five types required, not enough room for all of them.
        {"include_space": True, "length": 4},
    ],
)
def test_impossible_passwords(client: httpx.Client, options: dict[str, Any]) -> None:
    assert_error(client.post("/v1/passwords", json=options), 400, "InvalidParameter")


def test_healthz_without_credentials(anon: httpx.Client) -> None:
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_readyz_without_credentials(anon: httpx.Client) -> None:
    response = anon.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert response.headers["x-request-id"]


def test_health_with_credentials_too(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


V1_ROUTES = {
    ("post", "/v1/secrets"),
    ("get", "/v1/secrets"),
    ("get", "/v1/secrets/{name}"),
    ("patch", "/v1/secrets/{name}"),
    ("delete", "/v1/secrets/{name}"),
    ("post", "/v1/secrets/{name}:restore"),
    ("get", "/v1/secrets/{name}:value"),
    ("post", "/v1/secrets/{name}:versions"),
    ("get", "/v1/secrets/{name}:versions"),
    ("post", "/v1/secrets/{name}:stage"),
    ("post", "/v1/passwords"),
}


def test_openapi_lists_every_route(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    routes = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "patch", "put", "delete"}
    }
    missing = V1_ROUTES - routes
    assert not missing
    assert {("get", "/healthz"), ("get", "/readyz")} <= routes
