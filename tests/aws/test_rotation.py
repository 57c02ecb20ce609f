"""RotateSecret, CancelRotateSecret and DescribeSecret's rotation fields, driven by boto3
against the session's ``rotor serve``, with the built-in ``generated-password`` function.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

import rotor.client
from rotor.api.dialects.aws import rotation_operations
from tests.aws.conftest import name as _name
from tests.aws.conftest import sm_client
from tests.services.server import RunningServer

FUNCTION = "generated-password"


def _error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    code: str = raised.value.response["Error"]["Code"]
    return code


def _current_is(client: Any, name: str, token: str, timeout: float = 60) -> dict[str, Any]:
    """DescribeSecret once version ``token`` is AWSCURRENT (and nothing else) and the
    rotation has finished (its end step moves the stage; the rotation is recorded done,
    with LastRotatedDate, in the engine's next transaction)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described: dict[str, Any] = client.describe_secret(SecretId=name)
        current = described["VersionIdsToStages"].get(token) == ["AWSCURRENT"]
        if current and "LastRotatedDate" in described:
            return described
        time.sleep(0.05)
    raise AssertionError(f"{token} did not become AWSCURRENT of {name} in {timeout}s")


def _versions(client: Any, name: str) -> set[str]:
    listed = client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)
    return {v["VersionId"] for v in listed["Versions"]}


def test_rotate_secret_configures_and_rotates_once_per_token(client: Any) -> None:
    name = _name()
    first = client.create_secret(Name=name, SecretString="initial")["VersionId"]
    token = str(uuid.uuid4())
    started = client.rotate_secret(
        SecretId=name,
        ClientRequestToken=token,
        RotationLambdaARN=FUNCTION,
        RotationRules={"AutomaticallyAfterDays": 30},
    )
    assert started["VersionId"] == token
    described = _current_is(client, name, token)
    assert described["VersionIdsToStages"][first] == ["AWSPREVIOUS"]
    assert client.get_secret_value(SecretId=name)["SecretString"] != "initial"
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"].startswith("arn:aws:lambda:")
    assert described["RotationLambdaARN"].endswith(f":function:{FUNCTION}")
    assert described["RotationRules"] == {
        "AutomaticallyAfterDays": 30,
        "ScheduleExpression": "rate(30 days)",
    }
    rotated, due = described["LastRotatedDate"], described["NextRotationDate"]
    assert 29.9 * 86400 < (due - rotated).total_seconds() <= 30 * 86400 + 60

    # The same token again is the same rotation: nothing new runs.
    again = client.rotate_secret(SecretId=name, ClientRequestToken=token)
    assert again["VersionId"] == token
    assert _versions(client, name) == {first, token}
    # A token a plain put wrote is no rotation's.
    assert _error(client.rotate_secret, SecretId=name, ClientRequestToken=first) == (
        "ResourceExistsException"
    )


def test_schedule_expressions_duration_and_rotating_later(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="initial")
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
    answer = client.rotate_secret(
        SecretId=name,
        RotationLambdaARN=arn,
        RotationRules={"ScheduleExpression": "rate(12 hours)", "Duration": "2h"},
        RotateImmediately=False,
    )
    assert "VersionId" not in answer
    described = client.describe_secret(SecretId=name)
    assert described["RotationRules"] == {"ScheduleExpression": "rate(12 hours)", "Duration": "2h"}
    assert described["RotationEnabled"] is True
    assert "LastRotatedDate" not in described
    assert described["NextRotationDate"] is not None
    assert len(described["VersionIdsToStages"]) == 1  # nothing rotated, the dry run left nothing

    for expression in ("cron(0 8 ? * 2 *)", "cron(30 4 1 * ? *)"):
        client.rotate_secret(
            SecretId=name,
            RotationRules={"ScheduleExpression": expression},
            RotateImmediately=False,
        )
        rules = client.describe_secret(SecretId=name)["RotationRules"]
        assert rules == {"ScheduleExpression": expression}


def test_cancel_turns_rotation_off_and_rotate_turns_it_on_again(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="initial")
    client.rotate_secret(
        SecretId=name,
        RotationLambdaARN=FUNCTION,
        RotationRules={"AutomaticallyAfterDays": 7},
        RotateImmediately=False,
    )
    cancelled = client.cancel_rotate_secret(SecretId=name)
    assert cancelled["Name"] == name
    assert "VersionId" not in cancelled  # no rotation was running
    described = client.describe_secret(SecretId=name)
    assert described["RotationEnabled"] is False
    assert "NextRotationDate" not in described
    assert described["RotationRules"] == {
        "AutomaticallyAfterDays": 7,
        "ScheduleExpression": "rate(7 days)",
    }

    token = str(uuid.uuid4())
    client.rotate_secret(SecretId=name, ClientRequestToken=token)
    described = _current_is(client, name, token)
    assert described["RotationEnabled"] is True
    assert described["NextRotationDate"] is not None


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"RotationLambdaARN": "no-such-function"}, "InvalidParameterException"),
        ({"RotationLambdaARN": "arn:aws:lambda:us-east-1:1:layer:x"}, "InvalidParameterException"),
        (
            {
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {"ScheduleExpression": "rate(2 weeks)"},
            },
            "InvalidParameterException",
        ),
        (
            {
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {"ScheduleExpression": "cron(0 8 * * ?)"},
            },
            "InvalidParameterException",
        ),
        (
            {
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {"ScheduleExpression": "cron(0 8 * * ? 2030)"},
            },
            "InvalidParameterException",
        ),
        (
            {
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {
                    "AutomaticallyAfterDays": 3,
                    "ScheduleExpression": "rate(3 days)",
                },
            },
            "InvalidParameterException",
        ),
        (
            {
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {"ScheduleExpression": "rate(1 hours)", "Duration": "3h"},
            },
            "InvalidParameterException",
        ),
        (
            {"RotationLambdaARN": FUNCTION, "RotationRules": {"AutomaticallyAfterDays": 1001}},
            "InvalidParameterException",
        ),
        (
            {
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {"AutomaticallyAfterDays": 1, "Duration": "3 hours"},
            },
            "InvalidParameterException",
        ),
        ({}, "InvalidRequestException"),  # no function configured, none given
    ],
)
def test_a_bad_rotation_request_changes_nothing(
    client: Any, arguments: dict[str, Any], code: str
) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="initial")
    assert _error(client.rotate_secret, SecretId=name, **arguments) == code
    described = client.describe_secret(SecretId=name)
    assert described["RotationEnabled"] is False
    assert "RotationLambdaARN" not in described
    assert len(described["VersionIdsToStages"]) == 1


def test_unknown_secrets_and_unconfigured_cancels(client: Any) -> None:
    missing = _name()
    assert _error(client.rotate_secret, SecretId=missing, RotationLambdaARN=FUNCTION) == (
        "ResourceNotFoundException"
    )
    assert _error(client.cancel_rotate_secret, SecretId=missing) == "ResourceNotFoundException"
    name = _name()
    client.create_secret(Name=name, SecretString="initial")
    assert _error(client.cancel_rotate_secret, SecretId=name) == "InvalidRequestException"


def _principal(admin: rotor.client.Client, server: RunningServer, actions: list[str]) -> Any:
    user = _name()
    admin.create_principal(user)
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    admin.put_policy(user, document)
    admin.attach_policy(user, user)
    key = admin.create_access_key(user)
    return sm_client(server, key.access_key_id, key.access_key_secret)


def test_rotating_and_configuring_need_their_own_rights(
    client: Any, admin: rotor.client.Client, rotor_server: RunningServer
) -> None:
    name = _name()
    first = client.create_secret(Name=name, SecretString="initial")["VersionId"]
    reader = _principal(admin, rotor_server, ["kms:GetSecretValue", "kms:DescribeSecret"])
    for call in (reader.rotate_secret, reader.cancel_rotate_secret):
        assert _error(call, SecretId=name) == "AccessDeniedException"
        # Refused alike whether the secret exists or not: a refusal says nothing of it.
        assert _error(call, SecretId=f"{name}/missing") == "AccessDeniedException"
    rotator = _principal(admin, rotor_server, ["kms:RotateSecret", "kms:DescribeSecret"])
    # Naming a function configures rotation, which kms:RotateSecret alone may not.
    assert _error(rotator.rotate_secret, SecretId=name, RotationLambdaARN=FUNCTION) == (
        "AccessDeniedException"
    )
    assert client.describe_secret(SecretId=name)["RotationEnabled"] is False

    client.rotate_secret(
        SecretId=name,
        RotationLambdaARN=FUNCTION,
        RotationRules={"AutomaticallyAfterDays": 30},
        RotateImmediately=False,
    )
    # Rotating as configured is kms:RotateSecret's; changing the rules or cancelling is not.
    token = str(uuid.uuid4())
    assert rotator.rotate_secret(SecretId=name, ClientRequestToken=token)["VersionId"] == token
    _current_is(client, name, token)
    assert _error(
        rotator.rotate_secret, SecretId=name, RotationRules={"AutomaticallyAfterDays": 1}
    ) == ("AccessDeniedException")
    assert _error(rotator.cancel_rotate_secret, SecretId=name) == "AccessDeniedException"
    described = client.describe_secret(SecretId=name)
    assert described["RotationEnabled"] is True
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert set(described["VersionIdsToStages"]) == {first, token}


@pytest.mark.parametrize(
    ("cron", "aws"),
    [
        ("0 8 * * 0", "cron(0 8 ? * 1 *)"),
        ("0 8 * * 7", "cron(0 8 ? * 1 *)"),  # cron's other Sunday, not AWS's Saturday
        ("0 8 * * 1-5", "cron(0 8 ? * 2-6 *)"),
        ("0 8 * * 1,7", "cron(0 8 ? * 2,1 *)"),
        ("0 8 * * 5#3", "cron(0 8 ? * 6#3 *)"),
        ("0 8 * * */2", "cron(0 8 ? * */2 *)"),
        ("30 4 1 * *", "cron(30 4 1 * ? *)"),
        ("0 8 * * 5-7", None),  # AWS has no 7 for Sunday to end the range on
    ],
)
def test_a_cron_schedule_is_written_as_aws_reads_it(cron: str, aws: str | None) -> None:
    assert rotation_operations.cron_to_aws(cron) == aws
    if aws is not None and "7" not in cron.split()[4]:  # back, but for 7 read as 0
        assert rotation_operations.cron_from_aws(aws[len("cron(") : -1]) == cron
