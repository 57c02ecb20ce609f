"""The strings Alibaba Cloud request signatures sign, and the signatures over them.

Pure functions of both schemes, as the official SDKs compute them; the verifier
(:mod:`rotor.access.aliyun_signature`), signing clients, tests and benchmarks all
compute a string to sign here, so it is written once. Nothing of rotor is imported but
the primitives every scheme shares (:mod:`rotor.access.signing`).

- **RPC v1** (``HMAC-SHA1``): :func:`rpc_v1_string_to_sign` over every parameter
  but ``Signature``, signed by :func:`rpc_v1_signature`.
- **ACS3-HMAC-SHA256**: :func:`acs3_canonical_request` over the method, path, query,
  signed headers and the SHA-256 of the body, hashed by :func:`acs3_string_to_sign`
  and signed by :func:`acs3_signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from rotor.access.signing import hmac_sha256_hex, sha256_hex

# Shared by every scheme; re-exported, as clients and tests import it from here.
from rotor.access.signing import percent_encode as percent_encode

RPC_V1_METHOD = "HMAC-SHA1"
RPC_V1_VERSION = "1.0"
ACS3_ALGORITHM = "ACS3-HMAC-SHA256"


def rpc_v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&pct(k1=v1&k2=v2...)`` over every parameter but ``Signature``."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def rpc_v1_signature(secret: str, string_to_sign: str) -> str:
    """base64(HMAC-SHA1(secret + "&", string_to_sign))."""
    digest = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def acs3_canonical_query(query_pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(query_pairs))


def acs3_canonical_request(
    *,
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: list[str],
    hashed_payload: str,
) -> str:
    """The ACS3 canonical request; ``headers`` has lowercase names and raw values."""
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            path,
            acs3_canonical_query(query_pairs),
            canonical_headers,
            ";".join(signed_headers),
            hashed_payload,
        ]
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3_ALGORITHM}\n{sha256_hex(canonical_request.encode())}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    """hex(HMAC-SHA256(secret, string_to_sign)); no ``&`` suffix, unlike RPC v1."""
    return hmac_sha256_hex(secret, string_to_sign)
