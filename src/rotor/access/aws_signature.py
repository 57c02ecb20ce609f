"""AWS Signature Version 4 (``AWS4-HMAC-SHA256``), verified on the server side.

The AWS SDKs sign with an access key id and secret; rotor verifies with its own
access keys, so the key id and secret a user already has work unchanged (an
assumed role's key also sends its session token as ``x-amz-security-token``).
Two forms, as the SDKs send them:

- **Header**: ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/
  <service>/aws4_request, SignedHeaders=<a;b;c>, Signature=<hex>`` with ``x-amz-date``.
- **Presigned query**: ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` (and
  ``X-Amz-Security-Token``) in the query string.

The canonical request is the method, the path (URI-encoded once more, as for every
service but S3), the sorted canonical query, the signed headers (lowercase names,
values trimmed and inner spaces collapsed), their names, and the hex SHA-256 of the
body; the string to sign is ``AWS4-HMAC-SHA256``, the request time, the credential
scope and the hex SHA-256 of the canonical request; the key is derived from
``"AWS4" + secret`` through the date, region, service and ``aws4_request``. Any
region is accepted; the service must be :data:`SERVICE`.

Every refusal is :class:`AwsSignatureRejected`, with the ``__type`` and status
AWS answers (``IncompleteSignature``, ``InvalidSignatureException``,
``UnrecognizedClientException``, ...). An unknown key id costs what a wrong
signature costs: the signature is computed with a stand-in secret and compared
in constant time before either is refused. The request time must be within
:data:`MAX_SKEW_SECONDS` of the server's clock (a presigned request's, until it
expires). SigV4 has no nonce: as at AWS, a request may be replayed until its
time is out of the window. Nothing here imports a web framework.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping

from rotor import errors
from rotor.access.signing import hmac_sha256, hmac_sha256_hex, percent_encode, same, sha256_hex

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "secretsmanager"
TERMINATOR = "aws4_request"
#: Requests whose time is further than this from the server's clock are refused (as AWS).
MAX_SKEW_SECONDS = 15 * 60
#: The longest a presigned request may be valid (seven days, as AWS).
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_DUMMY_SECRET = secrets.token_urlsafe(30)
_DATE = re.compile(r"[0-9]{8}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class AwsSignatureRejected(errors.Unauthenticated):
    """The request's SigV4 signature, or its key, was refused.

    ``aws_type`` and ``aws_status`` are what an AWS endpoint answers.
    """

    code = "SignatureRejected"

    def __init__(self, aws_type: str, message: str, aws_status: int = 400) -> None:
        super().__init__(message)
        self.aws_type = aws_type
        self.aws_status = aws_status


def incomplete(message: str) -> AwsSignatureRejected:
    return AwsSignatureRejected("IncompleteSignature", message)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SignedRequest:
    """An HTTP request as received: what a signature covers."""

    method: str
    #: The path as sent, percent-encoding kept, without the query.
    path: str
    #: The raw query string (after ``?``), still percent-encoded.
    query: str
    #: Header names in lowercase; a header sent twice has its values joined with ``,``.
    headers: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def from_parts(
        cls,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes = b"",
    ) -> SignedRequest:
        merged: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        return cls(method=method.upper(), path=path, query=query, headers=merged, body=body)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Credential:
    """What a signature says about itself: the key, the scope, the headers it covers."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    #: The request time, ``yyyymmddThhmmssZ``.
    amz_date: str
    security_token: str | None
    #: Seconds a presigned request stays valid; None for the header form.
    expires: int | None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class VerifiedRequest:
    """A request whose signature checked out."""

    access_key_id: str
    #: The session token the request carried, or None (never an empty string).
    security_token: str | None
    region: str


#: The secret of a usable access key, or None when there is no such key.
SecretLookup = Callable[[str], str | None]


# --------------------------------------------------------------------------------------
# The canonical request and the signature


def canonical_query(query: str, *, without: str | None = None) -> str:
    """Every query pair, decoded then encoded as SigV4 does, sorted by name then value."""
    pairs = urllib.parse.parse_qsl(
        query, keep_blank_values=True, strict_parsing=False, max_num_fields=1000
    )
    return "&".join(
        f"{k}={v}"
        for k, v in sorted((percent_encode(k), percent_encode(v)) for k, v in pairs if k != without)
    )


def canonical_headers(headers: Mapping[str, str], names: Iterable[str]) -> str:
    return "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names)


def canonical_request(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
    without_query: str | None = None,
) -> str:
    names = list(signed_headers)
    return "\n".join(
        [
            method.upper(),
            percent_encode(path or "/", safe="/~"),
            canonical_query(query, without=without_query),
            canonical_headers(headers, names),
            ";".join(names),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, sha256_hex(canonical.encode())])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac_sha256(("AWS4" + secret).encode(), date)
    for part in (region, service, TERMINATOR):
        key = hmac_sha256(key, part)
    return key


def signature(secret: str, credential: Credential, text: str) -> str:
    key = signing_key(secret, credential.date, credential.region, credential.service)
    return hmac_sha256_hex(key, text)


# --------------------------------------------------------------------------------------
# Reading the signature's parts


def is_signed(headers: Mapping[str, str], query: str) -> bool:
    """Whether a request claims SigV4 in either form (cheap)."""
    return headers.get("authorization", "").startswith(ALGORITHM) or "X-Amz-Algorithm=" in query


def _split_credential(value: str) -> tuple[str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts):
        raise incomplete(
            f"Credential should be of the form <key id>/<date>/<region>/{SERVICE}/"
            f"{TERMINATOR}; got {value!r}."
        )
    key_id, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise AwsSignatureRejected(
            "InvalidSignatureException",
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'.",
        )
    if not _DATE.fullmatch(date):
        raise AwsSignatureRejected(
            "InvalidSignatureException", f"Date must be in YYYYMMDD format; got {date!r}."
        )
    return key_id, date, region, service


def _signed_headers(value: str, headers: Mapping[str, str]) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not all(names) or list(names) != sorted(set(names)):
        raise incomplete("SignedHeaders must be lowercase names, sorted, each once.")
    for name in names:
        if name != name.lower() or name not in headers:
            raise incomplete(f"The signed header {name!r} is not in the request.")
    if "host" not in names:
        raise incomplete("The host header must be signed.")
    return names


def parse_header_form(value: str, headers: Mapping[str, str]) -> Credential:
    """The parts of ``Authorization: AWS4-HMAC-SHA256 ...``, else IncompleteSignature."""
    if not value.startswith(ALGORITHM + " "):
        raise incomplete(f"Unsupported Authorization type; only {ALGORITHM} is accepted.")
    fields: dict[str, str] = {}
    for item in value[len(ALGORITHM) + 1 :].split(","):
        name, sep, text = item.strip().partition("=")
        if not sep or name in fields:
            raise incomplete(f"Authorization header has a malformed part {item.strip()!r}.")
        fields[name] = text
    lacking = [f for f in ("Credential", "SignedHeaders", "Signature") if f not in fields]
    if lacking:
        raise incomplete(
            " ".join(f"Authorization header requires '{f}' parameter." for f in lacking)
            + f" Authorization={value.split(' ')[0]}"
        )
    amz_date = headers.get("x-amz-date")
    if not amz_date:
        raise incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
    key_id, date, region, service = _split_credential(fields["Credential"])
    return Credential(
        access_key_id=key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_signed_headers(fields["SignedHeaders"], headers),
        signature=fields["Signature"].lower(),
        amz_date=amz_date,
        security_token=headers.get("x-amz-security-token") or None,
        expires=None,
    )


def parse_query_form(query: str, headers: Mapping[str, str]) -> Credential:
    """The parts of a presigned request's ``X-Amz-*`` query parameters."""
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=1000))
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise incomplete(f"X-Amz-Algorithm must be {ALGORITHM}.")
    names = (
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    )
    lacking = [name for name in names if not params.get(name)]
    if lacking:
        raise incomplete(" ".join(f"The query requires the parameter '{n}'." for n in lacking))
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES_SECONDS:
        raise incomplete(f"X-Amz-Expires must be from 1 to {MAX_EXPIRES_SECONDS} seconds.")
    key_id, date, region, service = _split_credential(params["X-Amz-Credential"])
    return Credential(
        access_key_id=key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_signed_headers(params["X-Amz-SignedHeaders"], headers),
        signature=params["X-Amz-Signature"].lower(),
        amz_date=params["X-Amz-Date"],
        security_token=params.get("X-Amz-Security-Token") or None,
        expires=int(expires),
    )


def _request_time(credential: Credential) -> dt.datetime:
    try:
        when = dt.datetime.strptime(credential.amz_date, _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise incomplete(
            f"X-Amz-Date must be in the ISO 8601 basic format yyyyMMdd'T'HHmmss'Z'; "
            f"got {credential.amz_date!r}."
        ) from None
    if credential.amz_date[:8] != credential.date:
        raise AwsSignatureRejected(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
            f"date from HTTP: '{credential.date}' != '{credential.amz_date[:8]}', from "
            f"'{credential.amz_date}'.",
        )
    return when


# --------------------------------------------------------------------------------------
# The verifier


class Verifier:
    """Verifies SigV4 requests against the secrets ``lookup`` finds."""

    def __init__(
        self,
        lookup: SecretLookup,
        *,
        service: str = SERVICE,
        max_skew_seconds: float = MAX_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lookup = lookup
        self._service = service
        self._max_skew = max_skew_seconds
        self._clock = clock

    def verify(self, request: SignedRequest) -> VerifiedRequest:
        """The verified request, or :class:`AwsSignatureRejected`.

        The key's status, expiry and session token are the caller's to check
        (:meth:`rotor.access.keys.Authenticator.identify`).
        """
        authorization = request.headers.get("authorization")
        presigned = "X-Amz-Algorithm=" in request.query or "X-Amz-Signature=" in request.query
        if authorization and presigned:
            raise AwsSignatureRejected(
                "InvalidSignatureException",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
                "or the Authorization header should be specified.",
            )
        if authorization:
            credential = parse_header_form(authorization, request.headers)
        elif presigned:
            credential = parse_query_form(request.query, request.headers)
        else:
            raise AwsSignatureRejected(
                "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        sent = _request_time(credential)
        if credential.service != self._service:
            raise AwsSignatureRejected(
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{self._service}'.",
            )
        payload_hash = sha256_hex(request.body)
        declared = request.headers.get("x-amz-content-sha256")
        if declared is not None and not same(payload_hash, declared.lower()):
            raise AwsSignatureRejected(
                "InvalidSignatureException",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        canonical = canonical_request(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            signed_headers=credential.signed_headers,
            payload_hash=payload_hash,
            without_query="X-Amz-Signature" if credential.expires is not None else None,
        )
        text = string_to_sign(credential.amz_date, credential.scope, canonical)
        # The same work whether the key exists or not: sign, then compare, then refuse.
        secret = (
            self._lookup(credential.access_key_id) if len(credential.access_key_id) <= 64 else None
        )
        expected = signature(secret or _DUMMY_SECRET, credential, text)
        matches = _SIGNATURE.fullmatch(credential.signature) is not None and same(
            expected, credential.signature
        )
        if secret is None:
            raise AwsSignatureRejected("UnrecognizedClientException", INVALID_TOKEN)
        if not matches:
            raise AwsSignatureRejected(
                "InvalidSignatureException",
                f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have "
                f"been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{text}'\n",
            )
        self._check_time(credential, sent)
        return VerifiedRequest(
            access_key_id=credential.access_key_id,
            security_token=credential.security_token,
            region=credential.region,
        )

    def _check_time(self, credential: Credential, sent: dt.datetime) -> None:
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        stamp = now.strftime(_TIME_FORMAT)
        if credential.expires is not None:
            if sent - now > dt.timedelta(seconds=self._max_skew):
                raise AwsSignatureRejected(
                    "InvalidSignatureException",
                    f"Signature not yet current: {credential.amz_date} is still later than "
                    f"{stamp} (now + {self._max_skew / 60:g} min.)",
                )
            until = sent + dt.timedelta(seconds=credential.expires)
            if now > until:
                raise AwsSignatureRejected(
                    "InvalidSignatureException",
                    f"Signature expired: {credential.amz_date} is now earlier than {stamp} "
                    f"({until.strftime(_TIME_FORMAT)} is when it expired.)",
                )
            return
        skew = dt.timedelta(seconds=self._max_skew)
        if sent < now - skew:
            raise AwsSignatureRejected(
                "InvalidSignatureException",
                f"Signature expired: {credential.amz_date} is now earlier than "
                f"{(now - skew).strftime(_TIME_FORMAT)} ({stamp} - {self._max_skew / 60:g} min.)",
            )
        if sent > now + skew:
            raise AwsSignatureRejected(
                "InvalidSignatureException",
                f"Signature not yet current: {credential.amz_date} is still later than "
                f"{(now + skew).strftime(_TIME_FORMAT)} ({stamp} + {self._max_skew / 60:g} min.)",
            )
