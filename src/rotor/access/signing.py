"""The primitives every request signature scheme rotor verifies is built of.

rotor's own ``ROTOR-HMAC-SHA256`` (:mod:`rotor.access.rotor_signature`), the cloud
KMS dialect's ACS3 and RPC v1 (:mod:`rotor.access.aliyun_string_to_sign`) and AWS
Signature Version 4 (:mod:`rotor.access.aws_signature`) all percent-encode, hash
and sign with these, so each is written once. Nothing of rotor is imported.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse


def percent_encode(value: str, safe: str = "~") -> str:
    """RFC 3986 encoding: only ``A-Za-z0-9-_.~`` (and ``safe``) stay, space is ``%20``."""
    return urllib.parse.quote(value, safe=safe)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_sha256(key: bytes, text: str) -> bytes:
    """HMAC-SHA256 of UTF-8 ``text`` under ``key``, as raw bytes (for a key derivation)."""
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def hmac_sha256_hex(key: str | bytes, text: str) -> str:
    """hex(HMAC-SHA256(key, text)); a text key is UTF-8."""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, text.encode(), hashlib.sha256).hexdigest()


def same(expected: str, given: str) -> bool:
    """Whether two signatures are equal, compared in constant time."""
    return hmac.compare_digest(expected.encode(), given.encode())
