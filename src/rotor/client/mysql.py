"""MySQL and MariaDB connections (PyMySQL) that keep working across rotations.

    from rotor.client import mysql

    conn = mysql.connect("app/orders-db", autocommit=True)

:func:`connect` reads the secret's ``Current`` (``{"Endpoint", "Port"?, "DBName"?,
"AccountName", "AccountPassword", "SSL"?}``, the format of the ``mysql-alternating``
and ``mysql-single-user`` rotation functions) and connects with it. When the server
refuses the login (error 1045, or 1698), the secret is read again and, if its
``Current`` changed, the connect is retried once with it; every other error is
PyMySQL's, unchanged. Pass a :class:`DatabaseCredentials` instead of a name to keep
the last login between connects, so that only a refused login costs a request to
rotor.

Keyword arguments go to :func:`pymysql.connect` and win over the secret (except
that user and password always come from the secret). ``SSL`` true connects with TLS,
verifying the server's certificate and host name against the system's CAs; false
connects without TLS; absent leaves PyMySQL's default. Any ``ssl``/``ssl_*``
argument replaces what ``SSL`` asks for. Connects time out after 10 seconds unless
``connect_timeout`` says otherwise.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import pymysql

from rotor.client import _database
from rotor.client._database import DatabaseCredentials, DatabaseLogin, SecretSource

__all__ = [
    "AUTH_FAILURE_CODES",
    "DatabaseCredentials",
    "connect",
    "connect_arguments",
    "is_auth_failure",
]

#: Server errors that mean "these credentials do not log in": ER_ACCESS_DENIED_ERROR, and
#: ER_ACCESS_DENIED_NO_PASSWORD_ERROR (MariaDB's answer for some unknown accounts).
AUTH_FAILURE_CODES = frozenset({1045, 1698})


def connect(
    secret: str | DatabaseCredentials,
    *,
    client: SecretSource | None = None,
    **kwargs: Any,
) -> pymysql.connections.Connection[Any]:
    """A PyMySQL connection with the ``Current`` login of ``secret`` (a name or a holder).

    ``client`` reads the secret (default: a :class:`rotor.client.Client` from the
    environment, closed afterwards); give it only with a name. A refused login is
    retried once with the secret's new ``Current``, if it has one.
    """
    with _database.credentials_for(secret, client) as credentials:
        return _database.connect_with_refresh(
            credentials,
            lambda login: pymysql.connect(
                **connect_arguments(login).merge(kwargs, credentials_win=False)
            ),
            is_auth_failure,
        )


def is_auth_failure(error: BaseException) -> bool:
    """Whether ``error`` is the server refusing a login (wrong or changed password)."""
    return (
        isinstance(error, pymysql.err.OperationalError)
        and bool(error.args)
        and error.args[0] in AUTH_FAILURE_CODES
    )


def connect_arguments(login: DatabaseLogin) -> _database.Arguments:
    """A login as :func:`pymysql.connect` arguments."""
    options: dict[str, Any] = {
        "host": login.host,
        "connect_timeout": _database.CONNECT_TIMEOUT_SECONDS,
    }
    if login.port is not None:
        options["port"] = login.port
    if login.database is not None:
        options["database"] = login.database
    tls: dict[str, Any] = {}
    if login.ssl is True:
        tls["ssl"] = _verified_tls()
    elif login.ssl is False:
        tls["ssl_disabled"] = True
    return _database.Arguments(
        credentials={"user": login.user, "password": login.password},
        options=options,
        tls=tls,
    )


@functools.cache
def _verified_tls() -> ssl.SSLContext:
    # One context for every connect: PyMySQL would otherwise build one (and load the
    # system's CAs) per connect, which costs more than the connect itself.
    return ssl.create_default_context()
