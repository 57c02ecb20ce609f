"""Fixtures of the AWS dialect's tests: boto3 clients of the session's ``rotor serve``.

- :func:`sm_client`: a boto3 ``secretsmanager`` client with a rotor key (closed after the test);
- ``client``: one with the admin key; ``admin``: a native client with the admin key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

import rotor.client
from tests.services.server import RunningServer


def name() -> str:
    """A secret (or principal) name no other test of the session uses."""
    return f"aws-{uuid.uuid4().hex[:12]}"


_opened: list[Any] = []


def sm_client(server: RunningServer, key_id: str, secret: str, token: str | None = None) -> Any:
    """A boto3 client of the server; closed after the test."""
    made = boto3.client(
        "secretsmanager",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )
    _opened.append(made)
    return made


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


@pytest.fixture
def admin(rotor_server: RunningServer) -> Iterator[rotor.client.Client]:
    with rotor_server.client() as native:
        yield native


@pytest.fixture
def client(rotor_server: RunningServer) -> Any:
    return sm_client(rotor_server, rotor_server.access_key_id, rotor_server.access_key_secret)
