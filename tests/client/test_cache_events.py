"""A watching SecretCache (``watch=True``) against a real ``rotor serve``: a change is seen
through the event log, not the refresh interval; the fallback when the stream cannot be
followed; one thread, ended at once by close().

The caches here refresh only after an hour, so a new value read within the test's
deadline can only have come through the subscription. Nothing is timed: each wait polls
for its outcome up to a generous deadline.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

import rotor.client
from rotor import errors
from rotor.client import SecretCache
from tests.access.conftest import World, allow, secrets_of
from tests.services.server import RunningServer

DEADLINE = 30.0
HOUR = 3600.0
WATCH_THREAD = "rotor-secret-cache-watch"
WATCH_LOGGER = "rotor.client.cache"


def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` every 10 ms until it holds; fail after :data:`DEADLINE`."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE:.0f} s: {what}"
        time.sleep(0.01)


def watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WATCH_THREAD]


@pytest.fixture
def world(rotor_server: RunningServer) -> Iterator[World]:
    with rotor_server.client() as admin:
        yield World(admin=admin, uid=uuid.uuid4().hex[:10], url=rotor_server.url)


@pytest.fixture
def watching(rotor_server: RunningServer) -> Iterator[SecretCache]:
    """A watching cache with the admin key, already following the events."""
    with (
        rotor_server.client() as client,
        SecretCache(client, refresh_interval=HOUR, watch=True) as cache,
    ):
        eventually(lambda: cache.watching, "the cache follows the events")
        yield cache


def test_a_put_value_is_seen_through_the_events(
    watching: SecretCache, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="one")
    assert watching.get_value(name) == "one"
    assert watching.get_value(name, stage="Current") == "one"
    client.put_value(name, "two")
    eventually(lambda: watching.get_value(name) == "two", "the new value is read")
    assert watching.get_value(name, stage="Previous") == "one"


def test_a_rotation_is_seen_through_the_events(
    watching: SecretCache, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="before")
    assert watching.get_value(name) == "before"
    rotation = client.configure_rotation(name, function="generated-password").started
    assert rotation is not None
    assert client.wait_for_rotation(rotation.id, timeout=DEADLINE).status == "succeeded"
    rotated = client.get_value(name).value
    assert rotated != "before"
    eventually(lambda: watching.get_value(name) == rotated, "the rotated value is read")


def test_deletion_and_restore_are_seen(
    watching: SecretCache, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="v")
    assert watching.get_value(name) == "v"
    client.delete_secret(name, recovery_days=7)

    def refused() -> bool:
        try:
            watching.get_value(name)
        except errors.RotorError:
            return True
        return False

    eventually(refused, "the value of a secret scheduled for deletion is refused")
    client.restore_secret(name)
    eventually(lambda: not refused(), "the restored secret is read again")
    assert watching.get_value(name) == "v"


def test_one_thread_only_when_watching_and_close_ends_it_at_once(
    rotor_server: RunningServer, name: str
) -> None:
    assert watch_threads() == []
    with rotor_server.client() as client:
        client.create_secret(name, value="v")
        with SecretCache(client) as plain:
            assert plain.get_value(name) == "v"
            assert not plain.watching
            assert watch_threads() == []
        cache = SecretCache(client, refresh_interval=HOUR, watch=True)
        (thread,) = watch_threads()
        assert thread.daemon
        eventually(lambda: cache.watching, "the cache follows the events")
        assert cache.get_value(name) == "v"
        # The thread is in a long poll of 20 s now; close() cuts it short.
        cache.close()
        thread.join(10)
        assert not thread.is_alive()
        with pytest.raises(RuntimeError):
            cache.get_value(name)
        assert client.get_value(name).value == "v"  # the given client is left open


def test_a_key_that_may_not_list_events_falls_back_on_the_interval(
    world: World, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = name.rsplit("/", 1)[0]
    reader = world.actor(
        "cache-no-events", allow(("Allow", ["kms:GetSecretValue"], [secrets_of(prefix)]))
    )
    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    world.admin.create_secret(name, value=first)
    caplog.set_level(logging.INFO, logger=WATCH_LOGGER)
    with (
        reader.client() as client,
        SecretCache(
            client, refresh_interval=0.2, watch=True, backoff=0.01, max_backoff=0.05
        ) as cache,
    ):
        assert cache.get_value(name) == first

        def refused_times() -> int:
            return sum(
                1
                for event in world.admin.iter_audit_events(principal=reader.name)
                if event.action == "rotor:ListEvents" and event.outcome == "denied"
            )

        eventually(lambda: refused_times() >= 3, "the stream is tried again")
        assert not cache.watching
        world.admin.put_value(name, second)
        eventually(lambda: cache.get_value(name) == second, "the value is refreshed")
    warnings = [
        r for r in caplog.records if r.name == WATCH_LOGGER and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "rotor:ListEvents" in message
    assert reader.key.access_key_secret not in message
    assert first not in message


def test_an_unreachable_server_is_logged_once_and_close_still_ends_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    caplog.set_level(logging.WARNING, logger=WATCH_LOGGER)
    cache = SecretCache(
        url=f"http://127.0.0.1:{port}",
        access_key_id="RK" + "A" * 22,
        access_key_secret="never-sent-anywhere",
        retry=rotor.client.Retry(attempts=0),
        watch=True,
        backoff=0.01,
        max_backoff=0.05,
    )
    (thread,) = watch_threads()
    try:
        eventually(
            lambda: any(r.name == WATCH_LOGGER for r in caplog.records), "the failure is logged"
        )
        with pytest.raises(errors.ServerUnreachable):
            cache.get_value("app/db")
    finally:
        cache.close()
    thread.join(10)
    assert not thread.is_alive()
    (record,) = [r for r in caplog.records if r.name == WATCH_LOGGER]
    assert "cannot reach" in record.getMessage()
    assert "never-sent-anywhere" not in record.getMessage()


def test_a_client_on_an_injected_transport_cannot_be_watched_through(
    rotor_server: RunningServer,
) -> None:
    with (
        rotor_server.client(transport=httpx.HTTPTransport()) as client,
        pytest.raises(ValueError, match="injected transport"),
    ):
        SecretCache(client, watch=True)
    assert watch_threads() == []
