"""The store handle: one engine, the envelope, and transactions.

Concept modules (``secrets``, ``versions``, ``stages``, ``deletion``) take a
:class:`Store` and run their SQL inside :meth:`Store.read` or
:meth:`Store.write`; nothing above ``rotor.store`` sees a connection.

SQLite gets one writer at a time through ``BEGIN IMMEDIATE`` (readers are not
blocked, thanks to WAL) and a busy timeout, so concurrent processes queue
instead of failing. The writers of rotor's own processes queue before that, on a
:class:`WriterLock` (a thread lock, then an ``flock`` of a file beside the database):
a writer waiting there is woken the moment the lock is free, where SQLite's busy
handler polls with sleeps growing to 100 ms, so sixteen queued writers waited seconds
for a lock free most of the time. On PostgreSQL, writers lock the secret's row
(``SELECT ... FOR UPDATE``) before reading the stages they change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event

from rotor import errors
from rotor.settings import Settings
from rotor.store import master_key
from rotor.store.envelope import Envelope
from rotor.store.master_key import EnvKeyProvider, FileKeyProvider, MasterKeyProvider
from rotor.store.tables import UTCDateTime

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 40
MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str, pool_size: int = 20) -> sa.Engine:
    if url.startswith("sqlite"):
        # Enough pooled connections for every request thread: a connection opened and
        # closed per request costs more than the read itself.
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN, not the sqlite3 module.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            write = conn.get_execution_options().get("rotor_write", False)
            # On the driver's connection: SQLAlchemy's execution layer costs more than a
            # BEGIN, and every transaction pays it.
            driver = conn.connection.driver_connection
            assert driver is not None  # a checked-out connection has one
            driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    # pre-ping: a connection the database dropped (a restart, a failover) is replaced
    # before use instead of failing the request that drew it.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)


def driver_sql(conn: sa.Connection, statement: str) -> str:
    """A fixed statement written with ``?`` placeholders, in the connection's driver's
    paramstyle (for :meth:`sa.Connection.exec_driver_sql`)."""
    return statement if conn.dialect.name == "sqlite" else _pyformat(statement)


def driver_execute(
    conn: sa.Connection, statement: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Run a fixed statement (``?`` placeholders) on the driver's own cursor, in ``conn``'s
    transaction, and return its rows (none for a statement without): SQLAlchemy's
    execution layer costs more than the statement itself. Errors are the driver's
    (:meth:`Store.write` answers a lost database as ServiceUnavailable all the same)."""
    cur = conn.connection.cursor()
    try:
        cur.execute(driver_sql(conn, statement), params)
        return list(cur.fetchall()) if cur.description is not None else []
    finally:
        cur.close()


@functools.cache
def _pyformat(statement: str) -> str:
    return statement.replace("?", "%s")


def bind_time(conn: sa.Connection, at: dt.datetime) -> Any:
    """An aware time as SQLAlchemy would send it to this driver (in UTC; text on SQLite)."""
    binder = _TIME_BINDERS.get(conn.dialect.name)
    if binder is None:
        # The dialect's own implementation: the bare type's would leave the time to the
        # driver, and sqlite3 writes it in another text ("...+00:00", no zero microseconds).
        made = UTCDateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)
        assert made is not None  # a TypeDecorator always has one (its process_bind_param)
        binder = _TIME_BINDERS[conn.dialect.name] = made
    return binder(at)


_TIME_BINDERS: dict[str, Callable[[Any], Any]] = {}


class WriterLock:
    """One SQLite writer at a time among rotor's threads and processes: a thread lock,
    then an exclusive ``flock`` of ``path`` (the kernel wakes the next waiter when it is
    released). Re-entrant in a thread, as a nested write would be. A thread that waits
    longer than SQLite's busy timeout for another thread of its process fails as the busy
    timeout would have; the wait for another process's ``flock`` has no timeout (the
    kernel releases a process's lock when it exits, and rotor holds it only around one
    transaction), so a process stopped inside a write transaction (``SIGSTOP``, a
    debugger) makes the others' writers wait where they failed after 30 s before."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        """Hold the lock; gives whether this is the thread's outermost hold."""
        if not self._threads.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise errors.ServiceUnavailable("the store is unavailable: its writer is busy")
        try:
            if self._depth == 0 and self.path is not None:
                self._lock_file(self.path)
            self._depth += 1
            try:
                yield self._depth == 1
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self, path: Path) -> None:
        if self._fd is None:
            self._fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _writer_lock_path(engine: sa.Engine) -> Path | None:
    """The file beside a SQLite database its writers lock (None: in memory, or not SQLite)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database + "-writer.lock")


def master_key_provider(settings: Settings) -> MasterKeyProvider:
    if settings.master_key:
        return EnvKeyProvider(settings.master_key)
    return FileKeyProvider(settings.data_dir / "master.key")


class Store:
    """An open store: the engine, the envelope, and the settings it was opened with."""

    def __init__(self, engine: sa.Engine, envelope: Envelope, settings: Settings) -> None:
        self.engine = engine
        self.envelope = envelope
        self.settings = settings
        #: The node writing through this handle: named on the events it records.
        self.node = settings.node
        self.is_sqlite = engine.dialect.name == "sqlite"
        #: The DB-API driver's base exception (for the read path's direct queries).
        self.driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        #: The driver's error for a database lost or busy (what SQLAlchemy wraps as
        #: OperationalError), raised by :func:`driver_execute`.
        self._driver_unavailable: type[Exception] = engine.dialect.loaded_dbapi.OperationalError
        #: Held by every write transaction on SQLite (:class:`WriterLock`).
        self.writer = WriterLock(_writer_lock_path(engine))
        self._writer_conn: sa.Connection | None = None

    @classmethod
    def open(cls, settings: Settings, *, initialise: bool = True) -> Store:
        """Open the store; with ``initialise``, create the data dir and master key and migrate.

        Initialising also refuses a node whose master keys are not the store's
        (:func:`rotor.store.master_key.check_matches_store`): before it makes a key file
        or migrates, so a refused node writes nothing to the store.
        """
        provider = master_key_provider(settings)
        if initialise:
            ensure_data_dir(settings.data_dir)
        if initialise and not settings.database_url:
            # Create the SQLite file 0600 ourselves; its -wal and -shm files inherit the mode.
            os.close(os.open(settings.sqlite_path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_engine(settings.effective_database_url, settings.database_pool_size)
        try:
            if initialise:
                _check_master_key(engine, provider, settings)
            store = cls(engine, Envelope(provider), settings)
            if initialise:
                store.migrate()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        if self._writer_conn is not None:
            with self.writer.held():
                self._writer_conn.close()
                self._writer_conn = None
        self.engine.dispose()
        self.writer.close()

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (a no-op when it is there)."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.write() as conn:
            if conn.dialect.name == "postgresql":
                # Two servers starting at once must not both migrate.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7235412)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise errors.ServiceUnavailable("the store is unavailable") from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction: committed on success, rolled back on any error.

        On SQLite it runs on the one connection this handle keeps for its writes, which
        take turns on the :class:`WriterLock` anyway: a pool checkout and return per write
        cost as much as two of its statements."""
        try:
            with self.writing() as outermost:
                if outermost:
                    with self._kept_writer_transaction() as conn:
                        yield conn
                else:
                    with self.engine.connect() as conn:
                        conn = conn.execution_options(rotor_write=True)
                        with conn.begin():
                            yield conn
        except (sa.exc.OperationalError, self._driver_unavailable) as exc:
            raise errors.ServiceUnavailable("the store is unavailable") from exc

    def writing(self) -> contextlib.AbstractContextManager[bool]:
        """Held around a write transaction: the :class:`WriterLock` on SQLite, nothing on
        PostgreSQL (whose writers lock the rows they change); gives whether this is the
        outermost hold (always False on PostgreSQL)."""
        return self.writer.held() if self.is_sqlite else contextlib.nullcontext(False)

    @contextlib.contextmanager
    def _kept_writer_transaction(self) -> Iterator[sa.Connection]:
        """A transaction on the kept write connection (held under the WriterLock); after
        a failure of the driver or a bug, the connection is closed and the next write
        opens another."""
        if self._writer_conn is None:
            self._writer_conn = self.engine.connect().execution_options(rotor_write=True)
        conn = self._writer_conn
        try:
            with conn.begin():
                yield conn
        except errors.RotorError:
            raise  # refused by the caller's rules: rolled back, the connection is sound
        except BaseException:
            self._writer_conn = None
            conn.close()
            raise

    def raw_connection(self) -> Any:
        """A pooled driver connection, for the read path's fixed queries; close() returns it."""
        try:
            return self.engine.raw_connection()
        except (sa.exc.OperationalError, self.driver_error) as exc:
            # The pool's checkout raises the driver's own error, not SQLAlchemy's: a
            # refused connection is psycopg.OperationalError here.
            raise errors.ServiceUnavailable("the store is unavailable") from exc

    def pool_connections(self) -> tuple[int, int]:
        """(in use, idle) connections of the pool."""
        pool = self.engine.pool
        if isinstance(pool, sa.pool.QueuePool):
            return pool.checkedout(), pool.checkedin()
        return 0, 0

    def ping(self) -> None:
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")


def _check_master_key(engine: sa.Engine, provider: MasterKeyProvider, settings: Settings) -> None:
    """Refuse keys that cannot read the store; make the key file only for an empty store."""
    try:
        with engine.connect() as conn:
            wrapped = master_key.wrapping_key_ids(conn)
    except sa.exc.OperationalError as exc:
        raise errors.ServiceUnavailable("the store is unavailable") from exc
    key_file = settings.data_dir / "master.key"
    if isinstance(provider, FileKeyProvider) and not provider.exists() and wrapped:
        keyring = None  # a key made now could read none of the store
    else:
        if isinstance(provider, FileKeyProvider) and provider.ensure():
            log.info("created master key file %s (mode 0600)", provider.path)
        keyring = provider.load()
    master_key.check_matches_store(wrapped, keyring, source=provider.source, key_file=key_file)


def ensure_data_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
