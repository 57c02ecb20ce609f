"""Secret ARNs in AWS form, in every answer and as a SecretId, driven by boto3 against the
session's ``rotor serve``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.aws.conftest import name as _name

ARN_RE = re.compile(r"arn:aws:secretsmanager:([^:]+):([^:]+):secret:(.+)-([A-Za-z0-9]{6})")


def _parts(arn: str) -> tuple[str, ...]:
    found = ARN_RE.fullmatch(arn)
    assert found is not None, arn
    return found.groups()


def test_every_answer_names_the_secret_by_the_same_arn(client: Any) -> None:
    name = _name()
    created = client.create_secret(Name=name, SecretString="one")
    arn = created["ARN"]
    assert _parts(arn)[2] == name
    first = created["VersionId"]
    second = client.put_secret_value(SecretId=name, SecretString="two")
    answers = [
        second,
        client.get_secret_value(SecretId=name),
        client.describe_secret(SecretId=name),
        client.list_secret_version_ids(SecretId=name),
        client.update_secret_version_stage(
            SecretId=name, VersionStage="custom", MoveToVersionId=first
        ),
        client.update_secret(SecretId=name, Description="d"),
        client.delete_secret(SecretId=name, RecoveryWindowInDays=7),
        client.restore_secret(SecretId=name),
    ]
    assert [a["ARN"] for a in answers] == [arn] * len(answers)
    listed = client.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    assert [s["ARN"] for s in listed] == [arn]
    got = client.batch_get_secret_value(SecretIdList=[name])["SecretValues"]
    assert [v["ARN"] for v in got] == [arn]
    assert client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)["ARN"] == arn


def test_a_complete_or_partial_arn_is_a_secret_id(client: Any) -> None:
    name = _name()
    arn = client.create_secret(Name=name, SecretString="one")["ARN"]
    partial = arn[: -len("-XXXXXX")]
    for value, secret_id in (("two", arn), ("three", partial)):
        client.put_secret_value(SecretId=secret_id, SecretString=value)
        assert client.get_secret_value(SecretId=secret_id)["SecretString"] == value
        assert client.describe_secret(SecretId=secret_id)["Name"] == name
    client.tag_resource(SecretId=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert client.describe_secret(SecretId=name)["Tags"] == [{"Key": "k", "Value": "v"}]


def test_an_arn_of_another_suffix_region_or_account_names_no_secret(client: Any) -> None:
    name = _name()
    arn = client.create_secret(Name=name, SecretString="one")["ARN"]
    region, account, _, suffix = _parts(arn)
    other_suffix = ("A" if suffix[0] != "A" else "B") + suffix[1:]
    for wrong in (
        arn[: -len(suffix)] + other_suffix,
        arn.replace(f":{region}:", ":xx-nowhere-1:"),
        arn.replace(f":{account}:", ":000000000000:"),
        arn.replace("arn:aws:", "arn:aws-cn:"),
    ):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_secret_value(SecretId=wrong)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.describe_secret(SecretId=wrong)


def test_a_secret_created_again_under_its_name_has_another_arn(client: Any) -> None:
    name = _name()
    old = client.create_secret(Name=name, SecretString="one")["ARN"]
    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    new = client.create_secret(Name=name, SecretString="two")["ARN"]
    assert new != old
    assert _parts(new)[2] == name
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_secret_value(SecretId=old)
    assert client.get_secret_value(SecretId=new)["SecretString"] == "two"


def test_a_name_that_ends_like_a_suffix_is_found_through_its_partial_arn(client: Any) -> None:
    base = _name()
    name = f"{base}-abcDE1"
    arn = client.create_secret(Name=name, SecretString="one")["ARN"]
    assert _parts(arn)[2] == name
    partial = arn[: -len("-XXXXXX")]
    assert partial.endswith(":" + name)
    assert client.get_secret_value(SecretId=partial)["Name"] == name
    assert client.get_secret_value(SecretId=arn)["Name"] == name
    # Its partial ARN read as a complete one would name the secret "base": there is none.
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_secret_value(SecretId=partial[: -len("-abcDE1")])


def test_a_secret_named_like_another_ones_arn_tail_is_not_confused_with_it(
    client: Any,
) -> None:
    base = _name()
    arn = client.create_secret(Name=base, SecretString="base")["ARN"]
    suffix = _parts(arn)[3]
    # A secret whose name is the other's name and suffix: the complete ARN wins, as at AWS.
    lookalike = client.create_secret(Name=f"{base}-{suffix}", SecretString="lookalike")
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "base"
    assert client.get_secret_value(SecretId=lookalike["ARN"])["SecretString"] == "lookalike"
    assert client.get_secret_value(SecretId=f"{base}-{suffix}")["SecretString"] == "lookalike"
