"""Protocol edge cases of the KMS API that the SDKs never produce, sent raw.

Requests are signed with rotor's own pure signing functions
(:mod:`rotor.access.aliyun_string_to_sign`), which the SDK tests prove equal to the SDKs' own; each
test then bends one thing (method, target, nonce, timestamp, token, body, Host) and checks
the exact Alibaba error shape: JSON ``RequestId/HostId/Code/Message``, the
``x-acs-request-id`` header, and never ``x-acs-retry-after``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

import rotor.client
from rotor.access.aliyun_signature import SIGNATURE_MISMATCH_MESSAGE
from rotor.access.aliyun_string_to_sign import (
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    percent_encode,
    rpc_v1_signature,
    rpc_v1_string_to_sign,
)
from rotor.settings import Settings
from rotor.store import tables
from rotor.store.database import Store
from tests.aliyun.conftest import API_VERSION, Credentials, host_port, port_of, unique_name
from tests.services.server import RunningServer

FORM = "application/x-www-form-urlencoded"


def now_stamp(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def encode(params: Mapping[str, str]) -> str:
    """A query string as the V1 SDK writes it (RFC 3986, space as %20)."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())


def rpc_params(
    key_id: str,
    secret: str,
    action: str,
    params: Mapping[str, str] | None = None,
    *,
    method: str = "POST",
    token: str | None = None,
    body: Mapping[str, str] | None = None,
    sign_method: str | None = None,
    **protocol: str,
) -> dict[str, str]:
    """Signed RPC v1 query parameters (``body`` params are signed too, not included)."""
    query: dict[str, str] = {
        "Action": action,
        "Version": API_VERSION,
        "Format": "JSON",
        "RegionId": "cn-hangzhou",
        "Timestamp": now_stamp(),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureType": "",
        "SignatureNonce": uuid.uuid4().hex,
        "AccessKeyId": key_id,
        **(params or {}),
    }
    if token is not None:
        query["SecurityToken"] = token
    query.update(protocol)
    to_sign = rpc_v1_string_to_sign(sign_method or method, {**query, **(body or {})})
    query["Signature"] = rpc_v1_signature(secret, to_sign)
    return query


class Wire:
    """Raw requests to the session's server, signed with a set of credentials."""

    def __init__(self, server: RunningServer, http: httpx.Client, creds: Credentials) -> None:
        self.server = server
        self.http = http
        self.creds = creds

    def rpc(
        self,
        action: str,
        params: Mapping[str, str] | None = None,
        *,
        method: str = "POST",
        body: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        kwargs.setdefault("token", self.creds.security_token)
        query = rpc_params(
            self.creds.access_key_id,
            self.creds.access_key_secret,
            action,
            params,
            method=method,
            body=body,
            **kwargs,
        )
        return self.send_rpc(method, query, body)

    def send_rpc(
        self, method: str, query: Mapping[str, str], body: Mapping[str, str] | None = None
    ) -> httpx.Response:
        headers = {"content-type": FORM} if body is not None else {}
        content = encode(body).encode() if body is not None else None
        return self.http.request(method, "/?" + encode(query), headers=headers, content=content)

    def acs3(
        self,
        action: str,
        query: Mapping[str, str] | None = None,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        host: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        version: str = API_VERSION,
    ) -> httpx.Response:
        """An ACS3-HMAC-SHA256 request as the tea SDK sends it."""
        query_pairs = list((query or {}).items())
        headers = {
            "host": host or host_port(self.server),
            "x-acs-action": action,
            "x-acs-version": version,
            "x-acs-date": now_stamp(),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
            "accept": "application/json",
            **(extra_headers or {}),
        }
        if content_type is not None:
            headers["content-type"] = content_type
        if self.creds.security_token is not None:
            headers["x-acs-security-token"] = self.creds.security_token
            headers["x-acs-accesskey-id"] = self.creds.access_key_id
        signed = sorted(headers)
        canonical = acs3_canonical_request(
            method="POST",
            path="/",
            query_pairs=query_pairs,
            headers=headers,
            signed_headers=signed,
            hashed_payload=headers["x-acs-content-sha256"],
        )
        signature = acs3_signature(self.creds.access_key_secret, acs3_string_to_sign(canonical))
        headers["authorization"] = (
            f"ACS3-HMAC-SHA256 Credential={self.creds.access_key_id},"
            f"SignedHeaders={';'.join(signed)},Signature={signature}"
        )
        target = "/?" + encode(dict(query_pairs)) if query_pairs else "/"
        return self.http.post(target, headers=headers, content=body)


@pytest.fixture
def http(kms_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kms_server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def wire(kms_server: RunningServer, http: httpx.Client, credentials: Credentials) -> Wire:
    return Wire(kms_server, http, credentials)


@pytest.fixture
def admin_wire(kms_server: RunningServer, http: httpx.Client) -> Wire:
    creds = Credentials("admin", kms_server.access_key_id, kms_server.access_key_secret)
    return Wire(kms_server, http, creds)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert body["RequestId"]
    return body


def refused(response: httpx.Response, code: str, status: int) -> dict[str, Any]:
    """Check the Alibaba error shape; the parsed body."""
    assert (response.status_code, response.json().get("Code")) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "x-acs-retry-after" not in response.headers
    body = response.json()
    assert {"RequestId", "HostId", "Code", "Message"} <= set(body)
    assert body["RequestId"]
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    assert isinstance(body["Message"], str)
    assert body["Message"]
    return dict(body)


# -- actions, parameters, versions ---------------------------------------------------------------


def test_plain_rpc_call_and_response_shape(wire: Wire) -> None:
    body = ok(wire.rpc("GetRandomPassword", {"PasswordLength": "16"}))
    assert len(body["RandomPassword"]) == 16
    assert set(body) == {"RequestId", "RandomPassword"}


def test_error_body_fields(wire: Wire) -> None:
    """The error body: RequestId, HostId, Code and Message (what the SDKs read), and the
    same request id in the body and the header."""
    body = refused(
        wire.rpc("GetSecretValue", {"SecretName": unique_name("none")}),
        "Forbidden.ResourceNotFound",
        404,
    )
    assert set(body) == {"RequestId", "HostId", "Code", "Message"}
    assert all(isinstance(v, str) and v for v in body.values())


def test_unknown_action(wire: Wire) -> None:
    body = refused(wire.rpc("DescribeRegionsNope"), "InvalidAction.NotFound", 404)
    assert "DescribeRegionsNope" in body["Message"]
    refused(wire.acs3("EncryptNothing"), "InvalidAction.NotFound", 404)


def test_unknown_parameter_is_named(wire: Wire) -> None:
    body = refused(wire.rpc("GetRandomPassword", {"PasswordLenght": "16"}), "InvalidParameter", 400)
    assert "PasswordLenght" in body["Message"]
    body = refused(wire.acs3("GetRandomPassword", {"Bogus": "1"}), "InvalidParameter", 400)
    assert "Bogus" in body["Message"]


def test_missing_parameter(wire: Wire) -> None:
    body = refused(wire.rpc("GetSecretValue"), "MissingParameter", 400)
    assert "SecretName" in body["Message"]


def test_wrong_version(wire: Wire) -> None:
    refused(wire.rpc("GetRandomPassword", Version="2014-08-15"), "InvalidVersion", 400)
    refused(wire.acs3("GetRandomPassword", version="2019-01-01"), "InvalidVersion", 400)


def test_get_and_post(wire: Wire) -> None:
    assert ok(wire.rpc("GetRandomPassword", method="GET"))["RandomPassword"]
    assert ok(wire.rpc("GetRandomPassword", method="POST"))["RandomPassword"]
    # Signed for POST, sent as GET: the server signs the method it received.
    mismatch = refused(
        wire.rpc("GetRandomPassword", method="GET", sign_method="POST"),
        "SignatureDoesNotMatch",
        400,
    )
    assert mismatch["Message"].startswith(SIGNATURE_MISMATCH_MESSAGE)
    assert mismatch["Message"].split(":", 1)[1].startswith("GET&%2F&")


def test_other_methods_are_refused(wire: Wire, http: httpx.Client) -> None:
    query = rpc_params(
        wire.creds.access_key_id,
        wire.creds.access_key_secret,
        "GetRandomPassword",
        method="PUT",
        token=wire.creds.security_token,
    )
    response = http.put("/?" + encode(query))
    assert 400 <= response.status_code < 500
    assert response.json()["Code"]


def test_signature_mismatch_message_is_the_string_to_sign(wire: Wire) -> None:
    query = rpc_params(
        wire.creds.access_key_id,
        wire.creds.access_key_secret,
        "GetRandomPassword",
        {"PasswordLength": "20"},
        token=wire.creds.security_token,
    )
    expected = rpc_v1_string_to_sign("POST", query)
    query["PasswordLength"] = "21"  # tampered after signing
    body = refused(wire.send_rpc("POST", query), "SignatureDoesNotMatch", 400)
    server_sts = body["Message"].split(":", 1)[1]
    assert server_sts == rpc_v1_string_to_sign("POST", query)
    assert server_sts != expected


def test_form_body_parameters_are_merged_and_signed(wire: Wire, admin: rotor.client.Client) -> None:
    name = unique_name("wire") + "/form"
    value = "with space + plus & amp = eq ä"
    created = wire.rpc(
        "CreateSecret",
        {"SecretName": name, "VersionId": "v1"},
        body={"SecretData": value},
    )
    ok(created)
    assert admin.get_value(name).value == value
    # A form parameter changed after signing breaks the signature.
    query = rpc_params(
        wire.creds.access_key_id,
        wire.creds.access_key_secret,
        "PutSecretValue",
        {"SecretName": name, "VersionId": "v2"},
        token=wire.creds.security_token,
        body={"SecretData": "signed"},
    )
    refused(wire.send_rpc("POST", query, {"SecretData": "swapped"}), "SignatureDoesNotMatch", 400)
    assert admin.get_value(name).version_id == "v1"


def test_plus_in_query_is_a_space(admin_wire: Wire, admin: rotor.client.Client) -> None:
    """Tea's URL builder encodes a space as ``+``; both must decode to the same value."""
    name = unique_name("wire") + "/plus"
    query = rpc_params(
        admin_wire.creds.access_key_id,
        admin_wire.creds.access_key_secret,
        "CreateSecret",
        {"SecretName": name, "VersionId": "v1", "SecretData": "a b"},
    )
    target = "/?" + urllib.parse.urlencode(query)  # quote_plus: space -> '+'
    assert "a+b" in target
    ok(admin_wire.http.post(target))
    assert admin.get_value(name).value == "a b"


def test_boolean_spellings(admin_wire: Wire) -> None:
    for spelling in ("true", "True", "TRUE"):
        pw = ok(
            admin_wire.rpc(
                "GetRandomPassword", {"PasswordLength": "64", "ExcludeNumbers": spelling}
            )
        )["RandomPassword"]
        assert not any(c.isdigit() for c in pw)
    refused(
        admin_wire.rpc("GetRandomPassword", {"ExcludeNumbers": "maybe"}), "InvalidParameter", 400
    )


# -- targets and hosts ----------------------------------------------------------------------------


def raw_request(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes over a socket; (status, headers, body) of a Content-Length answer."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return status, headers, rest


def test_absolute_form_target(kms_server: RunningServer, admin_wire: Wire) -> None:
    query = rpc_params(
        admin_wire.creds.access_key_id,
        admin_wire.creds.access_key_secret,
        "GetRandomPassword",
        {"PasswordLength": "12"},
    )
    request = (
        f"POST http://kms.cn-hangzhou.aliyuncs.com/?{encode(query)} HTTP/1.1\r\n"
        "Host: kms.cn-hangzhou.aliyuncs.com\r\n"
        "Content-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    status, headers, body = raw_request(kms_server, request)
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    assert len(json.loads(body)["RandomPassword"]) == 12


def test_host_header_with_scheme(kms_server: RunningServer, wire: Wire) -> None:
    """The secrets client v2's env form sends ``Host: http://127.0.0.1:PORT`` (and signs it)."""
    response = wire.acs3(
        "GetRandomPassword",
        {"PasswordLength": "10"},
        host=f"http://{host_port(kms_server)}",
    )
    assert len(ok(response)["RandomPassword"]) == 10


# -- replay and time ------------------------------------------------------------------------------


def test_reused_nonce(wire: Wire) -> None:
    query = rpc_params(
        wire.creds.access_key_id,
        wire.creds.access_key_secret,
        "GetRandomPassword",
        token=wire.creds.security_token,
    )
    ok(wire.send_rpc("POST", query))
    refused(wire.send_rpc("POST", query), "SignatureNonceUsed", 400)
    # The same nonce in a freshly signed request is still refused.
    again = rpc_params(
        wire.creds.access_key_id,
        wire.creds.access_key_secret,
        "GetRandomPassword",
        token=wire.creds.security_token,
        SignatureNonce=query["SignatureNonce"],
    )
    refused(wire.send_rpc("POST", again), "SignatureNonceUsed", 400)


def test_an_overlong_nonce_is_refused_and_128_characters_are_not(wire: Wire) -> None:
    refused(wire.rpc("GetRandomPassword", SignatureNonce="n" * 129), "InvalidParameter", 400)
    ok(wire.rpc("GetRandomPassword", SignatureNonce=uuid.uuid4().hex * 4))


def test_reused_acs3_nonce(wire: Wire) -> None:
    nonce = uuid.uuid4().hex
    ok(wire.acs3("GetRandomPassword", extra_headers={"x-acs-signature-nonce": nonce}))
    refused(
        wire.acs3("GetRandomPassword", extra_headers={"x-acs-signature-nonce": nonce}),
        "SignatureNonceUsed",
        400,
    )


@pytest.mark.parametrize(
    "stamp",
    # Offsets from the time the test runs (not the time it was collected).
    [-20 * 60, +20 * 60, "2024-01-02 03:04:05", "yesterday", ""],
)
def test_bad_timestamps(wire: Wire, stamp: str | int) -> None:
    if isinstance(stamp, int):
        stamp = now_stamp(stamp)
    response = wire.rpc("GetRandomPassword", Timestamp=stamp)
    if stamp == "":
        # Spec 5.3: IllegalTimestamp for a missing or invalid timestamp.
        assert response.json()["Code"] == "IllegalTimestamp"
        assert response.status_code == 400
    else:
        refused(response, "IllegalTimestamp", 400)


def test_stale_acs3_date(wire: Wire) -> None:
    response = wire.acs3("GetRandomPassword", extra_headers={"x-acs-date": now_stamp(-16 * 60)})
    refused(response, "IllegalTimestamp", 400)


def test_timestamp_within_skew(wire: Wire) -> None:
    ok(wire.rpc("GetRandomPassword", Timestamp=now_stamp(-10 * 60)))
    ok(wire.rpc("GetRandomPassword", Timestamp=now_stamp(+10 * 60)))


# -- keys and tokens ----------------------------------------------------------------------------


def test_empty_security_token_means_none(admin_wire: Wire, sts_credentials: Credentials) -> None:
    ok(admin_wire.rpc("GetRandomPassword", token=""))
    session = Wire(admin_wire.server, admin_wire.http, sts_credentials)
    refused(session.rpc("GetRandomPassword", token=""), "MissingSecurityToken", 400)
    refused(session.rpc("GetRandomPassword", token=None), "MissingSecurityToken", 400)
    ok(session.rpc("GetRandomPassword"))


def test_token_on_a_plain_key(admin_wire: Wire, sts_credentials: Credentials) -> None:
    assert sts_credentials.security_token
    refused(
        admin_wire.rpc("GetRandomPassword", token=sts_credentials.security_token),
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    )
    refused(
        admin_wire.rpc("GetRandomPassword", token="made-up-token=="),
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    )


def test_token_of_another_session(
    admin_wire: Wire, admin: rotor.client.Client, sts_credentials: Credentials
) -> None:
    session = Wire(admin_wire.server, admin_wire.http, sts_credentials)
    refused(
        session.rpc("GetRandomPassword", token="not-" + str(sts_credentials.security_token)),
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    )


def test_unknown_key(http: httpx.Client, kms_server: RunningServer) -> None:
    creds = Credentials("user", "RK" + uuid.uuid4().hex.upper(), "secret")
    refused(
        Wire(kms_server, http, creds).rpc("GetRandomPassword"), "InvalidAccessKeyId.NotFound", 404
    )
    refused(
        Wire(kms_server, http, creds).acs3("GetRandomPassword"),
        "InvalidAccessKeyId.NotFound",
        404,
    )


@pytest.fixture
def server_store(kms_server: RunningServer) -> Iterator[Store]:
    store = Store.open(
        Settings.load({"data_dir": kms_server.data_dir}, environ={}), initialise=False
    )
    yield store
    store.close()


def test_expired_session_key(
    admin_wire: Wire, admin: rotor.client.Client, server_store: Store
) -> None:
    role = unique_name("wire-role")
    admin.create_principal(role, kind="role")
    session = admin.assume_role(role)
    # Shorten the session (the API's minimum is 15 minutes) before its first use.
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    with server_store.write() as conn:
        conn.execute(
            tables.access_keys.update()
            .where(tables.access_keys.c.id == session.access_key_id)
            .values(expires_at=expires_at)
        )
    creds = Credentials(
        "sts", session.access_key_id, session.access_key_secret, session.security_token
    )
    wire = Wire(admin_wire.server, admin_wire.http, creds)
    # The role has no policy: authenticated, then denied.
    refused(wire.rpc("GetRandomPassword"), "Forbidden.NoPermission", 403)
    time.sleep(max(0.0, (expires_at - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    refused(wire.rpc("GetRandomPassword"), "InvalidSecurityToken.Expired", 400)


# -- bodies ---------------------------------------------------------------------------------------


def test_oversized_body(admin_wire: Wire) -> None:
    big = "x" * (2 * 1024 * 1024)
    response = admin_wire.rpc(
        "PutSecretValue",
        {"SecretName": unique_name("wire"), "VersionId": "v1"},
        body={"SecretData": big},
    )
    refused(response, "RequestTooLarge", 413)


def test_value_too_large(admin_wire: Wire, admin: rotor.client.Client) -> None:
    name = unique_name("wire") + "/big"
    response = admin_wire.rpc(
        "CreateSecret",
        {"SecretName": name, "VersionId": "v1"},
        body={"SecretData": "x" * (64 * 1024 + 1)},
    )
    refused(response, "InvalidParameter", 400)
    ok(
        admin_wire.rpc(
            "CreateSecret",
            {"SecretName": name, "VersionId": "v1"},
            body={"SecretData": "x" * (64 * 1024)},
        )
    )
    assert len(str(admin.get_value(name).value)) == 64 * 1024


def test_malformed_form_body(admin_wire: Wire) -> None:
    query = rpc_params(
        admin_wire.creds.access_key_id,
        admin_wire.creds.access_key_secret,
        "GetRandomPassword",
    )
    response = admin_wire.http.post(
        "/?" + encode(query), headers={"content-type": FORM}, content=b"PasswordLength=%ff%fe"
    )
    refused(response, "InvalidParameter", 400)
    response = admin_wire.http.post(
        "/?" + encode(query), headers={"content-type": FORM}, content=b"\xff\xfe=\x80"
    )
    assert response.status_code == 400
    assert response.json()["Code"] in ("InvalidParameter", "SignatureNonceUsed")


def test_duplicate_parameter(admin_wire: Wire) -> None:
    query = rpc_params(
        admin_wire.creds.access_key_id,
        admin_wire.creds.access_key_secret,
        "GetRandomPassword",
        {"PasswordLength": "16"},
    )
    target = "/?" + encode(query) + "&PasswordLength=17"
    refused(admin_wire.http.post(target), "InvalidParameter", 400)


def test_acs3_body_hash_must_match(wire: Wire) -> None:
    body = b"SecretData=abc"
    response = wire.acs3(
        "GetRandomPassword",
        body=body,
        content_type=FORM,
        extra_headers={"x-acs-content-sha256": hashlib.sha256(b"other").hexdigest()},
    )
    assert response.status_code == 400
    assert response.json()["Code"] in ("SignatureDoesNotMatch", "InvalidParameter")


def test_acs3_form_body_secret_data(wire: Wire, admin: rotor.client.Client) -> None:
    name = unique_name("wire") + "/acs3"
    response = wire.acs3(
        "CreateSecret",
        {"SecretName": name, "VersionId": "v1"},
        body=b"SecretData=" + urllib.parse.quote_plus("a b&c=ä").encode(),
        content_type=FORM,
    )
    ok(response)
    assert admin.get_value(name).value == "a b&c=ä"


def test_audit_of_raw_calls(wire: Wire, admin: rotor.client.Client) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    good = ok(wire.rpc("GetRandomPassword"))
    unknown = refused(wire.rpc("NoSuchAction"), "InvalidAction.NotFound", 404)
    events = {
        e.request_id: e
        for e in admin.iter_audit_events(since=started, page_size=100)
        if e.request_id in (good["RequestId"], unknown["RequestId"])
    }
    assert events[good["RequestId"]].action == "kms:GetRandomPassword"
    assert events[good["RequestId"]].outcome == "allowed"
    assert events[good["RequestId"]].access_key_id == wire.creds.access_key_id
    assert events[unknown["RequestId"]].error_code == "InvalidAction.NotFound"
