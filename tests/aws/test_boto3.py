"""The AWS Secrets Manager dialect, driven by boto3 from PyPI, unmodified, against a real
``rotor serve`` (the session's server; every test names its secrets uniquely).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

import rotor.client
from tests.api.test_metrics import admin as metrics_client
from tests.api.test_metrics import samples, value
from tests.aws.conftest import name as _name
from tests.aws.conftest import sm_client
from tests.services.server import RunningServer


def test_create_then_get_the_current_value(client: Any) -> None:
    name = _name()
    created = client.create_secret(Name=name, SecretString='{"password": "one"}')
    assert created["Name"] == name
    got = client.get_secret_value(SecretId=name)
    assert got["SecretString"] == '{"password": "one"}'
    assert got["VersionId"] == created["VersionId"]
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert got["CreatedDate"].tzinfo is not None


def test_binary_values_travel_as_base64(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretBinary=b"\x00\xffbinary")
    assert client.get_secret_value(SecretId=name)["SecretBinary"] == b"\x00\xffbinary"


def test_put_moves_current_and_previous(client: Any) -> None:
    name = _name()
    first = client.create_secret(Name=name, SecretString="one")["VersionId"]
    second = client.put_secret_value(SecretId=name, SecretString="two")
    assert second["VersionStages"] == ["AWSCURRENT"]
    previous = client.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert (previous["VersionId"], previous["SecretString"]) == (first, "one")
    by_id = client.get_secret_value(SecretId=name, VersionId=second["VersionId"])
    assert by_id["SecretString"] == "two"


def test_pending_stage_leaves_current_alone(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    pending = client.put_secret_value(
        SecretId=name, SecretString="next", VersionStages=["AWSPENDING"]
    )
    assert pending["VersionStages"] == ["AWSPENDING"]
    assert client.get_secret_value(SecretId=name)["SecretString"] == "one"
    assert client.get_secret_value(SecretId=name, VersionStage="AWSPENDING")["SecretString"] == (
        "next"
    )


def test_client_request_token_is_idempotent(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    token = str(uuid.uuid4())
    first = client.put_secret_value(SecretId=name, SecretString="two", ClientRequestToken=token)
    again = client.put_secret_value(SecretId=name, SecretString="two", ClientRequestToken=token)
    assert again["VersionId"] == first["VersionId"] == token
    with pytest.raises(client.exceptions.ResourceExistsException):
        client.put_secret_value(SecretId=name, SecretString="other", ClientRequestToken=token)


def test_errors_are_the_sdks_exception_classes(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.get_secret_value(SecretId=_name())
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    with pytest.raises(client.exceptions.ResourceExistsException):
        client.create_secret(Name=name, SecretString="two")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.put_secret_value(SecretId=name, SecretString="x", SecretBinary=b"y")


def test_bad_signature_and_unknown_key_are_refused(
    rotor_server: RunningServer, client: Any
) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    wrong = sm_client(rotor_server, rotor_server.access_key_id, "not-the-secret")
    with pytest.raises(ClientError) as caught:
        wrong.get_secret_value(SecretId=name)
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    unknown = sm_client(rotor_server, "RKNOSUCHKEY0000000000000", "whatever")
    with pytest.raises(ClientError) as caught:
        unknown.get_secret_value(SecretId=name)
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_assumed_role_keys_need_their_session_token(
    rotor_server: RunningServer, admin: rotor.client.Client
) -> None:
    role = _name()
    admin.create_principal(role, kind="role")
    admin.attach_policy("AdministratorAccess", role)
    session = admin.assume_role(role)
    name = _name()
    with_token = sm_client(
        rotor_server, session.access_key_id, session.access_key_secret, session.security_token
    )
    with_token.create_secret(Name=name, SecretString="one")
    assert with_token.get_secret_value(SecretId=name)["SecretString"] == "one"
    without = sm_client(rotor_server, session.access_key_id, session.access_key_secret)
    with pytest.raises(ClientError) as caught:
        without.get_secret_value(SecretId=name)
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_policy_in_rotor_vocabulary_allows_a_read_and_nothing_else(
    rotor_server: RunningServer, client: Any, admin: rotor.client.Client
) -> None:
    name, user = _name(), _name()
    client.create_secret(Name=name, SecretString="one")
    admin.create_principal(user)
    admin.put_policy(
        user,
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": "*"}],
        },
    )
    admin.attach_policy(user, user)
    key = admin.create_access_key(user)
    reader = sm_client(rotor_server, key.access_key_id, key.access_key_secret)
    assert reader.get_secret_value(SecretId=name)["SecretString"] == "one"
    with pytest.raises(ClientError) as caught:
        reader.put_secret_value(SecretId=name, SecretString="two")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_native_api_sees_the_same_secret_and_audit_trail(
    client: Any, admin: rotor.client.Client
) -> None:
    native = admin
    name = _name()
    created = client.create_secret(Name=name, SecretString="one")
    value = native.get_value(name)
    assert (value.value, value.version_id) == ("one", created["VersionId"])
    assert value.stages == ("Current",)
    client.get_secret_value(SecretId=name)
    events = _audit(native, name)
    assert ("kms:CreateSecret", "allowed") in events
    assert ("kms:GetSecretValue", "allowed") in events


def _audit(native: rotor.client.Client, name: str) -> list[tuple[str, str]]:
    """The secret's audit events once the three of the test are written (asynchronously)."""
    deadline = time.monotonic() + 30
    while True:
        events = [(e.action, e.outcome) for e in native.list_audit_events(secret=name).items]
        if len(events) >= 3 or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_requests_are_counted_under_the_aws_dialect(
    rotor_server: RunningServer, client: Any
) -> None:
    with metrics_client(rotor_server) as http:
        before = value(
            samples(http),
            "rotor_requests_total",
            dialect="aws",
            action="kms:CreateSecret",
            outcome="allowed",
        )
        client.create_secret(Name=_name(), SecretString="one")
        after = value(
            samples(http),
            "rotor_requests_total",
            dialect="aws",
            action="kms:CreateSecret",
            outcome="allowed",
        )
    assert after == before + 1


def test_an_operation_rotor_does_not_know_is_named_in_the_error(client: Any) -> None:
    def rename(request: Any, **_: Any) -> None:
        request.headers.replace_header("X-Amz-Target", "secretsmanager.NoSuchOperation")

    client.meta.events.register("before-sign.secrets-manager.GetRandomPassword", rename)
    with pytest.raises(ClientError) as raised:
        client.get_random_password()
    error = raised.value.response["Error"]
    assert error["Code"] == "UnknownOperationException"
    assert "secretsmanager.NoSuchOperation" in error["Message"]
