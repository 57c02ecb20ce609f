"""``rotor serve --workers 2``: two processes answer on one port, on SQLite and on
PostgreSQL, and hold together as two nodes do.

Each worker is a node of its own (``w/1``, ``w/2``), with its own scheduler, audit writer
and caches; the store holds what they share. The kernel hands each new connection to one
of them, so the tests cannot pick a worker: they send each request on a new connection
and learn afterwards which worker answered it, from the audit event its request id names,
repeating until the other worker has answered too.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from rotor.api import server as serving
from tests.nodes.conftest import FAST, json_of, new_master_key, wait_until
from tests.nodes.test_requests import Recording, hmac_client, send
from tests.services.postgres import PostgresServer, temporary_database
from tests.services.server import RunningServer, start_server, stop_server

WORKERS = ("w/1", "w/2")
#: A scheduled rotation is due this long after it is configured (time enough to configure).
DUE_AFTER = dt.timedelta(seconds=10)


Started = Callable[[], tuple[RunningServer, sa.Engine]]


@contextlib.contextmanager
def servers(store_kind: str, root: Path, request: pytest.FixtureRequest) -> Iterator[Started]:
    """Yields a function that starts ``rotor serve --workers 2`` (node ``w``) on a store of
    its own under ``root`` and returns the server and an engine on its store; each is
    stopped on exit."""
    with contextlib.ExitStack() as stack:
        env = {**FAST, "ROTOR_NODE_ID": "w", "ROTOR_WORKERS": "2"}
        if store_kind == "postgresql":
            postgres: PostgresServer = request.getfixturevalue("postgres_server")
            url = postgres.url(stack.enter_context(temporary_database(postgres)))
            env |= {"ROTOR_DATABASE_URL": url, "ROTOR_MASTER_KEY": new_master_key()}
        else:
            url = f"sqlite:///{root / 'data' / 'rotor.db'}"

        def begin() -> tuple[RunningServer, sa.Engine]:
            server = start_server(root / "data", env=env)
            stack.callback(stop_server, server)
            engine = sa.create_engine(url)
            stack.callback(engine.dispose)
            return server, engine

        yield begin


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, sa.Engine]]:
    """One server of this module's tests that leave it running (they use names of their
    own), on each store."""
    with servers(request.param, tmp_path_factory.mktemp("workers"), request) as begin:
        yield begin()


@pytest.fixture(params=["sqlite", "postgresql"])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Started]:
    """A server of the test's own, for a test that stops or kills it."""
    with servers(request.param, tmp_path, request) as begin:
        yield begin


def answered_by(store: sa.Engine, response: httpx.Response) -> str:
    """The worker that answered ``response``: the node on the audit event of its request
    id (written by that worker within a fraction of a second)."""
    request_id = response.headers["x-request-id"]
    query = sa.text("SELECT node FROM audit_events WHERE request_id = :id")

    def node() -> str | None:
        with store.connect() as conn:
            return conn.execute(query, {"id": request_id}).scalar_one_or_none()

    return wait_until(node, f"the audit event of request {request_id}")


def until_both_answer(store: sa.Engine, send_one: Callable[[], httpx.Response]) -> None:
    """Send (each on a new connection) until each worker has answered one; ``send_one``
    checks every answer."""
    seen: set[str] = set()

    def both() -> bool:
        seen.add(answered_by(store, send_one()))
        return seen == set(WORKERS)

    wait_until(both, f"answers from both workers (so far {sorted(seen)})", every=0)


def bearer(key_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key_id}.{secret}"}


def fresh(
    server: RunningServer,
    method: str,
    path: str,
    *,
    json: object = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request on a connection of its own, with the admin key unless headers are given."""
    headers = headers or bearer(server.access_key_id, server.access_key_secret)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return http.request(method, path, headers=headers, json=json)


def worker_pids(server: RunningServer) -> set[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {
        int(child)
        for child in children
        if b"spawn_main" in _cmdline(int(child)) and b"resource_tracker" not in _cmdline(int(child))
    }


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or _cmdline(pid) == b""


def test_both_workers_answer_and_what_one_writes_the_other_reads_at_once(
    shared: tuple[RunningServer, sa.Engine],
) -> None:
    server, store = shared
    name = f"workers/{secrets.token_hex(6)}"
    json_of(fresh(server, "POST", "/v1/secrets", json={"name": name, "value": "first"}), 201)
    writers: set[str] = set()

    def round_trip() -> bool:
        value = secrets.token_hex(8)
        put = fresh(server, "POST", f"/v1/secrets/{name}:versions", json={"value": value})
        version = json_of(put, 201)["version_id"]
        writer = answered_by(store, put)

        def read_elsewhere() -> bool:
            read = fresh(server, "GET", f"/v1/secrets/{name}:value")
            assert (json_of(read)["version_id"], read.json()["value"]) == (version, value)
            return answered_by(store, read) != writer

        wait_until(read_elsewhere, f"a read answered by the worker that did not write ({writer})")
        writers.add(writer)
        return writers == set(WORKERS)

    wait_until(round_trip, "a write through each worker, read through the other", every=0)


def test_a_key_disabled_through_one_worker_is_refused_by_both_on_the_next_request(
    shared: tuple[RunningServer, sa.Engine],
) -> None:
    server, store = shared
    name, reader = f"app/{secrets.token_hex(6)}", f"reader-{secrets.token_hex(6)}"
    json_of(fresh(server, "POST", "/v1/secrets", json={"name": name, "value": "v1"}), 201)
    json_of(fresh(server, "POST", "/v1/principals", json={"name": reader}), 200, 201)
    policy = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["kms:GetSecretValue"], "Resource": ["*"]}],
    }
    json_of(fresh(server, "PUT", f"/v1/policies/{reader}", json={"document": policy}), 200, 201)
    attached = fresh(server, "PUT", f"/v1/principals/{reader}/policies/{reader}")
    assert attached.is_success, attached.text
    key = json_of(fresh(server, "POST", f"/v1/principals/{reader}/access-keys", json={}), 200, 201)
    as_reader = bearer(key["access_key_id"], key["access_key_secret"])

    def read_with(status: int) -> Callable[[], httpx.Response]:
        def read() -> httpx.Response:
            response = fresh(server, "GET", f"/v1/secrets/{name}:value", headers=as_reader)
            assert response.status_code == status, response.text
            return response

        return read

    until_both_answer(store, read_with(200))  # both workers have verified (cached) the key
    disabled = fresh(server, "POST", f"/v1/access-keys/{key['access_key_id']}:disable")
    assert disabled.is_success, disabled.text
    until_both_answer(store, read_with(401))
    enabled = fresh(server, "POST", f"/v1/access-keys/{key['access_key_id']}:enable")
    assert enabled.is_success, enabled.text
    until_both_answer(store, read_with(200))


class Answered(Recording):
    """The network, keeping every request sent through it and its response."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.responses.append(response)
        return response


def test_a_signed_request_replayed_to_the_other_worker_is_refused(
    shared: tuple[RunningServer, sa.Engine],
) -> None:
    server, store = shared
    name = f"replay/{secrets.token_hex(6)}"
    json_of(fresh(server, "POST", "/v1/secrets", json={"name": name, "value": "v"}), 201)
    network = Answered()
    with hmac_client(server, network) as client:
        assert client.get_value(name).value == "v"
    [signed], [accepted] = network.sent, network.responses
    accepted_by = answered_by(store, accepted)

    def replay_elsewhere() -> bool:
        replayed = send(server, signed)
        assert replayed.status_code == 401, replayed.text
        assert replayed.json()["code"] == "Unauthenticated"
        return answered_by(store, replayed) != accepted_by

    wait_until(replay_elsewhere, f"a replay answered by the worker other than {accepted_by}")


def test_rotations_due_at_once_each_run_exactly_once(
    shared: tuple[RunningServer, sa.Engine],
) -> None:
    server, _ = shared

    def configured_before_due() -> list[str] | None:
        # Twenty secrets of their own, each configured to rotate at one second from now;
        # where configuring took past that second (a loaded machine), a fresh twenty.
        names = [f"due/{i:02d}-{secrets.token_hex(3)}" for i in range(20)]
        for name in names:
            json_of(fresh(server, "POST", "/v1/secrets", json={"name": name, "value": "v0"}), 201)
        due = (dt.datetime.now(dt.UTC) + DUE_AFTER).replace(microsecond=0)
        cron = f"{due.minute} {due.hour} {due.day} {due.month} * {due.second}"
        for name in names:
            body = {"function": "generated-password", "cron": cron, "rotate_now": False}
            configured = json_of(fresh(server, "PUT", f"/v1/secrets/{name}:rotation", json=body))
            assert configured["started"] is None, configured  # configured before it was due
        return names if dt.datetime.now(dt.UTC) < due else None

    names = wait_until(configured_before_due, "20 rotations configured before due", every=0)

    def histories() -> dict[str, list[tuple[str, str]]] | None:
        found = {}
        for name in names:
            rotations = json_of(fresh(server, "GET", f"/v1/secrets/{name}:rotations"))
            found[name] = [(r["status"], r["started_by"]) for r in rotations["rotations"]]
        done = all(h and all(s != "running" for s, _ in h) for h in found.values())
        return found if done else None

    finished = wait_until(histories, "every secret's rotation to finish", every=0.5)
    assert all(h == [("succeeded", "scheduler")] for h in finished.values()), finished
    for name in names:
        versions = json_of(fresh(server, "GET", f"/v1/secrets/{name}:versions"))["versions"]
        assert len(versions) == 2, versions  # the first value and one rotated value


def test_sigterm_drains_both_workers_and_loses_no_audit_event(
    start: Started,
) -> None:
    server, store = start()
    json_of(fresh(server, "POST", "/v1/secrets", json={"name": "drain/me", "value": "v"}), 201)
    until_both_answer(store, lambda: fresh(server, "GET", "/v1/secrets/drain/me:value"))
    answered: list[str] = []
    stop = threading.Event()

    def read_until_refused() -> None:
        # Reads on one keep-alive connection each, until the server no longer answers.
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while True:
                try:
                    response = http.get(
                        "/v1/secrets/drain/me:value",
                        headers=bearer(server.access_key_id, server.access_key_secret),
                    )
                except httpx.TransportError:
                    return
                if response.status_code != 200:
                    assert response.status_code == 503, response.text
                    return
                answered.append(response.headers["x-request-id"])
                stop.set()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(read_until_refused) for _ in range(4)]
        stop.wait(60)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0, server.output()
        for reader in readers:
            reader.result()
    assert answered
    with store.connect() as conn:
        recorded = {
            row.request_id: row.node
            for row in conn.execute(sa.text("SELECT request_id, node FROM audit_events"))
        }
        stops = conn.execute(sa.text("SELECT node, stopped_at FROM nodes")).all()
    missing = [rid for rid in answered if rid not in recorded]
    assert not missing, f"{len(missing)} of {len(answered)} answered reads have no audit event"
    assert {node for node, _ in stops} == set(WORKERS), stops
    assert all(stopped_at is not None for _, stopped_at in stops), stops  # each stopped cleanly


def test_a_killed_worker_is_started_again_while_the_other_answers(
    start: Started,
) -> None:
    server, store = start()
    json_of(fresh(server, "POST", "/v1/secrets", json={"name": "kill/me", "value": "v"}), 201)

    def read() -> httpx.Response:
        return json_of_response(fresh(server, "GET", "/v1/secrets/kill/me:value"))

    until_both_answer(store, read)
    before = worker_pids(server)
    assert len(before) == 2, before
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: _gone(victim), f"worker {victim} to die")
    for _ in range(10):
        read()  # answered by the other worker meanwhile
    wait_until(lambda: len(worker_pids(server) - before) == 1, "a worker started in its place")
    until_both_answer(store, read)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0, server.output()
    assert "exited with status -9; starting it again" in server.output()


def test_the_workers_stop_when_their_supervisor_is_killed(
    start: Started,
) -> None:
    server, store = start()
    until_both_answer(store, lambda: json_of_response(fresh(server, "GET", "/v1/secrets")))
    workers = worker_pids(server)
    server.process.kill()
    server.process.wait(60)
    wait_until(lambda: all(_gone(pid) for pid in workers), "the workers to stop")
    with store.connect() as conn:
        stops = conn.execute(sa.text("SELECT node, stopped_at FROM nodes")).all()
    assert all(stopped_at is not None for _, stopped_at in stops), stops  # gracefully


def json_of_response(response: httpx.Response) -> httpx.Response:
    json_of(response)
    return response


def test_a_worker_that_keeps_dying_at_its_start_is_started_again_ever_later() -> None:
    delays = [serving.restart_delay(deaths) for deaths in range(12)]
    assert delays[0] == 0  # it had run steadily: at once
    assert delays[1:7] == [1, 2, 4, 8, 16, 30]
    assert set(delays[7:]) == {30}  # capped
