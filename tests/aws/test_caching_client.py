"""AWS's caching client (aws-secretsmanager-caching from PyPI, unmodified) reading through
rotor: its ``SecretCache`` over a botocore client pointed at the session's server serves a
value from its cache until its refresh interval has passed, then the new one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from aws_secretsmanager_caching import (
    InjectKeywordedSecretString,
    InjectSecretString,
    SecretCache,
    SecretCacheConfig,
)
from botocore.config import Config

import rotor.client
from tests.aws.conftest import name as _name
from tests.services.server import RunningServer

#: How long a test waits for the cache to refresh (its interval is a second).
DEADLINE = 60.0


@pytest.fixture
def botocore_client(rotor_server: RunningServer) -> Iterator[Any]:
    """A plain botocore client (what the caching client is given) with the admin key."""
    made = botocore.session.get_session().create_client(
        "secretsmanager",
        endpoint_url=rotor_server.url,
        region_name="us-east-1",
        aws_access_key_id=rotor_server.access_key_id,
        aws_secret_access_key=rotor_server.access_key_secret,
        config=Config(retries={"max_attempts": 1}),
    )
    yield made
    made.close()


def cache_of(client: Any, refresh_seconds: int) -> SecretCache:
    return SecretCache(
        config=SecretCacheConfig(secret_refresh_interval=refresh_seconds), client=client
    )


def eventually(read: Callable[[], str], expected: str) -> None:
    """Poll ``read`` until it gives ``expected`` (the cache refreshes in its own time)."""
    deadline = time.monotonic() + DEADLINE
    seen = read()
    while seen != expected:
        assert time.monotonic() < deadline, f"still {seen!r} after {DEADLINE}s"
        time.sleep(0.1)
        seen = read()


def test_the_cache_serves_its_value_until_it_refreshes(
    botocore_client: Any, admin: rotor.client.Client
) -> None:
    name = _name()
    botocore_client.create_secret(Name=name, SecretString="one")
    held = cache_of(botocore_client, refresh_seconds=3600)
    refreshing = cache_of(botocore_client, refresh_seconds=1)
    assert held.get_secret_string(name) == "one"
    assert refreshing.get_secret_string(name) == "one"

    admin.put_value(name, "two")  # through the native API
    assert admin.get_value(name).value == "two"
    assert held.get_secret_string(name) == "one"  # an hour is not up
    eventually(lambda: refreshing.get_secret_string(name), "two")

    botocore_client.put_secret_value(SecretId=name, SecretString="three")  # through boto
    eventually(lambda: refreshing.get_secret_string(name), "three")
    assert held.get_secret_string(name) == "one"
    held.refresh_secret_now(name)
    assert held.get_secret_string(name) == "three"


def test_a_version_stage_and_a_binary_value(
    botocore_client: Any, admin: rotor.client.Client
) -> None:
    name = _name()
    botocore_client.create_secret(Name=name, SecretString="first")
    botocore_client.put_secret_value(SecretId=name, SecretString="second")
    admin.put_value(name, "next", stages=["Pending"])
    cache = cache_of(botocore_client, refresh_seconds=3600)
    assert cache.get_secret_string(name) == "second"
    assert cache.get_secret_string(name, "AWSCURRENT") == "second"
    assert cache.get_secret_string(name, "AWSPREVIOUS") == "first"
    assert cache.get_secret_string(name, "AWSPENDING") == "next"
    assert cache.get_secret_string(name, "NoSuchStage") is None

    binary = _name()
    botocore_client.create_secret(Name=binary, SecretBinary=b"\x00\x01key")
    assert cache.get_secret_binary(binary) == b"\x00\x01key"


def test_a_missing_secret_raises_the_sdks_error(botocore_client: Any) -> None:
    cache = cache_of(botocore_client, refresh_seconds=3600)
    with pytest.raises(botocore_client.exceptions.ResourceNotFoundException):
        cache.get_secret_string(_name())


def test_the_decorators_inject_values_read_through_rotor(botocore_client: Any) -> None:
    plain, structured = _name(), _name()
    botocore_client.create_secret(Name=plain, SecretString="api-key")
    botocore_client.create_secret(
        Name=structured, SecretString=json.dumps({"username": "app", "password": "pw"})
    )
    cache = cache_of(botocore_client, refresh_seconds=3600)

    @InjectSecretString(plain, cache)
    def with_string(value: str) -> str:
        return value

    @InjectKeywordedSecretString(structured, cache, user="username", secret="password")
    def with_keywords(user: str, secret: str) -> tuple[str, str]:
        return user, secret

    assert with_string() == "api-key"
    assert with_keywords() == ("app", "pw")
