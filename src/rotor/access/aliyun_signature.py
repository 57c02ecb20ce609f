"""Alibaba Cloud request signatures, verified on the server side.

Two schemes, both as the official SDKs send them:

- **RPC v1** (``HMAC-SHA1``): the V1 SDK, and the tea SDK with
  ``signature_algorithm='v2'``. The signature is the query parameter ``Signature``
  over every query and form parameter.
- **ACS3-HMAC-SHA256**: the tea SDK's default. The signature is in the
  ``Authorization`` header over the method, the query, the signed headers and the
  SHA-256 of the body.

The action and version come from the query (``Action``/``Version``) or the
``x-acs-action``/``x-acs-version`` headers; the request's parameters, its
``Authorization`` header and its timestamp are read by
:mod:`rotor.access.aliyun_request_parts`, and each scheme's string to sign is computed
by :mod:`rotor.access.aliyun_string_to_sign` (which tests and clients import too).

:class:`Verifier` checks a request against access keys found by a lookup
callable: the signature, a timestamp within :data:`MAX_SKEW_SECONDS` of now, a
nonce never seen in that window (:class:`NonceStore`), and the STS token when the key
has one (an empty ``SecurityToken=`` means no token).

Failures raise :class:`~rotor.access.aliyun_request_parts.SignatureRejected`, carrying
the Alibaba error code and HTTP status the SDKs expect (``SignatureDoesNotMatch`` with
its ``server string to sign is:`` message, ``InvalidAccessKeyId.NotFound``, ...).
Nothing here imports a web framework.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from rotor.access.aliyun_request_parts import (
    Acs3Authorization,
    missing_parameter,
    parse_authorization,
    parse_pairs,
    parse_timestamp,
    rejected,
    request_parameters,
    split_target,
)
from rotor.access.aliyun_string_to_sign import (
    RPC_V1_METHOD,
    RPC_V1_VERSION,
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    rpc_v1_signature,
    rpc_v1_string_to_sign,
)

#: Requests whose timestamp is further than this from the server's clock are refused.
MAX_SKEW_SECONDS = 15 * 60
#: The longest signature nonce accepted (the SDKs send 32 hex characters).
MAX_NONCE_LENGTH = 128
#: Parameters of the signature protocol itself, not of the API action.
PROTOCOL_PARAMETERS = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "Timestamp",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureType",
        "SignatureNonce",
        "AccessKeyId",
        "SecurityToken",
        "Signature",
    }
)
#: Headers an ACS3 signature must cover, when the request carries them.
ACS3_REQUIRED_SIGNED = ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")
ACS3_SIGNED_IF_PRESENT = ("x-acs-action", "x-acs-version", "x-acs-security-token")
SIGNATURE_MISMATCH_MESSAGE = (
    "Specified signature is not matched with our calculation. server string to sign is:"
)
_DUMMY_SECRET = secrets.token_urlsafe(30)


class Scheme(enum.StrEnum):
    """Which signature scheme a request used."""

    #: ``Signature`` query parameter, HMAC-SHA1 over the sorted parameters.
    RPC_V1 = "RPC-v1"
    #: ``Authorization: ACS3-HMAC-SHA256 ...`` over method, query, headers and body hash.
    ACS3 = "ACS3-HMAC-SHA256"


# --------------------------------------------------------------------------------------
# Requests and keys


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SignedRequest:
    """An HTTP request as received: what either scheme signs."""

    method: str
    #: The raw query string (after ``?``), still percent-encoded.
    query: str
    #: Header names in lowercase; values raw (``host`` may be ``http://127.0.0.1:8080``).
    headers: Mapping[str, str]
    body: bytes = b""
    path: str = "/"

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes = b""
    ) -> SignedRequest:
        """From a request line's target (origin or absolute form) and header pairs.

        A header sent twice has its values joined with ``,``.
        """
        path, query = split_target(target)
        merged: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        return cls(method=method.upper(), query=query, headers=merged, body=body, path=path)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SigningKey:
    """An access key as the lookup returns it."""

    access_key_id: str
    secret: str = dataclasses.field(repr=False)
    #: The STS token that must accompany this key, or None for a plain key.
    security_token: str | None = dataclasses.field(default=None, repr=False)


#: Finds the key for an access key id; None when there is no such (live) key.
KeyLookup = Callable[[str], SigningKey | None]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class VerifiedRequest:
    """A request whose signature checked out."""

    scheme: Scheme
    access_key_id: str
    #: The STS token the request carried, or None (never an empty string).
    security_token: str | None
    action: str
    version: str
    #: ``Format`` as sent (``JSON``/``json``), or "" when absent (ACS3).
    format: str
    #: All parameters of the request, protocol ones included.
    parameters: dict[str, str]

    @property
    def api_parameters(self) -> dict[str, str]:
        """The action's own parameters: everything but the signature protocol's."""
        return {k: v for k, v in self.parameters.items() if k not in PROTOCOL_PARAMETERS}


class NonceStore(Protocol):
    """Remembers nonces; a multi-node server can plug a shared one in."""

    def claim(self, access_key_id: str, nonce: str, expires_at: float) -> bool:
        """Record the key's ``nonce`` until ``expires_at``; False if it is already recorded."""
        ...


class MemoryNonceStore:
    """Nonces in this process's memory, forgotten once they expire.

    Bounded: past ``capacity`` live nonces, new requests are refused rather than
    old nonces forgotten early (which would allow a replay).
    """

    def __init__(self, *, capacity: int = 200_000, clock: Callable[[], float] = time.time) -> None:
        self._capacity = capacity
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}
        self._order: collections.deque[tuple[float, tuple[str, str]]] = collections.deque()
        self._lock = threading.Lock()

    def claim(self, access_key_id: str, nonce: str, expires_at: float) -> bool:
        key = (access_key_id, nonce)
        with self._lock:
            now = self._clock()
            while self._order and self._order[0][0] <= now:
                _, old = self._order.popleft()
                self._expiry.pop(old, None)
            if key in self._expiry:
                return False
            if len(self._expiry) >= self._capacity:
                raise rejected("ServiceUnavailable", "Too many requests; try again later.", 503)
            self._expiry[key] = expires_at
            self._order.append((expires_at, key))
            return True


# --------------------------------------------------------------------------------------
# The verifier


class Verifier:
    """Verifies Alibaba-signed requests against the keys ``lookup`` finds."""

    def __init__(
        self,
        lookup: KeyLookup,
        *,
        max_skew_seconds: float = MAX_SKEW_SECONDS,
        nonces: NonceStore | None = None,
        clock: Callable[[], float] = time.time,
        check_tokens: bool = True,
    ) -> None:
        """With ``check_tokens`` false, the request's token is returned unchecked, for a
        caller that checks it against the key itself (rotor keeps only a token's hash)."""
        self._lookup = lookup
        self._check_tokens = check_tokens
        self._max_skew = max_skew_seconds
        self._clock = clock
        self._nonces = nonces if nonces is not None else MemoryNonceStore(clock=clock)

    def verify(self, request: SignedRequest) -> VerifiedRequest:
        """The verified request, or :class:`SignatureRejected`."""
        params = request_parameters(
            request.query, request.headers.get("content-type"), request.body
        )
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("ACS3-"):
            return self._verify_acs3(request, params, parse_authorization(authorization))
        if authorization:
            raise rejected(
                "IncompleteSignature", "The Authorization header is not an ACS3 signature."
            )
        return self._verify_rpc_v1(request, params)

    # -- RPC v1 -----------------------------------------------------------------------

    def _verify_rpc_v1(self, request: SignedRequest, params: dict[str, str]) -> VerifiedRequest:
        for name in ("Signature", "AccessKeyId", "SignatureNonce"):
            if not params.get(name):
                raise missing_parameter(name)
        if not params.get("Timestamp"):
            raise rejected("IllegalTimestamp", 'The input parameter "Timestamp" is missing.')
        if params.get("SignatureMethod") != RPC_V1_METHOD:
            raise rejected(
                "InvalidParameter",
                f'Specified parameter "SignatureMethod" is not valid; only {RPC_V1_METHOD} '
                "is supported.",
            )
        if params.get("SignatureVersion") != RPC_V1_VERSION:
            raise rejected(
                "InvalidParameter", 'Specified parameter "SignatureVersion" is not valid.'
            )
        string_to_sign = rpc_v1_string_to_sign(request.method, params)
        key = self._key(
            params["AccessKeyId"], lambda secret: rpc_v1_signature(secret, string_to_sign)
        )
        expected = rpc_v1_signature(key.secret, string_to_sign)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise rejected("SignatureDoesNotMatch", SIGNATURE_MISMATCH_MESSAGE + string_to_sign)
        token = self._check_token(key, params.get("SecurityToken"))
        self._check_fresh(key.access_key_id, params["Timestamp"], params["SignatureNonce"])
        action = params.get("Action") or request.headers.get("x-acs-action", "")
        version = params.get("Version") or request.headers.get("x-acs-version", "")
        return self._verified(Scheme.RPC_V1, key, token, action, version, params)

    # -- ACS3 -------------------------------------------------------------------------

    def _verify_acs3(
        self, request: SignedRequest, params: dict[str, str], auth: Acs3Authorization
    ) -> VerifiedRequest:
        headers = request.headers
        signed = auth.signed_headers
        required = [*ACS3_REQUIRED_SIGNED, *(h for h in ACS3_SIGNED_IF_PRESENT if h in headers)]
        for name in required:
            if name not in signed:
                raise rejected(
                    "IncompleteSignature", f"The signature must cover the header {name!r}."
                )
        for name in signed:
            if name != name.lower() or name not in headers:
                raise rejected("IncompleteSignature", f"The signed header {name!r} is missing.")
        key_id_header = headers.get("x-acs-accesskey-id")
        if key_id_header is not None and key_id_header != auth.access_key_id:
            raise rejected(
                "IncompleteSignature", "x-acs-accesskey-id does not match the Credential."
            )
        hashed_payload = hashlib.sha256(request.body).hexdigest()
        canonical = acs3_canonical_request(
            method=request.method,
            path=request.path,
            query_pairs=parse_pairs(request.query, "query string"),
            headers=headers,
            signed_headers=signed,
            hashed_payload=hashed_payload,
        )
        string_to_sign = acs3_string_to_sign(canonical)
        key = self._key(auth.access_key_id, lambda secret: acs3_signature(secret, string_to_sign))
        if not hmac.compare_digest(
            headers.get("x-acs-content-sha256", "").lower().encode(), hashed_payload.encode()
        ):
            raise rejected(
                "SignatureDoesNotMatch",
                "The x-acs-content-sha256 header does not match the request body: "
                f"the body hashes to {hashed_payload}",
            )
        expected = acs3_signature(key.secret, string_to_sign)
        if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
            raise rejected("SignatureDoesNotMatch", SIGNATURE_MISMATCH_MESSAGE + string_to_sign)
        token = self._check_token(key, headers.get("x-acs-security-token"))
        self._check_fresh(
            key.access_key_id, headers["x-acs-date"], headers["x-acs-signature-nonce"]
        )
        action = headers.get("x-acs-action") or params.get("Action", "")
        version = headers.get("x-acs-version") or params.get("Version", "")
        return self._verified(Scheme.ACS3, key, token, action, version, params)

    # -- shared checks ----------------------------------------------------------------

    def _key(self, access_key_id: str, sign: Callable[[str], str]) -> SigningKey:
        """The key, or NotFound once ``sign`` has signed with a stand-in secret: an unknown
        key costs the signature a known one costs."""
        key = self._lookup(access_key_id)
        if key is None or key.access_key_id != access_key_id:
            sign(_DUMMY_SECRET)
            raise rejected("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        return key

    def _check_token(self, key: SigningKey, sent: str | None) -> str | None:
        """The request's token (None when absent or empty), checked against the key's."""
        token = sent or None
        if not self._check_tokens:
            return token
        if key.security_token is None:
            if token is not None:
                raise rejected(
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "Specified SecurityToken mismatch with the AccessKey.",
                )
            return None
        if token is None:
            raise rejected("MissingSecurityToken", "SecurityToken is mandatory for this key.")
        if not hmac.compare_digest(token.encode(), key.security_token.encode()):
            raise rejected(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )
        return token

    def _check_fresh(self, access_key_id: str, timestamp: str, nonce: str) -> None:
        if not nonce:
            raise missing_parameter("SignatureNonce")
        if len(nonce) > MAX_NONCE_LENGTH:
            raise rejected(
                "InvalidParameter",
                f'The parameter "SignatureNonce" must be at most {MAX_NONCE_LENGTH} characters.',
            )
        sent = parse_timestamp(timestamp).timestamp()
        now = self._clock()
        if abs(now - sent) > self._max_skew:
            raise rejected(
                "IllegalTimestamp",
                f"Specified time stamp {timestamp} is more than {self._max_skew / 60:g} "
                "minutes from the server's time.",
            )
        # Remember the nonce until the timestamp itself can no longer pass.
        if not self._nonces.claim(access_key_id, nonce, sent + self._max_skew + 1):
            raise rejected("SignatureNonceUsed", "Specified signature nonce was used already.")

    @staticmethod
    def _verified(
        scheme: Scheme,
        key: SigningKey,
        token: str | None,
        action: str,
        version: str,
        params: dict[str, str],
    ) -> VerifiedRequest:
        if not action:
            raise missing_parameter("Action")
        if not version:
            raise missing_parameter("Version")
        return VerifiedRequest(
            scheme=scheme,
            access_key_id=key.access_key_id,
            security_token=token,
            action=action,
            version=version,
            format=params.get("Format", ""),
            parameters=params,
        )
