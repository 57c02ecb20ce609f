"""Connections of the PostgreSQL rotation functions: the secret's fields, TLS, logins.

A secret is a JSON object ``{"Endpoint", "AccountName", "AccountPassword", "Port"?
(5432), "DBName"? ("postgres"), "SSL"?, "MasterSecret"?}``. The spellings the cloud
secrets managers use for PostgreSQL are read as aliases (:data:`ALIASES`: ``host``,
``port``, ``dbname``, ``username``, ``password``, ``masterarn``); a value that gives a
field under both names with different values is refused. New values are written with
the spelling the Current value used.

TLS is libpq's ``sslmode``:

- ``SSL`` true: ``verify-full`` (certificate and host name checked against
  ``CaBundle``, else the system's CAs), or the rotation parameter ``SslMode`` when it is
  ``require``, ``verify-ca`` or ``verify-full``; never plaintext;
- ``SSL`` false: ``disable``;
- ``SSL`` absent: ``SslMode`` when given, else ``prefer`` (TLS when the server offers
  it, unverified), or ``require`` when ``AllowPlaintextFallback`` is false.

``ClientCertificate`` and ``ClientKey`` become ``sslcert``/``sslkey``. Connects time out
after 5 seconds; every connection is autocommit.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from rotor import errors
from rotor.rotation.functions.database_secrets import (
    Endpoint,
    LoginRefused,
    TlsMode,
    TlsSettings,
)

DEFAULT_PORT = 5432
DEFAULT_DATABASE = "postgres"
CONNECT_TIMEOUT_SECONDS = 5
#: A statement that runs longer than this is cancelled by the server.
STATEMENT_TIMEOUT_MS = 30_000
#: The server's identifier limit in bytes (NAMEDATALEN - 1).
MAX_IDENTIFIER_BYTES = 63
#: Alias -> field: how the cloud secrets managers spell a PostgreSQL secret's fields.
ALIASES = {
    "host": "Endpoint",
    "port": "Port",
    "dbname": "DBName",
    "username": "AccountName",
    "password": "AccountPassword",
    "masterarn": "MasterSecret",
}
SSL_MODES = ("disable", "require", "verify-ca", "verify-full")
_VERIFIED_MODES = ("require", "verify-ca", "verify-full")

Connection = psycopg.Connection[TupleRow]


def ssl_mode_of(options: Mapping[str, Any]) -> str | None:
    """The ``SslMode`` rotation parameter, checked; None when not given."""
    mode = options.get("SslMode")
    if mode is None:
        return None
    if mode not in SSL_MODES:
        raise errors.InvalidParameter(f"SslMode must be one of {', '.join(SSL_MODES)}")
    return str(mode)


def libpq_ssl_mode(tls: TlsMode, settings: TlsSettings, asked: str | None, what: str) -> str:
    """The ``sslmode`` of a secret's connections (see the module docstring)."""
    if tls is TlsMode.REQUIRED:
        if asked is None:
            return "verify-full"
        if asked not in _VERIFIED_MODES:
            raise errors.InvalidParameter(
                f"{what} sets SSL, so SslMode cannot be {asked!r}: use require, verify-ca "
                "or verify-full"
            )
        return asked
    if tls is TlsMode.DISABLED:
        return "disable"
    if asked is not None:
        return asked
    return "prefer" if settings.allow_plaintext_fallback else "require"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Login:
    """Credentials to log in with, and what they are (for messages)."""

    endpoint: Endpoint
    user: str
    password: str = dataclasses.field(repr=False)
    database: str
    #: libpq's sslmode.
    ssl_mode: str
    #: e.g. "the Current credentials of secret 'app'"; messages say "with {label}".
    label: str


class Connector:
    """Opens the connections of one step."""

    def __init__(self, settings: TlsSettings, history: Callable[[str], None]) -> None:
        self.settings = settings
        self._history = history

    def arguments(self, login: Login) -> dict[str, Any]:
        """libpq connection parameters for ``login``."""
        params: dict[str, Any] = {
            "host": login.endpoint.host,
            "port": login.endpoint.port,
            "user": login.user,
            "password": login.password,
            "dbname": login.database,
            "sslmode": login.ssl_mode,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            "application_name": "rotor-rotation",
            # Never a password from the environment or a file instead of the secret's.
            "passfile": "/dev/null",
        }
        if login.ssl_mode != "disable":
            if self.settings.ca_bundle:
                params["sslrootcert"] = self.settings.ca_bundle
            elif login.ssl_mode in ("verify-ca", "verify-full"):
                params["sslrootcert"] = "system"
            if self.settings.client_certificate and self.settings.client_key:
                params["sslcert"] = self.settings.client_certificate
                params["sslkey"] = self.settings.client_key
        return params

    @contextlib.contextmanager
    def connect(self, login: Login) -> Iterator[Connection]:
        """A connection (autocommit) as ``login``; FunctionFailed with a clear reason otherwise."""
        try:
            conn = psycopg.connect(**self.arguments(login), autocommit=True)
        except psycopg.Error as exc:
            raise _failure(login, exc) from exc
        try:
            yield conn
        except psycopg.Error as exc:
            raise errors.FunctionFailed(
                f"a query on {login.endpoint} as {login.user!r} failed: "
                f"SQLSTATE {exc.sqlstate or 'unknown'}"
            ) from exc
        finally:
            conn.close()

    def logs_in(self, login: Login) -> bool:
        """Whether ``login`` logs in as its own role; False when refused, errors when unreachable."""
        try:
            with self.connect(login) as conn:
                return session_user(conn) == login.user
        except LoginRefused:
            return False


def _failure(login: Login, exc: psycopg.Error) -> errors.FunctionFailed:
    """A clear error for a failed connect; never the driver's text (it may quote values)."""
    text = str(exc)
    where = f"{login.endpoint} as {login.user!r}"
    if "password authentication failed" in text or "is not permitted to log in" in text:
        return LoginRefused(f"cannot log in to {where} with {login.label}: access denied")
    if f'database "{login.database}" does not exist' in text:
        return errors.FunctionFailed(
            f"cannot log in to {where} with {login.label}: database {login.database!r} "
            "does not exist"
        )
    if "permission denied for database" in text:
        return errors.FunctionFailed(
            f"cannot log in to {where} with {login.label}: no CONNECT on database "
            f"{login.database!r}"
        )
    if "server does not support SSL" in text:
        return errors.FunctionFailed(
            f"cannot connect to {login.endpoint} with {login.label} over TLS (sslmode "
            f"{login.ssl_mode}, so never without it): the server does not support TLS"
        )
    if "certificate verify failed" in text or "does not match host name" in text:
        return errors.FunctionFailed(
            f"cannot connect to {login.endpoint} with {login.label}: the server's TLS "
            f"certificate failed verification (sslmode {login.ssl_mode})"
        )
    if "Connection refused" in text:
        return errors.FunctionFailed(f"cannot connect to {login.endpoint}: connection refused")
    if "timeout expired" in text:
        return errors.FunctionFailed(
            f"cannot connect to {login.endpoint}: no answer within {CONNECT_TIMEOUT_SECONDS} s"
        )
    if "could not translate host name" in text:
        return errors.FunctionFailed(
            f"cannot connect to {login.endpoint}: cannot resolve host name {login.endpoint.host!r}"
        )
    if "no pg_hba.conf entry" in text:
        return LoginRefused(
            f"cannot log in to {where} with {login.label}: the server's pg_hba.conf has no "
            f"entry for this connection (sslmode {login.ssl_mode})"
        )
    return errors.FunctionFailed(
        f"cannot log in to {where} with {login.label}: SQLSTATE {exc.sqlstate or 'unknown'}"
    )


def session_user(conn: Connection) -> str:
    """The role that logged in (``current_user`` may be a group after ``SET ROLE``)."""
    row = conn.execute("SELECT session_user").fetchone()
    return str(row[0]) if row else ""


def server_version(conn: Connection) -> str:
    return f"PostgreSQL {conn.info.parameter_status('server_version') or '?'}"
