"""rotor's own request signature, ``ROTOR-HMAC-SHA256``, verified on the server side.

A signed request proves it holds an access key secret without sending it::

    Authorization: ROTOR-HMAC-SHA256 Credential=<key id>, Timestamp=<unix seconds>,
        Nonce=<16-128 of A-Za-z0-9_->, Signature=<hex>
    X-Rotor-Security-Token: <session token>        (assumed-role keys only)

The signature is hex(HMAC-SHA256(key secret, string to sign)), where the string
to sign is these lines joined with ``\\n`` (no trailing newline):

1. ``ROTOR-HMAC-SHA256``
2. the method (``GET``, ``POST``, ...)
3. the path exactly as sent, percent-encoding kept, without the query
4. the canonical query (:func:`rotor.protocol.canonical_query`; empty line when there is none)
5. hex SHA-256 of the body (of ``""`` when there is no body)
6. the timestamp, as written in the header
7. the nonce
8. the session token (empty line when there is none)

The server refuses a timestamp more than :data:`MAX_SKEW_SECONDS` from its
clock, and a (key, nonce) pair it has seen before: nonces are remembered in the
store until the timestamp could no longer pass, so a replay is refused on every
node. Every refusal is the same :class:`rotor.errors.Unauthenticated`, whatever
part was wrong, and secrets and signatures are compared in constant time
whether the key exists or not.

The string to sign is written once, in :mod:`rotor.protocol`, which the client
imports too (the client never imports this package).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import re
import secrets
import time
from collections.abc import Callable

from rotor import errors, protocol
from rotor.access import signing
from rotor.access.keys import Authenticator, Identity

ALGORITHM = protocol.ALGORITHM
#: Requests whose timestamp is further than this from the server's clock are refused.
MAX_SKEW_SECONDS = 15 * 60
SECURITY_TOKEN_HEADER = protocol.SECURITY_TOKEN_HEADER

_FIELDS = frozenset({"Credential", "Timestamp", "Nonce", "Signature"})
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_DUMMY_SECRET = secrets.token_urlsafe(30)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Authorization:
    """The parts of an ``Authorization: ROTOR-HMAC-SHA256 ...`` header."""

    access_key_id: str
    #: Unix seconds, as written in the header (that text is what is signed).
    timestamp: str
    nonce: str
    #: Lower-case hex.
    signature: str


def is_signed(authorization: str | None) -> bool:
    """Whether an ``Authorization`` value claims this scheme (else it may be a bearer key)."""
    return authorization is not None and authorization.startswith(ALGORITHM + " ")


def parse_authorization(value: str) -> Authorization:
    """The header's parts, in any order, each exactly once; else Unauthenticated."""
    if not is_signed(value):
        raise errors.Unauthenticated()
    fields: dict[str, str] = {}
    for item in value[len(ALGORITHM) + 1 :].split(","):
        name, sep, text = item.strip().partition("=")
        if not sep or name in fields:
            raise errors.Unauthenticated()
        fields[name] = text
    if fields.keys() != _FIELDS:
        raise errors.Unauthenticated()
    checks = (
        (_KEY_ID, "Credential"),
        (_TIMESTAMP, "Timestamp"),
        (_NONCE, "Nonce"),
        (_SIGNATURE, "Signature"),
    )
    if not all(pattern.fullmatch(fields[name]) for pattern, name in checks):
        raise errors.Unauthenticated()
    return Authorization(
        access_key_id=fields["Credential"],
        timestamp=fields["Timestamp"],
        nonce=fields["Nonce"],
        signature=fields["Signature"].lower(),
    )


def signature(secret: str, text: str) -> str:
    """hex(HMAC-SHA256(secret, text)), both UTF-8."""
    return signing.hmac_sha256_hex(secret, text)


#: Records a (key id, nonce) until the given time; False when it was recorded already.
NonceClaim = Callable[[str, str, dt.datetime], bool]


class Verifier:
    """Checks ``ROTOR-HMAC-SHA256`` requests against the keys an :class:`Authenticator` knows.

    Nonces go to the store (the authenticator's :class:`rotor.store.nonces.Ledger`)
    unless ``claim_nonce`` says otherwise.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        claim_nonce: NonceClaim | None = None,
        max_skew_seconds: float = MAX_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.authenticator = authenticator
        self._claim_nonce = claim_nonce or authenticator.nonces.claim
        self._max_skew = max_skew_seconds
        self._clock = clock

    def authenticate(
        self,
        *,
        authorization: str,
        method: str,
        path: str,
        query: str,
        body: bytes,
        security_token: str | None,
        cached: bool = False,
        claim_nonce: NonceClaim | None = None,
    ) -> Identity:
        """The identity of a correctly signed, fresh, first-seen request; else Unauthenticated.

        The nonce is recorded last, so a request refused for any other reason does not
        use it up (nor write to the store); ``claim_nonce`` records it instead of the
        verifier's own (a request's :class:`rotor.store.nonces.ClaimOnce`). ``cached``
        trusts the credential cache's generation
        (:meth:`~rotor.access.keys.Authenticator.key_secret`), for a caller that checks it.
        """
        auth = parse_authorization(authorization)
        try:
            text = protocol.string_to_sign(
                method=method,
                path=path,
                query=query,
                body=body,
                timestamp=auth.timestamp,
                nonce=auth.nonce,
                security_token=security_token or "",
            )
        except (UnicodeDecodeError, ValueError):  # an undecodable query
            raise errors.Unauthenticated() from None
        secret = self.authenticator.key_secret(auth.access_key_id, cached=cached)
        expected = signature(secret or _DUMMY_SECRET, text)
        matches = hmac.compare_digest(expected.encode(), auth.signature.encode())
        if secret is None or not matches:
            raise errors.Unauthenticated()
        sent = int(auth.timestamp)
        if abs(self._clock() - sent) > self._max_skew:
            raise errors.Unauthenticated()
        identity = self.authenticator.identify(auth.access_key_id, security_token)
        # Remember the nonce until this timestamp can no longer pass.
        until = dt.datetime.fromtimestamp(sent + self._max_skew, dt.UTC)
        claim = claim_nonce or self._claim_nonce
        if not claim(auth.access_key_id, auth.nonce, until):
            raise errors.Unauthenticated()
        return identity
