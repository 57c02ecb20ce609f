"""Fixtures for the client tests: a client of the shared server, and unique secret names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import rotor.client
from tests.services.server import RunningServer


@pytest.fixture
def client(rotor_server: RunningServer) -> Iterator[rotor.client.Client]:
    """A client of the session's server, with the admin key."""
    with rotor_server.client() as c:
        yield c


@pytest.fixture
def name() -> str:
    """A secret name no other test uses (the server is shared by the session)."""
    return f"client-{uuid.uuid4().hex[:12]}/secret"
