"""UpdateSecret, TagResource, UntagResource, ClientRequestToken idempotency, and the
operations rotor refuses, through boto3 against the session's ``rotor serve``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.aws import test_boto3_listing
from tests.aws.conftest import name as _name
from tests.aws.test_boto3_listing import MakeCaller

caller = test_boto3_listing.caller  # the fixture: a client of a user allowed what it is given


def _versions(client: Any, name: str) -> dict[str, list[str]]:
    listed = client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)
    return {v["VersionId"]: v["VersionStages"] for v in listed["Versions"]}


def test_update_changes_the_description_and_writes_a_new_current_version(client: Any) -> None:
    name = _name()
    first = client.create_secret(Name=name, SecretString="one", Description="old")["VersionId"]
    answer = client.update_secret(SecretId=name, Description="new")
    assert "VersionId" not in answer
    assert client.describe_secret(SecretId=name)["Description"] == "new"
    assert _versions(client, name) == {first: ["AWSCURRENT"]}
    token = str(uuid.uuid4())
    second = client.update_secret(
        SecretId=name, SecretString="two", ClientRequestToken=token, KmsKeyId="alias/ignored"
    )
    assert second["VersionId"] == token
    assert client.get_secret_value(SecretId=name)["SecretString"] == "two"
    assert _versions(client, name) == {token: ["AWSCURRENT"], first: ["AWSPREVIOUS"]}
    binary = client.update_secret(SecretId=name, SecretBinary=b"\x00\x01")
    assert client.get_secret_value(SecretId=name)["SecretBinary"] == b"\x00\x01"
    assert client.get_secret_value(SecretId=name)["VersionId"] == binary["VersionId"]


@pytest.mark.parametrize("operation", ["put_secret_value", "update_secret"])
def test_a_token_sent_again_with_its_value_changes_nothing_with_another_is_refused(
    client: Any, operation: str
) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    write = getattr(client, operation)
    token = str(uuid.uuid4())
    assert write(SecretId=name, SecretString="two", ClientRequestToken=token)["VersionId"] == token
    before = _versions(client, name)
    assert write(SecretId=name, SecretString="two", ClientRequestToken=token)["VersionId"] == token
    assert _versions(client, name) == before
    with pytest.raises(client.exceptions.ResourceExistsException):
        write(SecretId=name, SecretString="other", ClientRequestToken=token)
    with pytest.raises(client.exceptions.ResourceExistsException):
        write(SecretId=name, SecretBinary=b"two", ClientRequestToken=token)
    assert _versions(client, name) == before
    assert client.get_secret_value(SecretId=name)["SecretString"] == "two"


def test_create_sent_again_with_its_token_and_value_answers_as_the_first(client: Any) -> None:
    name = _name()
    token = str(uuid.uuid4())
    first = client.create_secret(Name=name, SecretString="one", ClientRequestToken=token)
    again = client.create_secret(Name=name, SecretString="one", ClientRequestToken=token)
    assert (again["ARN"], again["VersionId"]) == (first["ARN"], token)
    assert _versions(client, name) == {token: ["AWSCURRENT"]}
    with pytest.raises(client.exceptions.ResourceExistsException):
        client.create_secret(Name=name, SecretString="other", ClientRequestToken=token)
    with pytest.raises(client.exceptions.ResourceExistsException):
        client.create_secret(Name=name, SecretString="one")  # the SDK draws another token


def test_a_new_value_through_update_needs_the_right_to_put_one(
    client: Any, caller: MakeCaller
) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    updater = caller(("kms:UpdateSecret", name))
    updater.update_secret(SecretId=name, Description="mine")
    with pytest.raises(client.exceptions.ClientError) as caught:
        updater.update_secret(SecretId=name, SecretString="two")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert client.get_secret_value(SecretId=name)["SecretString"] == "one"
    reader = caller(("kms:GetSecretValue", name))
    with pytest.raises(client.exceptions.ClientError) as caught:
        reader.tag_resource(SecretId=name, Tags=[{"Key": "k", "Value": "v"}])
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(client.exceptions.ClientError) as caught:
        reader.untag_resource(SecretId=name, TagKeys=["k"])
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    updater.tag_resource(SecretId=name, Tags=[{"Key": "k", "Value": "v"}])
    assert client.describe_secret(SecretId=name)["Tags"] == [{"Key": "k", "Value": "v"}]


def test_tags_are_added_replaced_and_removed(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="v", Tags=[{"Key": "a", "Value": "1"}])
    client.tag_resource(
        SecretId=name, Tags=[{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}]
    )
    tags = client.describe_secret(SecretId=name)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "2"), ("b", "3")]
    client.untag_resource(SecretId=name, TagKeys=["a", "not-there"])
    assert client.describe_secret(SecretId=name)["Tags"] == [{"Key": "b", "Value": "3"}]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.tag_resource(SecretId=name, Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(51)])
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.tag_resource(SecretId=_name(), Tags=[{"Key": "a", "Value": "1"}])


@pytest.mark.parametrize(
    ("operation", "fields", "says"),
    [
        ("get_resource_policy", {}, "rotor's own"),
        ("put_resource_policy", {"ResourcePolicy": "{}"}, "rotor's own"),
        ("delete_resource_policy", {}, "rotor's own"),
        ("validate_resource_policy", {"ResourcePolicy": "{}"}, "rotor's own"),
        ("replicate_secret_to_regions", {"AddReplicaRegions": [{"Region": "x"}]}, "replicate"),
        ("remove_regions_from_replication", {"RemoveReplicaRegions": ["x"]}, "replicate"),
        ("stop_replication_to_replica", {}, "replicate"),
    ],
)
def test_resource_policies_and_replication_are_refused_saying_why(
    client: Any, operation: str, fields: dict[str, Any], says: str
) -> None:
    with pytest.raises(client.exceptions.InvalidRequestException) as caught:
        getattr(client, operation)(SecretId=_name(), **fields)
    message = caught.value.response["Error"]["Message"]
    assert says in message
    assert "docs/reference/aws-api.md#" in message
    assert "yet" not in message


def test_an_update_refused_for_its_description_writes_no_value(client: Any) -> None:
    name = _name()
    first = client.create_secret(Name=name, SecretString="one", Description="old")["VersionId"]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.update_secret(SecretId=name, SecretString="two", Description="x" * 2049)
    assert _versions(client, name) == {first: ["AWSCURRENT"]}
    assert client.get_secret_value(SecretId=name)["SecretString"] == "one"
    assert client.describe_secret(SecretId=name)["Description"] == "old"
