"""rotor.client.postgres.pool against the session's real PostgreSQL and ``rotor serve``,
with real ``postgres-alternating`` rotations (app <-> app_rt, a superuser master secret).

The pool's connections are told apart by what the server says of them: ``current_user``
(the account a connection logged in as) and ``pg_backend_pid()`` (which connection it
is); a retired connection's backend leaves ``pg_stat_activity``.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import pytest

import rotor.client
from rotor.client import postgres
from tests.nodes.conftest import wait_until
from tests.rotation.postgres.support import Database, unique_name
from tests.services.postgres import PostgresServer, temporary_database
from tests.services.server import RunningServer

ROTATIONS = 8
FIRST_PASSWORD = "Initial-pass-123"
DEADLINE = 60.0

Pool = psycopg_pool.ConnectionPool[psycopg.Connection[Any]]


class CountingSource:
    """A real client in front of the server, counting the secret reads that go through it."""

    def __init__(self, client: rotor.client.Client) -> None:
        self.client = client
        self.reads = 0
        self._lock = threading.Lock()

    def get_json(self, name: str) -> dict[str, Any]:
        with self._lock:
            self.reads += 1
        return self.client.get_json(name)


@dataclasses.dataclass
class PoolApp:
    """An application role with a table of its own, its secret and a master secret, on the
    session's server, ready for ``postgres-alternating``."""

    name: str
    account: str
    db: Database
    operator: rotor.client.Client

    def current_account(self) -> str:
        return str(self.operator.get_json(self.name)["AccountName"])

    def rotate(self) -> str:
        """One rotation, run by the server; the account that is Current after it."""
        rotation = self.operator.rotate_secret(self.name, require_new=True)
        final = self.operator.wait_for_rotation(rotation.id, timeout=DEADLINE, poll=0.05)
        assert final.succeeded, final.error
        return self.current_account()

    def backends(self) -> set[int]:
        """The backend pids of the test database's connections (but the asking one)."""
        rows = self.db.admin(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            args=(self.db.name,),
        )
        return {int(row[0]) for row in rows}


@pytest.fixture
def pool_app(rotor_server: RunningServer, postgres_server: PostgresServer) -> Iterator[PoolApp]:
    with temporary_database(postgres_server) as database, rotor_server.client() as operator:
        db = Database(server=postgres_server, name=database)
        account = unique_name("app")
        db.create_role(account, FIRST_PASSWORD)
        db.admin("CREATE TABLE hits (n int)", f'GRANT SELECT, INSERT ON hits TO "{account}"')
        prefix = f"client-{uuid.uuid4().hex[:12]}"
        master, name = f"{prefix}/master", f"{prefix}/secret"
        operator.create_secret(
            master, value=db.secret(postgres_server.user, postgres_server.password)
        )
        operator.create_secret(name, value=db.secret(account, FIRST_PASSWORD, master=master))
        app = PoolApp(name=name, account=account, db=db, operator=operator)
        started = operator.configure_rotation(name, function="postgres-alternating").started
        assert started is not None  # the first rotation, started at once: app_rt is Current
        assert operator.wait_for_rotation(started.id, timeout=DEADLINE, poll=0.05).succeeded
        assert app.current_account() == account + "_rt"
        yield app


def whoami(conn: psycopg.Connection[Any]) -> tuple[str, int]:
    row = conn.execute("SELECT current_user, pg_backend_pid()").fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def checkout(pool: Pool) -> tuple[str, int]:
    with pool.connection() as conn:
        return whoami(conn)


def moved_to(pool: Pool, account: str) -> None:
    """Wait until a checkout gets a connection as ``account``."""
    wait_until(lambda: checkout(pool)[0] == account, f"a connection as {account}", timeout=DEADLINE)


def test_an_application_on_the_pool_runs_through_rotations_without_a_failure(
    rotor_server: RunningServer, pool_app: PoolApp
) -> None:
    failures: list[str] = []
    users: set[str] = set()
    queries = 0
    lock = threading.Lock()
    stop = threading.Event()

    def loop(pool: Pool) -> None:
        nonlocal queries
        while not stop.is_set():
            try:
                with pool.connection() as conn:
                    conn.execute("INSERT INTO hits VALUES (1)")
                    user, _ = whoami(conn)
                with lock:
                    queries += 1
                    users.add(user)
            except Exception as exc:
                failures.append(repr(exc))

    with (
        rotor_server.client() as app_client,
        postgres.pool(
            postgres.DatabaseCredentials(pool_app.name, client=app_client),
            min_size=2,
            max_size=4,
            refresh_interval=0.2,
        ) as pool,
    ):

        def more_queries(count: int) -> None:
            wait_until(lambda: queries >= count, f"{count} queries", timeout=DEADLINE)

        workers = [threading.Thread(target=loop, args=(pool,), daemon=True) for _ in range(3)]
        for worker in workers:
            worker.start()
        try:
            more_queries(10)
            accounts = [pool_app.current_account()]
            for _ in range(ROTATIONS):
                accounts.append(pool_app.rotate())
                # After the rotation, new checkouts are the new account's connections.
                moved_to(pool, accounts[-1])
                more_queries(queries + 5)
        finally:
            stop.set()
            for worker in workers:
                worker.join(DEADLINE)

    assert not any(worker.is_alive() for worker in workers)
    assert failures == []
    assert queries > 6 * ROTATIONS
    assert pool_app.db.admin("SELECT count(*) FROM hits") == [(queries,)]
    assert users == {pool_app.account, pool_app.account + "_rt"}
    assert accounts[-1] == pool_app.account + "_rt"  # 1 + an even number of rotations


def test_a_connection_in_use_across_a_rotation_is_retired_when_returned(
    rotor_server: RunningServer, pool_app: PoolApp
) -> None:
    before = pool_app.current_account()
    with (
        rotor_server.client() as app_client,
        postgres.pool(
            postgres.DatabaseCredentials(pool_app.name, client=app_client),
            kwargs={"autocommit": True},
            min_size=1,
            max_size=2,
            refresh_interval=0.1,
        ) as pool,
    ):
        held = pool.getconn()
        try:
            user, held_pid = whoami(held)
            assert user == before
            after = pool_app.rotate()
            assert after != before
            # The pool moves on: new connections log in as the new Current...
            moved_to(pool, after)
            # ... while the one in use is left alone, still working as the old account.
            held.execute("INSERT INTO hits VALUES (1)")
            assert whoami(held) == (before, held_pid)
            assert held_pid in pool_app.backends()
        finally:
            pool.putconn(held)
        # Retired when returned: closed, its backend gone, never handed out again.
        assert held.closed
        wait_until(lambda: held_pid not in pool_app.backends(), "the backend to leave")
        for _ in range(4):
            user, pid = checkout(pool)
            assert (user, pid != held_pid) == (after, True)
    assert pool_app.db.admin("SELECT count(*) FROM hits") == [(1,)]


def test_a_refused_login_reads_current_again_and_drains_the_pool(
    rotor_server: RunningServer, pool_app: PoolApp
) -> None:
    with rotor_server.client() as app_client:
        source = CountingSource(app_client)
        credentials = postgres.DatabaseCredentials(pool_app.name, client=source)
        # Without re-reads, only a refused login moves the pool to a new Current.
        with postgres.pool(
            credentials,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=3,
            refresh_interval=None,
        ) as pool:
            pool.wait()  # its one connection, so that the next is made on demand
            held = pool.getconn()
            try:
                user, held_pid = whoami(held)
                assert pool_app.backends() == {held_pid}
                stale = credentials.current()
                # Two rotations: the held login's account gets a new password, so it is refused.
                assert pool_app.rotate() != user
                assert pool_app.rotate() == user
                assert source.reads == 1
                second = pool.getconn()  # the pool grows: a new connection, refused, retried
                try:
                    second_user, second_pid = whoami(second)
                finally:
                    pool.putconn(second)
                assert (second_user, second_pid != held_pid) == (user, True)
                assert source.reads == 2
                assert credentials.current() != stale
                assert credentials.current().password != FIRST_PASSWORD
                assert whoami(held) == (user, held_pid)  # still usable after the drain
            finally:
                pool.putconn(held)
            assert held.closed  # made before the drain: retired when returned
            assert not second.closed  # made with the new login: kept
            wait_until(lambda: held_pid not in pool_app.backends(), "the backend to leave")
            assert second_pid in {checkout(pool)[1] for _ in range(3)}


def test_connections_are_the_helpers_to_make(pool_app: PoolApp) -> None:
    for given in ({"conninfo": "dbname=x"}, {"connection_class": psycopg.Connection}):
        with pytest.raises(TypeError, match="kwargs"):
            postgres.pool(pool_app.name, client=pool_app.operator, open=False, **given)
    with pytest.raises(TypeError):
        postgres.pool(
            postgres.DatabaseCredentials(pool_app.name), client=pool_app.operator, open=False
        )
