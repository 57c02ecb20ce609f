"""The client side of ``ROTOR-HMAC-SHA256`` request signing.

The scheme is documented in :mod:`rotor.access.rotor_signature` (and docs/reference/api.md);
the string to sign comes from :mod:`rotor.protocol`, which the server uses too,
computed from the request httpx will send, so the key secret never travels.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import httpx

from rotor import protocol

ALGORITHM = protocol.ALGORITHM
SECURITY_TOKEN_HEADER = protocol.SECURITY_TOKEN_HEADER


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
    text = protocol.string_to_sign(
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
