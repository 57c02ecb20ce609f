"""The KMS API through the official V1 SDK (``aliyunsdkcore`` + ``aliyunsdkkms``), unmodified.

Every test runs twice: with the admin's plain access key, and with STS credentials of a
role allowed ``kms:*`` (``StsTokenCredential``). The V1 SDK returns the raw JSON body, so
these tests also pin the exact response shapes of spec §6 (wrapped lists, integer counts,
``YYYY-MM-DDThh:mm:ssZ`` times).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import string
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.utils import parameter_helper
from aliyunsdkkms.request.v20160120.CreateSecretRequest import CreateSecretRequest
from aliyunsdkkms.request.v20160120.DeleteSecretRequest import DeleteSecretRequest
from aliyunsdkkms.request.v20160120.DescribeSecretRequest import DescribeSecretRequest
from aliyunsdkkms.request.v20160120.GetRandomPasswordRequest import GetRandomPasswordRequest
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest
from aliyunsdkkms.request.v20160120.ListSecretsRequest import ListSecretsRequest
from aliyunsdkkms.request.v20160120.ListSecretVersionIdsRequest import (
    ListSecretVersionIdsRequest,
)
from aliyunsdkkms.request.v20160120.PutSecretValueRequest import PutSecretValueRequest
from aliyunsdkkms.request.v20160120.RestoreSecretRequest import RestoreSecretRequest
from aliyunsdkkms.request.v20160120.RotateSecretRequest import RotateSecretRequest
from aliyunsdkkms.request.v20160120.UpdateSecretRequest import UpdateSecretRequest
from aliyunsdkkms.request.v20160120.UpdateSecretRotationPolicyRequest import (
    UpdateSecretRotationPolicyRequest,
)
from aliyunsdkkms.request.v20160120.UpdateSecretVersionStageRequest import (
    UpdateSecretVersionStageRequest,
)

import rotor.client
from tests.aliyun.conftest import (
    Credentials,
    arn_of,
    assume,
    make_role,
    make_user,
    unique_name,
    v1_call,
    v1_client,
    v1_error,
)
from tests.services.server import RunningServer
from tests.services.unreachable import register_unreachable

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PUNCTUATION = set(string.punctuation)
FUNCTION = "generated-password"


@pytest.fixture
def kms(kms_server: RunningServer, credentials: Credentials) -> AcsClient:
    return v1_client(
        kms_server,
        credentials.access_key_id,
        credentials.access_key_secret,
        credentials.security_token,
    )


@pytest.fixture
def name() -> str:
    return unique_name("v1") + "/db"


# -- request builders -------------------------------------------------------------------------


def create(
    name: str, data: str = "s3cret", version_id: str = "v1", **extra: str
) -> CreateSecretRequest:
    request = CreateSecretRequest()
    request.set_SecretName(name)
    request.set_VersionId(version_id)
    request.set_SecretData(data)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def get(name: str, **extra: Any) -> GetSecretValueRequest:
    request = GetSecretValueRequest()
    request.set_SecretName(name)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def put(name: str, version_id: str, data: str, **extra: str) -> PutSecretValueRequest:
    request = PutSecretValueRequest()
    request.set_SecretName(name)
    request.set_VersionId(version_id)
    request.set_SecretData(data)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def stage(name: str, stage_name: str, **extra: str) -> UpdateSecretVersionStageRequest:
    request = UpdateSecretVersionStageRequest()
    request.set_SecretName(name)
    request.set_VersionStage(stage_name)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def password(**extra: Any) -> GetRandomPasswordRequest:
    request = GetRandomPasswordRequest()
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def describe(name: str, fetch_tags: bool = False) -> DescribeSecretRequest:
    request = DescribeSecretRequest()
    request.set_SecretName(name)
    if fetch_tags:
        request.set_FetchTags("true")
    return request


def list_secrets(**extra: Any) -> ListSecretsRequest:
    request = ListSecretsRequest()
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def list_versions(name: str, **extra: Any) -> ListSecretVersionIdsRequest:
    request = ListSecretVersionIdsRequest()
    request.set_SecretName(name)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def delete(name: str, **extra: str) -> DeleteSecretRequest:
    request = DeleteSecretRequest()
    request.set_SecretName(name)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def restore(name: str) -> RestoreSecretRequest:
    request = RestoreSecretRequest()
    request.set_SecretName(name)
    return request


def rotate(name: str, version_id: str) -> RotateSecretRequest:
    request = RotateSecretRequest()
    request.set_SecretName(name)
    request.set_VersionId(version_id)
    return request


def rotation_policy(name: str, **extra: Any) -> UpdateSecretRotationPolicyRequest:
    request = UpdateSecretRotationPolicyRequest()
    request.set_SecretName(name)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def stages_of(body: dict[str, Any]) -> list[str]:
    """The stage names of a wrapped ``{"VersionStages": {"VersionStage": [...]}}``."""
    wrapped = body["VersionStages"]
    assert isinstance(wrapped, dict)
    assert set(wrapped) == {"VersionStage"}
    stages = wrapped["VersionStage"]
    assert isinstance(stages, list)
    return sorted(stages)


def assert_error(error: ServerException, code: str, status: int) -> None:
    assert (error.error_code, error.http_status) == (code, status), error.get_error_msg()
    assert error.request_id


def secret_names(body: dict[str, Any]) -> list[str]:
    return [item["SecretName"] for item in body["SecretList"]["Secret"]]


# -- CreateSecret / GetSecretValue / DescribeSecret -------------------------------------------


def test_create_text_secret_with_everything(kms: AcsClient, name: str) -> None:
    tags = [{"TagKey": "team", "TagValue": "orders"}, {"TagKey": "env", "TagValue": "prod"}]
    extended = {"SecretSubType": "SingleUser", "CustomData": {"k": "v"}}
    created = v1_call(
        kms,
        create(
            name,
            "pässwörd {x} &=+ ~",
            "v-first",
            Description="orders database",
            Tags=json.dumps(tags),
            ExtendedConfig=json.dumps(extended),
        ),
    )
    assert created["SecretName"] == name
    assert created["VersionId"] == "v-first"
    assert created["Arn"] == arn_of(name)
    assert created["SecretType"] == "Generic"
    assert isinstance(created["RequestId"], str)
    assert created["RequestId"]

    value = v1_call(kms, get(name))
    assert value["SecretName"] == name
    assert value["SecretData"] == "pässwörd {x} &=+ ~"
    assert value["SecretDataType"] == "text"
    assert value["VersionId"] == "v-first"
    assert value["SecretType"] == "Generic"
    assert stages_of(value) == ["ACSCurrent"]
    assert TIME_RE.match(value["CreateTime"])
    assert "ExtendedConfig" not in value

    fetched = v1_call(kms, get(name, FetchExtendedConfig=True))
    assert json.loads(fetched["ExtendedConfig"]) == extended
    assert fetched["AutomaticRotation"] == "Disabled"

    described = v1_call(kms, describe(name, fetch_tags=True))
    assert described["SecretName"] == name
    assert described["Arn"] == arn_of(name)
    assert described["Description"] == "orders database"
    assert described["SecretType"] == "Generic"
    assert TIME_RE.match(described["CreateTime"])
    assert TIME_RE.match(described["UpdateTime"])
    assert described["PlannedDeleteTime"] in ("", None)
    assert json.loads(described["ExtendedConfig"]) == extended
    assert sorted((t["TagKey"], t["TagValue"]) for t in described["Tags"]["Tag"]) == [
        ("env", "prod"),
        ("team", "orders"),
    ]


def test_create_seen_by_the_native_api(
    kms: AcsClient, admin: rotor.client.Client, name: str
) -> None:
    v1_call(kms, create(name, "native-check", "v1", Tags='[{"TagKey":"a","TagValue":"b"}]'))
    native = admin.get_value(name)
    assert (native.value, native.version_id, native.stages) == ("native-check", "v1", ("Current",))
    assert dict(admin.describe_secret(name).tags) == {"a": "b"}


def test_secret_name_may_be_the_arn(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "by-arn"))
    assert v1_call(kms, get(arn_of(name)))["SecretData"] == "by-arn"
    # Another region's or account's ARN names no secret here.
    other = arn_of(name).replace("acs:kms:", "acs:kms:cn-elsewhere-", 1)
    error = v1_error(kms, get(other))
    assert (error.error_code, error.http_status) == ("Forbidden.ResourceNotFound", 404)


def test_create_binary_secret(kms: AcsClient, admin: rotor.client.Client, name: str) -> None:
    raw = bytes(range(256))
    encoded = base64.b64encode(raw).decode()
    v1_call(kms, create(name, encoded, "b1", SecretDataType="binary"))
    value = v1_call(kms, get(name))
    assert value["SecretDataType"] == "binary"
    assert value["SecretData"] == encoded
    assert admin.get_value(name).value == raw

    v1_call(kms, put(name, "b2", base64.b64encode(b"\x00\xff").decode(), SecretDataType="binary"))
    assert base64.b64decode(v1_call(kms, get(name))["SecretData"]) == b"\x00\xff"

    bad = v1_error(kms, create(name + "-bad", "not base64!!", SecretDataType="binary"))
    assert_error(bad, "InvalidParameter", 400)


def test_create_existing_name_is_refused(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name))
    error = v1_error(kms, create(name, "other", "v2"))
    assert_error(error, "Rejected.ResourceExist", 400)
    assert v1_call(kms, get(name))["SecretData"] == "s3cret"


def test_create_validation(kms: AcsClient, name: str) -> None:
    missing = CreateSecretRequest()
    missing.set_SecretName(name)
    missing.set_VersionId("v1")
    assert_error(v1_error(kms, missing), "MissingParameter", 400)
    assert_error(v1_error(kms, create(name, Tags="not json")), "InvalidParameter", 400)
    assert_error(v1_error(kms, create(name, ExtendedConfig="[1]")), "InvalidParameter", 400)
    assert_error(v1_error(kms, create("bad name with spaces")), "InvalidParameter", 400)
    # Nothing was created by the refused calls.
    assert_error(v1_error(kms, get(name)), "Forbidden.ResourceNotFound", 404)


def test_get_by_stage_version_and_both(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    v1_call(kms, put(name, "v2", "two"))

    assert v1_call(kms, get(name))["VersionId"] == "v2"
    previous = v1_call(kms, get(name, VersionStage="ACSPrevious"))
    assert (previous["VersionId"], previous["SecretData"]) == ("v1", "one")
    assert stages_of(previous) == ["ACSPrevious"]

    by_id = v1_call(kms, get(name, VersionId="v1"))
    assert (by_id["SecretData"], stages_of(by_id)) == ("one", ["ACSPrevious"])

    both = v1_call(kms, get(name, VersionId="v2", VersionStage="ACSCurrent"))
    assert both["SecretData"] == "two"

    for request in (
        get(name, VersionId="v1", VersionStage="ACSCurrent"),
        get(name, VersionStage="ACSPending"),
        get(name, VersionId="no-such-version"),
        get(name + "-missing"),
    ):
        assert_error(v1_error(kms, request), "Forbidden.ResourceNotFound", 404)


def test_get_dry_run_returns_no_value(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "dry"))
    body = v1_call(kms, get(name, DryRun="true"))
    assert "dry" not in json.dumps(body)


# -- PutSecretValue -----------------------------------------------------------------------------


def test_put_default_stage_moves_current_to_previous(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    answer = v1_call(kms, put(name, "v2", "two"))
    assert answer["SecretName"] == name
    assert answer["VersionId"] == "v2"
    assert stages_of(answer) == ["ACSCurrent"]
    assert stages_of(v1_call(kms, get(name, VersionId="v1"))) == ["ACSPrevious"]

    v1_call(kms, put(name, "v3", "three"))
    assert v1_call(kms, get(name, VersionStage="ACSPrevious"))["VersionId"] == "v2"
    # v1 lost its last stage.
    listed = v1_call(kms, list_versions(name))
    assert sorted(v["VersionId"] for v in listed["VersionIds"]["VersionId"]) == ["v2", "v3"]


def test_put_with_version_stages(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    pending = v1_call(kms, put(name, "v2", "two", VersionStages='["ACSPending"]'))
    assert stages_of(pending) == ["ACSPending"]
    assert v1_call(kms, get(name))["VersionId"] == "v1"
    assert v1_call(kms, get(name, VersionStage="ACSPending"))["SecretData"] == "two"

    custom = v1_call(kms, put(name, "v3", "three", VersionStages='["Blue", "Green"]'))
    assert stages_of(custom) == ["Blue", "Green"]
    assert v1_call(kms, get(name, VersionStage="Green"))["VersionId"] == "v3"
    assert v1_call(kms, get(name))["VersionId"] == "v1"

    bad = v1_error(kms, put(name, "v4", "four", VersionStages="ACSPending"))
    assert_error(bad, "InvalidParameter", 400)


def test_put_same_version_is_idempotent_other_data_conflicts(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    first = v1_call(kms, put(name, "v2", "two"))
    again = v1_call(kms, put(name, "v2", "two"))
    assert again["VersionId"] == first["VersionId"] == "v2"
    assert stages_of(again) == ["ACSCurrent"]
    # Not a second move: v1 is still Previous.
    assert v1_call(kms, get(name, VersionStage="ACSPrevious"))["VersionId"] == "v1"

    conflict = v1_error(kms, put(name, "v2", "different"))
    assert_error(conflict, "Rejected.ResourceExist", 400)
    assert v1_call(kms, get(name))["SecretData"] == "two"


def test_put_to_unknown_secret(kms: AcsClient, name: str) -> None:
    assert_error(v1_error(kms, put(name, "v1", "x")), "Forbidden.ResourceNotFound", 404)


# -- UpdateSecretVersionStage --------------------------------------------------------------------


def test_move_current_moves_previous(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    v1_call(kms, put(name, "v2", "two"))
    v1_call(kms, put(name, "v3", "three"))

    answer = v1_call(kms, stage(name, "ACSCurrent", MoveToVersion="v1", RemoveFromVersion="v3"))
    assert answer["SecretName"] == name
    assert v1_call(kms, get(name))["VersionId"] == "v1"
    assert v1_call(kms, get(name, VersionStage="ACSPrevious"))["VersionId"] == "v3"
    assert stages_of(v1_call(kms, get(name, VersionId="v2"))) == []

    # MoveToVersion only also moves Current.
    v1_call(kms, stage(name, "ACSCurrent", MoveToVersion="v3"))
    assert v1_call(kms, get(name))["VersionId"] == "v3"
    assert v1_call(kms, get(name, VersionStage="ACSPrevious"))["VersionId"] == "v1"


def test_custom_stage_add_and_remove(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    v1_call(kms, put(name, "v2", "two"))
    v1_call(kms, stage(name, "Canary", MoveToVersion="v1"))
    canary = v1_call(kms, get(name, VersionStage="Canary"))
    assert canary["VersionId"] == "v1"
    assert stages_of(canary) == ["ACSPrevious", "Canary"]

    v1_call(kms, stage(name, "Canary", MoveToVersion="v2", RemoveFromVersion="v1"))
    assert v1_call(kms, get(name, VersionStage="Canary"))["VersionId"] == "v2"

    v1_call(kms, stage(name, "Canary", RemoveFromVersion="v2"))
    gone = v1_error(kms, get(name, VersionStage="Canary"))
    assert_error(gone, "Forbidden.ResourceNotFound", 404)
    assert v1_call(kms, get(name))["VersionId"] == "v2"


def test_stage_update_refusals(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    v1_call(kms, put(name, "v2", "two"))
    for protected in ("ACSCurrent", "ACSPrevious"):
        only_remove = v1_error(kms, stage(name, protected, RemoveFromVersion="v2"))
        assert only_remove.http_status == 400
        assert only_remove.error_code in ("InvalidParameter", "MissingParameter")
    assert v1_call(kms, get(name))["VersionId"] == "v2"
    assert v1_call(kms, get(name, VersionStage="ACSPrevious"))["VersionId"] == "v1"

    assert_error(v1_error(kms, stage(name, "ACSCurrent")), "MissingParameter", 400)
    missing_version = v1_error(kms, stage(name, "ACSCurrent", MoveToVersion="nope"))
    assert_error(missing_version, "Forbidden.ResourceNotFound", 404)
    wrong_holder = v1_error(kms, stage(name, "Canary", RemoveFromVersion="v1"))
    assert wrong_holder.http_status in (400, 404)


# -- GetRandomPassword ----------------------------------------------------------------------------


def test_random_password_defaults_and_length(kms: AcsClient) -> None:
    first = v1_call(kms, password())["RandomPassword"]
    second = v1_call(kms, password())["RandomPassword"]
    assert len(first) == len(second) == 32
    assert first != second
    for length in (8, 50, 128):
        assert len(v1_call(kms, password(PasswordLength=str(length)))["RandomPassword"]) == length
    for bad in ("7", "129", "0", "abc", "-1"):
        error = v1_error(kms, password(PasswordLength=bad))
        assert_error(error, "InvalidParameter", 400)


@pytest.mark.parametrize(
    ("option", "forbidden"),
    [
        ("ExcludeLowercase", set(string.ascii_lowercase)),
        ("ExcludeUppercase", set(string.ascii_uppercase)),
        ("ExcludeNumbers", set(string.digits)),
        ("ExcludePunctuation", PUNCTUATION),
    ],
)
def test_random_password_exclusions(kms: AcsClient, option: str, forbidden: set[str]) -> None:
    seen: set[str] = set()
    for value in ("true", "True"):
        for _ in range(5):
            pw = v1_call(kms, password(PasswordLength="128", **{option: value}))["RandomPassword"]
            assert len(pw) == 128
            seen |= set(pw)
    assert not seen & forbidden
    # The other classes are still used.
    assert seen & (set(string.ascii_letters + string.digits) | PUNCTUATION) - forbidden
    # "false" excludes nothing.
    allowed = "".join(
        v1_call(kms, password(PasswordLength="128", **{option: "false"}))["RandomPassword"]
        for _ in range(5)
    )
    assert set(allowed) & forbidden


def test_random_password_exclude_characters_and_each_type(kms: AcsClient) -> None:
    excluded = "abcdefABCDEF012345!@#$%^&*()/\"'\\ "
    for _ in range(5):
        pw = v1_call(kms, password(PasswordLength="64", ExcludeCharacters=excluded))[
            "RandomPassword"
        ]
        assert not set(pw) & set(excluded)
    for _ in range(20):
        pw = v1_call(kms, password(PasswordLength="8", RequireEachIncludedType="true"))[
            "RandomPassword"
        ]
        assert set(pw) & set(string.ascii_lowercase)
        assert set(pw) & set(string.ascii_uppercase)
        assert set(pw) & set(string.digits)
        assert set(pw) & PUNCTUATION
    only_digits = v1_call(
        kms,
        password(
            PasswordLength="20",
            ExcludeLowercase="true",
            ExcludeUppercase="true",
            ExcludePunctuation="true",
            RequireEachIncludedType="true",
        ),
    )["RandomPassword"]
    assert only_digits.isdigit()
    nothing_left = v1_error(
        kms,
        password(
            ExcludeLowercase="true",
            ExcludeUppercase="true",
            ExcludeNumbers="true",
            ExcludePunctuation="true",
        ),
    )
    assert_error(nothing_left, "InvalidParameter", 400)


# -- ListSecrets ----------------------------------------------------------------------------------


def test_list_secrets_paging_and_filters(kms: AcsClient) -> None:
    prefix = unique_name("v1list")
    tag = uuid.uuid4().hex
    names = [f"{prefix}/s{i}" for i in range(5)]
    for index, secret in enumerate(names):
        tags = [{"TagKey": f"k-{tag}", "TagValue": "even" if index % 2 == 0 else "odd"}]
        v1_call(
            kms,
            create(secret, Tags=json.dumps(tags), Description=f"number {index} of {prefix}"),
        )
    by_name = json.dumps([{"Key": "SecretName", "Values": [prefix]}])

    first = v1_call(kms, list_secrets(Filters=by_name, PageSize=2))
    assert (first["PageNumber"], first["PageSize"], first["TotalCount"]) == (1, 2, 5)
    assert all(isinstance(first[k], int) for k in ("PageNumber", "PageSize", "TotalCount"))
    pages = [secret_names(first)]
    for number in (2, 3):
        page = v1_call(kms, list_secrets(Filters=by_name, PageSize=2, PageNumber=number))
        assert page["PageNumber"] == number
        assert page["TotalCount"] == 5
        pages.append(secret_names(page))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(n for p in pages for n in p) == names
    past = v1_call(kms, list_secrets(Filters=by_name, PageSize=2, PageNumber=4))
    assert past["SecretList"]["Secret"] == []
    assert past["TotalCount"] == 5

    default = v1_call(kms, list_secrets(Filters=by_name))
    assert default["PageSize"] == 10
    item = default["SecretList"]["Secret"][0]
    assert item["SecretType"] == "Generic"
    assert TIME_RE.match(item["CreateTime"])
    assert TIME_RE.match(item["UpdateTime"])

    with_tags = v1_call(kms, list_secrets(Filters=by_name, FetchTags="true"))
    tags_seen = {
        i["SecretName"]: [(t["TagKey"], t["TagValue"]) for t in i["Tags"]["Tag"]]
        for i in with_tags["SecretList"]["Secret"]
    }
    assert tags_seen[names[1]] == [(f"k-{tag}", "odd")]

    def filtered(filters: list[dict[str, Any]]) -> list[str]:
        body = v1_call(kms, list_secrets(Filters=json.dumps(filters), PageSize=100))
        assert body["TotalCount"] == len(body["SecretList"]["Secret"])
        return sorted(secret_names(body))

    assert filtered([{"Key": "TagKey", "Values": [f"k-{tag}"]}]) == names
    even = [{"Key": "TagKey", "Values": [f"k-{tag}"]}, {"Key": "TagValue", "Values": ["even"]}]
    assert filtered(even) == [names[0], names[2], names[4]]
    either = [{"Key": "SecretName", "Values": [f"{prefix}/s1", f"{prefix}/s3"]}]
    assert filtered(either) == [names[1], names[3]]
    described = [
        {"Key": "Description", "Values": [f"number 2 of {prefix}"]},
        {"Key": "SecretName", "Values": [prefix]},
    ]
    assert filtered(described) == [names[2]]
    assert filtered([{"Key": "SecretName", "Values": [unique_name("none")]}]) == []
    generic = [
        {"Key": "SecretName", "Values": [prefix]},
        {"Key": "SecretType", "Values": ["Generic"]},
    ]
    assert filtered(generic) == names
    rds = [{"Key": "SecretName", "Values": [prefix]}, {"Key": "SecretType", "Values": ["Rds"]}]
    assert filtered(rds) == []


def test_list_secrets_validation(kms: AcsClient) -> None:
    for request in (
        list_secrets(PageSize=0),
        list_secrets(PageSize=101),
        list_secrets(PageNumber=0),
        list_secrets(Filters="not json"),
        list_secrets(Filters='[{"Key": "NoSuchKey", "Values": ["x"]}]'),
    ):
        assert_error(v1_error(kms, request), "InvalidParameter", 400)
    assert v1_call(kms, list_secrets(PageSize=100))["PageSize"] == 100


def test_list_secrets_shows_only_what_the_caller_may_list(
    kms_server: RunningServer, admin: rotor.client.Client
) -> None:
    prefix = unique_name("v1scope")
    for suffix in ("mine/a", "mine/b", "other/c"):
        admin.create_secret(f"{prefix}/{suffix}", value="x")
    user = make_user(
        admin,
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["kms:ListSecrets"],
                    "Resource": [f"acs:kms:*:*:secret/{prefix}/mine/*"],
                }
            ],
        },
    )
    client = v1_client(kms_server, user.access_key_id, user.access_key_secret)
    body = v1_call(
        client,
        list_secrets(Filters=json.dumps([{"Key": "SecretName", "Values": [prefix]}]), PageSize=100),
    )
    assert sorted(secret_names(body)) == [f"{prefix}/mine/a", f"{prefix}/mine/b"]
    assert body["TotalCount"] == 2


# -- ListSecretVersionIds -------------------------------------------------------------------------


def test_list_version_ids(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "one", "v1"))
    v1_call(kms, put(name, "v2", "two"))
    v1_call(kms, put(name, "v3", "three"))
    v1_call(kms, put(name, "v4", "four", VersionStages='["Custom"]'))

    staged = v1_call(kms, list_versions(name))
    assert staged["SecretName"] == name
    assert (staged["PageNumber"], staged["PageSize"], staged["TotalCount"]) == (1, 20, 3)
    by_id = {v["VersionId"]: v for v in staged["VersionIds"]["VersionId"]}
    assert {k: stages_of(v) for k, v in by_id.items()} == {
        "v2": ["ACSPrevious"],
        "v3": ["ACSCurrent"],
        "v4": ["Custom"],
    }
    assert all(TIME_RE.match(v["CreateTime"]) for v in by_id.values())

    everything = v1_call(kms, list_versions(name, IncludeDeprecated="true"))
    assert everything["TotalCount"] == 4
    ids = {v["VersionId"]: stages_of(v) for v in everything["VersionIds"]["VersionId"]}
    assert ids["v1"] == []

    paged = [
        v1_call(kms, list_versions(name, IncludeDeprecated="true", PageSize=3, PageNumber=n))
        for n in (1, 2)
    ]
    assert [len(p["VersionIds"]["VersionId"]) for p in paged] == [3, 1]
    assert all(p["TotalCount"] == 4 and p["PageSize"] == 3 for p in paged)
    assert sorted(v["VersionId"] for p in paged for v in p["VersionIds"]["VersionId"]) == [
        "v1",
        "v2",
        "v3",
        "v4",
    ]
    missing = v1_error(kms, list_versions(name + "-missing"))
    assert_error(missing, "Forbidden.ResourceNotFound", 404)


# -- UpdateSecret -----------------------------------------------------------------------------------


def test_update_secret(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, Description="before", ExtendedConfig='{"SecretSubType": "x"}'))
    request = UpdateSecretRequest()
    request.set_SecretName(name)
    request.set_Description("after")
    assert v1_call(kms, request)["SecretName"] == name
    assert v1_call(kms, describe(name))["Description"] == "after"

    custom = UpdateSecretRequest()
    custom.set_SecretName(name)
    custom.set_ExtendedConfigCustomData('{"owner": "team-a"}')
    v1_call(kms, custom)
    extended = json.loads(v1_call(kms, get(name, FetchExtendedConfig=True))["ExtendedConfig"])
    assert extended["CustomData"] == {"owner": "team-a"}
    assert v1_call(kms, describe(name))["Description"] == "after"

    nothing = UpdateSecretRequest()
    nothing.set_SecretName(name)
    assert_error(v1_error(kms, nothing), "MissingParameter", 400)
    unknown = UpdateSecretRequest()
    unknown.set_SecretName(name + "-missing")
    unknown.set_Description("x")
    assert_error(v1_error(kms, unknown), "Forbidden.ResourceNotFound", 404)


# -- DeleteSecret / RestoreSecret ---------------------------------------------------------------


def planned(body: dict[str, Any]) -> dt.datetime:
    text = body["PlannedDeleteTime"]
    assert TIME_RE.match(text)
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def test_delete_with_recovery_window_and_restore(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "keep-me"))
    now = dt.datetime.now(dt.UTC)
    deleted = v1_call(kms, delete(name, RecoveryWindowInDays="7"))
    assert deleted["SecretName"] == name
    assert abs(planned(deleted) - (now + dt.timedelta(days=7))) < dt.timedelta(minutes=2)

    assert_error(v1_error(kms, get(name)), "Rejected.ResourceInDeletion", 400)
    put_error = v1_error(kms, put(name, "v2", "x"))
    assert_error(put_error, "Rejected.ResourceInDeletion", 400)
    described = v1_call(kms, describe(name))
    assert planned(described) == planned(deleted)
    recreate = v1_error(kms, create(name, "again"))
    assert recreate.error_code in ("Rejected.ResourceExist", "Rejected.ResourceInDeletion")

    assert v1_call(kms, restore(name))["SecretName"] == name
    assert v1_call(kms, get(name))["SecretData"] == "keep-me"
    assert v1_call(kms, describe(name))["PlannedDeleteTime"] in ("", None)


def test_delete_default_window_is_30_days(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name))
    now = dt.datetime.now(dt.UTC)
    deleted = v1_call(kms, delete(name))
    assert abs(planned(deleted) - (now + dt.timedelta(days=30))) < dt.timedelta(minutes=2)
    v1_call(kms, restore(name))


def test_force_delete(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name, "gone"))
    v1_call(kms, delete(name, ForceDeleteWithoutRecovery="true"))
    assert_error(v1_error(kms, get(name)), "Forbidden.ResourceNotFound", 404)
    assert_error(v1_error(kms, restore(name)), "Forbidden.ResourceNotFound", 404)
    # The name is free again.
    v1_call(kms, create(name, "new", "n1"))
    assert v1_call(kms, get(name))["SecretData"] == "new"


def test_delete_validation(kms: AcsClient, name: str) -> None:
    v1_call(kms, create(name))
    for days in ("6", "31", "x"):
        error = v1_error(kms, delete(name, RecoveryWindowInDays=days))
        assert_error(error, "InvalidParameter", 400)
    both = v1_error(kms, delete(name, RecoveryWindowInDays="7", ForceDeleteWithoutRecovery="true"))
    assert_error(both, "InvalidParameter", 400)
    assert v1_call(kms, get(name))["SecretData"] == "s3cret"
    missing = v1_error(kms, delete(name + "-missing"))
    assert_error(missing, "Forbidden.ResourceNotFound", 404)
    not_deleted = v1_error(kms, restore(name))
    assert not_deleted.http_status == 400


# -- RotateSecret / UpdateSecretRotationPolicy ----------------------------------------------------


def wait_for_rotations(admin: rotor.client.Client, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = admin.list_rotations(name).items
        if items and all(r.done for r in items):
            return
        time.sleep(0.1)
    raise AssertionError(f"rotation of {name} did not finish")


def test_rotate_secret(kms: AcsClient, admin: rotor.client.Client, name: str) -> None:
    v1_call(kms, create(name, "before-rotation", "v1"))
    assert_error(v1_error(kms, rotate(name, "r1")), "UnsupportedOperation", 400)

    admin.configure_rotation(
        name, function=FUNCTION, parameters={"PasswordLength": 20}, rotate_now=False
    )
    first = v1_call(kms, rotate(name, "r1"))
    assert (first["SecretName"], first["VersionId"], first["Arn"]) == (name, "r1", arn_of(name))
    again = v1_call(kms, rotate(name, "r1"))
    assert again["VersionId"] == "r1"
    wait_for_rotations(admin, name)
    rotations = admin.list_rotations(name).items
    assert [(r.version_id, r.status) for r in rotations] == [("r1", "succeeded")]

    current = v1_call(kms, get(name))
    assert current["VersionId"] == "r1"
    assert current["SecretData"] != "before-rotation"
    assert len(current["SecretData"]) == 20
    previous = v1_call(kms, get(name, VersionStage="ACSPrevious"))
    assert (previous["VersionId"], previous["SecretData"]) == ("v1", "before-rotation")

    # The same id after it finished: nothing new (a rotation is recorded before the answer).
    assert v1_call(kms, rotate(name, "r1"))["VersionId"] == "r1"
    assert len(admin.list_rotations(name).items) == 1
    assert v1_call(kms, get(name))["SecretData"] == current["SecretData"]

    v1_call(kms, rotate(name, "r2"))
    wait_for_rotations(admin, name)
    assert v1_call(kms, get(name))["VersionId"] == "r2"
    assert_error(v1_error(kms, rotate(name + "-x", "r1")), "Forbidden.ResourceNotFound", 404)


def test_update_rotation_policy(kms: AcsClient, admin: rotor.client.Client, name: str) -> None:
    v1_call(kms, create(name, "v"))
    no_function = v1_error(
        kms, rotation_policy(name, EnableAutomaticRotation=True, RotationInterval="7d")
    )
    assert_error(no_function, "UnsupportedOperation", 400)

    admin.configure_rotation(name, function=FUNCTION, rotate_now=False)
    answer = v1_call(
        kms, rotation_policy(name, EnableAutomaticRotation=True, RotationInterval="7d")
    )
    assert answer["SecretName"] == name
    value = v1_call(kms, get(name, FetchExtendedConfig=True))
    assert value["AutomaticRotation"] == "Enabled"
    assert value["RotationInterval"] == "604800s"
    assert TIME_RE.match(value["NextRotationDate"])
    described = v1_call(kms, describe(name))
    assert (described["AutomaticRotation"], described["RotationInterval"]) == (
        "Enabled",
        "604800s",
    )
    config = admin.describe_rotation(name)
    assert (config.enabled, config.every_seconds) == (True, 604800)

    for interval, seconds in (("12h", 43200), ("604800s", 604800), ("30d", 2592000)):
        v1_call(
            kms, rotation_policy(name, EnableAutomaticRotation="true", RotationInterval=interval)
        )
        assert admin.describe_rotation(name).every_seconds == seconds
        assert v1_call(kms, describe(name))["RotationInterval"] == f"{seconds}s"

    for bad in ("5h", "8761h", "1w", "abc", "-7d"):
        error = v1_error(
            kms, rotation_policy(name, EnableAutomaticRotation=True, RotationInterval=bad)
        )
        assert_error(error, "InvalidParameter", 400)
    assert admin.describe_rotation(name).every_seconds == 2592000

    v1_call(kms, rotation_policy(name, EnableAutomaticRotation=False))
    assert v1_call(kms, describe(name))["AutomaticRotation"] == "Disabled"
    assert not admin.describe_rotation(name).enabled
    assert v1_call(kms, get(name, FetchExtendedConfig=True))["AutomaticRotation"] == "Disabled"


# -- errors -----------------------------------------------------------------------------------------


def test_error_shape(kms_server: RunningServer, kms: AcsClient, name: str) -> None:
    error = v1_error(kms, get(name))
    assert_error(error, "Forbidden.ResourceNotFound", 404)
    assert error.get_error_msg()
    # The request id is a real one, recorded in the audit log.
    assert re.match(r"^[0-9A-Za-z-]{8,}$", error.request_id)


def test_wrong_secret_is_invalid_access_key_secret(
    kms_server: RunningServer, credentials: Credentials, name: str
) -> None:
    client = v1_client(
        kms_server,
        credentials.access_key_id,
        credentials.access_key_secret + "x",
        credentials.security_token,
    )
    error = v1_error(client, get(name))
    # The server's message carries exactly the SDK's string to sign, so the SDK rewrites it.
    assert error.error_code == "InvalidAccessKeySecret"
    assert error.http_status == 400


def test_unknown_access_key(kms_server: RunningServer) -> None:
    client = v1_client(kms_server, "RK" + uuid.uuid4().hex.upper(), "whatever")
    assert_error(v1_error(client, password()), "InvalidAccessKeyId.NotFound", 404)


def test_disabled_key(kms_server: RunningServer, admin: rotor.client.Client) -> None:
    user = make_user(
        admin,
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": ["kms:GetRandomPassword"], "Resource": ["*"]}
            ],
        },
    )
    client = v1_client(kms_server, user.access_key_id, user.access_key_secret)
    assert v1_call(client, password())["RandomPassword"]
    admin.disable_access_key(user.access_key_id)
    assert_error(v1_error(client, password()), "InvalidAccessKeyId.Inactive", 400)


def test_sts_token_checks(
    kms_server: RunningServer, sts_credentials: Credentials, admin: rotor.client.Client
) -> None:
    creds = sts_credentials
    assert creds.security_token is not None
    without = v1_client(kms_server, creds.access_key_id, creds.access_key_secret)
    assert_error(v1_error(without, password()), "MissingSecurityToken", 400)
    other_role = make_role(
        admin,
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": ["kms:*"], "Resource": ["*"]}],
        },
    )
    other = assume(admin, other_role)
    wrong = v1_client(
        kms_server, creds.access_key_id, creds.access_key_secret, other.security_token
    )
    assert_error(v1_error(wrong, password()), "InvalidSecurityToken.MismatchWithAccessKey", 400)
    plain = v1_client(
        kms_server, kms_server.access_key_id, kms_server.access_key_secret, creds.security_token
    )
    assert_error(v1_error(plain, password()), "InvalidSecurityToken.MismatchWithAccessKey", 400)


@pytest.fixture
def stale_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The V1 SDK stamps its requests 20 minutes in the past."""

    def stale() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 20 * 60))

    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", stale)


@pytest.mark.usefixtures("stale_clock")
def test_stale_timestamp(kms: AcsClient) -> None:
    assert_error(v1_error(kms, password()), "IllegalTimestamp", 400)


def test_denied_action(kms_server: RunningServer, admin: rotor.client.Client, name: str) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    admin.create_secret(name, value="guarded")
    reader = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:GetSecretValue"],
                "Resource": [f"acs:kms:local:rotor:secret/{name}"],
            }
        ],
    }
    user = make_user(admin, reader)
    role = make_role(admin, reader)
    session = assume(admin, role)
    # A session policy narrows the role further: this session may not even read.
    narrowed = assume(
        admin,
        role,
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": ["kms:DescribeSecret"], "Resource": ["*"]}],
        },
    )
    for creds in (user, session):
        client = v1_client(
            kms_server, creds.access_key_id, creds.access_key_secret, creds.security_token
        )
        assert v1_call(client, get(name))["SecretData"] == "guarded"
        assert_error(v1_error(client, put(name, "v9", "evil")), "Forbidden.NoPermission", 403)
        assert_error(v1_error(client, delete(name)), "Forbidden.NoPermission", 403)
        assert_error(v1_error(client, get(name + "-other")), "Forbidden.NoPermission", 403)
        assert_error(v1_error(client, password()), "Forbidden.NoPermission", 403)
    narrow_client = v1_client(
        kms_server, narrowed.access_key_id, narrowed.access_key_secret, narrowed.security_token
    )
    assert_error(v1_error(narrow_client, get(name)), "Forbidden.NoPermission", 403)
    assert admin.get_value(name).value == "guarded"
    assert admin.get_value(name).version_id != "v9"
    denied = list(
        admin.iter_audit_events(
            action="kms:PutSecretValue", outcome="denied", secret=name, since=started
        )
    )
    assert {e.access_key_id for e in denied} == {user.access_key_id, session.access_key_id}
    assert {e.error_code for e in denied} == {"Forbidden.NoPermission"}


def test_audit_events(
    kms_server: RunningServer, admin: rotor.client.Client, credentials: Credentials, name: str
) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    kms = v1_client(
        kms_server,
        credentials.access_key_id,
        credentials.access_key_secret,
        credentials.security_token,
    )
    v1_call(kms, create(name, "audited-value", "a1"))
    v1_call(kms, get(name))
    missing = v1_error(kms, get(name, VersionStage="ACSPending"))
    bad = v1_client(
        kms_server,
        credentials.access_key_id,
        credentials.access_key_secret + "x",
        credentials.security_token,
    )
    refused = v1_error(bad, get(name))

    events = list(admin.iter_audit_events(secret=name, since=started, page_size=100))
    by_action: dict[str, list[rotor.client.AuditEvent]] = {}
    for event in events:
        by_action.setdefault(event.action, []).append(event)
    assert [e.outcome for e in by_action["kms:CreateSecret"]] == ["allowed"]
    assert by_action["kms:CreateSecret"][0].version_id == "a1"
    reads = by_action["kms:GetSecretValue"]
    assert sorted(e.outcome for e in reads if e.outcome != "unauthenticated") == [
        "allowed",
        "failed",
    ]
    failed = next(e for e in reads if e.outcome == "failed")
    assert failed.error_code == "Forbidden.ResourceNotFound"
    assert failed.request_id == missing.request_id
    assert all(e.access_key_id == credentials.access_key_id for e in events)
    assert "audited-value" not in json.dumps([repr(e) for e in events])

    rejected = list(
        admin.iter_audit_events(
            action="kms:GetSecretValue", outcome="unauthenticated", since=started, page_size=100
        )
    )
    assert refused.request_id in {e.request_id for e in rejected}
    event = next(e for e in rejected if e.request_id == refused.request_id)
    assert event.error_code == "SignatureDoesNotMatch"


def test_rotate_while_another_rotation_runs(
    kms: AcsClient, admin: rotor.client.Client, name: str, tmp_path: Path
) -> None:
    v1_call(kms, create(name, "old", "v1"))
    # An unreachable target: the new step fails and retries, so the rotation runs on.
    started = admin.configure_rotation(name, function=register_unreachable(admin, tmp_path)).started
    assert started is not None
    stuck = started.version_id
    try:
        # The same VersionId is the same rotation; another one is refused.
        assert v1_call(kms, rotate(name, stuck))["VersionId"] == stuck
        busy = v1_error(kms, rotate(name, "other"))
        assert_error(busy, "Rejected.RotationInProgress", 400)
        assert [r.version_id for r in admin.list_rotations(name).items] == [stuck]
        assert admin.list_rotations(name).items[0].status == "running"
    finally:
        admin.cancel_rotation(name)
    assert v1_call(kms, get(name))["SecretData"] == "old"
