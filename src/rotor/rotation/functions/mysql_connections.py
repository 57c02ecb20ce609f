"""Connections of the MySQL/MariaDB rotation functions: endpoints, TLS, logins, server versions.

A secret's ``SSL`` field chooses the TLS mode of its connections (see :mod:`tls`):

- ``true`` / ``"true"``: TLS with certificate and host name verification, never plaintext;
- ``false`` / ``"false"``: plaintext (PyMySQL's TLS is switched off entirely);
- absent (or ``null``): TLS with verification when it works, else plaintext, with a
  warning in the rotation history (the rotation parameter ``AllowPlaintextFallback``
  set to false forbids that fallback);
- anything else: InvalidParameter before any connection.

Rotation parameters: ``CaBundle`` (PEM file of trusted CAs; default: the system's),
``ClientCertificate`` and ``ClientKey`` (PEM files, for accounts that ``REQUIRE X509``).
One :class:`ssl.SSLContext` is built per set of TLS settings and reused by every
connection (PyMySQL would otherwise build one per connect, which costs far more than
the connect itself). Connects time out after 5 seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

import pymysql
import pymysql.cursors

from rotor import errors
from rotor.rotation.functions.database_secrets import (
    Endpoint,
    LoginRefused,
    TlsMode,
    TlsSettings,
    check_tls_configuration,
)
from rotor.rotation.functions.mysql_statements import error_code, text_of

if TYPE_CHECKING:
    from pymysql.connections import Connection as _Connection

    Connection: TypeAlias = _Connection[pymysql.cursors.Cursor]

log = logging.getLogger(__name__)

DEFAULT_PORT = 3306
__all__ = [
    "DEFAULT_PORT",
    "Connector",
    "Endpoint",
    "Flavour",
    "Login",
    "LoginRefused",
    "ServerVersion",
    "TlsMode",
    "TlsSettings",
    "check_tls_configuration",
    "current_account",
    "current_user",
    "read_version",
]
CONNECT_TIMEOUT_SECONDS = 5.0
#: Reads and writes of an open connection (a TLS handshake included).
IO_TIMEOUT_SECONDS = 30.0

# Client-side error codes (CR_*) and server error codes (ER_*) the messages name.
# 1698: MariaDB's answer for some user names that do not exist.
_ACCESS_DENIED = (1045, 1698)
_DB_ACCESS_DENIED = 1044
_UNKNOWN_DATABASE = 1049
_CONN_HOST_ERROR = 2003
_SERVER_LOST = 2013
_SSL_CONNECTION_ERROR = 2026
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH_CODES = (62, 64)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Login:
    """Credentials to log in with, and what they are (for messages)."""

    endpoint: Endpoint
    user: str
    password: str = dataclasses.field(repr=False)
    database: str | None = None
    tls: TlsMode = TlsMode.PREFERRED
    #: e.g. "the Current credentials"; messages say "cannot log in with {label}".
    label: str


class _Contexts:
    """One TLS context per set of settings (and file versions), shared by all rotations."""

    MAX = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[object, ...], ssl.SSLContext] = {}

    def get(self, settings: TlsSettings) -> ssl.SSLContext:
        files = (settings.ca_bundle, settings.client_certificate, settings.client_key)
        key = tuple((path, _mtime(path)) for path in files)
        with self._lock:
            context = self._cache.get(key)
            if context is None:
                context = _build_context(settings)
                if len(self._cache) >= self.MAX:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = context
            return context


def _mtime(path: str | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None  # reported with a clear message when the context is built


def _build_context(settings: TlsSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=settings.ca_bundle)
        if settings.client_certificate and settings.client_key:
            context.load_cert_chain(settings.client_certificate, settings.client_key)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not valid PEM"
        raise errors.InvalidParameter(
            f"cannot load the TLS files (CaBundle, ClientCertificate, ClientKey): {reason}"
        ) from exc
    return context


_CONTEXTS = _Contexts()


class Connector:
    """Opens the connections of one step and records plaintext fallbacks in its history."""

    def __init__(self, settings: TlsSettings, history: Callable[[str], None]) -> None:
        self.settings = settings
        self._history = history
        self._warned: set[tuple[Endpoint, str]] = set()

    @contextlib.contextmanager
    def connect(self, login: Login) -> Iterator[Connection]:
        """A connection (autocommit) as ``login``; FunctionFailed with a clear reason otherwise."""
        conn = self._open(login)
        try:
            yield conn
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else None
            raise errors.FunctionFailed(
                f"a query on {login.endpoint} as {login.user!r} failed: MySQL error {code}"
            ) from exc
        finally:
            conn.close()

    def logs_in(self, login: Login) -> bool:
        """Whether ``login`` logs in as its own user; False when refused, errors when unreachable."""
        try:
            with self.connect(login) as conn:
                return current_user(conn) == login.user
        except LoginRefused:
            return False

    def _open(self, login: Login) -> Connection:
        if login.tls is TlsMode.DISABLED:
            try:
                return _attempt(login, None)
            except pymysql.err.MySQLError as exc:
                raise _failure(login, exc) from exc
        context = _CONTEXTS.get(self.settings)
        try:
            return _attempt(login, context)
        except pymysql.err.MySQLError as exc:
            problem = _tls_problem(exc, login)
            if problem is None:
                raise _failure(login, exc) from exc
            if login.tls is TlsMode.REQUIRED:
                raise errors.FunctionFailed(
                    f"cannot connect to {login.endpoint} with {login.label} over TLS "
                    f"(the secret sets SSL, so never without it): {problem}"
                ) from exc
            if not self.settings.allow_plaintext_fallback:
                raise errors.FunctionFailed(
                    f"cannot connect to {login.endpoint} with {login.label} over TLS: {problem}; "
                    "falling back to plaintext is forbidden (AllowPlaintextFallback is false)"
                ) from exc
            self._warn_fallback(login, problem)
            try:
                return _attempt(login, None)
            except pymysql.err.MySQLError as plain:
                raise _failure(login, plain, tls_problem=problem) from plain

    def _warn_fallback(self, login: Login, problem: str) -> None:
        key = (login.endpoint, login.user)
        if key in self._warned:
            return
        self._warned.add(key)
        message = (
            f"warning: TLS to {login.endpoint} failed ({problem}); connected as {login.user!r} "
            'without TLS, because the secret does not set SSL. Set "SSL": true to require '
            'TLS, or "SSL": false to connect without trying it.'
        )
        log.warning("%s", message)
        self._history(message)


def _attempt(login: Login, context: ssl.SSLContext | None) -> Connection:
    tls: dict[str, Any] = {"ssl": context} if context is not None else {"ssl_disabled": True}
    return pymysql.connect(
        host=login.endpoint.host,
        port=login.endpoint.port,
        user=login.user,
        password=login.password,
        database=login.database,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=IO_TIMEOUT_SECONDS,
        write_timeout=IO_TIMEOUT_SECONDS,
        autocommit=True,
        charset="utf8mb4",
        **tls,
    )


def _tls_problem(exc: pymysql.err.MySQLError, login: Login) -> str | None:
    """What went wrong with TLS, or None when the failure is not about TLS."""
    code = exc.args[0] if exc.args else None
    if code == _SSL_CONNECTION_ERROR:
        return "the server does not support TLS"
    cause = getattr(exc, "original_exception", None)
    if isinstance(cause, ssl.SSLCertVerificationError):
        if cause.verify_code in _NAME_MISMATCH_CODES:
            message = (
                f"TLS host name check failed: the server's certificate is not valid for "
                f"{login.endpoint.host!r}"
            )
            log.warning("%s (endpoint %s)", message, login.endpoint)
            return message
        return f"certificate verification failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed ({cause.reason or 'protocol error'})"
    return None


def _failure(
    login: Login, exc: pymysql.err.MySQLError, *, tls_problem: str | None = None
) -> errors.FunctionFailed:
    """A clear error for a failed login; never the driver's text (it may quote SQL)."""
    code = error_code(exc)
    cause = getattr(exc, "original_exception", None)
    where = f"{login.endpoint} as {login.user!r}"
    after = (
        f" (after TLS failed: {tls_problem}; the account may require TLS)" if tls_problem else ""
    )
    if code in _ACCESS_DENIED:
        return LoginRefused(f"cannot log in to {where} with {login.label}: access denied{after}")
    if code == _DB_ACCESS_DENIED:
        return errors.FunctionFailed(
            f"cannot log in to {where} with {login.label}: no access to database {login.database!r}"
        )
    if code == _UNKNOWN_DATABASE:
        return errors.FunctionFailed(
            f"cannot log in to {where} with {login.label}: database {login.database!r} "
            "does not exist"
        )
    if code == _CONN_HOST_ERROR:
        if isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, TimeoutError | socket.timeout):
            reason = f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
        elif isinstance(cause, socket.gaierror):
            reason = f"cannot resolve host name {login.endpoint.host!r}"
        elif isinstance(cause, OSError) and cause.strerror:
            reason = cause.strerror
        else:
            reason = "cannot connect"
        return errors.FunctionFailed(f"cannot connect to {login.endpoint}: {reason}")
    if code == _SERVER_LOST:
        return errors.FunctionFailed(f"lost the connection to {login.endpoint} while logging in")
    return errors.FunctionFailed(
        f"cannot log in to {where} with {login.label}: MySQL error {code}{after}"
    )


def current_account(conn: Connection) -> tuple[str, str]:
    """User and host of ``CURRENT_USER()``: the account entry the server matched."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        row = cursor.fetchone()
    user, _, host = text_of(row[0] if row else "").rpartition("@")
    return user, host


def current_user(conn: Connection) -> str:
    """The user part of ``CURRENT_USER()``: the account the server matched."""
    return current_account(conn)[0]


# -- server versions --------------------------------------------------------------------


class Flavour(enum.StrEnum):
    """Which server family: their SQL differs in places."""

    MYSQL = "MySQL"
    MARIADB = "MariaDB"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerVersion:
    """A server's flavour and version, and what its SQL can do."""

    flavour: Flavour
    version: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> ServerVersion:
        """From ``SELECT VERSION()``: ``8.0.36``, ``5.7.44-log``, ``10.11.6-MariaDB-0+deb12u1``."""
        mariadb = "mariadb" in text.lower()
        found = re.findall(r"(\d+)\.(\d+)\.(\d+)", text)
        if mariadb and text.startswith("5.5.5-") and len(found) > 1:
            found = found[1:]  # the replication-compatibility prefix of MariaDB 10+
        if not found:
            raise errors.FunctionFailed("cannot understand the server's version")
        major, minor, patch = (int(part) for part in found[0])
        return cls(
            flavour=Flavour.MARIADB if mariadb else Flavour.MYSQL,
            version=(major, minor, patch),
        )

    def __str__(self) -> str:
        return f"{self.flavour} {'.'.join(map(str, self.version))}"

    @property
    def mariadb(self) -> bool:
        return self.flavour is Flavour.MARIADB

    @property
    def max_user_name_length(self) -> int:
        """Characters allowed in a user name."""
        if self.mariadb:
            if self.version < (5, 5, 31):
                return 16
            return 80 if self.version < (10, 6, 0) else 128
        return 16 if self.version < (5, 7, 8) else 32

    @property
    def has_alter_user(self) -> bool:
        """``ALTER USER ... IDENTIFIED BY / REQUIRE / WITH`` (else SET PASSWORD and GRANT USAGE)."""
        return self.version >= ((10, 2, 0) if self.mariadb else (5, 7, 6))

    @property
    def has_roles(self) -> bool:
        return self.version >= ((10, 0, 5) if self.mariadb else (8, 0, 0))

    @property
    def has_replace_clause(self) -> bool:
        """MySQL's ``ALTER USER ... REPLACE 'current'`` for changing one's own password."""
        return not self.mariadb and self.version >= (8, 0, 13)


def read_version(conn: Connection) -> ServerVersion:
    with conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        row = cursor.fetchone()
    return ServerVersion.parse(text_of(row[0] if row else ""))
