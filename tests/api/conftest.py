"""Fixtures for the HTTP API tests: the session's real server, and plain httpx clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api import support
from tests.services.server import RunningServer


@pytest.fixture(scope="session")
def api_server(rotor_server: RunningServer) -> support.ApiServer:
    """The session's ``rotor serve`` (shared by the whole run: use unique secret names)."""
    return support.ApiServer.of(rotor_server)


@pytest.fixture
def client(api_server: support.ApiServer) -> Iterator[httpx.Client]:
    """A client carrying the admin credentials."""
    with api_server.client() as c:
        yield c


@pytest.fixture
def anon(api_server: support.ApiServer) -> Iterator[httpx.Client]:
    """A client with no credentials."""
    with api_server.anonymous() as c:
        yield c


@pytest.fixture
def name() -> str:
    """A secret name no other test uses (the server is shared)."""
    return support.unique("api/t")
