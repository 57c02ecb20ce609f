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
"""

from __future__ import annotations

from typing import Any

import psycopg

from rotor.client import _database
from rotor.client._database import DatabaseCredentials, DatabaseLogin, SecretSource

__all__ = [
    "AUTH_FAILURE_SQLSTATES",
    "DatabaseCredentials",
    "connect",
    "connect_arguments",
    "is_auth_failure",
]

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
