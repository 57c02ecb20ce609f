"""Helpers for the HTTP API tests: plain-httpx clients of a real server, and response checks.

The server itself comes from ``tests.services.server`` (``rotor_server``, ``start_server``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.services.server import RunningServer

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
TRACEBACK_MARKERS = ("Traceback", 'File "')
ERROR_KEYS = {"code", "message", "request_id"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiServer:
    """Where a running ``rotor serve`` listens and the admin credentials it wrote."""

    url: str
    data_dir: Path
    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)

    @property
    def bearer(self) -> str:
        return f"Bearer {self.access_key_id}.{self.access_key_secret}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An authenticated client; close it (use it in a ``with``)."""
        headers = {"Authorization": self.bearer, **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    @classmethod
    def of(cls, running: RunningServer) -> ApiServer:
        return cls(
            url=running.url,
            data_dir=running.data_dir,
            access_key_id=running.access_key_id,
            access_key_secret=running.access_key_secret,
        )


def unique(prefix: str = "t") -> str:
    """A secret name no other test uses on the shared server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def assert_error(response: httpx.Response, status: int, code: str | set[str]) -> dict[str, Any]:
    """The response is the one error envelope with this status and code."""
    body = assert_envelope(response)
    codes = {code} if isinstance(code, str) else code
    assert (response.status_code, body["code"]) in {(status, c) for c in codes}, (
        response.status_code,
        body,
    )
    return body


def assert_envelope(response: httpx.Response) -> dict[str, Any]:
    """Shape of every error: exactly code/message/request_id, request id echoed, no traceback."""
    assert response.status_code >= 400, response.text
    for marker in TRACEBACK_MARKERS:
        assert marker not in response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert set(body) == ERROR_KEYS, body
    assert all(isinstance(body[k], str) and body[k] for k in ERROR_KEYS), body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def assert_time(value: object) -> None:
    assert isinstance(value, str)
    assert RFC3339_UTC.fullmatch(value), value


def all_versions(client: httpx.Client, name: str, page_size: int = 7) -> list[dict[str, Any]]:
    """Every version of a secret, following next_page_token."""
    return list(_pages(client, f"/v1/secrets/{name}:versions", "versions", page_size, {}))


def all_secrets(
    client: httpx.Client, page_size: int = 50, **params: str | list[str]
) -> list[dict[str, Any]]:
    return list(_pages(client, "/v1/secrets", "secrets", page_size, params))


def _pages(
    client: httpx.Client,
    path: str,
    key: str,
    page_size: int,
    params: dict[str, str | list[str]],
) -> Iterator[dict[str, Any]]:
    token: str | None = None
    for _ in range(1000):
        query: dict[str, str | int | list[str]] = {**params, "page_size": page_size}
        if token is not None:
            query["page_token"] = token
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {key, "next_page_token"}
        assert len(body[key]) <= page_size
        yield from body[key]
        token = body["next_page_token"]
        if token is None:
            return
        assert body[key], "a page with a next_page_token must not be empty"
    raise AssertionError("paging never ended")
