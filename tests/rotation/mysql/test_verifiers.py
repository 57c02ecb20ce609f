"""Verifiers without a server: what MySQL and MariaDB store for a password, and the SQL."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from rotor.rotation.functions import mysql, mysql_verifiers
from rotor.rotation.functions.mysql_connections import ServerVersion
from rotor.rotation.functions.mysql_grants import Account

APP = Account("app", "%")
MARIADB = ServerVersion.parse("10.11.6-MariaDB-0+deb12u1")
MARIADB_10_3 = ServerVersion.parse("10.3.39-MariaDB")
MYSQL8 = ServerVersion.parse("8.0.36")
MYSQL56 = ServerVersion.parse("5.6.51")
NATIVE_SECRET = "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"  # PASSWORD('secret')
ED25519_SECRET = "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"  # MariaDB 10.11, 'secret'

# -- a plain reference for Ed25519 scalar multiplication (RFC 8032, affine, slow) --------

P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def _base() -> tuple[int, int]:
    y = 4 * pow(5, -1, P) % P
    xx = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    return (P - x if x % 2 else x, y)


def reference_public_key(scalar: int) -> bytes:
    result, addend = (0, 1), _base()
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    x, y = result
    return (y | (x & 1) << 255).to_bytes(32, "little")


def clamp(digest: bytes) -> int:
    value = bytearray(digest[:32])
    value[0] &= 248
    value[31] = (value[31] & 63) | 64
    return int.from_bytes(value, "little")


# -- tests -------------------------------------------------------------------------------


def test_native_verifier_is_what_password_gives() -> None:
    assert mysql_verifiers.native_verifier("secret") == NATIVE_SECRET


def test_ed25519_verifier_is_what_mariadb_stores() -> None:
    assert mysql_verifiers.ed25519_verifier("secret") == ED25519_SECRET


@pytest.mark.parametrize("seed", [bytes(32), b"\xff" * 32, *(os.urandom(32) for _ in range(20))])
def test_public_key_matches_openssl_ed25519(seed: bytes) -> None:
    """MariaDB's key is RFC 8032's with the password as the seed: OpenSSL agrees."""
    expected = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert mysql_verifiers.ed25519_public_key(clamp(hashlib.sha512(seed).digest())) == expected


@pytest.mark.parametrize(
    "scalar",
    [
        2**254,  # the smallest clamped scalar
        2**255 - 8,  # the largest: scalar + 8 would not stay clamped
        2**255 - 16,
        clamp(hashlib.sha512(b"secret").digest()),
    ],
)
def test_public_key_matches_a_plain_reference_at_the_edges(scalar: int) -> None:
    assert mysql_verifiers.ed25519_public_key(scalar) == reference_public_key(scalar)


@pytest.mark.parametrize(
    ("server", "plugin", "clause", "argument"),
    [
        (MARIADB, "mysql_native_password", "IDENTIFIED BY PASSWORD %s", NATIVE_SECRET),
        (MARIADB, "", "IDENTIFIED BY PASSWORD %s", NATIVE_SECRET),
        (MARIADB, "ed25519", "IDENTIFIED VIA ed25519 USING %s", ED25519_SECRET),
        (MYSQL8, "", "IDENTIFIED WITH mysql_native_password AS %s", NATIVE_SECRET),
        (MYSQL56, "mysql_native_password", "IDENTIFIED BY PASSWORD %s", NATIVE_SECRET),
        # No verifier rotor can compute: the password itself, the documented fallback.
        (MARIADB, "parsec", "IDENTIFIED VIA parsec USING PASSWORD(%s)", "secret"),
        (MYSQL8, "caching_sha2_password", "IDENTIFIED WITH caching_sha2_password BY %s", "secret"),
        (MYSQL8, "sha256_password", "IDENTIFIED WITH sha256_password BY %s", "secret"),
    ],
)
def test_password_clause_keeps_the_plugin(
    server: ServerVersion, plugin: str, clause: str, argument: str
) -> None:
    form = mysql_verifiers.identified(server, plugin, APP)
    assert (form.sql, form.argument("secret")) == (clause, argument)
    assert (form.note(plugin, "x") is None) is (argument != "secret")


@pytest.mark.parametrize(
    ("server", "plugin", "value", "argument"),
    [
        (MARIADB, "mysql_native_password", "%s", NATIVE_SECRET),
        (MARIADB, "ed25519", "%s", ED25519_SECRET),
        (MARIADB, "parsec", "PASSWORD(%s)", "secret"),
        (MARIADB, None, "PASSWORD(%s)", "secret"),
        (MARIADB_10_3, "ed25519", "PASSWORD(%s)", "secret"),  # 10.4 reads ed25519 literals
        (MYSQL56, "mysql_native_password", "%s", NATIVE_SECRET),
        (MYSQL8, "mysql_native_password", "%s", "secret"),  # a literal is the password
    ],
)
def test_set_password_value(
    server: ServerVersion, plugin: str | None, value: str, argument: str
) -> None:
    form = mysql_verifiers.set_password_value(server, plugin)
    assert (form.sql, form.argument("secret")) == (value, argument)


@pytest.mark.parametrize(
    ("version", "plugin", "statement", "args"),
    [
        ("10.11.6-MariaDB", "mysql_native_password", "SET PASSWORD = %s", (NATIVE_SECRET,)),
        ("10.11.6-MariaDB", "ed25519", "SET PASSWORD = %s", (ED25519_SECRET,)),
        ("10.11.6-MariaDB", None, "SET PASSWORD = PASSWORD(%s)", ("secret",)),
        ("5.6.51", "mysql_native_password", "SET PASSWORD = %s", (NATIVE_SECRET,)),
        ("5.7.44", "mysql_native_password", "ALTER USER USER() IDENTIFIED BY %s", ("secret",)),
        ("8.0.36", None, "ALTER USER USER() IDENTIFIED BY %s REPLACE %s", ("secret", "old")),
    ],
)
def test_how_an_account_changes_its_own_password(
    version: str, plugin: str | None, statement: str, args: tuple[str, ...]
) -> None:
    server = ServerVersion.parse(version)
    assert mysql.own_password_statement(server, plugin, "secret", "old") == (statement, args)


@pytest.mark.parametrize(
    ("row", "plugin"),
    [
        (
            "CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*14E6' REQUIRE SSL",
            "mysql_native_password",
        ),
        ("CREATE USER `app`@`%` IDENTIFIED VIA ed25519 USING 'ZIgU+/'", "ed25519"),
        ("CREATE USER `app`@`%` IDENTIFIED VIA ed25519 USING 'k' OR unix_socket", None),
        (
            "CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$x' "
            "REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK",
            "caching_sha2_password",
        ),
        (
            "CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 0x2441",
            "caching_sha2_password",
        ),
        ("CREATE USER `IDENTIFIED VIA ed25519`@`%`", ""),
        ("CREATE USER `app`@`%` REQUIRE SUBJECT 'CN=a OR b'", ""),
        ("CREATE USER `app`@`%` IDENTIFIED VIA x USING 'k' ~", None),
        ("CREATE ROLE `app`", None),
    ],
)
def test_plugin_of_show_create_user(row: str, plugin: str | None) -> None:
    assert mysql_verifiers.create_user_plugin(row) == plugin
