"""Passwords in statements: what a MySQL or MariaDB server stores for a password (its
*verifier*), computed here, so a statement that sets a password carries that value and
never the password itself, and the clause (:class:`PasswordForm`) that carries it for
an account's authentication plugin (read with :func:`own_plugin`, :func:`create_user_plugin`).

- ``mysql_native_password``: ``*`` + upper-hex SHA1(SHA1(password));
- MariaDB's ``ed25519``: the base64 (unpadded) Ed25519 public key whose secret scalar is the
  clamped first half of SHA512(password), as the server derives it. The multiplications
  that involve the password are OpenSSL's X25519 (constant time); only public points are
  handled in Python, to recover the key's sign.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import pymysql
from cryptography.hazmat.primitives.asymmetric import x25519

from rotor import errors
from rotor.rotation.functions import mysql_grant_rows
from rotor.rotation.functions.mysql_connections import ServerVersion
from rotor.rotation.functions.mysql_grants import Account
from rotor.rotation.functions.mysql_statements import text_of

if TYPE_CHECKING:
    from rotor.rotation.functions.mysql_connections import Connection

_NATIVE = ("", "mysql_native_password")


def native_verifier(password: str) -> str:
    """What ``mysql_native_password`` stores: ``*`` and hex SHA1(SHA1(password))."""
    inner = hashlib.sha1(password.encode(), usedforsecurity=False).digest()
    return "*" + hashlib.sha1(inner, usedforsecurity=False).hexdigest().upper()


def ed25519_verifier(password: str) -> str:
    """What MariaDB's ``ed25519`` stores: the public key of the password, in base64."""
    digest = bytearray(hashlib.sha512(password.encode()).digest()[:32])
    digest[0] &= 248
    digest[31] = (digest[31] & 63) | 64
    key = ed25519_public_key(int.from_bytes(digest, "little"))
    return base64.b64encode(key).decode().rstrip("=")


_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P


def ed25519_public_key(scalar: int) -> bytes:
    """The encoded Ed25519 point scalar * B, for a clamped scalar.

    OpenSSL's X25519 multiplies (the secret never meets Python's arithmetic): it gives
    u = (1 + y) / (1 - y), so y, but not the sign of x. That comes from a second product,
    (scalar +/- 8) * B, whose y tells P + 8B (or P - 8B) from -P + 8B.
    """
    y = _y_of_u(_x25519(scalar))
    x = _x_of_y(y)
    offset = 8 if scalar + 8 < 2**255 else -8  # keeps the scalar clamped
    eight_b = _EIGHT_B if offset > 0 else (_P - _EIGHT_B[0], _EIGHT_B[1])
    if _add((x, y), eight_b)[1] != _y_of_u(_x25519(scalar + offset)):
        x = _P - x
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _x25519(scalar: int) -> int:
    key = x25519.X25519PrivateKey.from_private_bytes(scalar.to_bytes(32, "little"))
    return int.from_bytes(key.public_key().public_bytes_raw(), "little")


def _y_of_u(u: int) -> int:
    return (u - 1) * pow(u + 1, -1, _P) % _P


def _x_of_y(y: int) -> int:
    """One of the two x of the curve point with this y (the other is -x)."""
    xx = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    x = pow(xx, (_P + 3) // 8, _P)
    return x if (x * x - xx) % _P == 0 else x * pow(2, (_P - 1) // 4, _P) % _P


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Edwards addition (complete: no special cases); only public points come here."""
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, -1, _P) % _P,
        (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P,
    )


def _eight_times_base() -> tuple[int, int]:
    y = 4 * pow(5, -1, _P) % _P
    x = _x_of_y(y)
    point = (x if x % 2 == 0 else _P - x, y)  # the base point's x is even
    for _ in range(3):
        point = _add(point, point)
    return point


_EIGHT_B = _eight_times_base()


# -- the clauses that carry them ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PasswordForm:
    """How a statement gives a password: SQL around one %s, and what fills it."""

    sql: str
    #: The password -> the verifier the server stores; None: the password itself.
    verifier: Callable[[str], str] | None

    def argument(self, password: str) -> str:
        return password if self.verifier is None else self.verifier(password)

    def note(self, plugin: str, what: str) -> str | None:
        """A history line when the password itself goes in the statement text."""
        if self.verifier is not None:
            return None
        return (
            f"set: rotor computes no verifier for the plugin {plugin or 'unknown'!r}, so the "
            f"password of {what} went in the statement text"
        )


def identified(server: ServerVersion, plugin: str, account: Account) -> PasswordForm:
    """The clause giving ``account`` a password while keeping its plugin."""
    if plugin in _NATIVE:
        if server.mariadb or not server.has_alter_user:
            return PasswordForm("IDENTIFIED BY PASSWORD %s", native_verifier)
        return PasswordForm("IDENTIFIED WITH mysql_native_password AS %s", native_verifier)
    if server.mariadb and plugin == "ed25519":
        return PasswordForm("IDENTIFIED VIA ed25519 USING %s", ed25519_verifier)
    if server.mariadb and plugin == "parsec":
        return PasswordForm("IDENTIFIED VIA parsec USING PASSWORD(%s)", None)
    if (
        not server.mariadb
        and server.has_alter_user
        and plugin in ("caching_sha2_password", "sha256_password")
    ):
        return PasswordForm(f"IDENTIFIED WITH {plugin} BY %s", None)
    raise errors.FunctionFailed(
        f"{account} authenticates with the plugin {plugin!r}, which has no password rotor can set"
    )


def set_password_value(server: ServerVersion, plugin: str | None) -> PasswordForm:
    """What ``SET PASSWORD ... =`` takes for an account with ``plugin`` (None: unknown).

    A string literal is a verifier on MariaDB and before MySQL 5.7.6 (MariaDB checks it
    with the account's plugin from 10.4), the password itself on later MySQL.
    """
    if not server.mariadb and server.has_alter_user:
        return PasswordForm("%s", None)
    if plugin is not None and plugin in _NATIVE:
        return PasswordForm("%s", native_verifier)
    if server.mariadb and plugin == "ed25519" and server.version >= (10, 4, 0):
        return PasswordForm("%s", ed25519_verifier)
    return PasswordForm("PASSWORD(%s)", None)


def own_plugin(conn: Connection, server: ServerVersion) -> str | None:
    """The plugin of the MariaDB account ``conn`` is logged in as; None if unknown.

    Only MariaDB's own SET PASSWORD takes a verifier and has SHOW CREATE USER (10.2+).
    """
    if not (server.mariadb and server.has_alter_user):
        return None
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW CREATE USER CURRENT_USER()")
            row = cursor.fetchone()
    except pymysql.err.MySQLError:
        return None
    return create_user_plugin(text_of(row[0])) if row else None


def create_user_plugin(text: str) -> str | None:
    """The plugin a ``SHOW CREATE USER`` row names; None for several or an unread row."""
    try:
        found = mysql_grant_rows.tokens(text)
    except mysql_grant_rows.Unsupported:
        return None
    words = [t.text.upper() if t.kind == "word" else "" for t in found]
    # CREATE USER `name`@`host` ...: quoted, so no word of a name counts below.
    if words[:2] != ["CREATE", "USER"] or found[3:4] != [mysql_grant_rows.Token("punct", "@")]:
        return None
    rest, words = found[5:], words[5:]
    if "OR" in words:
        return None  # several authentication methods (MariaDB 10.4+)
    if not words or words[0] != "IDENTIFIED":
        return ""  # no password: the default plugin
    if words[1:3] == ["BY", "PASSWORD"]:
        return "mysql_native_password"
    if words[1:2] in (["VIA"], ["WITH"]) and len(rest) > 2:
        return rest[2].text.lower()
    return None
