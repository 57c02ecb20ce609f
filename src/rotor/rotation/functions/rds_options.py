"""The ``rds-alternating`` function's parameters, and RDS's rules for account names and passwords.

Kept apart from :mod:`rotor.rotation.functions.rds` so that validating a
configuration never needs the cloud SDK.
"""

from __future__ import annotations

import dataclasses
import re
import string
import urllib.parse
from collections.abc import Mapping
from typing import Any

from rotor import errors
from rotor import ssl_field as tls

#: What RDS allows in a password beside letters and digits.
PASSWORD_PUNCTUATION = "!@#$%^&*()_+-="
MIN_PASSWORD, MAX_PASSWORD = 8, 32
DEFAULT_NAME_LENGTH = 32
ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9]$")
SIGNATURE_ALGORITHMS = {"ACS3-HMAC-SHA256": None, "HMAC-SHA1": "v2"}


def check_account_name(name: str, max_length: int, what: str) -> None:
    """RDS account-name rules: 2..max characters, letters/digits/_, letter first, no _ last."""
    if not 2 <= len(name) <= max_length or not ACCOUNT_NAME_RE.match(name):
        raise errors.InvalidParameter(
            f"{what} {name!r} is not a valid RDS account name: 2 to {max_length} letters, "
            "digits or underscores, starting with a letter and ending with a letter or digit"
        )


def check_password(password: str, what: str) -> None:
    """RDS password rules: 8-32 characters, at least 3 classes, punctuation from a fixed set."""
    classes = sum(
        any(c in members for c in password)
        for members in (
            string.ascii_uppercase,
            string.ascii_lowercase,
            string.digits,
            PASSWORD_PUNCTUATION,
        )
    )
    allowed = set(string.ascii_letters + string.digits + PASSWORD_PUNCTUATION)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or classes < 3:
        raise errors.InvalidParameter(
            f"{what} does not meet the RDS password rules: {MIN_PASSWORD} to {MAX_PASSWORD} "
            "characters with at least three of uppercase, lowercase, digits and punctuation"
        )
    if not set(password) <= allowed:
        raise errors.InvalidParameter(
            f"{what} has characters RDS does not allow; punctuation is limited to "
            f"{PASSWORD_PUNCTUATION}"
        )


def _int_option(options: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    raw = options.get(key, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise errors.InvalidParameter(f"{key} must be an integer") from None
    if isinstance(raw, bool) or not low <= value <= high:
        raise errors.InvalidParameter(f"{key} must be between {low} and {high}")
    return value


def _str_option(options: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = options.get(key)
    if value is None or value == "":
        if required:
            raise errors.InvalidParameter(f"rotation parameter {key!r} is required")
        return ""
    if not isinstance(value, str):
        raise errors.InvalidParameter(f"rotation parameter {key!r} must be a string")
    return value


def api_transport(options: Mapping[str, Any]) -> tuple[str | None, str]:
    """The API's ``host[:port]`` (None: the region's public one) and protocol, from the
    ``Endpoint`` and ``Protocol`` parameters: ``https`` (the default) or ``http``, in any
    letter case; anything else is InvalidParameter."""
    endpoint = _str_option(options, "Endpoint", required=False) or None
    protocol = _str_option(options, "Protocol", required=False).lower()
    if endpoint is not None and "://" in endpoint:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
            raise errors.InvalidParameter(
                "Endpoint must be host[:port] or an http(s) URL with no path"
            )
        if protocol and protocol != url.scheme:
            raise errors.InvalidParameter("Endpoint's scheme and Protocol disagree")
        endpoint, protocol = url.netloc, url.scheme
    if protocol not in ("", "http", "https"):
        raise errors.InvalidParameter("Protocol must be http or https")
    return endpoint, protocol or "https"


#: Every rotation parameter of ``rds-alternating``.
PARAMETERS = frozenset(
    {
        "RegionId",
        "InstanceId",
        "CredentialsSecret",
        "Endpoint",
        "Protocol",
        "SignatureAlgorithm",
        "PasswordLength",
        "ExcludeCharacters",
        "MaxAccountNameLength",
        "ApiTimeoutSeconds",
    }
)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """The function's rotation parameters, validated."""

    region_id: str
    instance_id: str
    credentials_secret: str
    #: ``host[:port]`` for the SDK, or None for the region's public endpoint.
    endpoint: str | None
    protocol: str
    signature_algorithm: str | None
    password_length: int
    exclude_characters: str
    max_name_length: int
    api_timeout_seconds: int

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> Options:
        endpoint, protocol = api_transport(options)
        algorithm = _str_option(options, "SignatureAlgorithm", required=False) or "ACS3-HMAC-SHA256"
        if algorithm not in SIGNATURE_ALGORITHMS:
            raise errors.InvalidParameter(
                f"SignatureAlgorithm must be one of {', '.join(SIGNATURE_ALGORITHMS)}"
            )
        return cls(
            region_id=_str_option(options, "RegionId"),
            instance_id=_str_option(options, "InstanceId"),
            credentials_secret=_str_option(options, "CredentialsSecret"),
            endpoint=endpoint,
            protocol=protocol,
            signature_algorithm=SIGNATURE_ALGORITHMS[algorithm],
            password_length=_int_option(
                options, "PasswordLength", MAX_PASSWORD, MIN_PASSWORD, MAX_PASSWORD
            ),
            exclude_characters=_str_option(options, "ExcludeCharacters", required=False),
            max_name_length=_int_option(
                options, "MaxAccountNameLength", DEFAULT_NAME_LENGTH, 2, 64
            ),
            api_timeout_seconds=_int_option(options, "ApiTimeoutSeconds", 10, 1, 300),
        )


def login_tls(secret: Mapping[str, Any], what: str) -> bool:
    """Whether the test step's login uses TLS: only when the secret's ``SSL`` is true
    (absent: plain, as documented); InvalidParameter for a value that is not an ``SSL`` value."""
    return tls.requested(secret, what) is True


def check_configuration(parameters: Mapping[str, Any], current: Mapping[str, Any] | None) -> None:
    """InvalidParameter for invalid TLS settings: the API's ``Endpoint``/``Protocol`` in
    ``parameters``, the ``SSL`` of the secret's Current value (None: no JSON value yet)."""
    api_transport(parameters)
    if current is not None:
        login_tls(current, "the Current value")
