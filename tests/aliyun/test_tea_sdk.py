"""The KMS API through the official tea SDK (``alibabacloud_kms20160120``), unmodified.

Every test runs with ACS3-HMAC-SHA256 signing (the SDK's default) and with RPC v1 signing
(``signature_algorithm='v2'``), each with the admin's plain key and with STS credentials
(``Config(security_token=...)``). The tea models parse every response: wrapped lists and
integer counts are what make them work. ``SecretData`` travels in a form body here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import string
import time
import uuid
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client as TeaKmsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils as TeaUtils

import rotor.client
from tests.aliyun.conftest import (
    Credentials,
    arn_of,
    assume,
    make_role,
    make_user,
    tea_client,
    unique_name,
)
from tests.services.server import RunningServer

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PUNCTUATION = set(string.punctuation)
FUNCTION = "generated-password"


@pytest.fixture(params=["acs3", "v2"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def kms(kms_server: RunningServer, credentials: Credentials, mode: str) -> TeaKmsClient:
    return tea_client(
        kms_server,
        credentials.access_key_id,
        credentials.access_key_secret,
        credentials.security_token,
        v2=mode == "v2",
    )


@pytest.fixture
def name() -> str:
    return unique_name("tea") + "/db"


def fails(call: Any, *args: Any, **kwargs: Any) -> ClientException:
    """Run an SDK call that must fail with a 4xx answer; the SDK's ClientException."""
    with pytest.raises(ClientException) as caught:
        call(*args, **kwargs)
    return caught.value


def assert_error(error: ClientException, code: str, status: int) -> None:
    assert (error.code, error.status_code) == (code, status), error.message
    assert error.request_id
    assert isinstance(error.data, dict)
    assert error.data["Code"] == code
    assert error.data["RequestId"] == error.request_id


def create(
    kms: TeaKmsClient, name: str, data: str = "s3cret", version_id: str = "v1", **extra: Any
) -> kms_models.CreateSecretResponseBody:
    request = kms_models.CreateSecretRequest(
        secret_name=name, version_id=version_id, secret_data=data, **extra
    )
    return kms.create_secret(request).body


def get(kms: TeaKmsClient, name: str, **extra: Any) -> kms_models.GetSecretValueResponseBody:
    return kms.get_secret_value(kms_models.GetSecretValueRequest(secret_name=name, **extra)).body


def put(
    kms: TeaKmsClient, name: str, version_id: str, data: str, **extra: Any
) -> kms_models.PutSecretValueResponseBody:
    request = kms_models.PutSecretValueRequest(
        secret_name=name, version_id=version_id, secret_data=data, **extra
    )
    return kms.put_secret_value(request).body


def stage(kms: TeaKmsClient, name: str, stage_name: str, **extra: Any) -> None:
    request = kms_models.UpdateSecretVersionStageRequest(
        secret_name=name, version_stage=stage_name, **extra
    )
    body = kms.update_secret_version_stage(request).body
    assert body.secret_name == name
    assert body.request_id


def password(kms: TeaKmsClient, **extra: Any) -> str:
    body = kms.get_random_password(kms_models.GetRandomPasswordRequest(**extra)).body
    assert body.request_id
    return str(body.random_password)


def describe(kms: TeaKmsClient, name: str, **extra: Any) -> kms_models.DescribeSecretResponseBody:
    return kms.describe_secret(kms_models.DescribeSecretRequest(secret_name=name, **extra)).body


def list_secrets(kms: TeaKmsClient, **extra: Any) -> kms_models.ListSecretsResponseBody:
    return kms.list_secrets(kms_models.ListSecretsRequest(**extra)).body


def list_versions(
    kms: TeaKmsClient, name: str, **extra: Any
) -> kms_models.ListSecretVersionIdsResponseBody:
    request = kms_models.ListSecretVersionIdsRequest(secret_name=name, **extra)
    return kms.list_secret_version_ids(request).body


def stages_of(body: Any) -> list[str]:
    assert body.version_stages is not None
    return sorted(body.version_stages.version_stage)


def names_of(body: kms_models.ListSecretsResponseBody) -> list[str]:
    return [s.secret_name for s in body.secret_list.secret]


def wait_for_rotations(admin: rotor.client.Client, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = admin.list_rotations(name).items
        if items and all(r.done for r in items):
            return
        time.sleep(0.1)
    raise AssertionError(f"rotation of {name} did not finish")


# -- CreateSecret / GetSecretValue / DescribeSecret -------------------------------------------


def test_create_and_read_text(kms: TeaKmsClient, name: str) -> None:
    tags = [{"TagKey": "team", "TagValue": "orders"}]
    extended = {"SecretSubType": "SingleUser", "CustomData": {"k": "v"}}
    value = "pässwörd with spaces + & = % ~ * \" ' \\ /"
    created = create(
        kms,
        name,
        value,
        "v-first",
        description="orders db",
        tags=json.dumps(tags),
        extended_config=extended,
    )
    assert (created.secret_name, created.version_id, created.arn) == (
        name,
        "v-first",
        arn_of(name),
    )
    assert created.secret_type == "Generic"
    assert created.request_id

    body = get(kms, name)
    assert body.secret_data == value
    assert body.secret_data_type == "text"
    assert body.version_id == "v-first"
    assert stages_of(body) == ["ACSCurrent"]
    assert TIME_RE.match(body.create_time)
    assert body.extended_config is None

    fetched = get(kms, name, fetch_extended_config=True)
    assert json.loads(fetched.extended_config) == extended
    assert fetched.automatic_rotation == "Disabled"

    described = describe(kms, name, fetch_tags="true")
    assert (described.secret_name, described.arn, described.description) == (
        name,
        arn_of(name),
        "orders db",
    )
    assert TIME_RE.match(described.create_time)
    assert TIME_RE.match(described.update_time)
    assert [(t.tag_key, t.tag_value) for t in described.tags.tag] == [("team", "orders")]
    assert json.loads(described.extended_config) == extended


def test_create_binary(kms: TeaKmsClient, admin: rotor.client.Client, name: str) -> None:
    raw = bytes(range(255, -1, -1))
    encoded = base64.b64encode(raw).decode()
    create(kms, name, encoded, secret_data_type="binary")
    body = get(kms, name)
    assert (body.secret_data_type, body.secret_data) == ("binary", encoded)
    assert admin.get_value(name).value == raw
    bad = fails(create, kms, name + "-bad", "%%%", "v1", secret_data_type="binary")
    assert_error(bad, "InvalidParameter", 400)


def test_create_conflicts_and_validation(kms: TeaKmsClient, name: str) -> None:
    create(kms, name)
    assert_error(fails(create, kms, name, "other", "v2"), "Rejected.ResourceExist", 400)
    assert get(kms, name).secret_data == "s3cret"
    bad_tags = fails(create, kms, name + "-t", "x", "v1", tags="[{]")
    assert_error(bad_tags, "InvalidParameter", 400)
    missing = fails(create, kms, name + "-m", None)
    assert_error(missing, "MissingParameter", 400)


def test_get_by_stage_and_version(kms: TeaKmsClient, name: str) -> None:
    create(kms, name, "one", "v1")
    put(kms, name, "v2", "two")
    assert get(kms, name, version_stage="ACSPrevious").secret_data == "one"
    by_id = get(kms, name, version_id="v1")
    assert (by_id.secret_data, stages_of(by_id)) == ("one", ["ACSPrevious"])
    assert get(kms, name, version_id="v2", version_stage="ACSCurrent").secret_data == "two"
    for extra in (
        {"version_id": "v1", "version_stage": "ACSCurrent"},
        {"version_stage": "ACSPending"},
        {"version_id": "nope"},
    ):
        error = fails(lambda e=extra: get(kms, name, **e))
        assert_error(error, "Forbidden.ResourceNotFound", 404)
    assert_error(fails(get, kms, name + "-missing"), "Forbidden.ResourceNotFound", 404)


# -- PutSecretValue / UpdateSecretVersionStage ----------------------------------------------------


def test_put_secret_value(kms: TeaKmsClient, name: str) -> None:
    create(kms, name, "one", "v1")
    moved = put(kms, name, "v2", "two")
    assert (moved.secret_name, moved.version_id, stages_of(moved)) == (name, "v2", ["ACSCurrent"])
    assert get(kms, name, version_stage="ACSPrevious").version_id == "v1"

    pending = put(kms, name, "v3", "three", version_stages='["ACSPending"]')
    assert stages_of(pending) == ["ACSPending"]
    assert get(kms, name).version_id == "v2"

    again = put(kms, name, "v3", "three", version_stages='["ACSPending"]')
    assert again.version_id == "v3"
    assert get(kms, name, version_stage="ACSPending").secret_data == "three"
    conflict = fails(put, kms, name, "v3", "other")
    assert_error(conflict, "Rejected.ResourceExist", 400)

    binary = base64.b64encode(b"\x00\x01\xfe").decode()
    put(kms, name, "v4", binary, secret_data_type="binary")
    current = get(kms, name)
    assert (current.version_id, current.secret_data_type, current.secret_data) == (
        "v4",
        "binary",
        binary,
    )


def test_update_version_stage(kms: TeaKmsClient, name: str) -> None:
    create(kms, name, "one", "v1")
    put(kms, name, "v2", "two")
    put(kms, name, "v3", "three")

    stage(kms, name, "ACSCurrent", move_to_version="v1", remove_from_version="v3")
    assert get(kms, name).version_id == "v1"
    assert get(kms, name, version_stage="ACSPrevious").version_id == "v3"

    stage(kms, name, "Blue", move_to_version="v2")
    assert stages_of(get(kms, name, version_stage="Blue")) == ["Blue"]
    stage(kms, name, "Blue", remove_from_version="v2")
    assert_error(
        fails(lambda: get(kms, name, version_stage="Blue")), "Forbidden.ResourceNotFound", 404
    )

    refused = fails(stage, kms, name, "ACSCurrent", remove_from_version="v1")
    assert refused.status_code == 400
    assert refused.code in ("InvalidParameter", "MissingParameter")
    assert get(kms, name).version_id == "v1"


# -- GetRandomPassword ----------------------------------------------------------------------------


def test_random_password(kms: TeaKmsClient) -> None:
    assert len(password(kms)) == 32
    assert len(password(kms, password_length="8")) == 8
    assert len(password(kms, password_length="128")) == 128
    for bad in ("7", "129", "twelve"):
        error = fails(lambda b=bad: password(kms, password_length=b))
        assert_error(error, "InvalidParameter", 400)

    options = {
        "exclude_lowercase": set(string.ascii_lowercase),
        "exclude_uppercase": set(string.ascii_uppercase),
        "exclude_numbers": set(string.digits),
        "exclude_punctuation": PUNCTUATION,
    }
    for option, forbidden in options.items():
        chars = "".join(password(kms, password_length="128", **{option: "true"}) for _ in range(3))
        assert not set(chars) & forbidden, option
    excluded = "aeiouAEIOU13579!#%"
    chars = "".join(
        password(kms, password_length="128", exclude_characters=excluded) for _ in range(3)
    )
    assert not set(chars) & set(excluded)
    for _ in range(10):
        pw = password(kms, password_length="8", require_each_included_type="true")
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
            assert set(pw) & set(group)
        assert set(pw) & PUNCTUATION


# -- ListSecrets / ListSecretVersionIds -----------------------------------------------------------


def test_list_secrets(kms: TeaKmsClient) -> None:
    prefix = unique_name("tealist")
    tag = uuid.uuid4().hex
    names = [f"{prefix}/s{i}" for i in range(3)]
    for index, secret in enumerate(names):
        tags = [{"TagKey": tag, "TagValue": str(index)}]
        create(kms, secret, tags=json.dumps(tags), description=f"d{index}-{prefix}")
    by_name = json.dumps([{"Key": "SecretName", "Values": [prefix]}])
    first = list_secrets(kms, filters=by_name, page_size=2)
    assert (first.page_number, first.page_size, first.total_count) == (1, 2, 3)
    second = list_secrets(kms, filters=by_name, page_size=2, page_number=2)
    assert second.page_number == 2
    assert sorted(names_of(first) + names_of(second)) == names
    listed = first.secret_list.secret[0]
    assert listed.secret_type == "Generic"
    assert TIME_RE.match(listed.create_time)

    tagged = list_secrets(
        kms,
        filters=json.dumps(
            [{"Key": "TagKey", "Values": [tag]}, {"Key": "TagValue", "Values": ["0", "2"]}]
        ),
        fetch_tags="true",
    )
    assert sorted(names_of(tagged)) == [names[0], names[2]]
    assert tagged.total_count == 2
    assert {
        s.secret_name: [(t.tag_key, t.tag_value) for t in s.tags.tag]
        for s in tagged.secret_list.secret
    }[names[2]] == [(tag, "2")]

    assert list_secrets(kms, filters=by_name).page_size == 10
    bad = fails(lambda: list_secrets(kms, page_size=101))
    assert_error(bad, "InvalidParameter", 400)


def test_list_secret_version_ids(kms: TeaKmsClient, name: str) -> None:
    create(kms, name, "one", "v1")
    put(kms, name, "v2", "two")
    put(kms, name, "v3", "three")
    staged = list_versions(kms, name)
    assert (staged.secret_name, staged.page_number, staged.page_size, staged.total_count) == (
        name,
        1,
        20,
        2,
    )
    found = {v.version_id: stages_of(v) for v in staged.version_ids.version_id}
    assert found == {"v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}
    everything = list_versions(kms, name, include_deprecated="true", page_size=2)
    assert everything.total_count == 3
    assert len(everything.version_ids.version_id) == 2
    rest = list_versions(kms, name, include_deprecated="true", page_size=2, page_number=2)
    assert len(rest.version_ids.version_id) == 1
    assert {
        v.version_id for v in everything.version_ids.version_id + rest.version_ids.version_id
    } == {
        "v1",
        "v2",
        "v3",
    }


# -- UpdateSecret / DeleteSecret / RestoreSecret --------------------------------------------------


def test_update_secret_description(kms: TeaKmsClient, name: str) -> None:
    create(kms, name, description="before")
    body = kms.update_secret(
        kms_models.UpdateSecretRequest(secret_name=name, description="after")
    ).body
    assert body.secret_name == name
    assert describe(kms, name).description == "after"


def test_update_secret_custom_data(kms: TeaKmsClient, name: str) -> None:
    """Tea flattens the model into ``ExtendedConfig.CustomData.<key>=<value>`` query params."""
    create(kms, name, extended_config={"SecretSubType": "x"})
    extended = kms_models.UpdateSecretRequestExtendedConfig(custom_data={"owner": "team-a"})
    kms.update_secret(kms_models.UpdateSecretRequest(secret_name=name, extended_config=extended))
    fetched = json.loads(get(kms, name, fetch_extended_config=True).extended_config)
    assert fetched["CustomData"] == {"owner": "team-a"}


def test_delete_and_restore(kms: TeaKmsClient, name: str) -> None:
    create(kms, name, "kept")
    now = dt.datetime.now(dt.UTC)
    deleted = kms.delete_secret(
        kms_models.DeleteSecretRequest(secret_name=name, recovery_window_in_days="10")
    ).body
    assert deleted.secret_name == name
    planned = dt.datetime.strptime(deleted.planned_delete_time, "%Y-%m-%dT%H:%M:%SZ")
    expected = (now + dt.timedelta(days=10)).replace(tzinfo=None)
    assert abs(planned - expected) < dt.timedelta(minutes=2)
    assert_error(fails(get, kms, name), "Rejected.ResourceInDeletion", 400)
    assert describe(kms, name).planned_delete_time == deleted.planned_delete_time

    restored = kms.restore_secret(kms_models.RestoreSecretRequest(secret_name=name)).body
    assert restored.secret_name == name
    assert get(kms, name).secret_data == "kept"

    kms.delete_secret(
        kms_models.DeleteSecretRequest(secret_name=name, force_delete_without_recovery="true")
    )
    assert_error(fails(get, kms, name), "Forbidden.ResourceNotFound", 404)
    bad = fails(
        lambda: kms.delete_secret(
            kms_models.DeleteSecretRequest(secret_name=name + "x", recovery_window_in_days="3")
        )
    )
    assert bad.status_code in (400, 404)


# -- RotateSecret / UpdateSecretRotationPolicy ----------------------------------------------------


def test_rotate_secret(kms: TeaKmsClient, admin: rotor.client.Client, name: str) -> None:
    create(kms, name, "old-value")

    def rotate(version_id: str) -> kms_models.RotateSecretResponseBody:
        request = kms_models.RotateSecretRequest(secret_name=name, version_id=version_id)
        return kms.rotate_secret(request).body

    assert_error(fails(rotate, "r1"), "UnsupportedOperation", 400)
    admin.configure_rotation(name, function=FUNCTION, rotate_now=False)
    first = rotate("r1")
    assert (first.secret_name, first.version_id, first.arn) == (name, "r1", arn_of(name))
    assert rotate("r1").version_id == "r1"
    wait_for_rotations(admin, name)
    assert [r.version_id for r in admin.list_rotations(name).items] == ["r1"]
    current = get(kms, name)
    assert current.version_id == "r1"
    assert current.secret_data != "old-value"
    assert get(kms, name, version_stage="ACSPrevious").secret_data == "old-value"


def test_rotation_policy(kms: TeaKmsClient, admin: rotor.client.Client, name: str) -> None:
    create(kms, name)

    def policy(**extra: Any) -> None:
        request = kms_models.UpdateSecretRotationPolicyRequest(secret_name=name, **extra)
        assert kms.update_secret_rotation_policy(request).body.secret_name == name

    no_function = fails(lambda: policy(enable_automatic_rotation=True, rotation_interval="7d"))
    assert_error(no_function, "UnsupportedOperation", 400)
    admin.configure_rotation(name, function=FUNCTION, rotate_now=False)
    policy(enable_automatic_rotation=True, rotation_interval="12h")
    body = get(kms, name, fetch_extended_config=True)
    assert (body.automatic_rotation, body.rotation_interval) == ("Enabled", "43200s")
    assert TIME_RE.match(body.next_rotation_date)
    assert admin.describe_rotation(name).every_seconds == 43200
    bad = fails(lambda: policy(enable_automatic_rotation=True, rotation_interval="1h"))
    assert_error(bad, "InvalidParameter", 400)
    policy(enable_automatic_rotation=False)
    assert describe(kms, name).automatic_rotation == "Disabled"


# -- errors -----------------------------------------------------------------------------------------


def test_wrong_secret(
    kms_server: RunningServer, credentials: Credentials, mode: str, name: str
) -> None:
    client = tea_client(
        kms_server,
        credentials.access_key_id,
        "not-" + credentials.access_key_secret,
        credentials.security_token,
        v2=mode == "v2",
    )
    error = fails(get, client, name)
    assert_error(error, "SignatureDoesNotMatch", 400)
    assert "server string to sign is:" in error.data["Message"]


def test_unknown_key(kms_server: RunningServer, mode: str) -> None:
    client = tea_client(kms_server, "RK" + uuid.uuid4().hex.upper(), "x", v2=mode == "v2")
    assert_error(fails(password, client), "InvalidAccessKeyId.NotFound", 404)


def test_session_key_without_token(
    kms_server: RunningServer, sts_credentials: Credentials, mode: str
) -> None:
    creds = sts_credentials
    client = tea_client(kms_server, creds.access_key_id, creds.access_key_secret, v2=mode == "v2")
    assert_error(fails(password, client), "MissingSecurityToken", 400)
    plain = tea_client(
        kms_server,
        kms_server.access_key_id,
        kms_server.access_key_secret,
        creds.security_token,
        v2=mode == "v2",
    )
    assert_error(fails(password, plain), "InvalidSecurityToken.MismatchWithAccessKey", 400)


def test_stale_timestamp(kms: TeaKmsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def stale() -> str:
        when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    monkeypatch.setattr(TeaUtils, "get_timestamp", staticmethod(stale))
    assert_error(fails(password, kms), "IllegalTimestamp", 400)
    monkeypatch.undo()
    assert len(password(kms)) == 32


def test_denied(
    kms_server: RunningServer, admin: rotor.client.Client, mode: str, name: str
) -> None:
    admin.create_secret(name, value="guarded")
    document = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:GetSecretValue", "kms:DescribeSecret"],
                "Resource": [arn_of(name)],
            }
        ],
    }
    user = make_user(admin, document)
    session = assume(admin, make_role(admin, document))
    for creds in (user, session):
        client = tea_client(
            kms_server,
            creds.access_key_id,
            creds.access_key_secret,
            creds.security_token,
            v2=mode == "v2",
        )
        assert get(client, name).secret_data == "guarded"
        assert describe(client, name).secret_name == name
        assert_error(fails(put, client, name, "v2", "x"), "Forbidden.NoPermission", 403)
        # Listing is filtered, not refused: nothing this caller may list.
        only = json.dumps([{"Key": "SecretName", "Values": [name]}])
        assert list_secrets(client, filters=only).total_count == 0
        assert_error(fails(create, client, name + "-new"), "Forbidden.NoPermission", 403)
    assert admin.get_value(name).value == "guarded"


def test_audit(
    kms_server: RunningServer,
    admin: rotor.client.Client,
    kms: TeaKmsClient,
    credentials: Credentials,
    name: str,
) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    create(kms, name, "audited")
    get(kms, name)
    put(kms, name, "v2", "audited-2")
    events = list(admin.iter_audit_events(secret=name, since=started, page_size=100))
    actions = sorted((e.action, e.outcome) for e in events)
    assert actions == [
        ("kms:CreateSecret", "allowed"),
        ("kms:GetSecretValue", "allowed"),
        ("kms:PutSecretValue", "allowed"),
    ]
    assert {e.access_key_id for e in events} == {credentials.access_key_id}
    assert all(e.request_id for e in events)
