"""``GET /v1/events`` against a real server: the cursor, the long poll, per-secret
authorization and bad input, with bearer keys and signed requests.

The session's server is shared, so every test works under a prefix of its own and asks
for events under it (``rotation.overdue`` and other tests' events come and go); the
master-key event is made on a server of this module's own.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, assert_type

import httpx
import pytest

import rotor.client
from rotor import errors
from rotor.client._connection import Signing
from rotor.settings import Settings
from rotor.store import rekey
from rotor.store import secrets as secrets_store
from rotor.store.database import Store
from tests.access.conftest import Actor, World, allow, secrets_of
from tests.api import support
from tests.services.server import RunningServer, start_server, stop_server

#: Generous: how long a test waits for what should take well under a second.
DEADLINE = 30.0
WIRE_KEYS = {"id", "seq", "type", "timestamp", "node", "data"}


@pytest.fixture
def world(rotor_server: RunningServer) -> Iterator[World]:
    with rotor_server.client() as admin:
        yield World(admin=admin, uid=uuid.uuid4().hex[:10], url=rotor_server.url)


@pytest.fixture
def prefix() -> str:
    """The names of this test's secrets start with it."""
    return f"events-{uuid.uuid4().hex[:10]}/"


def get_events(http: httpx.Client, **params: Any) -> dict[str, Any]:
    response = http.get("/v1/events", params=params, timeout=DEADLINE + 30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"events", "next"}
    assert isinstance(body["next"], int)
    return body


def types_and_names(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(event["type"], event["data"].get("secret")) for event in body["events"]]


class Sent:
    """A transport (the real network) that says when a long poll of the events API has
    been sent whole and waits for its answer."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.transport = httpx.HTTPTransport()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name == "http11.receive_response_headers.started":
            self.waiting.set()

    def wrap(self) -> httpx.BaseTransport:
        sent = self

        class Signalling(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                if request.url.path == "/v1/events":
                    request.extensions = {**request.extensions, "trace": sent.trace}
                return sent.transport.handle_request(request)

            def close(self) -> None:
                sent.transport.close()

        return Signalling()


# -- the cursor ------------------------------------------------------------------------------


def test_without_since_the_answer_is_at_once_and_starts_at_the_newest(
    client: httpx.Client, prefix: str
) -> None:
    start = get_events(client, wait=30)  # without since, wait changes nothing
    assert start["events"] == []
    assert start["next"] >= 0
    client.post("/v1/secrets", json={"name": f"{prefix}a", "value": "one"}).raise_for_status()
    later = get_events(client)
    assert later["events"] == []
    assert later["next"] > start["next"]  # the newest, past the secret's creation


def test_since_gives_what_came_after_it_in_order_and_next_goes_on(
    client: httpx.Client, prefix: str
) -> None:
    cursor = get_events(client)["next"]
    name = f"{prefix}db"
    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    client.post("/v1/secrets", json={"name": name, "value": first}).raise_for_status()
    client.post(f"/v1/secrets/{name}:versions", json={"value": second}).raise_for_status()
    client.delete(f"/v1/secrets/{name}", params={"recovery_days": 7}).raise_for_status()
    client.post(f"/v1/secrets/{name}:restore").raise_for_status()

    body = get_events(client, since=cursor, prefix=prefix)
    assert types_and_names(body) == [
        ("secret.created", name),
        ("secret.changed", name),
        ("secret.deletion_scheduled", name),
        ("secret.restored", name),
    ]
    seqs = [event["seq"] for event in body["events"]]
    assert seqs == sorted(seqs)
    assert seqs[0] > cursor
    assert body["next"] >= seqs[-1]
    for event in body["events"]:
        assert set(event) == WIRE_KEYS
        assert event["id"].startswith("evt_")
        assert support.RFC3339_UTC.fullmatch(event["timestamp"]), event
        for value in (first, second):
            assert value not in str(event)  # never a value
    changed = body["events"][1]["data"]
    assert set(changed["stages"]) >= {"Current", "Previous"}

    # From a cursor in the middle: only what came after it.
    middle = get_events(client, since=seqs[1], prefix=prefix)
    assert [event["seq"] for event in middle["events"]] == seqs[2:]
    # From next: nothing more (of ours), and the cursor never goes back.
    after = get_events(client, since=body["next"], prefix=prefix)
    assert after["events"] == []
    assert after["next"] >= body["next"]


def test_prefix_and_type_filter(client: httpx.Client, prefix: str) -> None:
    cursor = get_events(client)["next"]
    for name in (f"{prefix}a/one", f"{prefix}b/two"):
        client.post("/v1/secrets", json={"name": name, "value": "v"}).raise_for_status()
        client.post(f"/v1/secrets/{name}:versions", json={"value": "w"}).raise_for_status()

    only_a = get_events(client, since=cursor, prefix=f"{prefix}a/")
    assert types_and_names(only_a) == [
        ("secret.created", f"{prefix}a/one"),
        ("secret.changed", f"{prefix}a/one"),
    ]
    changes = get_events(client, since=cursor, prefix=prefix, type="secret.changed")
    assert types_and_names(changes) == [
        ("secret.changed", f"{prefix}a/one"),
        ("secret.changed", f"{prefix}b/two"),
    ]
    both = client.get(
        "/v1/events",
        params=[
            ("since", cursor),
            ("prefix", prefix),
            ("type", "secret.created"),
            ("type", "secret.changed"),
        ],
    )
    assert both.status_code == 200, both.text
    assert len(both.json()["events"]) == 4
    every = get_events(client, since=cursor, prefix=prefix, type="*")
    assert len(every["events"]) == 4


# -- the long poll ---------------------------------------------------------------------------


@pytest.mark.parametrize("signing", ["bearer", "hmac"])
def test_a_long_poll_returns_with_the_event_another_request_writes(
    rotor_server: RunningServer, prefix: str, signing: Signing
) -> None:
    name = f"{prefix}{signing}"
    sent = Sent()
    answers: list[rotor.client.EventBatch] = []
    failures: list[BaseException] = []
    with rotor_server.client(signing=signing) as admin:
        cursor = admin.list_events().next
        with rotor_server.client(signing=signing, transport=sent.wrap()) as poller:

            def poll() -> None:
                try:
                    answers.append(poller.list_events(since=cursor, wait=30, prefix=prefix))
                except BaseException as exc:
                    failures.append(exc)

            thread = threading.Thread(target=poll, daemon=True)
            thread.start()
            assert sent.waiting.wait(DEADLINE), "the long poll was never sent"
            admin.create_secret(name, value="v")
            thread.join(DEADLINE)
            assert not thread.is_alive(), "the long poll did not return"
    assert failures == []
    (answer,) = answers
    assert [(e.type, e.secret) for e in answer.events] == [("secret.created", name)]
    assert answer.next == answer.events[0].seq


def test_a_long_poll_with_nothing_to_see_answers_empty_at_its_end(
    client: httpx.Client, prefix: str
) -> None:
    cursor = get_events(client)["next"]
    body = get_events(client, since=cursor, wait=1, prefix=prefix)
    assert body["events"] == []
    assert body["next"] >= cursor


def test_long_polls_wait_together_and_each_gets_the_event(
    rotor_server: RunningServer, prefix: str
) -> None:
    """Many requests wait at once (on one watcher): none holds a thread of the server's
    pool, which the write needs, and all wake."""
    name = f"{prefix}many"
    count = 60  # more than the server's threadpool (40 threads)
    answers: list[rotor.client.EventBatch] = []
    signals = [Sent() for _ in range(count)]
    with rotor_server.client() as admin:
        cursor = admin.list_events().next
        pollers = [rotor_server.client(transport=s.wrap()) for s in signals]
        try:
            threads = [
                threading.Thread(
                    target=lambda p=p: answers.append(
                        p.list_events(since=cursor, wait=30, prefix=prefix)
                    ),
                    daemon=True,
                )
                for p in pollers
            ]
            for thread in threads:
                thread.start()
            for signal in signals:
                assert signal.waiting.wait(DEADLINE)
            admin.create_secret(name, value="v")
            for thread in threads:
                thread.join(DEADLINE)
                assert not thread.is_alive()
        finally:
            for poller in pollers:
                poller.close()
    assert len(answers) == count
    assert {tuple((e.type, e.secret) for e in a.events) for a in answers} == {
        (("secret.created", name),)
    }


def test_the_read_timeout_allows_for_the_wait(rotor_server: RunningServer, prefix: str) -> None:
    """A client whose reads time out after 1 s still waits out a long poll of 2 s."""
    short = httpx.Timeout(1.0, connect=5.0)
    with rotor_server.client(timeout=short, retry=rotor.client.Retry(attempts=0)) as client:
        cursor = client.list_events().next
        answer = client.list_events(since=cursor, wait=2, prefix=prefix)
    assert answer.events == ()
    assert answer.next >= cursor


def test_the_async_client_long_polls_too(rotor_server: RunningServer, prefix: str) -> None:
    name = f"{prefix}async"

    async def follow() -> rotor.client.EventBatch:
        async with rotor.client.AsyncClient(
            rotor_server.url,
            access_key_id=rotor_server.access_key_id,
            access_key_secret=rotor_server.access_key_secret,
            signing="hmac",
        ) as client:
            start = await client.list_events()
            assert_type(start, rotor.client.EventBatch)
            poll = asyncio.create_task(client.list_events(since=start.next, wait=30, prefix=prefix))
            await client.create_secret(name, value="v")
            return await poll

    answer = asyncio.run(follow())
    assert [(e.type, e.secret) for e in answer.events] == [("secret.created", name)]
    assert_type(answer.events[0], rotor.client.Event)


def test_a_stopping_server_answers_its_long_polls_first(tmp_path: Path) -> None:
    """Graceful shutdown waits for every request: a waiting long poll is answered (no
    events, its cursor) rather than held until the grace period ends and cut off."""
    server = start_server(tmp_path / "data")
    sent = Sent()
    answers: list[httpx.Response] = []
    try:
        with support.ApiServer.of(server).client(transport=sent.wrap()) as http:
            cursor = get_events(http)["next"]
            thread = threading.Thread(
                target=lambda: answers.append(
                    http.get("/v1/events", params={"since": cursor, "wait": 30})
                ),
                daemon=True,
            )
            thread.start()
            assert sent.waiting.wait(DEADLINE)
            assert stop_server(server) == 0
            thread.join(DEADLINE)
    finally:
        stop_server(server)
    (answer,) = answers
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"events": [], "next": cursor}
    assert "graceful shutdown exceeded" not in server.output()


# -- authorization ---------------------------------------------------------------------------


def team_key(world: World, prefix: str) -> Actor:
    """A key allowed rotor:ListEvents on the secrets under ``prefix``team-a/ only."""
    return world.actor(
        "events-team-a", allow(("Allow", ["rotor:ListEvents"], [secrets_of(f"{prefix}team-a")]))
    )


def test_a_key_sees_only_the_events_of_the_secrets_it_may_list_events_on(
    world: World, prefix: str
) -> None:
    team_a = team_key(world, prefix)
    with team_a.http() as http:
        cursor = get_events(http)["next"]
    for team in ("team-a", "team-b"):
        world.admin.create_secret(f"{prefix}{team}/db", value="v")
        world.admin.put_value(f"{prefix}{team}/db", "w")
    with team_a.http() as http:
        # Under the test's prefix, and without any: never a team-b event.
        for params in ({"prefix": prefix}, {}):
            body = get_events(http, since=cursor, **params)
            names = {event["data"].get("secret") for event in body["events"]}
            assert names == {f"{prefix}team-a/db"}, names
            assert len(body["events"]) == 2
    # The admin (allowed everything) sees both teams'.
    every = world.admin.list_events(since=cursor, prefix=prefix)
    assert {e.secret for e in every.events} == {f"{prefix}team-a/db", f"{prefix}team-b/db"}


def test_the_key_also_sees_nothing_it_may_not_with_a_signed_long_poll(
    world: World, prefix: str
) -> None:
    team_a = team_key(world, prefix)
    with team_a.client(signing="hmac") as signed:
        cursor = signed.list_events().next
        world.admin.create_secret(f"{prefix}team-b/db", value="v")  # not for it
        world.admin.create_secret(f"{prefix}team-a/db", value="v")
        answer = signed.list_events(since=cursor, wait=30)
    assert [(e.type, e.secret) for e in answer.events] == [("secret.created", f"{prefix}team-a/db")]


def test_a_key_with_no_list_events_is_refused(world: World, prefix: str) -> None:
    reader = world.actor(
        "events-none", allow(("Allow", ["kms:GetSecretValue", "kms:ListSecrets"], ["*"]))
    )
    denied = world.actor(
        "events-denied",
        allow(("Allow", ["*"], ["*"]), ("Deny", ["rotor:ListEvents"], ["*"])),
    )
    with reader.http() as http:
        support.assert_error(http.get("/v1/events"), 403, "AccessDenied")
        support.assert_error(http.get("/v1/events", params={"since": 0}), 403, "AccessDenied")
    with reader.client(signing="hmac") as signed, pytest.raises(errors.AccessDenied):
        signed.list_events(since=0)
    # Allowed by a statement but denied everywhere by another: shown nothing, never a value.
    with denied.http() as http:
        cursor = get_events(http)["next"]
        world.admin.create_secret(f"{prefix}secret", value="v")
        assert get_events(http, since=cursor)["events"] == []


def test_the_route_is_audited_as_list_events(world: World) -> None:
    reader = world.actor("events-audited", allow(("Allow", ["rotor:ListEvents"], ["*"])))
    with reader.client() as client:
        client.list_events()
    events = list(world.admin.iter_audit_events(principal=reader.name))
    assert [(e.action, e.outcome) for e in events] == [("rotor:ListEvents", "allowed")]


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"since": -1},
        {"since": "abc"},
        {"since": "1.5"},
        {"since": 2**63},
        {"wait": 31},
        {"wait": -1},
        {"wait": "soon"},
        {"type": "secret.exploded"},
        {"type": ""},
        {"since": 0, "type": "rotation.sideways"},
    ],
    ids=str,
)
def test_bad_input_is_refused(client: httpx.Client, params: dict[str, Any]) -> None:
    body = support.assert_error(client.get("/v1/events", params=params), 400, "InvalidParameter")
    if "type" in params:
        assert "unknown event type" in body["message"]
        assert "secret.changed" in body["message"]  # names the known ones


def test_a_repeated_cursor_is_refused(client: httpx.Client) -> None:
    response = client.get("/v1/events", params=[("since", "1"), ("since", "2")])
    support.assert_error(response, 400, "InvalidParameter")


# -- other nodes, and events of no secret ----------------------------------------------------


def open_store(server: RunningServer, node: str = "") -> Store:
    """The server's store, opened by this process: another node of it."""
    return Store.open(Settings.load({"data_dir": server.data_dir, "node_id": node}, environ={}))


def test_a_long_poll_wakes_for_an_event_another_node_records(
    module_rotor_server: RunningServer,
) -> None:
    server = module_rotor_server
    name = f"nodes/{uuid.uuid4().hex[:10]}"
    sent = Sent()
    answers: list[rotor.client.EventBatch] = []
    with server.client() as admin:
        cursor = admin.list_events().next
    store = open_store(server, node="another-node")
    try:
        with server.client(transport=sent.wrap()) as poller:
            thread = threading.Thread(
                target=lambda: answers.append(
                    poller.list_events(since=cursor, wait=30, prefix="nodes/")
                ),
                daemon=True,
            )
            thread.start()
            assert sent.waiting.wait(DEADLINE)
            secrets_store.create_secret(store, name=name, value="v")
            thread.join(DEADLINE)
            assert not thread.is_alive(), "the long poll did not return"
    finally:
        store.close()
    (answer,) = answers
    assert [(e.type, e.secret, e.node) for e in answer.events] == [
        ("secret.created", name, "another-node")
    ]


def test_master_key_events_only_for_the_events_resource(
    module_rotor_server: RunningServer,
) -> None:
    server = module_rotor_server
    with server.client() as admin:
        world = World(admin=admin, uid=uuid.uuid4().hex[:10], url=server.url)
        secrets_only = world.actor(
            "events-secrets", allow(("Allow", ["rotor:ListEvents"], [secrets_of("*")]))
        )
        events_only = world.actor(
            "events-log", allow(("Allow", ["rotor:ListEvents"], ["rotor:events"]))
        )
        cursor = admin.list_events().next
        admin.create_secret("mk/db", value="v")
        store = open_store(server)
        try:
            rekey.rotate_master_key(store)
        finally:
            store.close()
        every = admin.list_events(since=cursor)
    assert [(e.type, e.secret) for e in every.events] == [
        ("secret.created", "mk/db"),
        ("master_key.rotated", None),
    ]
    with secrets_only.client() as client:
        assert [e.type for e in client.list_events(since=cursor).events] == ["secret.created"]
    with events_only.client() as client:
        shown = client.list_events(since=cursor)
        assert [e.type for e in shown.events] == ["master_key.rotated"]
        assert shown.events[0].data["rewrapped"] >= 1
        # A prefix is about secrets: an event of none is not under it.
        assert client.list_events(since=cursor, prefix="mk/").events == ()
