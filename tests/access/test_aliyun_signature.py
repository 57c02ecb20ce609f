"""Server-side verification of Alibaba Cloud signatures (RPC v1 HMAC-SHA1 and ACS3-HMAC-SHA256).

Requests are signed with the official tea SDK's own signing code
(``alibabacloud_tea_openapi.utils.Utils``), so the verifier is checked against
the client, not against itself; the golden vectors come from the protocol spec.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
import uuid
from collections.abc import Mapping
from types import SimpleNamespace

import pytest
from alibabacloud_tea_openapi.utils import Utils

from rotor.access import aliyun_request_parts, aliyun_signature, aliyun_string_to_sign
from rotor.access.aliyun_request_parts import SignatureRejected
from rotor.access.aliyun_signature import Scheme, SignedRequest, SigningKey, Verifier

NOW = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
KEYS = {
    "AKPLAIN": SigningKey(access_key_id="AKPLAIN", secret="plain/secret+1"),
    "STS.AKTOKEN": SigningKey(
        access_key_id="STS.AKTOKEN", secret="sts-secret", security_token="tok/en=="
    ),
}
SPECIAL = "a b/ä~*!'()+%\"\\"


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(clock: Clock) -> Verifier:
    return Verifier(KEYS.get, clock=clock)


def _stamp(offset_seconds: float = 0) -> str:
    return (NOW + dt.timedelta(seconds=offset_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rpc_params(key: str = "AKPLAIN", **api: str) -> dict[str, str]:
    """The common parameters the V1 SDK sends (``SignatureType=`` included)."""
    return {
        "Action": "DescribeAccounts",
        "Version": "2014-08-15",
        "Format": "JSON",
        "RegionId": "cn-hangzhou",
        "Timestamp": _stamp(),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "AccessKeyId": key,
        **api,
    }


def rpc_request(
    params: Mapping[str, str],
    *,
    secret: str = "plain/secret+1",
    method: str = "POST",
    plus_for_space: bool = False,
    body: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> SignedRequest:
    """A request signed by tea's RPC signer; the query encoded like the V1 SDK or like tea."""
    signed = {**params, **(body or {})}
    signature = Utils.get_rpcsignature(signed, method, secret)
    query = {**params, "Signature": signature}
    quote = urllib.parse.quote_plus if plus_for_space else urllib.parse.quote
    encoded = urllib.parse.urlencode(query, quote_via=quote, safe="~")
    all_headers = {"host": "127.0.0.1:8080", **(headers or {})}
    raw_body = b""
    if body is not None:
        raw_body = urllib.parse.urlencode(body).encode()
        all_headers["content-type"] = "application/x-www-form-urlencoded"
    return SignedRequest.from_target(method, f"/?{encoded}", all_headers.items(), raw_body)


def acs3_request(
    *,
    key: str = "AKPLAIN",
    secret: str = "plain/secret+1",
    query: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    host: str = "127.0.0.1:8080",
    token: str | None = None,
    nonce: str | None = None,
    date: str | None = None,
    plus_for_space: bool = True,
) -> SignedRequest:
    """A request with the headers the tea SDK sends, signed by tea's ACS3 signer."""
    body = urllib.parse.urlencode(form).encode() if form else b""
    headers = {
        "host": host,
        "x-acs-version": "2014-08-15",
        "x-acs-action": "CreateAccount",
        "user-agent": "AlibabaCloud (Linux) Python/3.11 Core/0.4",
        "x-acs-date": date or _stamp(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "x-acs-credentials-provider": "static_sts" if token else "static_ak",
    }
    if token is not None:
        headers["x-acs-accesskey-id"] = key
        headers["x-acs-security-token"] = token
    if form:
        headers["content-type"] = "application/x-www-form-urlencoded"
    tea_request = SimpleNamespace(
        pathname="/", method="POST", query=dict(query or {}), headers=headers
    )
    headers = {
        **headers,
        "authorization": Utils.get_authorization(
            tea_request, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], key, secret
        ),
    }
    quote = urllib.parse.quote_plus if plus_for_space else urllib.parse.quote
    encoded = urllib.parse.urlencode(query or {}, quote_via=quote, safe="~")
    return SignedRequest.from_target("POST", f"/?{encoded}", headers.items(), body)


def _rejected(verifier: Verifier, request: SignedRequest) -> SignatureRejected:
    with pytest.raises(SignatureRejected) as caught:
        verifier.verify(request)
    return caught.value


# -- golden vectors (protocol spec §4) --------------------------------------------------


def test_rpc_v1_golden_vector() -> None:
    params = {
        "SecretName": "secret001",
        "VersionStage": "ACSPending",
        "SecurityToken": "tok==",
        "Version": "2016-01-20",
        "Action": "GetSecretValue",
        "Format": "JSON",
        "RegionId": "cn-hangzhou",
        "Timestamp": "2024-01-02T03:04:05Z",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "SignatureNonce": "0123456789abcdef0123456789abcdef",
        "AccessKeyId": "STS.testAKID",
    }
    string_to_sign = aliyun_string_to_sign.rpc_v1_string_to_sign("POST", params)
    assert string_to_sign.startswith("POST&%2F&AccessKeyId%3DSTS.testAKID%26Action%3D")
    assert "SecurityToken%3Dtok%253D%253D" in string_to_sign
    assert "SignatureType%3D%26" in string_to_sign
    assert aliyun_string_to_sign.rpc_v1_signature("stsTestSecret", string_to_sign) == (
        "43+GsqB2Wmg+F+wN05+OqUIS4Oo="
    )


def test_acs3_golden_vector() -> None:
    empty = hashlib.sha256(b"").hexdigest()
    headers = {
        "accept": "application/json",
        "host": "127.0.0.1:8080",
        "x-acs-accesskey-id": "STS.testAKID",
        "x-acs-action": "GetSecretValue",
        "x-acs-content-sha256": empty,
        "x-acs-date": "2024-01-02T03:04:05Z",
        "x-acs-security-token": "tok==",
        "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
        "x-acs-version": "2016-01-20",
    }
    canonical = aliyun_string_to_sign.acs3_canonical_request(
        method="POST",
        path="/",
        query_pairs=[("VersionStage", "ACSPending"), ("SecretName", "secret001")],
        headers=headers,
        signed_headers=sorted(headers),
        hashed_payload=empty,
    )
    string_to_sign = aliyun_string_to_sign.acs3_string_to_sign(canonical)
    assert string_to_sign == (
        "ACS3-HMAC-SHA256\ne2a696e6b4a263c91e0d5fa22d6e9204792578eadd074696ac3ea3e449e3ec53"
    )
    assert aliyun_string_to_sign.acs3_signature("stsTestSecret", string_to_sign) == (
        "622fccf29dd2e2fe14c8c013b202e22d29cd85c40019adb6f866576b728ee556"
    )


def test_percent_encoding_is_rfc3986() -> None:
    assert aliyun_string_to_sign.percent_encode("a b*~/+") == "a%20b%2A~%2F%2B"


# -- RPC v1 -------------------------------------------------------------------------------


@pytest.mark.parametrize("plus_for_space", [False, True], ids=["v1-sdk-%20", "tea-plus"])
def test_rpc_v1_verifies_with_either_space_encoding(
    verifier: Verifier, plus_for_space: bool
) -> None:
    params = rpc_params(AccountName="app", AccountDescription=SPECIAL)
    verified = verifier.verify(rpc_request(params, plus_for_space=plus_for_space))
    assert verified.scheme is Scheme.RPC_V1
    assert verified.access_key_id == "AKPLAIN"
    assert verified.action == "DescribeAccounts"
    assert verified.version == "2014-08-15"
    assert verified.format == "JSON"
    assert verified.security_token is None
    assert verified.api_parameters == {
        "AccountName": "app",
        "AccountDescription": SPECIAL,
        "RegionId": "cn-hangzhou",
    }


def test_rpc_v1_get_and_form_body_parameters_are_signed(verifier: Verifier) -> None:
    verified = verifier.verify(rpc_request(rpc_params(), method="GET"))
    assert verified.action == "DescribeAccounts"
    request = rpc_request(rpc_params(), body={"AccountPassword": SPECIAL})
    assert verifier.verify(request).api_parameters["AccountPassword"] == SPECIAL


def test_empty_security_token_means_no_token(verifier: Verifier) -> None:
    """The V1 SDK sends ``SecurityToken=`` when a token credential holds a plain key."""
    verified = verifier.verify(rpc_request(rpc_params(SecurityToken="")))
    assert verified.security_token is None


def test_sts_token_must_belong_to_the_key(verifier: Verifier) -> None:
    def sts(token: str | None) -> SignedRequest:
        extra = {} if token is None else {"SecurityToken": token}
        return rpc_request(rpc_params("STS.AKTOKEN", **extra), secret="sts-secret")

    assert verifier.verify(sts("tok/en==")).security_token == "tok/en=="
    wrong = _rejected(verifier, sts("someone-elses-token"))
    assert wrong.acs_code == "InvalidSecurityToken.MismatchWithAccessKey"
    assert _rejected(verifier, sts(None)).acs_code == "MissingSecurityToken"
    assert _rejected(verifier, sts("")).acs_code == "MissingSecurityToken"
    plain_with_token = rpc_request(rpc_params(SecurityToken="tok/en=="))
    rejected = _rejected(verifier, plain_with_token)
    assert rejected.acs_code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_rpc_v1_tampered_parameter_is_refused_with_the_sdk_message_format(
    verifier: Verifier,
) -> None:
    request = rpc_request(rpc_params(AccountName="app"))
    tampered = SignedRequest(
        method=request.method,
        query=request.query.replace("AccountName=app", "AccountName=root"),
        headers=request.headers,
        path="/",
    )
    rejected = _rejected(verifier, tampered)
    assert (rejected.acs_code, rejected.acs_status) == ("SignatureDoesNotMatch", 400)
    # The V1 SDK compares Message.split(':')[1] with its own string to sign.
    params = aliyun_request_parts.request_parameters(tampered.query, None, b"")
    assert rejected.message.split(":")[1] == aliyun_string_to_sign.rpc_v1_string_to_sign(
        "POST", params
    )


def test_rpc_v1_method_is_signed(verifier: Verifier) -> None:
    request = rpc_request(rpc_params())
    as_get = SignedRequest(method="GET", query=request.query, headers=request.headers)
    assert _rejected(verifier, as_get).acs_code == "SignatureDoesNotMatch"


def test_wrong_secret_and_unknown_key(verifier: Verifier) -> None:
    wrong = _rejected(verifier, rpc_request(rpc_params(), secret="not-the-secret"))
    assert wrong.acs_code == "SignatureDoesNotMatch"
    unknown = _rejected(verifier, rpc_request(rpc_params("AKNOBODY")))
    assert (unknown.acs_code, unknown.acs_status) == ("InvalidAccessKeyId.NotFound", 404)


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("Signature", "MissingParameter"),
        ("AccessKeyId", "MissingParameter"),
        ("SignatureNonce", "MissingParameter"),
        ("Timestamp", "IllegalTimestamp"),
    ],
)
def test_rpc_v1_required_parameters(verifier: Verifier, missing: str, code: str) -> None:
    request = rpc_request(rpc_params())
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(request.query, keep_blank_values=True)]
    query = urllib.parse.urlencode([(k, v) for k, v in pairs if k != missing])
    rejected = _rejected(verifier, SignedRequest(method="POST", query=query, headers={}))
    assert rejected.acs_code == code
    assert missing in rejected.message


def test_only_hmac_sha1_is_accepted(verifier: Verifier) -> None:
    params = rpc_params(SignatureMethod="SHA256withRSA")
    assert _rejected(verifier, rpc_request(params)).acs_code == "InvalidParameter"


def test_a_parameter_given_twice_is_refused(verifier: Verifier) -> None:
    request = rpc_request(rpc_params())
    doubled = SignedRequest(method="POST", query=request.query + "&Action=Other", headers={})
    assert _rejected(verifier, doubled).acs_code == "InvalidParameter"


# -- time and replay ----------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60])
def test_stale_or_future_timestamp_is_refused(verifier: Verifier, offset: int) -> None:
    rejected = _rejected(verifier, rpc_request(rpc_params(Timestamp=_stamp(offset))))
    assert (rejected.acs_code, rejected.acs_status) == ("IllegalTimestamp", 400)
    stale_acs3 = _rejected(verifier, acs3_request(date=_stamp(offset)))
    assert stale_acs3.acs_code == "IllegalTimestamp"


def test_timestamp_within_fifteen_minutes_is_accepted(verifier: Verifier) -> None:
    verifier.verify(rpc_request(rpc_params(Timestamp=_stamp(-14 * 60))))
    verifier.verify(acs3_request(date=_stamp(14 * 60)))


def test_malformed_timestamp_is_refused(verifier: Verifier) -> None:
    rejected = _rejected(verifier, rpc_request(rpc_params(Timestamp="2024-01-02 03:04:05")))
    assert rejected.acs_code == "IllegalTimestamp"


def test_replayed_nonce_is_refused(verifier: Verifier, clock: Clock) -> None:
    request = rpc_request(rpc_params())
    verifier.verify(request)
    replay = _rejected(verifier, request)
    assert (replay.acs_code, replay.acs_status) == ("SignatureNonceUsed", 400)
    acs3 = acs3_request(nonce="n-0001")
    verifier.verify(acs3)
    assert _rejected(verifier, acs3).acs_code == "SignatureNonceUsed"
    # Once the window has passed the nonce is forgotten, and the timestamp refuses it.
    clock.now += 16 * 60
    assert _rejected(verifier, request).acs_code == "IllegalTimestamp"


def test_nonce_store_forgets_expired_nonces() -> None:
    clock = Clock()
    store = aliyun_signature.MemoryNonceStore(capacity=3, clock=clock)
    assert store.claim("K", "a", clock.now + 10)
    assert not store.claim("K", "a", clock.now + 10)
    assert store.claim("other key", "a", clock.now + 10)  # nonces are per key
    assert store.claim("K", "b", clock.now + 10)
    with pytest.raises(SignatureRejected):
        store.claim("K", "c", clock.now + 10)
    clock.now += 11
    assert store.claim("K", "c", clock.now + 10)
    assert store.claim("K", "a", clock.now + 10)


# -- ACS3 -----------------------------------------------------------------------------------


def test_acs3_verifies_with_query_and_form_body(verifier: Verifier) -> None:
    request = acs3_request(
        query={"AccountName": "app", "AccountDescription": SPECIAL},
        form={"AccountPassword": SPECIAL},
    )
    verified = verifier.verify(request)
    assert verified.scheme is Scheme.ACS3
    assert verified.action == "CreateAccount"
    assert verified.version == "2014-08-15"
    assert verified.format == ""
    assert verified.api_parameters == {
        "AccountName": "app",
        "AccountDescription": SPECIAL,
        "AccountPassword": SPECIAL,
    }


@pytest.mark.parametrize("plus_for_space", [False, True])
def test_acs3_query_space_encoding(verifier: Verifier, plus_for_space: bool) -> None:
    request = acs3_request(query={"AccountDescription": "two words"}, plus_for_space=plus_for_space)
    assert verifier.verify(request).api_parameters["AccountDescription"] == "two words"


def test_acs3_host_header_with_scheme_is_signed_verbatim(verifier: Verifier) -> None:
    """The v2 secrets client's env form sends ``Host: http://127.0.0.1:PORT``."""
    request = acs3_request(host="http://127.0.0.1:8080")
    assert verifier.verify(request).access_key_id == "AKPLAIN"
    moved = dict(request.headers, host="127.0.0.1:8080")
    rejected = _rejected(verifier, SignedRequest(method="POST", query=request.query, headers=moved))
    assert rejected.acs_code == "SignatureDoesNotMatch"


def test_acs3_sts_token_is_checked(verifier: Verifier) -> None:
    ok = acs3_request(key="STS.AKTOKEN", secret="sts-secret", token="tok/en==")
    assert verifier.verify(ok).security_token == "tok/en=="
    wrong = acs3_request(key="STS.AKTOKEN", secret="sts-secret", token="other")
    assert _rejected(verifier, wrong).acs_code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_acs3_tampering_is_refused(verifier: Verifier) -> None:
    request = acs3_request(query={"AccountName": "app"}, form={"AccountPassword": "Secret-123"})
    body = SignedRequest(
        method="POST",
        query=request.query,
        headers=request.headers,
        body=request.body.replace(b"123", b"456"),
    )
    assert _rejected(verifier, body).acs_code == "SignatureDoesNotMatch"
    query = SignedRequest(
        method="POST", query="AccountName=root", headers=request.headers, body=request.body
    )
    assert _rejected(verifier, query).acs_code == "SignatureDoesNotMatch"
    action = SignedRequest(
        method="POST",
        query=request.query,
        headers=dict(request.headers, **{"x-acs-action": "DeleteAccount"}),
        body=request.body,
    )
    rejected = _rejected(verifier, action)
    assert rejected.acs_code == "SignatureDoesNotMatch"
    assert rejected.message.startswith(aliyun_signature.SIGNATURE_MISMATCH_MESSAGE)


def test_acs3_wrong_secret_and_unknown_key(verifier: Verifier) -> None:
    assert _rejected(verifier, acs3_request(secret="nope")).acs_code == "SignatureDoesNotMatch"
    unknown = _rejected(verifier, acs3_request(key="AKNOBODY"))
    assert (unknown.acs_code, unknown.acs_status) == ("InvalidAccessKeyId.NotFound", 404)


def test_acs3_must_sign_date_and_nonce(verifier: Verifier) -> None:
    request = acs3_request()
    auth = request.headers["authorization"]
    unsigned = auth.replace("x-acs-date;", "")
    headers = dict(request.headers, authorization=unsigned)
    rejected = _rejected(verifier, SignedRequest(method="POST", query="", headers=headers))
    assert rejected.acs_code == "IncompleteSignature"


@pytest.mark.parametrize(
    "authorization",
    [
        "ACS3-HMAC-SHA256 garbage",
        "ACS3-HMAC-SM3 Credential=AKPLAIN,SignedHeaders=host,Signature=abcd",
        "Bearer something",
    ],
)
def test_malformed_authorization(verifier: Verifier, authorization: str) -> None:
    request = SignedRequest(method="POST", query="", headers={"authorization": authorization})
    assert _rejected(verifier, request).acs_code == "IncompleteSignature"


def test_absolute_form_target(verifier: Verifier) -> None:
    """A proxy-style request line: ``POST http://rds.aliyuncs.com/?... HTTP/1.1``."""
    signed = rpc_request(rpc_params())
    request = SignedRequest.from_target(
        "POST", f"http://rds.aliyuncs.com/?{signed.query}", [("Host", "rds.aliyuncs.com")]
    )
    assert request.path == "/"
    assert verifier.verify(request).action == "DescribeAccounts"
