"""Policies decide what a key may do, against a real server: default deny, Deny wins,
listings show only what may be listed, and each decision is in the audit log."""

from __future__ import annotations

import datetime as dt

import pytest

import rotor.client
from rotor import errors
from tests.access.conftest import (
    REFERENCE_MYSQL_POLICY,
    REFERENCE_RDS_POLICY,
    World,
    allow,
    assert_no_value_in,
    events_of,
    secrets_of,
)


def test_a_read_only_key_reads_its_secrets_and_nothing_else(world: World) -> None:
    app, other = world.name("app"), world.name("other")
    app_value, other_value = f"app-value-{world.uid}", f"other-value-{world.uid}"
    world.admin.create_secret(f"{app}/db", value=app_value)
    world.admin.create_secret(f"{other}/db", value=other_value)
    started = dt.datetime.now(dt.UTC)
    reader = world.actor("reader", allow(("Allow", ["kms:GetSecretValue"], [secrets_of(app)])))

    with reader.client() as client:
        assert client.get_value(f"{app}/db").value == app_value
        with pytest.raises(errors.AccessDenied) as denied:
            client.get_value(f"{other}/db")
        assert reader.name in denied.value.message
        with pytest.raises(errors.AccessDenied):
            client.put_value(f"{app}/db", "overwritten")
        with pytest.raises(errors.AccessDenied):
            client.rotate_secret(f"{app}/db")
        with pytest.raises(errors.AccessDenied):
            client.configure_rotation(f"{app}/db", function="generated-password")
        with pytest.raises(errors.AccessDenied):
            client.create_principal(world.name("escalate"))
        with pytest.raises(errors.AccessDenied):
            client.list_audit_events()
    assert world.admin.get_value(f"{app}/db").value == app_value

    events = events_of(world.admin, principal=reader.name, since=started)
    seen = {(e.action, e.secret, e.outcome) for e in events}
    assert ("kms:GetSecretValue", f"{app}/db", "allowed") in seen
    assert ("kms:GetSecretValue", f"{other}/db", "denied") in seen
    assert ("kms:PutSecretValue", f"{app}/db", "denied") in seen
    assert ("kms:RotateSecret", f"{app}/db", "denied") in seen
    assert ("kms:UpdateSecretRotationPolicy", f"{app}/db", "denied") in seen
    assert ("rotor:CreatePrincipal", None, "denied") in seen
    assert ("rotor:ListAuditEvents", None, "denied") in seen
    assert all(e.access_key_id == reader.key.access_key_id for e in events)
    denied_events = [e for e in events if e.outcome == "denied"]
    assert {e.error_code for e in denied_events} == {"AccessDenied"}
    assert_no_value_in(events, app_value, other_value, reader.key.access_key_secret)


def test_an_explicit_deny_beats_any_allow(world: World) -> None:
    app = world.name("app")
    for leaf in ("db", "root", "audit"):
        world.admin.create_secret(f"{app}/{leaf}", value=f"{leaf}-{world.uid}")
    actor = world.actor(
        "denied",
        allow(
            ("Allow", ["kms:*"], ["*"]),
            ("Deny", ["kms:GetSecretValue"], [f"acs:kms:*:*:secret/{app}/r??t"]),
        ),
        # A Deny in another policy attached to the same principal wins as well.
        allow(("Deny", ["KMS:getsecretvalue"], [f"acs:kms:*:*:secret/{app}/audit"])),
    )
    with actor.client() as client:
        assert client.get_value(f"{app}/db").value == f"db-{world.uid}"
        for leaf in ("root", "audit"):
            with pytest.raises(errors.AccessDenied):
                client.get_value(f"{app}/{leaf}")
        # Deny is for reading only: the Allow still grants the rest.
        client.put_value(f"{app}/root", "new-root")
        assert client.describe_secret(f"{app}/root").name == f"{app}/root"

    events = events_of(world.admin, principal=actor.name, action="kms:GetSecretValue")
    assert {(e.secret, e.outcome) for e in events} == {
        (f"{app}/db", "allowed"),
        (f"{app}/root", "denied"),
        (f"{app}/audit", "denied"),
    }


def test_a_change_of_policy_applies_to_the_next_request(world: World) -> None:
    app = world.name("app")
    world.admin.create_secret(f"{app}/db", value="v")
    actor = world.actor("changing", allow(("Allow", ["kms:GetSecretValue"], [secrets_of(app)])))
    policy = f"{actor.name}-p0"
    with actor.client() as client:
        assert client.get_value(f"{app}/db").value == "v"
        world.admin.put_policy(policy, allow(("Allow", ["kms:DescribeSecret"], [secrets_of(app)])))
        with pytest.raises(errors.AccessDenied):
            client.get_value(f"{app}/db")
        world.admin.put_policy(policy, allow(("Allow", ["kms:*"], [secrets_of(app)])))
        assert client.get_value(f"{app}/db").value == "v"
        world.admin.detach_policy(policy, actor.name)
        with pytest.raises(errors.AccessDenied):
            client.get_value(f"{app}/db")
        world.admin.attach_policy(policy, actor.name)
        assert client.get_value(f"{app}/db").value == "v"


def test_a_listing_shows_only_the_secrets_the_key_may_list(world: World) -> None:
    app, other = world.name("app"), world.name("other")
    for name in (f"{app}/a", f"{app}/b", f"{other}/a"):
        world.admin.create_secret(name, value="v")
    lister = world.actor("lister", allow(("Allow", ["kms:ListSecrets"], [secrets_of(app)])))
    with lister.client() as client:
        everything = [s.name for s in client.iter_secrets(page_size=100)]
        assert f"{app}/a" in everything
        assert f"{app}/b" in everything
        assert f"{other}/a" not in everything
        assert all(name.startswith(f"{app}/") for name in everything)
        assert [s.name for s in client.list_secrets(prefix=other).items] == []
        # Listing is not reading.
        with pytest.raises(errors.AccessDenied):
            client.get_value(f"{app}/a")
    listed = events_of(world.admin, principal=lister.name, action="kms:ListSecrets")
    assert listed
    assert {e.outcome for e in listed} == {"allowed"}


def test_a_key_with_no_policy_may_do_nothing(world: World) -> None:
    app = world.name("app")
    world.admin.create_secret(f"{app}/db", value="v")
    nobody = world.actor("nobody")
    with nobody.client() as client:
        with pytest.raises(errors.AccessDenied):
            client.get_value(f"{app}/db")
        with pytest.raises(errors.AccessDenied):
            client.generate_password()
        assert client.list_secrets(prefix=app).items == ()
        # Knowing who you are needs no permission.
        me = client.get_caller_identity()
    assert me.principal == nobody.name
    assert me.policies == ()


@pytest.mark.parametrize(
    ("document", "unmatched"),
    [
        (
            REFERENCE_RDS_POLICY,
            (
                "rds:GrantAccountPrivilege",
                "rds:DescribeAccounts",
                "rds:ResetAccountPassword",
                "rds:CreateAccount",
            ),
        ),
        (REFERENCE_MYSQL_POLICY, ("kms:Decrypt", "kms:GenerateDataKey")),
    ],
    ids=["rds", "mysql"],
)
def test_the_reference_policies_are_accepted_as_written(
    world: World, document: str, unmatched: tuple[str, ...]
) -> None:
    name = world.name("reference")
    created = world.admin.put_policy(name, document, description="from the reference")
    assert created.created is True
    assert created.unmatched_actions == unmatched
    shown = world.admin.get_policy(name)
    assert shown.unmatched_actions == unmatched
    assert shown.document["Statement"][0]["Action"][0] == "kms:GetSecretValue"

    # And they do what they say: a function's role with one of them reads, writes and
    # moves stages of any secret, generates passwords, and nothing else.
    app = world.name("app")
    world.admin.create_secret(f"{app}/db", value="v1")
    function = world.actor("function", document)
    with function.client() as client:
        assert client.get_value(f"{app}/db").value == "v1"
        version = client.put_value(f"{app}/db", "v2", stages=["Pending"])
        client.update_stage(f"{app}/db", "Current", move_to_version=version.version_id)
        assert client.generate_password(length=20)
        with pytest.raises(errors.AccessDenied):
            client.delete_secret(f"{app}/db", force=True)
        with pytest.raises(errors.AccessDenied):
            client.rotate_secret(f"{app}/db")
    assert world.admin.get_value(f"{app}/db").value == "v2"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('{"Version": "1", "Statement": [', "not valid JSON"),
        ("[]", "a policy is a JSON object"),
        ('{"Version": "2", "Statement": []}', '"Version" must be "1"'),
        ('{"Version": "1", "Statement": []}', 'non-empty "Statement"'),
        ('{"Version": "1", "Statment": []}', "unknown policy field(s): Statment"),
        (
            '{"Version": "1", "Statement": [{"Effect": "Permit", "Action": "kms:*", '
            '"Resource": "*"}]}',
            '"Effect" must be "Allow" or "Deny"',
        ),
        (
            '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "GetSecretValue", '
            '"Resource": "*"}]}',
            "action 'GetSecretValue' is not service:Name",
        ),
        (
            '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["kms:Get Value"], '
            '"Resource": "*"}]}',
            "action 'kms:Get Value' is not service:Name",
        ),
        (
            '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", '
            '"Resource": "secret/app db"}]}',
            "resource 'secret/app db' must be",
        ),
        (
            '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", '
            '"Resource": []}]}',
            "Statement[0].Resource must be a string or a non-empty list",
        ),
    ],
)
def test_invalid_policies_are_refused_naming_the_problem(
    world: World, document: str, problem: str
) -> None:
    name = world.name("invalid")
    with pytest.raises(errors.InvalidParameter) as refused:
        world.admin.put_policy(name, document)
    assert problem in refused.value.message
    with pytest.raises(errors.NotFound):
        world.admin.get_policy(name)
    events = events_of(world.admin, principal="admin", action="rotor:CreatePolicy")
    assert any(e.outcome == "failed" and e.error_code == "InvalidParameter" for e in events)


def test_a_narrowing_session_policy_is_validated(world: World) -> None:
    role = world.actor("role", allow(("Allow", ["kms:*"], ["*"])), kind="role")
    with pytest.raises(errors.InvalidParameter) as refused:
        world.admin.assume_role(role.name, policy='{"Version": "1", "Statement": "nope"}')
    assert refused.value.message.startswith("policy: ")


def test_client_results_are_typed(world: World) -> None:
    policy = world.admin.put_policy(world.name("typed"), allow(("Allow", ["kms:*"], ["*"])))
    assert isinstance(policy, rotor.client.Policy)
    assert policy.created_at.tzinfo is not None
