"""The AWS dialect, the KMS dialect and the native API are three views of one store: a
secret created through boto3, written through the cloud's tea SDK and restaged through
the native client has the same versions, stages and values in each, and the audit trail
lists every call with the action its dialect checked.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import rotor.client
from tests.aliyun.conftest import tea_client
from tests.aliyun.test_tea_sdk import get, list_versions, put, stages_of
from tests.aws.conftest import name as _name
from tests.services.server import RunningServer

#: Each reserved stage, as the native API, the AWS dialect and the KMS dialect spell it.
STAGES = {"Current": ("AWSCURRENT", "ACSCurrent"), "Previous": ("AWSPREVIOUS", "ACSPrevious")}
DEADLINE = 30.0


def audit_of(admin: rotor.client.Client, name: str, request_ids: set[str]) -> dict[str, str]:
    """request id -> action of the secret's audit events, once those of ``request_ids``
    are written (the log is written in the background)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        events = {
            e.request_id: e.action
            for e in admin.iter_audit_events(secret=name, page_size=100)
            if e.request_id is not None and e.outcome == "allowed"
        }
        if request_ids <= set(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_three_apis_one_secret(
    rotor_server: RunningServer, client: Any, admin: rotor.client.Client
) -> None:
    kms = tea_client(rotor_server, rotor_server.access_key_id, rotor_server.access_key_secret)
    name = _name()
    created = client.create_secret(Name=name, SecretString="one")  # AWS
    first = created["VersionId"]
    second = str(uuid.uuid4())  # AWS takes version ids of 32 characters and more
    written = put(kms, name, second, "two")  # KMS: the new version is Current
    admin.update_stage(name, "Current", move_to_version=first)  # native: back to the first

    native = {v.version_id: set(v.stages) for v in admin.iter_versions(name)}
    assert native == {first: {"Current"}, second: {"Previous"}}
    described = client.describe_secret(SecretId=name)
    aws = {v: set(stages) for v, stages in described["VersionIdsToStages"].items()}
    assert aws == {v: {STAGES[s][0] for s in stages} for v, stages in native.items()}
    listed = list_versions(kms, name)
    in_kms = {v.version_id: set(stages_of(v)) for v in listed.version_ids.version_id}
    assert in_kms == {v: {STAGES[s][1] for s in stages} for v, stages in native.items()}

    values = {"Current": "one", "Previous": "two"}
    reads: dict[str, str] = {}
    for stage, value in values.items():
        aws_stage, kms_stage = STAGES[stage]
        assert admin.get_value(name, stage=stage).value == value
        by_aws = client.get_secret_value(SecretId=name, VersionStage=aws_stage)
        assert by_aws["SecretString"] == value
        reads[by_aws["ResponseMetadata"]["RequestId"]] = "kms:GetSecretValue"
        by_kms = get(kms, name, version_stage=kms_stage)
        assert by_kms.secret_data == value
        reads[by_kms.request_id] = "kms:GetSecretValue"
    by_aws = client.get_secret_value(SecretId=name, VersionId=second)
    assert by_aws["SecretString"] == "two"
    by_kms = get(kms, name, version_id=first)
    assert by_kms.secret_data == "one"
    reads[by_aws["ResponseMetadata"]["RequestId"]] = reads[by_kms.request_id] = "kms:GetSecretValue"

    expected = {
        created["ResponseMetadata"]["RequestId"]: "kms:CreateSecret",
        written.request_id: "kms:PutSecretValue",
        described["ResponseMetadata"]["RequestId"]: "kms:DescribeSecret",
        listed.request_id: "kms:ListSecretVersionIds",
        **reads,
    }
    events = audit_of(admin, name, set(expected))
    assert {rid: events.get(rid) for rid in expected} == expected
    # The native API's calls are the others: the stage moved, the versions listed and read.
    rest = sorted(action for rid, action in events.items() if rid not in expected)
    assert "kms:UpdateSecretVersionStage" in rest
    assert rest.count("kms:GetSecretValue") == len(values)
