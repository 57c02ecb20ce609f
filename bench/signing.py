"""Each way a client signs a read of one secret, as the benchmarks send it: bearer,
rotor's ``ROTOR-HMAC-SHA256``, the KMS dialect's RPC v1 signature and the AWS dialect's
SigV4 (botocore's signer). Every signed request has its own nonce (or, for SigV4, its
own time and signature) so that none is a replay. Used by bench/signed_reads.py and
bench/compare_signed.py."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.parse
from collections.abc import Callable
from typing import Protocol

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rotor.access import aliyun_string_to_sign
from rotor.client import _signing

SECRET = "bench/signed"


class Key(Protocol):
    """A server and an access key of it."""

    @property
    def url(self) -> str: ...
    @property
    def access_key_id(self) -> str: ...
    @property
    def access_key_secret(self) -> str: ...


#: A request: (method, target, headers, body).
Request = tuple[str, str, dict[str, str], bytes]
Signer = Callable[[Key, str], Request]


def read_target(secret: str) -> str:
    return f"/v1/secrets/{secret}:value"


def bearer(key: Key, secret: str = SECRET) -> Request:
    token = f"{key.access_key_id}.{key.access_key_secret}"
    return "GET", read_target(secret), {"Authorization": f"Bearer {token}"}, b""


def hmac_signed(key: Key, secret: str = SECRET) -> Request:
    request = httpx.Request("GET", key.url + read_target(secret))
    value = _signing.authorization(
        request, access_key_id=key.access_key_id, access_key_secret=key.access_key_secret
    )
    return "GET", read_target(secret), {"Authorization": value}, b""


def kms(key: Key, secret: str = SECRET) -> Request:
    params = {
        "Action": "GetSecretValue",
        "Version": "2016-01-20",
        "Format": "JSON",
        "SecretName": secret,
        "AccessKeyId": key.access_key_id,
        "SignatureMethod": aliyun_string_to_sign.RPC_V1_METHOD,
        "SignatureVersion": aliyun_string_to_sign.RPC_V1_VERSION,
        "SignatureNonce": secrets.token_hex(16),
        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    to_sign = aliyun_string_to_sign.rpc_v1_string_to_sign("GET", params)
    params["Signature"] = aliyun_string_to_sign.rpc_v1_signature(key.access_key_secret, to_sign)
    return "GET", "/?" + urllib.parse.urlencode(params), {}, b""


def aws(key: Key, secret: str = SECRET) -> Request:
    body = json.dumps({"SecretId": secret}).encode()
    request = AWSRequest(
        method="POST",
        url=key.url + "/",
        data=body,
        headers={
            "X-Amz-Target": "secretsmanager.GetSecretValue",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    credentials = Credentials(key.access_key_id, key.access_key_secret)
    SigV4Auth(credentials, "secretsmanager", "us-east-1").add_auth(request)
    return "POST", "/", dict(request.headers.items()), body


SCHEMES: dict[str, Signer] = {"bearer": bearer, "hmac": hmac_signed, "kms": kms, "aws": aws}
