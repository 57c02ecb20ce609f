"""The client side of ``ROTOR-HMAC-SHA256`` request signing.

The scheme is documented in :mod:`rotor.access.signing` (and the README); this
module computes the same string to sign from the request httpx will send, so
the key secret never travels. The client never imports the server's packages,
so the few lines of canonical form are written out again here, and a test
keeps both sides in step.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse

import httpx

ALGORITHM = "ROTOR-HMAC-SHA256"
SECURITY_TOKEN_HEADER = "X-Rotor-Security-Token"


def canonical_query(query: str) -> str:
    """Pairs decoded, each part RFC 3986-encoded, sorted, joined with ``&``."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    encoded = sorted(
        (urllib.parse.quote(k, safe="~"), urllib.parse.quote(v, safe="~")) for k, v in pairs
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def string_to_sign(
    *,
    method: str,
    path: str,
    query: str,
    body: bytes,
    timestamp: str,
    nonce: str,
    security_token: str = "",
) -> str:
    return "\n".join(
        [
            ALGORITHM,
            method,
            path,
            canonical_query(query),
            hashlib.sha256(body).hexdigest(),
            timestamp,
            nonce,
            security_token,
        ]
    )


def authorization(
    request: httpx.Request,
    *,
    access_key_id: str,
    access_key_secret: str,
    security_token: str = "",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` value for ``request`` (built, not yet sent), signed now with a
    fresh nonce unless ``timestamp``/``nonce`` are given."""
    path, _, query = request.url.raw_path.decode("ascii").partition("?")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    text = string_to_sign(
        method=request.method,
        path=path,
        query=query,
        body=request.content,
        timestamp=stamp,
        nonce=nonce,
        security_token=security_token,
    )
    signature = hmac.new(access_key_secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={access_key_id}, Timestamp={stamp}, Nonce={nonce}, "
        f"Signature={signature}"
    )
