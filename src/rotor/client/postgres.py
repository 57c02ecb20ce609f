"""PostgreSQL connections (psycopg 3) that keep working across rotations.

    from rotor.client import postgres

    conn = postgres.connect("app/reports-db", autocommit=True)

:func:`connect` reads the secret's ``Current`` (``{"Endpoint", "Port"?, "DBName"?,
"AccountName", "AccountPassword", "SSL"?}``, the same format as the MySQL rotation
functions') and connects with it. When the server refuses the login, the secret is
read again and, if its ``Current`` changed, the connect is retried once with it;
every other error is psycopg's, unchanged. Pass a :class:`DatabaseCredentials`
instead of a name to keep the last login between connects, so that only a refused
login costs a request to rotor.

A refused login is SQLSTATE class 28: ``28P01`` (invalid_password: a wrong password,
or an unknown role) and ``28000`` (invalid_authorization_specification, e.g. a role
that may no longer log in, as the old role of an alternating pair can be). libpq
reports no SQLSTATE for errors while connecting, so the server's message is matched
instead, in English: a server with another ``lc_messages`` gets its refused logins
passed through, not retried.

Keyword arguments go to :func:`psycopg.connect` and win over the secret (except that
user and password always come from the secret). ``SSL`` true sets ``sslmode``
``verify-full`` (give ``sslrootcert`` for a private CA); false sets ``disable``;
absent leaves libpq's default. Any ``ssl*`` argument replaces what ``SSL`` asks for.
Connects time out after 10 seconds unless ``connect_timeout`` says otherwise.

:func:`pool` is a :class:`psycopg_pool.ConnectionPool` whose new connections log in
the same way (always with the secret's user and password). When the pool sees that
``Current`` changed, it drains (:meth:`~psycopg_pool.ConnectionPool.drain`): idle
connections of the old login are closed and replaced at once, and those in use are
left alone and closed when they are returned. It sees the change at a refused login, at
the first checkout ``refresh_interval`` seconds after it last read the secret (one
read, in the thread checking out), and at any checkout after another user of the same
:class:`DatabaseCredentials` read a new ``Current``. The checkout that notices is
still given the connection it took (of the old login, which an alternating rotation
leaves working until the next one); it too is retired when returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Self, cast

import psycopg
import psycopg_pool

from rotor.client import _database
from rotor.client._database import DatabaseCredentials, DatabaseLogin, SecretSource

__all__ = [
    "AUTH_FAILURE_SQLSTATES",
    "DatabaseCredentials",
    "connect",
    "connect_arguments",
    "is_auth_failure",
    "pool",
]

log = logging.getLogger("rotor.client")


#: A pool reads the secret's Current again at most this often by default (seconds).
POOL_REFRESH_INTERVAL = 60.0
#: The connect argument that carries a pool's logins to its connection class.
_LOGINS = "rotor_pool_logins"

#: invalid_password and invalid_authorization_specification.
AUTH_FAILURE_SQLSTATES = frozenset({"28P01", "28000"})
# What the server says with those SQLSTATEs about a login that a new secret can fix
# (libpq keeps a connect error's SQLSTATE to itself; it only gives the text).
_AUTH_FAILURE_MESSAGES = (
    "password authentication failed for user",
    "is not permitted to log in",
)


def connect(
    secret: str | DatabaseCredentials,
    *,
    client: SecretSource | None = None,
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """A psycopg connection with the ``Current`` login of ``secret`` (a name or a holder).

    ``client`` reads the secret (default: a :class:`rotor.client.Client` from the
    environment, closed afterwards); give it only with a name. A refused login is
    retried once with the secret's new ``Current``, if it has one.
    """
    with _database.credentials_for(secret, client) as credentials:
        connection: psycopg.Connection[Any] = _database.connect_with_refresh(
            credentials,
            lambda login: psycopg.connect(
                **connect_arguments(login).merge(kwargs, credentials_win=False)
            ),
            is_auth_failure,
        )
        return connection


def is_auth_failure(error: BaseException) -> bool:
    """Whether ``error`` is the server refusing a login (wrong or changed password)."""
    if not isinstance(error, psycopg.OperationalError):
        return False
    if error.sqlstate is not None:
        return error.sqlstate in AUTH_FAILURE_SQLSTATES
    message = str(error)
    return any(text in message for text in _AUTH_FAILURE_MESSAGES)


def connect_arguments(login: DatabaseLogin) -> _database.Arguments:
    """A login as :func:`psycopg.connect` arguments."""
    options: dict[str, Any] = {
        "host": login.host,
        "connect_timeout": _database.CONNECT_TIMEOUT_SECONDS,
    }
    if login.port is not None:
        options["port"] = login.port
    if login.database is not None:
        options["dbname"] = login.database
    tls: dict[str, Any] = {}
    if login.ssl is not None:
        tls["sslmode"] = "verify-full" if login.ssl else "disable"
    return _database.Arguments(
        credentials={"user": login.user, "password": login.password},
        options=options,
        tls=tls,
    )


def pool(
    secret: str | DatabaseCredentials,
    *,
    client: SecretSource | None = None,
    kwargs: Mapping[str, Any] | None = None,
    refresh_interval: float | None = POOL_REFRESH_INTERVAL,
    check: Callable[[psycopg.Connection[Any]], None] | None = None,
    **pool_kwargs: Any,
) -> psycopg_pool.ConnectionPool[psycopg.Connection[Any]]:
    """A :class:`psycopg_pool.ConnectionPool` whose connections log in with ``secret``'s
    ``Current`` and that retires the connections of an old login when ``Current`` changes.

    ``secret`` and ``client`` are as for :func:`connect` (a :class:`DatabaseCredentials`
    may be shared with other pools and connects; a name's default client lives as long as
    the pool). ``kwargs`` are the connections' :func:`psycopg.connect` arguments, over the
    secret's except for user and password. ``refresh_interval`` (seconds, or None for
    refused logins only) bounds how long the pool goes without reading ``Current``.
    ``check`` runs on every checkout after the pool's own, as the pool's ``check`` would.
    ``pool_kwargs`` go to the pool (``min_size``, ``max_size``, ``open``, ``timeout``...);
    it takes no ``conninfo`` or ``connection_class``, as connections are the helper's to make.
    """
    for own in ("conninfo", "connection_class"):
        if own in pool_kwargs:
            raise TypeError(f"pool() takes no {own}: give connect arguments as kwargs")
    if isinstance(secret, DatabaseCredentials):
        if client is not None:
            raise TypeError("pass client to DatabaseCredentials, not with it")
        credentials = secret
    else:
        credentials = DatabaseCredentials(secret, client=client)
    logins = _PoolLogins(credentials, refresh_interval=refresh_interval, check=check)
    pool_kwargs.setdefault("name", credentials.secret_name)
    made: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
        connection_class=_PoolConnection,
        kwargs={**(kwargs or {}), _LOGINS: logins},
        check=logins.check,
        **pool_kwargs,
    )
    logins.pool = made
    return made


class _PoolConnection(psycopg.Connection[Any]):
    """A connection of a :func:`pool`: the pool's logins (an argument of its own) open it."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        logins: _PoolLogins = kwargs.pop(_LOGINS)

        def open_connection(arguments: dict[str, Any]) -> psycopg.Connection[Any]:
            return super(_PoolConnection, cls).connect(conninfo, **arguments)

        return cast(Self, logins.connect(open_connection, kwargs))


class _PoolLogins:
    """What a :func:`pool` knows of its secret: the login of its newest connections, when it
    last read ``Current``, and what to do when that changes (drain the pool)."""

    def __init__(
        self,
        credentials: DatabaseCredentials,
        *,
        refresh_interval: float | None,
        check: Callable[[psycopg.Connection[Any]], None] | None,
    ) -> None:
        self.credentials = credentials
        self.refresh_interval = refresh_interval
        self.user_check = check
        self.pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        self._login: DatabaseLogin | None = None
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._read_at = time.monotonic()

    def connect(
        self,
        open_connection: Callable[[dict[str, Any]], psycopg.Connection[Any]],
        given: Mapping[str, Any],
    ) -> psycopg.Connection[Any]:
        """A new connection with the current login (read again and retried once if refused)."""
        used: list[DatabaseLogin] = []

        def open_with(login: DatabaseLogin) -> psycopg.Connection[Any]:
            used.append(login)
            return open_connection(connect_arguments(login).merge(given, credentials_win=True))

        connection = _database.connect_with_refresh(self.credentials, open_with, is_auth_failure)
        if used[-1] != self.credentials.current():
            # Current moved while it connected (another thread's refused login): this
            # connection would keep the old login past the drain.
            connection.close()
            connection = _database.connect_with_refresh(
                self.credentials, open_with, is_auth_failure
            )
        self._notice()
        return connection

    def check(self, connection: psycopg.Connection[Any]) -> None:
        """The pool's ``check`` at every checkout: notice a new ``Current`` (reading it when
        ``refresh_interval`` has passed), then the caller's ``check``."""
        if (
            self.refresh_interval is not None
            and time.monotonic() - self._read_at >= self.refresh_interval
            and self._reading.acquire(blocking=False)
        ):
            try:
                self._read_at = time.monotonic()
                self._read_again()
            finally:
                self._reading.release()
        self._notice()
        if self.user_check is not None:
            self.user_check(connection)

    def _read_again(self) -> None:
        try:
            # Read unless another thread just did (refresh compares with what it holds).
            self.credentials.refresh(self.credentials.current())
        except Exception as exc:  # a failed read must not fail the checkout
            log.warning(
                "secret %r: could not read Current again (%s); the pool keeps its login",
                self.credentials.secret_name,
                type(exc).__name__,
            )

    def _notice(self) -> None:
        """Drain the pool if the credentials' login is not the one it last saw."""
        with self._lock:  # read inside, so that two threads see the logins in order
            login = self.credentials.current()
            previous, self._login = self._login, login
        if previous is None or previous == login or self.pool is None:
            return
        log.info(
            "secret %r: Current changed (now %r); retiring the pool's connections as %r",
            self.credentials.secret_name,
            login.user,
            previous.user,
        )
        self.pool.drain()
