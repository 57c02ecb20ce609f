"""Server-side verification of AWS Signature Version 4.

Requests are signed by botocore's own signers (``SigV4Auth`` for the header form,
``SigV4QueryAuth`` for presigned ones), so the verifier is checked against the
client, not against itself; the derived key is checked against AWS's documented
example.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rotor.access import aws_signature
from rotor.access.aws_signature import AwsSignatureRejected, SignedRequest, Verifier

NOW = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
SECRETS = {"RKPLAIN": "plain/secret+1", "RKROLE": "role-secret"}
BODY = b'{"SecretId": "app/db"}'


@pytest.fixture
def verifier() -> Verifier:
    return Verifier(SECRETS.get, clock=NOW.timestamp)


def _signed(
    *,
    key: str = "RKPLAIN",
    secret: str | None = None,
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "secretsmanager",
    at: dt.datetime = NOW,
    url: str = "http://127.0.0.1:8080/",
    body: bytes = BODY,
    presign: bool = False,
    expires: int = 60,
) -> SignedRequest:
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "X-Amz-Target": "secretsmanager.GetSecretValue",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    creds = Credentials(key, secret if secret is not None else SECRETS.get(key, "x"), token)
    signer: SigV4Auth
    if presign:
        signer = SigV4QueryAuth(creds, service, region, expires=expires)
    else:
        signer = SigV4Auth(creds, service, region)
    original = botocore.auth.datetime.datetime
    try:

        class Fixed(original):  # type: ignore[misc,valid-type]
            @classmethod
            def utcnow(cls) -> dt.datetime:
                return at.replace(tzinfo=None)

            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
                return at if tz else at.replace(tzinfo=None)

        botocore.auth.datetime.datetime = Fixed
        signer.add_auth(request)
    finally:
        botocore.auth.datetime.datetime = original
    prepared = request.prepare()
    parts = urllib.parse.urlsplit(prepared.url)
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(("Host", parts.netloc))
    return SignedRequest.from_parts("POST", parts.path, parts.query, headers, prepared.body or b"")


def _refused(verifier: Verifier, request: SignedRequest) -> AwsSignatureRejected:
    with pytest.raises(AwsSignatureRejected) as caught:
        verifier.verify(request)
    return caught.value


def test_signing_key_matches_the_documented_example() -> None:
    # docs.aws.amazon.com: "Examples of how to derive a signing key for Signature Version 4"
    key = aws_signature.signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
    )
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1", "local"])
def test_botocore_header_signature_verifies_in_any_region(verifier: Verifier, region: str) -> None:
    verified = verifier.verify(_signed(region=region))
    assert (verified.access_key_id, verified.region, verified.security_token) == (
        "RKPLAIN",
        region,
        None,
    )


def test_session_token_is_returned_for_the_caller_to_check(verifier: Verifier) -> None:
    verified = verifier.verify(_signed(key="RKROLE", token="the/token=="))
    assert verified.security_token == "the/token=="


def test_presigned_query_verifies_until_it_expires() -> None:
    request = _signed(presign=True, expires=300, token="tok")
    assert Verifier(SECRETS.get, clock=NOW.timestamp).verify(request).security_token == "tok"
    later = (NOW + dt.timedelta(seconds=301)).timestamp
    error = _refused(Verifier(SECRETS.get, clock=later), request)
    assert error.aws_type == "InvalidSignatureException"
    assert error.message.startswith("Signature expired")


def test_a_path_with_escapes_and_a_query_verify(verifier: Verifier) -> None:
    verifier.verify(_signed(url="http://localhost:9/a%20b/c?b=2&a=1&a=0&e=x%2By"))


def test_wrong_secret_is_an_invalid_signature(verifier: Verifier) -> None:
    error = _refused(verifier, _signed(secret="not-it"))
    assert (error.aws_type, error.aws_status) == ("InvalidSignatureException", 400)
    assert error.message.startswith(aws_signature.SIGNATURE_MISMATCH)


def test_unknown_key_is_unrecognized_after_the_same_work(
    verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed: list[str] = []
    real: Callable[..., str] = aws_signature.signature

    def spy(secret: str, credential: aws_signature.Credential, text: str) -> str:
        signed.append(secret)
        return real(secret, credential, text)

    monkeypatch.setattr(aws_signature, "signature", spy)
    error = _refused(verifier, _signed(key="RKNOBODY"))
    assert (error.aws_type, error.aws_status) == ("UnrecognizedClientException", 400)
    assert len(signed) == 1  # a stand-in secret signed, as for a known key


def test_body_changed_after_signing_is_refused(verifier: Verifier) -> None:
    request = _signed()
    tampered = SignedRequest(
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        body=b'{"SecretId": "other"}',
    )
    assert _refused(verifier, tampered).aws_type == "InvalidSignatureException"


@pytest.mark.parametrize("minutes", [-16, 16])
def test_time_outside_fifteen_minutes_is_refused(verifier: Verifier, minutes: int) -> None:
    error = _refused(verifier, _signed(at=NOW + dt.timedelta(minutes=minutes)))
    assert error.aws_type == "InvalidSignatureException"
    assert error.message.startswith(
        "Signature expired" if minutes < 0 else "Signature not yet current"
    )


@pytest.mark.parametrize("minutes", [-14, 14])
def test_time_within_fifteen_minutes_is_accepted(verifier: Verifier, minutes: int) -> None:
    verifier.verify(_signed(at=NOW + dt.timedelta(minutes=minutes)))


def test_another_service_is_refused(verifier: Verifier) -> None:
    error = _refused(verifier, _signed(service="kms"))
    assert error.aws_type == "InvalidSignatureException"
    assert "secretsmanager" in error.message


def _with_authorization(request: SignedRequest, value: str | None) -> SignedRequest:
    headers = {k: v for k, v in request.headers.items() if k != "authorization"}
    if value is not None:
        headers["authorization"] = value
    return SignedRequest(
        method=request.method,
        path=request.path,
        query=request.query,
        headers=headers,
        body=request.body,
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: a.replace("Signature=", "Sig="),
        lambda a: a.split(", SignedHeaders")[0],
        lambda a: a.replace("Credential=RKPLAIN/", "Credential=RKPLAIN-"),
        lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
        lambda a: a.replace("SignedHeaders=", "SignedHeaders=x-missing;"),
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(
    verifier: Verifier, mangle: Callable[[str], str]
) -> None:
    request = _signed()
    error = _refused(
        verifier, _with_authorization(request, mangle(request.headers["authorization"]))
    )
    assert (error.aws_type, error.aws_status) == ("IncompleteSignature", 400)


def test_no_signature_at_all(verifier: Verifier) -> None:
    error = _refused(verifier, _with_authorization(_signed(), None))
    assert error.aws_type == "MissingAuthenticationTokenException"


def test_host_must_be_signed(verifier: Verifier) -> None:
    request = _signed()
    value = (
        request.headers["authorization"]
        .replace("SignedHeaders=", "SignedHeaders=x")
        .replace("xcontent-type;host;", "content-type;")
    )
    assert _refused(verifier, _with_authorization(request, value)).aws_type == (
        "IncompleteSignature"
    )
