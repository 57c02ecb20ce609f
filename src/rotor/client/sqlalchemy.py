"""SQLAlchemy engines whose connection pools keep working across rotations.

    from rotor.client import sqlalchemy as rotor_sqlalchemy

    engine = rotor_sqlalchemy.create_engine(
        "mysql+pymysql:///orders", "app/orders-db", pool_pre_ping=True, pool_recycle=300
    )

:func:`create_engine` makes a :func:`sqlalchemy.create_engine` engine that takes the
user and password of every new connection from the secret's ``Current``, through one
:class:`DatabaseCredentials` shared by the pool: the login is read once and read again
only when the database refuses it, and then the connect is retried once with the new
``Current`` (as :func:`rotor.client.mysql.connect` and
:func:`rotor.client.postgres.connect` do). Connections already open are not touched:
a rotation with two alternating accounts leaves them working, and a new connection keeps
the login it last read until the database refuses it (then it reads Current again).

The URL names the driver (``mysql+pymysql``, ``mariadb+pymysql`` or
``postgresql+psycopg``) and no password. Its user name, if any, is ignored: user and
password always come from the secret. Host, port and database come from the URL
when it names them, else from the secret (``Endpoint``, ``Port``, ``DBName``), so a URL
can send connections through a proxy while the secret names the server; ``SSL``
applies only when neither the URL nor ``connect_args`` sets a TLS option.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.pool import ConnectionPoolEntry

from rotor.client import _database
from rotor.client._database import DatabaseCredentials, SecretSource

__all__ = ["DatabaseCredentials", "create_engine"]

SUPPORTED = ("mysql+pymysql", "mariadb+pymysql", "postgresql+psycopg")


def create_engine(
    url: str | sa.URL,
    secret: str | DatabaseCredentials,
    *,
    client: SecretSource | None = None,
    **kwargs: Any,
) -> sa.Engine:
    """An engine for ``url`` (without a password) whose logins come from ``secret``.

    ``secret`` is a secret's name or a :class:`DatabaseCredentials`; ``client`` reads the
    secret (only with a name; default: a :class:`rotor.client.Client` from the
    environment, which lives as long as the engine). ``kwargs`` go to
    :func:`sqlalchemy.create_engine`.
    """
    url = sa.make_url(url)
    if url.password is not None:
        raise ValueError("the URL must not hold a password: it comes from the secret")
    driver = _driver(url)
    if isinstance(secret, DatabaseCredentials):
        if client is not None:
            raise TypeError("pass client to DatabaseCredentials, not with it")
        credentials = secret
    else:
        credentials = DatabaseCredentials(secret, client=client)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "do_connect", _Connector(credentials, driver))
    return engine


def _driver(url: sa.URL) -> _database.Driver:
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend in ("mysql", "mariadb") and driver == "pymysql":
        from rotor.client import mysql

        return mysql
    if backend == "postgresql" and driver == "psycopg":
        from rotor.client import postgres

        return postgres
    raise ValueError(
        f"unsupported URL scheme {backend}+{driver}: use one of {', '.join(SUPPORTED)}"
    )


class _Connector:
    """The engine's ``do_connect`` listener: opens each new DBAPI connection itself."""

    def __init__(self, credentials: DatabaseCredentials, driver: _database.Driver) -> None:
        self.credentials = credentials
        self.driver = driver

    def __call__(
        self,
        dialect: Dialect,
        record: ConnectionPoolEntry,
        cargs: list[Any],
        cparams: dict[str, Any],
    ) -> DBAPIConnection:
        def open_connection(login: _database.DatabaseLogin) -> DBAPIConnection:
            arguments = self.driver.connect_arguments(login)
            return dialect.connect(*cargs, **arguments.merge(cparams, credentials_win=True))

        return _database.connect_with_refresh(
            self.credentials, open_connection, self.driver.is_auth_failure
        )
