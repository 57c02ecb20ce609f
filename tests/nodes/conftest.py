"""Several ``rotor serve`` nodes on one PostgreSQL store, for the multi-node tests.

- :class:`Cluster` / :func:`running_cluster`: N real ``rotor serve`` processes, each with a
  data dir of its own, all on one ``ROTOR_DATABASE_URL`` with one ``ROTOR_MASTER_KEY``
  (made by the test). The first node creates the admin; the others get a copy of its
  ``admin-credentials.json`` (mode 0600) before they start, as docs/how-to/several-nodes.md
  says. ``make_cluster`` (a fixture) starts clusters on the test's fresh database and stops
  them afterwards.
- :class:`RestartablePostgres` / :func:`restartable_postgres`: a PostgreSQL of one test's
  own that can be stopped and started again on the same port and data dir (the session's
  server is shared and stays up).
- MariaDB: ``plain_db`` (the session's server as the MySQL rotation tests see it),
  :func:`mysql_app` (an account and its secrets ready for ``mysql-alternating``) and
  :func:`read_lock` / :func:`create_user_blocked` (a set step held in the database).
- :func:`wait_until`: poll for an event with a deadline (never a bare sleep racing it).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.rotation.mysql.support import Database, unique_name
from tests.services import postgres as pg
from tests.services.mariadb import MariaDBServer
from tests.services.server import RunningServer, start_server, stop_server

T = TypeVar("T")

#: Short leases and intervals: a dead node's rotation is resumed within a second or so.
FAST: dict[str, str] = {
    "ROTOR_ROTATION_LEASE_SECONDS": "1",
    "ROTOR_ROTATION_RETRY_SECONDS": "0.1",
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.1",
    "ROTOR_SHUTDOWN_GRACE_SECONDS": "1",
}
#: How long a test waits for something it polls for before it fails.
DEADLINE = 60.0


def wait_until(
    check: Callable[[], T | None], what: str, *, timeout: float = DEADLINE, every: float = 0.05
) -> T:
    """Call ``check`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def new_master_key() -> str:
    """``ROTOR_MASTER_KEY``: base64 of 32 bytes from the operating system's random source."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def admin_http(node: RunningServer, *, timeout: float = 30.0) -> httpx.Client:
    """A plain HTTP client of ``node`` with the admin key as a bearer key."""
    return httpx.Client(
        base_url=node.url,
        headers={"Authorization": f"Bearer {node.access_key_id}.{node.access_key_secret}"},
        timeout=timeout,
    )


def json_of(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The JSON object of a response whose status is one of ``statuses`` (200 by default)."""
    assert response.status_code in (statuses or (200,)), (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict), body
    return body


@dataclasses.dataclass
class Cluster:
    """Nodes sharing one PostgreSQL store and one master key."""

    root: Path
    database_url: str
    master_key: str
    env: dict[str, str]
    nodes: list[RunningServer] = dataclasses.field(default_factory=list)
    _next: int = 1

    def node_env(self) -> dict[str, str]:
        return {
            **self.env,
            "ROTOR_DATABASE_URL": self.database_url,
            "ROTOR_MASTER_KEY": self.master_key,
        }

    def _data_dir(self) -> Path:
        data_dir = self.root / f"node-{self._next}"
        self._next += 1
        return data_dir

    def add_nodes(self, count: int = 1) -> list[RunningServer]:
        """Start ``count`` more nodes (at once when the admin exists); returns them."""
        added: list[RunningServer] = []
        if not self.nodes:
            # The first node migrates the store and creates the admin.
            added.append(start_server(self._data_dir(), env=self.node_env()))
            self.nodes.extend(added)
            count -= 1
        if count <= 0:
            return added
        credentials = self.nodes[0].data_dir / "admin-credentials.json"
        data_dirs = [self._data_dir() for _ in range(count)]
        for data_dir in data_dirs:
            data_dir.mkdir(mode=0o700, parents=True)
            copy = data_dir / "admin-credentials.json"
            shutil.copyfile(credentials, copy)
            os.chmod(copy, 0o600)
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(start_server, d, env=self.node_env()) for d in data_dirs]
            started: list[RunningServer] = []
            failure: BaseException | None = None
            for future in futures:
                try:
                    started.append(future.result())
                except BaseException as exc:  # the others are stopped with the cluster
                    failure = exc
        self.nodes.extend(started)
        if failure is not None:
            raise failure
        return added + started

    def add_node(self) -> RunningServer:
        return self.add_nodes(1)[0]

    def owner_node(self, lease_owner: str) -> RunningServer | None:
        """The node whose runner wrote ``lease_owner`` (a rotation's ``lease_owner``: the
        runner's node id, host:pid by default, and a random part, ``host:pid#token``): the
        one node whose process id appears in it as a word of its own."""
        found = [
            node
            for node in self.nodes
            if re.search(rf"(?<![0-9A-Za-z]){node.process.pid}(?![0-9A-Za-z])", lease_owner)
        ]
        return found[0] if len(found) == 1 else None

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                stop_server(node)


@contextlib.contextmanager
def running_cluster(
    root: Path, database_url: str, size: int, env: Mapping[str, str] | None = None
) -> Iterator[Cluster]:
    """``size`` nodes on ``database_url`` (with :data:`FAST` plus ``env``), stopped on exit."""
    cluster = Cluster(
        root=root,
        database_url=database_url,
        master_key=new_master_key(),
        env={**FAST, **(env or {})},
    )
    try:
        if size:
            cluster.add_nodes(size)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def make_cluster(tmp_path: Path, postgres_database: str) -> Iterator[Callable[..., Cluster]]:
    """Start the cluster of N nodes of this test on its fresh PostgreSQL database:
    ``make_cluster(3)`` (``env=`` adds settings; one cluster per test, as the database holds
    one admin); it is stopped after the test."""
    with contextlib.ExitStack() as stack:

        def make(size: int, *, env: Mapping[str, str] | None = None) -> Cluster:
            root = Path(tempfile.mkdtemp(prefix="cluster-", dir=tmp_path))
            return stack.enter_context(running_cluster(root, postgres_database, size, env))

        yield make


# -- a PostgreSQL that can be restarted -------------------------------------------------------


class RestartablePostgres:
    """A PostgreSQL of one test's own: :meth:`stop` it, :meth:`start` it again on the same
    port and data dir. ``server`` says how to reach it (the same before and after)."""

    def __init__(self, workdir: Path, bin_dir: Path, password: str) -> None:
        self.workdir = workdir
        self.bin_dir = bin_dir
        self.password = password
        self.process: pg._PostgresProcess | None = None
        self.port = 0
        self.version = ""

    @property
    def server(self) -> pg.PostgresServer:
        return pg.PostgresServer(
            host=pg.HOST,
            port=self.port,
            user=pg.SUPERUSER,
            password=self.password,
            version=self.version,
            socket_dir=self.workdir,
            data_dir=self.workdir / "data",
        )

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self) -> None:
        """Start it (on a free port the first time, on the same port afterwards) and wait
        until a password login works."""
        assert self.process is None, "already running"
        attempts = pg.PORT_ATTEMPTS if not self.port else 1
        for _attempt in range(attempts):
            port = self.port or pg._free_port()
            process = pg._PostgresProcess(self.bin_dir, self.workdir, port)
            version = pg._wait_until_ready(process, self.password)
            if version is not None:
                self.process, self.port, self.version = process, port, version
                return
            process.stop()
        pytest.fail(f"PostgreSQL could not listen on port {self.port or 'any'}", pytrace=False)

    def stop(self) -> None:
        """A fast shutdown (``pg_ctl stop -m fast``): client connections are cut."""
        assert self.process is not None, "not running"
        self.process.stop()
        self.process = None

    def create_database(self, name: str | None = None) -> str:
        """A new database; its SQLAlchemy URL."""
        name = name or f"rotor_{secrets.token_hex(6)}"
        with self.server.connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        return self.server.url(name)


@contextlib.contextmanager
def restartable_postgres() -> Iterator[RestartablePostgres]:
    """Initialise and start a PostgreSQL of the caller's own; stop and delete it on exit.

    The same initdb as ``tests.services.postgres.run_postgres_server`` (as the postgres
    user when root, scram-sha-256 over TCP), with the process kept where a test can stop
    and start it."""
    bin_dir = pg.find_postgres_bin_dir()
    workdir = Path(tempfile.mkdtemp(prefix="rotor-pg-restart-", dir=pg.TMP_DIR))
    postgres = RestartablePostgres(workdir, bin_dir, secrets.token_hex(16))
    try:
        pg.initdb(bin_dir, workdir, postgres.password)
        postgres.start()
        yield postgres
    finally:
        if postgres.process is not None:
            postgres.process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def postgres_reachable(server: pg.PostgresServer) -> bool:
    try:
        with psycopg.connect(server.conninfo(connect_timeout=2)):
            return True
    except psycopg.OperationalError:
        return False


# -- MariaDB: an application account, and a set step held in the database ---------------------


@pytest.fixture
def plain_db(mariadb_server: MariaDBServer) -> Database:
    """The session's plain MariaDB, as the MySQL rotation tests see it (``"SSL": false``)."""
    return Database(server=mariadb_server, parameters={}, ssl_field=False)


@dataclasses.dataclass(frozen=True)
class MysqlApp:
    """An application account on MariaDB, and the values of its secrets."""

    account: str
    password: str
    master_name: str
    name: str
    master_value: str
    value: str


def mysql_app(db: Database, schema: str) -> MysqlApp:
    """A new account allowed to read ``schema``; its secret names the master secret."""
    account = unique_name("app")
    password = "Initial-pass-" + secrets.token_hex(4)
    db.create_account(account, password)
    db.admin(f"GRANT SELECT ON `{schema}`.* TO '{account}'@'%'")
    suffix = secrets.token_hex(4)
    master_name = f"db/master-{suffix}"
    return MysqlApp(
        account=account,
        password=password,
        master_name=master_name,
        name=f"db/app-{suffix}",
        master_value=db.secret(db.server.user, db.server.password),
        value=db.secret(account, password, master=master_name),
    )


def create_user_blocked(db: Database) -> bool:
    """Whether a ``CREATE USER`` (a set step of mysql-alternating) waits for a lock."""
    rows = db.admin(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE STATE LIKE 'Waiting for%%lock%%' AND INFO LIKE 'CREATE USER%%'"
    )
    return bool(rows[0][0])


@contextlib.contextmanager
def read_lock(db: Database) -> Iterator[Callable[[], None]]:
    """``FLUSH TABLES WITH READ LOCK`` on ``db``: every ``CREATE USER`` waits until the
    yielded ``release()`` is called (or the block is left)."""
    conn = db.connect(db.server.user, db.server.password)
    held = True

    def release() -> None:
        nonlocal held
        if held:
            with conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            held = False

    try:
        with conn.cursor() as cur:
            cur.execute("FLUSH TABLES WITH READ LOCK")
        yield release
    finally:
        with contextlib.suppress(Exception):
            release()
        conn.close()


def json_value(value: str) -> dict[str, Any]:
    parsed = json.loads(value)
    assert isinstance(parsed, dict), parsed
    return parsed
