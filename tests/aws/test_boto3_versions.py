"""The AWS dialect's operations on descriptions, versions, stages, deletion and random
passwords, driven by boto3 against the session's ``rotor serve``."""

from __future__ import annotations

import string
from typing import Any

import pytest

from tests.aws.conftest import name as _name


def test_describe_shows_versions_to_stages_and_tags(client: Any) -> None:
    name = _name()
    first = client.create_secret(
        Name=name, SecretString="one", Description="d", Tags=[{"Key": "team", "Value": "a"}]
    )["VersionId"]
    second = client.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
    described = client.describe_secret(SecretId=name)
    assert described["Name"] == name
    assert described["Description"] == "d"
    assert described["Tags"] == [{"Key": "team", "Value": "a"}]
    assert described["VersionIdsToStages"] == {
        first: ["AWSPREVIOUS"],
        second: ["AWSCURRENT"],
    }


def test_list_version_ids_pages_with_next_token(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    client.put_secret_value(SecretId=name, SecretString="two")
    first = client.list_secret_version_ids(SecretId=name, MaxResults=1)
    assert len(first["Versions"]) == 1
    assert first["NextToken"]
    rest = client.list_secret_version_ids(SecretId=name, MaxResults=1, NextToken=first["NextToken"])
    stages = [v["VersionStages"] for v in first["Versions"] + rest["Versions"]]
    assert stages == [["AWSCURRENT"], ["AWSPREVIOUS"]]


def test_update_version_stage_moves_current_back(client: Any) -> None:
    name = _name()
    first = client.create_secret(Name=name, SecretString="one")["VersionId"]
    second = client.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
    client.update_secret_version_stage(
        SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=first, RemoveFromVersionId=second
    )
    assert client.get_secret_value(SecretId=name)["SecretString"] == "one"
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.update_secret_version_stage(
            SecretId=name, VersionStage="AWSCURRENT", RemoveFromVersionId=first
        )


def test_delete_with_a_recovery_window_then_restore(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    deleted = client.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert deleted["DeletionDate"].tzinfo is not None
    with pytest.raises(client.exceptions.InvalidRequestException):
        client.get_secret_value(SecretId=name)
    client.restore_secret(SecretId=name)
    assert client.get_secret_value(SecretId=name)["SecretString"] == "one"
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.delete_secret(SecretId=name, RecoveryWindowInDays=6)


def test_force_delete_without_recovery(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="one")
    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_secret(SecretId=name)


def test_random_password_honours_the_exclusions(client: Any) -> None:
    password = client.get_random_password(
        PasswordLength=40, ExcludePunctuation=True, ExcludeCharacters="abc"
    )["RandomPassword"]
    assert len(password) == 40
    assert not set(password) & (set(string.punctuation) | set("abc"))
