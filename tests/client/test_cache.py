"""SecretCache against a real ``rotor serve``: hits stay in memory, refreshes see new stages,
stale values are served while the server is down, LRU eviction, threads, and errors.

The cache's client sends through :class:`CountingTransport`, the real network with a count
of the value reads that reach it (and a few faults to inject: a 5xx answer, a held request).
Most tests drive the cache's clock by hand; one checks the refresh interval on the real one.
"""

from __future__ import annotations

import collections
import inspect
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, assert_type
from urllib.parse import unquote, urlsplit

import httpx
import pytest

import rotor.client
from rotor import errors
from rotor.client import _models
from rotor.client.cache import ClientOptions, SecretCache
from tests.services.server import RunningServer, start_server, stop_server

NO_RETRY = rotor.client.Retry(attempts=0)
READ_ALL = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": "*"}],
}


class CountingTransport(httpx.BaseTransport):
    """The network, counting value reads per secret name (every attempt, answered or not).

    ``status`` makes value reads answer that 5xx status with the server's error envelope
    instead of reaching the server; ``gate``, when set, holds value reads until it opens.
    """

    def __init__(self) -> None:
        self._network = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.reads: collections.Counter[str] = collections.Counter()
        self.status: int | None = None
        self.gate: threading.Event | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        if path.startswith("/v1/secrets/") and path.endswith(":value"):
            with self._lock:
                self.reads[path.removeprefix("/v1/secrets/").removesuffix(":value")] += 1
            if self.gate is not None:
                self.gate.wait(10)
            if self.status is not None:
                code = "ServiceUnavailable" if self.status == 503 else "InternalError"
                body = {"code": code, "message": "injected", "request_id": "test"}
                return httpx.Response(self.status, json=body, request=request)
        return self._network.handle_request(request)

    def close(self) -> None:
        self._network.close()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def transport() -> CountingTransport:
    return CountingTransport()


@pytest.fixture
def clock() -> Clock:
    return Clock()


MakeCache = Callable[..., SecretCache]


@pytest.fixture
def make_cache(
    rotor_server: RunningServer, transport: CountingTransport, clock: Clock
) -> Iterator[MakeCache]:
    """A cache of the session's server on the counting transport and the hand-moved clock."""
    made: list[SecretCache] = []

    def make(**kwargs: Any) -> SecretCache:
        kwargs.setdefault("clock", clock)
        cache = SecretCache(rotor_server.client(transport=transport, retry=NO_RETRY), **kwargs)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()
        cache.client.close()


def test_a_hit_does_not_reach_the_server(
    make_cache: MakeCache, client: rotor.client.Client, transport: CountingTransport, name: str
) -> None:
    client.create_secret(name, value="one", version_id="v1")
    cache = make_cache()
    for _ in range(1000):
        assert cache.get_value(name) == "one"
    assert transport.reads[name] == 1
    # The server's own record agrees: one read of the value.
    events = client.list_audit_events(secret=name, action="kms:GetSecretValue").items
    assert len(events) == 1

    secret = cache.get_secret_value(name)
    assert_type(secret, rotor.client.SecretValue)
    assert (secret.version_id, secret.stages) == ("v1", ("Current",))
    assert cache.get_value(name, stage="Current") == "one"  # the same entry
    assert transport.reads[name] == 1
    assert len(cache) == 1


def test_stage_change_seen_within_the_interval(
    rotor_server: RunningServer, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="one")
    with SecretCache(rotor_server.client(), refresh_interval=0.5) as cache:
        read_at = time.monotonic()
        assert cache.get_value(name) == "one"
        client.put_value(name, "two")
        if time.monotonic() - read_at < 0.4:
            assert cache.get_value(name) == "one"  # still fresh in memory
        deadline = read_at + 0.5 + 5.0
        while cache.get_value(name) != "two":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert time.monotonic() - read_at >= 0.5
        cache.client.close()


def test_refresh_fetches_now_and_invalidate_forgets(
    make_cache: MakeCache, client: rotor.client.Client, transport: CountingTransport, name: str
) -> None:
    client.create_secret(name, value="one", version_id="v1")
    cache = make_cache()
    assert cache.get_value(name) == "one"
    client.put_value(name, "two", version_id="v2")
    assert cache.get_value(name) == "one"

    refreshed = cache.refresh(name)
    assert (refreshed.value, refreshed.version_id) == ("two", "v2")
    assert cache.get_value(name) == "two"
    assert transport.reads[name] == 2

    # Stages and version ids are entries of their own.
    assert cache.get_value(name, stage="Previous") == "one"
    assert cache.get_value(name, version_id="v2") == "two"
    assert len(cache) == 3
    cache.invalidate(name, stage="Previous")
    assert len(cache) == 2
    cache.invalidate(name)
    assert len(cache) == 0
    assert cache.get_value(name) == "two"
    assert transport.reads[name] == 5


def test_an_expired_value_is_fetched_again(
    make_cache: MakeCache,
    client: rotor.client.Client,
    transport: CountingTransport,
    clock: Clock,
    name: str,
) -> None:
    client.create_secret(name, value="one")
    cache = make_cache(refresh_interval=60)
    assert cache.get_value(name) == "one"
    client.put_value(name, "two")
    clock.advance(59.9)
    assert cache.get_value(name) == "one"
    clock.advance(0.1)
    assert cache.get_value(name) == "two"
    assert transport.reads[name] == 2


def test_binary_values_and_json(
    make_cache: MakeCache, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name + "-bin", value=b"\x00\xffkey")
    client.create_secret(name + "-json", value=json.dumps({"user": "app", "port": 5432}))
    cache = make_cache()
    assert cache.get_value(name + "-bin") == b"\x00\xffkey"
    config = cache.get_json(name + "-json")
    assert_type(config, dict[str, Any])
    assert config == {"user": "app", "port": 5432}
    config["user"] = "changed"  # a new dict each call: the cache is not changed
    assert cache.get_json(name + "-json")["user"] == "app"


def test_get_json_decodes_once_per_fetched_value(
    make_cache: MakeCache,
    client: rotor.client.Client,
    clock: Clock,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = {"user": "app", "port": 5432, "hosts": ["a", "b"], "tls": {"ca": "x"}}
    client.create_secret(name, value=json.dumps(document))
    decoded: list[str] = []
    real_load_json = _models.load_json

    def load_json(secret: rotor.client.SecretValue) -> dict[str, Any]:
        decoded.append(secret.version_id)
        return real_load_json(secret)

    monkeypatch.setattr(_models, "load_json", load_json)
    cache = make_cache(refresh_interval=60)
    for _ in range(100):
        assert cache.get_json(name) == document
    assert len(decoded) == 1

    # A caller changing what it got, at any depth, changes nothing in the cache.
    mine = cache.get_json(name)
    mine["user"] = "changed"
    mine["hosts"].append("c")
    mine["tls"]["ca"] = "changed"
    del mine["port"]
    assert cache.get_json(name) == document
    flat = {"user": "app", "port": 5432}
    client.put_value(name, json.dumps(flat), version_id="v2")
    clock.advance(60)  # the next read fetches v2, which is decoded once
    mine = cache.get_json(name)
    mine["user"] = "changed"
    assert cache.get_json(name) == flat
    assert cache.get_value(name) == json.dumps(flat)
    assert decoded[1:] == ["v2"]


@pytest.mark.parametrize(
    ("value", "message"),
    [("not json at all", "does not hold JSON"), ("[1, 2]", "does not hold a JSON object")],
)
def test_get_json_of_something_else(
    make_cache: MakeCache, client: rotor.client.Client, name: str, value: str, message: str
) -> None:
    client.create_secret(name, value=value, version_id="v1")
    with pytest.raises(errors.InvalidParameter, match=message) as raised:
        make_cache().get_json(name)
    assert name in raised.value.message
    assert "v1" in raised.value.message
    assert value not in raised.value.message


def test_least_recently_read_is_evicted(
    make_cache: MakeCache, client: rotor.client.Client, transport: CountingTransport, name: str
) -> None:
    a, b, c = (f"{name}-{suffix}" for suffix in "abc")
    for secret in (a, b, c):
        client.create_secret(secret, value=secret[-1])
    cache = make_cache(max_size=2)
    cache.get_value(a)
    cache.get_value(b)
    cache.get_value(a)  # now b is the least recently read
    cache.get_value(c)
    assert len(cache) == 2
    assert cache.get_value(a) == "a"
    assert cache.get_value(c) == "c"
    assert (transport.reads[a], transport.reads[c]) == (1, 1)
    assert cache.get_value(b) == "b"  # fetched again, evicting a
    assert transport.reads[b] == 2
    cache.get_value(a)
    assert transport.reads[a] == 2


def test_not_found_and_access_denied_are_raised_not_masked(
    make_cache: MakeCache,
    rotor_server: RunningServer,
    client: rotor.client.Client,
    transport: CountingTransport,
    clock: Clock,
    name: str,
) -> None:
    cache = make_cache()
    with pytest.raises(errors.NotFound):
        cache.get_value(name)
    client.create_secret(name, value="one")
    assert cache.get_value(name) == "one"  # a failure is not cached
    client.delete_secret(name, force=True)
    clock.advance(cache.refresh_interval)
    with pytest.raises(errors.NotFound):
        cache.get_value(name)
    assert len(cache) == 0  # the refused value is gone, not served later
    with pytest.raises(errors.NotFound):
        cache.get_value(name)

    uid = uuid.uuid4().hex[:10]
    client.create_secret(name + "-kept", value="kept")
    user = client.create_principal(f"cache-user-{uid}")
    key = client.create_access_key(user.name)
    policy = client.put_policy(f"cache-read-{uid}", READ_ALL)
    client.attach_policy(policy.name, user.name)
    as_user = rotor_server.client(
        access_key_id=key.access_key_id,
        access_key_secret=key.access_key_secret,
        transport=transport,
        retry=NO_RETRY,
    )
    with as_user, SecretCache(as_user, clock=clock) as user_cache:
        assert user_cache.get_value(name + "-kept") == "kept"
        client.detach_policy(policy.name, user.name)
        assert user_cache.get_value(name + "-kept") == "kept"  # fresh: not asked
        clock.advance(user_cache.refresh_interval)
        with pytest.raises(errors.AccessDenied):
            user_cache.get_value(name + "-kept")
        with pytest.raises(errors.AccessDenied):
            user_cache.refresh(name + "-kept")


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_answer_serves_the_last_value_with_backoff(
    make_cache: MakeCache,
    client: rotor.client.Client,
    transport: CountingTransport,
    clock: Clock,
    name: str,
    status: int,
) -> None:
    client.create_secret(name, value="one")
    cache = make_cache(refresh_interval=10, backoff=1, max_backoff=4)
    assert cache.get_value(name) == "one"
    transport.status = status
    clock.advance(10)
    assert cache.get_value(name) == "one"
    assert transport.reads[name] == 2
    # Tries again after 1, 2, 4, 4 s: never sooner.
    for delay in (1, 2, 4, 4):
        clock.advance(delay - 0.01)
        assert cache.get_value(name) == "one"
        reads = transport.reads[name]
        clock.advance(0.01)
        assert cache.get_value(name) == "one"
        assert transport.reads[name] == reads + 1
    with pytest.raises(errors.ServerError):
        cache.refresh(name)  # an explicit refresh says what went wrong
    with pytest.raises(errors.ServerError) as cold:
        cache.get_value(name, stage="Previous")  # nothing cached: nothing to serve
    assert cold.value.http_status == status

    transport.status = None
    client.put_value(name, "two")
    clock.advance(4)
    assert cache.get_value(name) == "two"
    clock.advance(9.9)
    assert cache.get_value(name) == "two"  # fresh for a whole interval again
    assert transport.reads[name] == 2 + 4 + 2 + 1  # reads, retries, refresh + Previous, recovery


def test_stale_values_while_the_server_is_stopped(tmp_path: Path, clock: Clock) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    port = urlsplit(server.url).port
    transport = CountingTransport()
    try:
        with server.client() as admin:
            admin.create_secret("app/db", value="one")
            admin.create_secret("app/other", value="other")
        client = server.client(
            transport=transport, retry=NO_RETRY, timeout=httpx.Timeout(2.0, connect=1.0)
        )
        cache = SecretCache(client, refresh_interval=10, backoff=1, max_backoff=8, clock=clock)
        assert cache.get_value("app/db") == "one"
    finally:
        assert stop_server(server) == 0

    clock.advance(10)
    assert cache.get_value("app/db") == "one"  # unreachable: the last value
    assert transport.reads["app/db"] == 2
    assert cache.get_value("app/db") == "one"  # backing off: not tried again yet
    assert transport.reads["app/db"] == 2
    clock.advance(1)
    assert cache.get_value("app/db") == "one"
    assert transport.reads["app/db"] == 3
    with pytest.raises(errors.ServerUnreachable):
        cache.get_value("app/other")  # a cold miss has nothing to serve
    with pytest.raises(errors.ServerUnreachable):
        cache.refresh("app/db")

    again = start_server(data_dir, extra_args=["--port", str(port)])
    try:
        assert again.url == server.url
        with again.client() as admin:
            admin.put_value("app/db", "two")
        assert cache.get_value("app/db") == "one"  # backing off: 4 s after the third failure
        clock.advance(4)
        assert cache.get_value("app/db") == "two"
        assert cache.get_value("app/other") == "other"
    finally:
        cache.close()
        client.close()
        assert stop_server(again) == 0


def test_readers_get_the_last_value_while_one_thread_refreshes(
    make_cache: MakeCache,
    client: rotor.client.Client,
    transport: CountingTransport,
    clock: Clock,
    name: str,
) -> None:
    client.create_secret(name, value="one")
    cache = make_cache()
    assert cache.get_value(name) == "one"
    client.put_value(name, "two")
    clock.advance(cache.refresh_interval)
    transport.gate = threading.Event()
    results: list[str | bytes] = []
    refresher = threading.Thread(target=lambda: results.append(cache.get_value(name)))
    refresher.start()
    deadline = time.monotonic() + 5
    while transport.reads[name] < 2:  # the refresher's request is held
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert cache.get_value(name) == "one"  # not blocked, and no second request
    assert transport.reads[name] == 2
    transport.gate.set()
    refresher.join(10)
    assert results == ["two"]
    assert cache.get_value(name) == "two"


def test_many_threads_one_fetch_per_key(
    make_cache: MakeCache, client: rotor.client.Client, transport: CountingTransport, name: str
) -> None:
    names = [f"{name}-{i}" for i in range(4)]
    for i, secret in enumerate(names):
        client.create_secret(secret, value=str(i))
    cache = make_cache()
    start = threading.Barrier(16)
    failures: list[BaseException] = []

    def read() -> None:
        try:
            start.wait()
            for i in range(2000):
                assert cache.get_value(names[i % len(names)]) == str(i % len(names))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert {transport.reads[secret] for secret in names} == {1}  # no stampede


def test_builds_its_own_client(rotor_server: RunningServer, name: str) -> None:
    with rotor_server.client() as admin:
        admin.create_secret(name, value="one")
    cache = SecretCache(
        url=rotor_server.url,
        access_key_id=rotor_server.access_key_id,
        access_key_secret=rotor_server.access_key_secret,
    )
    with cache:
        assert cache.client.url == rotor_server.url
        assert cache.get_value(name) == "one"
    with pytest.raises(RuntimeError, match="closed"):
        cache.get_value(name)


def test_from_the_environment(
    rotor_server: RunningServer, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    with rotor_server.client() as admin:
        admin.create_secret(name, value="one")
    monkeypatch.setenv("ROTOR_URL", rotor_server.url)
    for variable, value in rotor_server.credentials_env.items():
        monkeypatch.setenv(variable, value)
    with SecretCache() as cache:
        assert cache.get_value(name) == "one"


def test_a_given_client_stays_open(rotor_server: RunningServer) -> None:
    with rotor_server.client() as client:
        SecretCache(client).close()
        assert client.healthz() == "ok"


def test_options_match_the_client() -> None:
    parameters = set(inspect.signature(rotor.client.Client).parameters)
    assert set(ClientOptions.__annotations__) == parameters


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"refresh_interval": -1}, ValueError),
        ({"max_size": 0}, ValueError),
        ({"backoff": 0}, ValueError),
        ({"backoff": 10, "max_backoff": 5}, ValueError),
        ({"url": "http://127.0.0.1:1"}, TypeError),  # a client and options to build one
    ],
)
def test_invalid_arguments(
    rotor_server: RunningServer, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with rotor_server.client() as client, pytest.raises(error):
        SecretCache(client, **kwargs)
