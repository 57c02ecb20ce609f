"""Statements on a MySQL/MariaDB connection, and how their failures read in messages.

:func:`run_statement` runs one statement and turns a server error into a
FunctionFailed that names what was being done (:func:`sql_error`): never the server's
text, which may quote the statement, and so a password or a verifier. :func:`error_code`
and :func:`text_of` read what the driver returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pymysql

from rotor import errors

if TYPE_CHECKING:
    from rotor.rotation.functions.mysql_connections import Connection

# Server errors worth a phrase in messages.
_SQL_ERRORS = {
    1044: "access denied",
    1045: "access denied",
    1142: "access denied",
    1227: "access denied",
    1410: "not allowed to grant",
    1141: "no such grant",
    1146: "the table does not exist",
    1305: "the routine does not exist",
    1396: "the account operation failed",
    1470: "the user name is too long",
    1698: "access denied",
}


def error_code(exc: pymysql.err.MySQLError) -> int | None:
    """The MySQL error number of a driver error (client ``CR_*`` or server ``ER_*``), if any."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def sql_error(action: str, exc: pymysql.err.MySQLError) -> errors.FunctionFailed:
    """A clear error for a failed statement; never the server's text (it may quote SQL)."""
    code = error_code(exc)
    phrase = _SQL_ERRORS.get(code or 0)
    detail = f"{phrase} (MySQL error {code})" if phrase else f"MySQL error {code}"
    return errors.FunctionFailed(f"{action} failed: {detail}")


def run_statement(conn: Connection, action: str, sql: str, args: Sequence[object] | None) -> None:
    """Run one statement; ``action`` names it in errors (never with a password)."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
    except pymysql.err.MySQLError as exc:
        raise sql_error(action, exc) from exc


def text_of(value: object) -> str:
    """A column the server returned, as text (some come as bytes)."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value or "")
