"""Password verifiers: what a MySQL or MariaDB server stores for a password, computed here,
so a statement that sets a password carries that value and never the password itself.

- ``mysql_native_password``: ``*`` + upper-hex SHA1(SHA1(password));
- MariaDB's ``ed25519``: the base64 (unpadded) Ed25519 public key whose secret scalar is the
  clamped first half of SHA512(password), as the server derives it. The multiplications
  that involve the password are OpenSSL's X25519 (constant time); only public points are
  handled in Python, to recover the key's sign.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric import x25519


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
