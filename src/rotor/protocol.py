"""Facts of rotor's own wire protocol that the server and the client must agree on.

The client never imports the server's packages; both import this module, which
imports nothing of rotor: what a secret name may be, the kinds of a rotation function,
and the string a
``ROTOR-HMAC-SHA256`` request signature covers (the scheme is described in
:mod:`rotor.access.rotor_signature`).
"""

from __future__ import annotations

import hashlib
import re
import typing
import urllib.parse

#: The characters of a secret name, as the contents of a regex character class.
NAME_CHARACTERS = r"A-Za-z0-9/_+=.@\-"
NAME_MAX_LENGTH = 192
NAME_PATTERN = rf"[{NAME_CHARACTERS}]{{1,{NAME_MAX_LENGTH}}}"
NAME_RULE = f"1-{NAME_MAX_LENGTH} characters of A-Z a-z 0-9 / _ + = . @ -"
_NAME_RE = re.compile(NAME_PATTERN)

ALGORITHM = "ROTOR-HMAC-SHA256"
SECURITY_TOKEN_HEADER = "X-Rotor-Security-Token"
#: The most query parameters a signed request may carry.
MAX_QUERY_PARAMETERS = 1000

#: The kinds of a registered rotation function.
FunctionKind = typing.Literal["python-handler", "lambda-handler", "http-function"]
FUNCTION_KINDS: tuple[FunctionKind, ...] = typing.get_args(FunctionKind)


def name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a secret name, or None when it is a valid one."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        return f"secret name must be {NAME_RULE}"
    if any(part in (".", "..") for part in name.split("/")):
        # HTTP clients collapse such path segments: a/../b would reach secret b.
        return "secret name must not have '.' or '..' between slashes"
    return None


def canonical_query(query: str) -> str:
    """The query as signed: pairs decoded (``+`` is a space, blank values kept), each key
    and value percent-encoded per RFC 3986, sorted by encoded key then encoded
    value, joined as ``k=v`` with ``&``. ``b=2&a=x y&a=1`` → ``a=1&a=x%20y&b=2``.

    Raises ValueError for a query that is not UTF-8 or has more than
    :data:`MAX_QUERY_PARAMETERS` parameters.
    """
    pairs = urllib.parse.parse_qsl(
        query,
        keep_blank_values=True,
        encoding="utf-8",
        errors="strict",
        max_num_fields=MAX_QUERY_PARAMETERS,
    )
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
    """The lines a signature covers, joined with ``\\n`` (see :mod:`rotor.access.rotor_signature`)."""
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
