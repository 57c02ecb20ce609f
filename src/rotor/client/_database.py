"""Database logins read from rotor secrets, and connecting with them across rotations.

A database secret holds the JSON object the rotation functions read and write::

    {"Endpoint": "db.internal", "Port": 3306, "DBName": "orders",
     "AccountName": "app", "AccountPassword": "...", "SSL": true}

``Endpoint`` (``host``, ``host:port`` or ``[v6]:port``), ``AccountName`` and
``AccountPassword`` are required; ``Port``, ``DBName`` and ``SSL`` are optional (``SSL``
exactly as :mod:`rotor.ssl_field` reads it: anything but the documented values is
InvalidParameter), and
other fields (``MasterSecret``...) are ignored.

:class:`DatabaseCredentials` keeps the last ``Current`` login of one secret for a
process (thread-safe). :func:`connect_with_refresh` opens a connection with it and,
when the database refuses the login, reads the secret again and retries once, only
if ``Current`` changed: after a rotation, the first refused connect picks up the new
credentials and every other error passes through unchanged. The drivers' own
modules (:mod:`rotor.client.mysql`, :mod:`rotor.client.postgres`) say which errors
are refused logins and how a login becomes connect arguments.

Nothing here logs a password or puts one in a message or a ``repr``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from rotor import endpoint_field, errors, ssl_field
from rotor.client._closing import ClosesOnExit
from rotor.client.client import Client

log = logging.getLogger("rotor.client")

T = TypeVar("T")

#: Connects time out after this many seconds unless the caller says otherwise.
CONNECT_TIMEOUT_SECONDS = 10
#: Every TLS option of PyMySQL and libpq starts with this.
TLS_OPTION_PREFIX = "ssl"


class SecretSource(Protocol):
    """Where logins are read from: a :class:`rotor.client.Client`, or anything with its
    ``get_json``. It is asked again after a refused login, so it must read the server
    (a cache in front of it would hand back the refused login)."""

    def get_json(self, name: str) -> dict[str, Any]: ...


class Driver(Protocol):
    """What the connect helpers need to know of a database driver (a module of this package)."""

    def connect_arguments(self, login: DatabaseLogin) -> Arguments: ...

    def is_auth_failure(self, error: BaseException) -> bool: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabaseLogin:
    """A database secret's value, parsed: where to connect and as whom."""

    #: The secret it was read from (for messages).
    secret_name: str
    host: str
    #: None when the secret names none (the driver's default port).
    port: int | None
    user: str
    password: str = dataclasses.field(repr=False)
    #: ``DBName``, or None.
    database: str | None
    #: ``SSL``: True requires verified TLS, False switches TLS off, None leaves the driver's default.
    ssl: bool | None

    @classmethod
    def of(cls, value: Mapping[str, Any], secret_name: str) -> DatabaseLogin:
        """Parse a secret's JSON object; raises InvalidParameter (naming fields, never values)."""
        what = f"secret {secret_name!r}"
        for field in ("Endpoint", "AccountName"):
            if not isinstance(value.get(field), str) or not value[field].strip():
                raise errors.InvalidParameter(f"{what}: field {field!r} must be a non-empty string")
        password = value.get("AccountPassword")
        if not isinstance(password, str):
            raise errors.InvalidParameter(f"{what}: field 'AccountPassword' must be a string")
        host, port = endpoint_field.split_host_port(value["Endpoint"].strip(), what)
        if value.get("Port") is not None:
            given = endpoint_field.port_of(value["Port"], what)
            if port is not None and port != given:
                raise errors.InvalidParameter(
                    f"{what}: 'Endpoint' names port {port} but 'Port' is {given}"
                )
            port = given
        database = value.get("DBName")
        if database is not None and not isinstance(database, str):
            raise errors.InvalidParameter(f"{what}: field 'DBName' must be a string")
        return cls(
            secret_name=secret_name,
            host=host,
            port=port,
            user=value["AccountName"],
            password=password,
            database=database or None,
            ssl=ssl_field.requested(value, what),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Arguments:
    """A login as a driver's connect arguments, in three groups that merge differently."""

    #: User and password.
    credentials: Mapping[str, Any] = dataclasses.field(repr=False)
    #: Host, port, database and timeouts: used where the caller gives none.
    options: Mapping[str, Any]
    #: What the secret's ``SSL`` asks for: used only when the caller gives no TLS option.
    tls: Mapping[str, Any]

    def merge(self, given: Mapping[str, Any], *, credentials_win: bool) -> dict[str, Any]:
        """The arguments to connect with: ``given`` over the secret's options and TLS, and the
        secret's credentials over ``given``'s when ``credentials_win``."""
        merged = dict(self.options)
        if not any(key.startswith(TLS_OPTION_PREFIX) for key in given):
            merged.update(self.tls)
        if credentials_win:
            merged.update(given)
            merged.update(self.credentials)
        else:
            merged.update(self.credentials)
            merged.update(given)
        return merged


class DatabaseCredentials(ClosesOnExit):
    """The ``Current`` login of a database secret: read once, re-read when a login is refused.

    Thread-safe; share one between connects (and between the connections of a pool) so
    that only a refused login costs a request to rotor. Without ``client`` it makes a
    :class:`rotor.client.Client` from the environment on first use and closes it in
    :meth:`close`.
    """

    def __init__(self, secret_name: str, *, client: SecretSource | None = None) -> None:
        self.secret_name = secret_name
        self._source = client
        self._owned: Client | None = None
        self._login: DatabaseLogin | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.secret_name!r}>"

    def current(self) -> DatabaseLogin:
        """The last login read, reading the secret's ``Current`` the first time."""
        with self._lock:
            if self._login is None:
                self._login = self._read()
            return self._login

    def refresh(self, refused: DatabaseLogin) -> DatabaseLogin:
        """The secret's ``Current`` read again after ``refused`` was refused.

        When another thread already replaced ``refused``, its newer login is returned
        without another read.
        """
        with self._lock:
            if self._login is None or self._login == refused:
                self._login = self._read()
            return self._login

    def _read(self) -> DatabaseLogin:
        source = self._source
        if source is None:
            if self._owned is None:
                self._owned = Client()
            source = self._owned
        return DatabaseLogin.of(source.get_json(self.secret_name), self.secret_name)

    def close(self) -> None:
        """Close the client made for this object, if one was."""
        with self._lock:
            owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()


@contextlib.contextmanager
def credentials_for(
    secret: str | DatabaseCredentials, client: SecretSource | None
) -> Iterator[DatabaseCredentials]:
    """``secret`` if it is a :class:`DatabaseCredentials`; for a name, a fresh one, closed after."""
    if isinstance(secret, DatabaseCredentials):
        if client is not None:
            raise TypeError("pass client to DatabaseCredentials, not with it")
        yield secret
        return
    with DatabaseCredentials(secret, client=client) as made:
        yield made


def connect_with_refresh(
    credentials: DatabaseCredentials,
    open_connection: Callable[[DatabaseLogin], T],
    is_auth_failure: Callable[[BaseException], bool],
) -> T:
    """``open_connection(login)`` with the current login; after a refused login, once more
    with the secret's ``Current`` read again, if that changed. Any other error, and a
    refusal when ``Current`` did not change, is raised as it is."""
    login = credentials.current()
    try:
        return open_connection(login)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
        fresh = credentials.refresh(login)
        if fresh == login:
            raise
    log.info(
        "secret %r: the database refused the login as %r; retrying with its new Current (as %r)",
        credentials.secret_name,
        login.user,
        fresh.user,
    )
    return open_connection(fresh)
