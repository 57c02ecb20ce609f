"""Policies in AWS Secrets Manager's vocabulary, decided by :mod:`rotor.access.policies`:
``secretsmanager:*`` actions are rotor's actions (Deny wins across the two vocabularies),
and ``arn:aws:secretsmanager:...`` resources match a secret's ARN as AWS matches it, the
suffix included; a policy naming no ARN never looks one up.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from rotor.access import policies
from rotor.access.keys import Identity

REGION, ACCOUNT = "local", "rotor"
ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
#: The secrets that exist here, by name: their ARN suffix.
SUFFIXES = {"app/db": "AbC123", "app/db2": "XyZ789", "other/db": "QwE456"}


def resource(name: str) -> str:
    return policies.SECRET_RESOURCE.format(region=REGION, account=ACCOUNT, name=name)


class Lookups:
    """An ``arn_of`` over :data:`SUFFIXES` that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, resource_name: str) -> str | None:
        self.calls += 1
        prefix = resource("")
        if not resource_name.startswith(prefix):
            return None
        name = resource_name.removeprefix(prefix)
        return f"{ARN}{name}-{SUFFIXES.get(name, policies.NO_SUFFIX)}"


def policy(*statements: tuple[str, Any, Any]) -> policies.Policy:
    return policies.parse_policy(
        {
            "Version": "1",
            "Statement": [
                {"Effect": effect, "Action": action, "Resource": where}
                for effect, action, where in statements
            ],
        }
    )


def allows(document: policies.Policy, action: str, name: str | None = None) -> bool:
    target = "*" if name is None else resource(name)
    return policies.decide([document], action, target, Lookups())


def test_every_aws_action_is_in_the_table_onto_rotor_actions() -> None:
    model = botocore.session.get_session().get_service_model("secretsmanager")
    assert set(policies.AWS_ACTIONS) == {f"secretsmanager:{op}" for op in model.operation_names}
    for rotor_actions in policies.AWS_ACTIONS.values():
        assert set(rotor_actions) <= set(policies.ACTIONS)


def test_an_aws_action_is_the_rotor_action() -> None:
    reader = policy(("Allow", "secretsmanager:GetSecretValue", "*"))
    assert allows(reader, "kms:GetSecretValue", "app/db")
    assert not allows(reader, "kms:PutSecretValue", "app/db")
    assert not allows(reader, "kms:DescribeSecret", "app/db")


@pytest.mark.parametrize(
    ("pattern", "granted", "refused"),
    [
        ("secretsmanager:Get*", {"kms:GetSecretValue", "kms:GetRandomPassword"}, set()),
        ("SecretsManager:getsecretvalue", {"kms:GetSecretValue"}, set()),
        (
            "secretsmanager:*Version*",
            {"kms:ListSecretVersionIds", "kms:UpdateSecretVersionStage"},
            {"kms:GetSecretValue"},
        ),
        (
            "secretsmanager:RotateSecret",
            {"kms:RotateSecret", "kms:UpdateSecretRotationPolicy"},
            set(),
        ),
        ("secretsmanager:TagResource", {"kms:UpdateSecret"}, set()),
        ("secrets*:Put*", {"kms:PutSecretValue"}, {"kms:GetSecretValue"}),
    ],
)
def test_wildcards_name_every_aws_action_they_match(
    pattern: str, granted: set[str], refused: set[str]
) -> None:
    document = policy(("Allow", pattern, "*"))
    named = {a for a in policies.ACTIONS if allows(document, a, "app/db")}
    assert named == granted
    assert not named & refused


def test_the_whole_aws_vocabulary_is_secrets_only() -> None:
    everything = policy(("Allow", "secretsmanager:*", "*"))
    assert allows(everything, "kms:GetSecretValue", "app/db")
    assert allows(everything, "kms:CreateSecret", "app/new")
    for action in ("rotor:CreatePrincipal", "rotor:AttachPolicy", "sts:AssumeRole"):
        assert not allows(everything, action), action
    assert not allows(everything, "rotor:CancelRotation", "app/db")


@pytest.mark.parametrize(
    ("allow", "deny"),
    [
        ("kms:GetSecretValue", "secretsmanager:GetSecretValue"),
        ("secretsmanager:GetSecretValue", "kms:GetSecretValue"),
        ("secretsmanager:*", "kms:Get*"),
        ("*", "secretsmanager:Get*"),
    ],
)
def test_a_deny_in_one_vocabulary_beats_an_allow_in_the_other(allow: str, deny: str) -> None:
    document = policy(("Allow", allow, "*"), ("Deny", deny, "*"))
    assert not allows(document, "kms:GetSecretValue", "app/db")
    denied_by_arn = policy(("Allow", allow, "*"), ("Deny", deny, f"{ARN}app/*"))
    assert not allows(denied_by_arn, "kms:GetSecretValue", "app/db")
    assert allows(denied_by_arn, "kms:GetSecretValue", "other/db")


@pytest.mark.parametrize(
    "unknown", ["secretsmanager:Foo", "secretsmanager:GetResourcePolicy", "secretsmanager:Batch*"]
)
def test_an_aws_action_rotor_has_not_grants_nothing(unknown: str) -> None:
    document = policy(("Allow", unknown, "*"))
    assert not any(allows(document, a, "app/db") for a in policies.ACTIONS)
    assert not any(allows(document, a) for a in policies.ACTIONS)
    assert document.unmatched_actions() == [unknown]
    assert policy(("Allow", ["secretsmanager:Get*", unknown], "*")).unmatched_actions() == [unknown]


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        (f"{ARN}app/*", {"app/db", "app/db2", "app/new"}),
        (f"{ARN}app/db-??????", {"app/db"}),
        (f"{ARN}app/db*", {"app/db", "app/db2"}),
        (f"{ARN}app/db-AbC123", {"app/db"}),
        (f"{ARN}app/db-AbC12?", {"app/db"}),
        (f"{ARN}app/db-ZZZZZZ", set()),  # another incarnation of app/db
        (f"{ARN}app/db", set()),  # an ARN always ends in the suffix
        ("arn:aws:secretsmanager:*:*:secret:*", {"app/db", "app/db2", "other/db", "app/new"}),
        ("arn:aws:secretsmanager:elsewhere:*:secret:*", set()),
        ("arn:aws:secretsmanager:*:123456789012:secret:*", set()),
        ("arn:aws:secretsmanager:*:*:secret:App/*", set()),  # resources compare exactly
    ],
)
def test_arn_patterns_match_as_aws_matches_them(pattern: str, matched: set[str]) -> None:
    document = policy(("Allow", "secretsmanager:GetSecretValue", pattern))
    names = {"app/db", "app/db2", "other/db", "app/new"}  # app/new does not exist
    assert {n for n in names if allows(document, "kms:GetSecretValue", n)} == matched


def test_an_arn_pattern_names_only_secrets() -> None:
    document = policy(("Allow", "*", "arn:*"))
    assert not allows(document, "kms:GetRandomPassword")
    assert not policies.decide([document], "rotor:CreatePrincipal", "rotor:principal/x", Lookups())
    assert not policies.decide([document], "kms:GetSecretValue", resource("app/db"))  # no lookup


def test_a_policy_naming_no_arn_never_looks_one_up() -> None:
    lookups = Lookups()
    native = policy(
        ("Allow", ["kms:*", "secretsmanager:*"], "acs:kms:*:*:secret/app/*"),
        ("Deny", "secretsmanager:PutSecretValue", "acs:kms:*:*:secret/app/root"),
    )
    for action in policies.ACTIONS:
        for name in SUFFIXES:
            policies.decide_all([[native], [native]], action, resource(name), lookups)
    assert lookups.calls == 0


def test_an_arn_is_looked_up_once_a_layer_and_only_when_reached() -> None:
    lookups = Lookups()
    mixed = policy(
        ("Allow", "kms:GetSecretValue", "acs:kms:*:*:secret/app/*"),
        ("Allow", "secretsmanager:GetSecretValue", f"{ARN}other/*"),
        ("Deny", "secretsmanager:GetSecretValue", f"{ARN}other/db-QwE456"),
        ("Allow", "secretsmanager:PutSecretValue", f"{ARN}app/*"),
    )
    assert not policies.decide([mixed], "kms:GetSecretValue", resource("other/db"), lookups)
    assert lookups.calls == 1
    assert not policies.decide([mixed], "kms:DescribeSecret", resource("other/db"), lookups)
    assert lookups.calls == 1  # no statement names the action
    assert policies.decide([mixed], "kms:PutSecretValue", resource("app/db"), lookups)
    assert lookups.calls == 2


def test_without_a_lookup_an_arn_deny_still_denies_and_an_arn_allow_allows_nothing() -> None:
    document = policy(
        ("Allow", "kms:GetSecretValue", resource("*")),
        ("Deny", "secretsmanager:GetSecretValue", f"{ARN}app/*"),
        ("Allow", "kms:DescribeSecret", f"{ARN}app/*"),
    )
    # A caller that cannot look an ARN up must not read past a Deny it cannot check.
    assert not policies.decide([document], "kms:GetSecretValue", resource("other/db"))
    assert not policies.decide([document], "kms:DescribeSecret", resource("app/db"))
    assert policies.decide([document], "kms:GetSecretValue", resource("other/db"), Lookups())
    assert not policies.decide([document], "kms:GetSecretValue", resource("app/db"), Lookups())


def test_an_identity_given_the_arn_does_not_look_it_up() -> None:
    """A listing has each secret's ARN in its rows: an identity told it decides alike,
    with no lookup per secret."""
    lookups = Lookups()
    identity = Identity(
        principal_id="p",
        principal_name="reader",
        access_key_id="k",
        layers=((policy(("Allow", "secretsmanager:ListSecrets", f"{ARN}app/*")),),),
        arn_of=lookups,
    )
    for name, suffix in SUFFIXES.items():
        told = identity.allows("kms:ListSecrets", resource(name), arn=f"{ARN}{name}-{suffix}")
        assert told == name.startswith("app/")
        assert told == identity.allows("kms:ListSecrets", resource(name))
    assert lookups.calls == len(SUFFIXES)  # only the calls not told the ARN
