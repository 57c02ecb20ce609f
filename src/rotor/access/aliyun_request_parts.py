"""The parts of a received Alibaba-signed request, read for its verifier, and its one failure.

A request's parameters (:func:`request_parameters`) are the decoded query parameters
plus, when the body is ``application/x-www-form-urlencoded``, the decoded form
parameters (blank values kept: the V1 SDK signs ``SignatureType=``); a name given twice
is refused. An ACS3 request's ``Authorization`` header is read by
:func:`parse_authorization`, and a ``Timestamp`` or ``x-acs-date`` by
:func:`parse_timestamp`.

Whatever is refused, here or by :class:`rotor.access.aliyun_signature.Verifier`, raises
:class:`SignatureRejected`, carrying the Alibaba error code and HTTP status the SDKs
expect (``SignatureDoesNotMatch``, ``InvalidAccessKeyId.NotFound``, ...).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import urllib.parse

from rotor import errors
from rotor.access.aliyun_string_to_sign import ACS3_ALGORITHM

#: The most parameters one request may carry (query plus form).
MAX_PARAMETERS = 1000
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_AUTHORIZATION_RE = re.compile(
    r"^(?P<algorithm>\S+)\s+Credential=(?P<credential>[^,\s]*),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]*),\s*Signature=(?P<signature>[0-9a-fA-F]*)\s*$"
)
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


class SignatureRejected(errors.Unauthenticated):
    """The request signature was refused.

    ``acs_code`` and ``acs_status`` are what an Alibaba-compatible endpoint answers
    (``SignatureDoesNotMatch`` / 400, ``InvalidAccessKeyId.NotFound`` / 404, ...).
    """

    code = "SignatureRejected"

    def __init__(
        self,
        message: str | None = None,
        *,
        acs_code: str = "IncompleteSignature",
        acs_status: int = 400,
    ) -> None:
        super().__init__(message)
        self.acs_code = acs_code
        self.acs_status = acs_status


def rejected(acs_code: str, message: str, acs_status: int = 400) -> SignatureRejected:
    """The refusal an Alibaba endpoint answers with ``acs_code`` and ``acs_status``."""
    return SignatureRejected(message, acs_code=acs_code, acs_status=acs_status)


def missing_parameter(name: str) -> SignatureRejected:
    """The refusal of a request without the mandatory parameter ``name``."""
    return rejected(
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
    )


def split_target(target: str) -> tuple[str, str]:
    """(path, raw query) of a request target in origin form or absolute form (proxies)."""
    parts = urllib.parse.urlsplit(target)
    return parts.path or "/", parts.query


def parse_pairs(text: str, what: str) -> list[tuple[str, str]]:
    """Decode ``a=1&b=`` (``+`` is a space, blank values kept); refuse malformed UTF-8."""
    try:
        return urllib.parse.parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except (UnicodeDecodeError, ValueError):
        raise rejected(
            "InvalidParameter", f"The {what} is not valid UTF-8 form encoding."
        ) from None


def is_form(content_type: str | None) -> bool:
    return content_type is not None and FORM_CONTENT_TYPE in content_type.lower()


def request_parameters(query: str, content_type: str | None, body: bytes) -> dict[str, str]:
    """The request's parameters: query params plus form-body params (protocol §1).

    A name given twice is refused: the signed string would be ambiguous.
    """
    pairs = parse_pairs(query, "query string")
    if is_form(content_type) and body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise rejected("InvalidParameter", "The form body is not valid UTF-8.") from None
        pairs += parse_pairs(text, "form body")
    if len(pairs) > MAX_PARAMETERS:
        raise rejected("InvalidParameter", "The request has too many parameters.")
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise rejected("InvalidParameter", f'The parameter "{key}" is given more than once.')
        params[key] = value
    return params


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Acs3Authorization:
    """The parts of an ``Authorization: ACS3-HMAC-SHA256 ...`` header."""

    algorithm: str
    access_key_id: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str) -> Acs3Authorization:
    match = _AUTHORIZATION_RE.match(value.strip())
    if match is None:
        raise rejected(
            "IncompleteSignature", "The Authorization header is not a valid ACS3 signature."
        )
    if match["algorithm"] != ACS3_ALGORITHM:
        raise rejected(
            "IncompleteSignature",
            f"The signature algorithm {match['algorithm']!r} is not supported; "
            f"use {ACS3_ALGORITHM}.",
        )
    signed = match["signed"].split(";") if match["signed"] else []
    if not match["credential"] or not signed or not match["signature"]:
        raise rejected(
            "IncompleteSignature", "The Authorization header is not a valid ACS3 signature."
        )
    return Acs3Authorization(
        algorithm=match["algorithm"],
        access_key_id=match["credential"],
        signed_headers=signed,
        signature=match["signature"].lower(),
    )


def parse_timestamp(value: str) -> dt.datetime:
    """A UTC ``YYYY-MM-DDThh:mm:ssZ`` (fractional seconds tolerated)."""
    if not _TIMESTAMP_RE.match(value):
        raise rejected(
            "IllegalTimestamp",
            f'The input parameter "Timestamp" has an invalid value {value!r}; '
            "expected UTC YYYY-MM-DDThh:mm:ssZ.",
        )
    try:
        parsed = dt.datetime.fromisoformat(value[:-1])
    except ValueError:
        raise rejected(
            "IllegalTimestamp", f'The input parameter "Timestamp" has an invalid value {value!r}.'
        ) from None
    return parsed.replace(tzinfo=dt.UTC)
