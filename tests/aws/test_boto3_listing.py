"""ListSecrets and BatchGetSecretValue through boto3 against the session's ``rotor serve``:
filters, pagination (the SDK's paginator too), and, first, that neither names or reads a
secret the caller may not list or read."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import rotor.client
from tests.aws.conftest import name as _name
from tests.aws.conftest import sm_client
from tests.services.server import RunningServer

Statement = tuple[str, str]  # (action, secret name pattern)
MakeCaller = Callable[..., Any]


@pytest.fixture
def caller(rotor_server: RunningServer, admin: rotor.client.Client) -> MakeCaller:
    """A boto3 client of a new user allowed each (action, secret name pattern) given."""

    def make(*allowed: Statement) -> Any:
        user = _name()
        admin.create_principal(user)
        statements = [
            {"Effect": "Allow", "Action": action, "Resource": f"acs:kms:*:*:secret/{pattern}"}
            for action, pattern in allowed
        ]
        admin.put_policy(user, {"Version": "1", "Statement": statements})
        admin.attach_policy(user, user)
        key = admin.create_access_key(user)
        return sm_client(rotor_server, key.access_key_id, key.access_key_secret)

    return make


def _names(answer: dict[str, Any]) -> list[str]:
    return [s["Name"] for s in answer["SecretList"]]


def _by_name(client: Any, prefix: str, **more: Any) -> list[str]:
    return _names(client.list_secrets(Filters=[{"Key": "name", "Values": [prefix]}], **more))


def test_a_caller_lists_only_the_secrets_it_may_list(client: Any, caller: MakeCaller) -> None:
    base = _name()
    for suffix in ("open/a", "open/b", "closed/c"):
        client.create_secret(Name=f"{base}/{suffix}", SecretString="v", Description="shared")
    lister = caller(("kms:ListSecrets", f"{base}/open/*"))
    assert _by_name(lister, base) == [f"{base}/open/a", f"{base}/open/b"]
    # No filter reaches past what it may list: not a search of every word...
    words = [{"Key": "all", "Values": ["closed"]}]
    assert _names(lister.list_secrets(Filters=words)) == []
    # ...nor a negation, nor the paginator.
    negated = [{"Key": "name", "Values": [base]}, {"Key": "name", "Values": [f"!{base}/open"]}]
    assert _names(lister.list_secrets(Filters=negated)) == []
    pages = lister.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "description", "Values": ["shared"]}], PaginationConfig={"PageSize": 1}
    )
    seen = [s["Name"] for page in pages for s in page["SecretList"]]
    assert f"{base}/closed/c" not in seen
    assert {f"{base}/open/a", f"{base}/open/b"} <= set(seen)
    assert _by_name(client, base) == [f"{base}/open/a", f"{base}/open/b", f"{base}/closed/c"]


def test_filters_match_prefixes_negations_and_words(client: Any) -> None:
    base = _name()
    client.create_secret(
        Name=f"{base}/db",
        SecretString="v",
        Description="Primary Database",
        Tags=[{"Key": "team", "Value": "payments"}],
    )
    client.create_secret(
        Name=f"{base}/api", SecretString="v", Tags=[{"Key": "owner", "Value": "web"}]
    )

    def listed(*filters: tuple[str, list[str]]) -> list[str]:
        chosen = [{"Key": "name", "Values": [base]}]
        chosen += [{"Key": k, "Values": v} for k, v in filters]
        return sorted(_names(client.list_secrets(Filters=chosen)))

    db, api = f"{base}/db", f"{base}/api"
    assert listed(("name", [f"{base}/d"])) == [db]
    assert listed(("name", [f"{base}/D"])) == []  # name: case-sensitive
    assert listed(("description", ["primary data"])) == [db]  # description: any case
    assert listed(("tag-key", ["te"])) == [db]
    assert listed(("tag-value", ["we"])) == [api]
    assert listed(("tag-key", ["team", "owner"])) == [api, db]  # values: any of them
    assert listed(("tag-key", ["!team"])) == [api]
    assert listed(("all", ["databases"])) == []
    assert listed(("all", ["DATA"])) == [db]  # words: the start of one, in any case
    assert listed(("all", ["webPayments"])) == [api, db]
    assert listed(("primary-region", ["us"])) == []  # rotor replicates nothing
    assert listed(("owning-service", ["!rds"])) == [api, db]


def test_list_sorts_pages_and_includes_planned_deletions_when_asked(client: Any) -> None:
    base = _name()
    made = [f"{base}/{n}" for n in ("c", "a", "b")]
    for name in made:
        client.create_secret(Name=name, SecretString="v")
    assert _by_name(client, base) == made  # by creation, oldest first
    assert _by_name(client, base, SortOrder="desc") == made[::-1]
    assert _by_name(client, base, SortBy="name") == sorted(made)
    first = client.list_secrets(Filters=[{"Key": "name", "Values": [base]}], MaxResults=2)
    assert _names(first) == made[:2]
    rest = client.list_secrets(
        Filters=[{"Key": "name", "Values": [base]}], MaxResults=2, NextToken=first["NextToken"]
    )
    assert _names(rest) == made[2:]
    assert "NextToken" not in rest
    pages = client.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [base]}], PaginationConfig={"PageSize": 1}
    )
    assert [_names(p) for p in pages] == [[n] for n in made]
    client.delete_secret(SecretId=made[0], RecoveryWindowInDays=7)
    assert _by_name(client, base) == made[1:]
    planned = client.list_secrets(
        Filters=[{"Key": "name", "Values": [base]}], IncludePlannedDeletion=True
    )["SecretList"]
    assert [s["Name"] for s in planned] == made
    assert planned[0]["DeletedDate"].tzinfo is not None


def test_list_entries_carry_what_describe_says(client: Any) -> None:
    name = _name()
    first = client.create_secret(
        Name=name, SecretString="one", Description="d", Tags=[{"Key": "k", "Value": "v"}]
    )
    second = client.put_secret_value(SecretId=name, SecretString="two")
    (entry,) = client.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    assert entry["ARN"] == first["ARN"]
    assert (entry["Description"], entry["Tags"]) == ("d", [{"Key": "k", "Value": "v"}])
    assert entry["SecretVersionsToStages"] == {
        first["VersionId"]: ["AWSPREVIOUS"],
        second["VersionId"]: ["AWSCURRENT"],
    }
    assert entry["CreatedDate"] <= entry["LastChangedDate"]


def test_bad_filters_tokens_and_sizes_are_refused(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_secrets(Filters=[{"Key": "colour", "Values": ["red"]}])
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_secrets(Filters=[{"Key": "name", "Values": ["semi;colon"]}])
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_secrets(MaxResults=101)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_secrets(SortBy="last-accessed-date")
    with pytest.raises(client.exceptions.InvalidNextTokenException):
        client.list_secrets(NextToken="not-a-token")


def _audit_events(
    admin: rotor.client.Client, name: str, request_id: str
) -> list[rotor.client.AuditEvent]:
    """The secret's audit events of the request (polled: the log is written in the background)."""
    deadline = time.monotonic() + 30
    while True:
        events = [e for e in admin.iter_audit_events(secret=name) if e.request_id == request_id]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_batch_reads_each_secret_it_may_and_names_the_others_failures(
    client: Any, caller: MakeCaller, admin: rotor.client.Client
) -> None:
    base = _name()
    for suffix in ("a", "b", "hidden"):
        client.create_secret(Name=f"{base}/{suffix}", SecretString=suffix)
    arn_b = client.describe_secret(SecretId=f"{base}/b")["ARN"]
    reader = caller(("kms:GetSecretValue", f"{base}/a"), ("kms:GetSecretValue", f"{base}/b"))
    got = reader.batch_get_secret_value(
        SecretIdList=[f"{base}/a", arn_b, f"{base}/hidden", f"{base}/missing"]
    )
    assert [(v["Name"], v["SecretString"]) for v in got["SecretValues"]] == [
        (f"{base}/a", "a"),
        (f"{base}/b", "b"),
    ]
    assert got["SecretValues"][1]["ARN"] == arn_b
    assert got["SecretValues"][0]["VersionStages"] == ["AWSCURRENT"]
    # Denied whether or not the secret exists: a denial says nothing of existence.
    assert [(e["SecretId"], e["ErrorCode"]) for e in got["Errors"]] == [
        (f"{base}/hidden", "AccessDeniedException"),
        (f"{base}/missing", "AccessDeniedException"),
    ]
    assert all(e["Message"] for e in got["Errors"])
    # The audit trail has each read under the batch's request id, as its own read would.
    request_id = got["ResponseMetadata"]["RequestId"]
    for suffix, outcome in (("a", "allowed"), ("b", "allowed"), ("hidden", "denied")):
        events = _audit_events(admin, f"{base}/{suffix}", request_id)
        assert [(e.action, e.outcome) for e in events] == [("kms:GetSecretValue", outcome)]
    assert events[0].error_code == "AccessDeniedException"
    missing = client.batch_get_secret_value(SecretIdList=[f"{base}/missing"])["Errors"]
    assert [e["ErrorCode"] for e in missing] == ["ResourceNotFoundException"]


def test_batch_with_filters_reads_only_listable_secrets_a_page_at_a_time(
    client: Any, caller: MakeCaller
) -> None:
    base = _name()
    for suffix in ("a", "b", "c", "hidden"):
        client.create_secret(Name=f"{base}/{suffix}", SecretString=suffix)
    reader = caller(
        ("kms:ListSecrets", f"{base}/?"),
        ("kms:GetSecretValue", f"{base}/a"),
        ("kms:GetSecretValue", f"{base}/b"),
    )
    by_name = [{"Key": "name", "Values": [base]}]
    first = reader.batch_get_secret_value(Filters=by_name, MaxResults=2)
    assert [v["SecretString"] for v in first["SecretValues"]] == ["a", "b"]
    assert first["Errors"] == []
    rest = reader.batch_get_secret_value(
        Filters=by_name, MaxResults=2, NextToken=first["NextToken"]
    )
    assert rest["SecretValues"] == []
    # c may be listed, not read; hidden may not even be listed, so it is never named.
    assert [(e["SecretId"], e["ErrorCode"]) for e in rest["Errors"]] == [
        (f"{base}/c", "AccessDeniedException")
    ]
    assert "NextToken" not in rest


def test_batch_needs_ids_or_filters_not_both(client: Any) -> None:
    name = _name()
    client.create_secret(Name=name, SecretString="v")
    by_name = [{"Key": "name", "Values": [name]}]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.batch_get_secret_value(SecretIdList=[name], Filters=by_name)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.batch_get_secret_value()
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.batch_get_secret_value(SecretIdList=[f"{name}{n}" for n in range(21)])
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.batch_get_secret_value(SecretIdList=[name], MaxResults=1)
