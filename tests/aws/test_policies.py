"""Policies written in AWS's vocabulary (``secretsmanager:*`` actions, ``arn:aws:...``
resources), end to end: what one allows or denies holds through boto3, the native API and
the KMS dialect (with the cloud's tea SDK) alike, since they check the same actions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client as TeaKmsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from botocore.exceptions import ClientError

import rotor.client
from rotor import errors
from tests.aliyun.conftest import make_user, tea_client
from tests.aws.conftest import name as _name
from tests.aws.conftest import sm_client
from tests.services.server import RunningServer

ARN = "arn:aws:secretsmanager:*:*:secret:"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Principal:
    """A user made for one test: a client of each dialect with its key."""

    boto: Any
    native: rotor.client.Client
    kms: TeaKmsClient

    def reads(self, secret: str) -> set[str]:
        """The dialects through which the user reads ``secret``'s value (and what it reads);
        each of the others refuses it as access denied."""
        read: set[str] = set()
        refusals: set[object] = set()
        try:
            read.add(f"aws:{self.boto.get_secret_value(SecretId=secret)['SecretString']}")
        except ClientError as error:
            refusals.add(error.response["Error"]["Code"])
        with contextlib.suppress(errors.AccessDenied):
            read.add(f"native:{self.native.get_value(secret).value}")
        request = kms_models.GetSecretValueRequest(secret_name=secret)
        try:
            read.add(f"kms:{self.kms.get_secret_value(request).body.secret_data}")
        except ClientException as error:
            refusals.add((error.code, error.status_code))
        assert refusals <= {"AccessDeniedException", ("Forbidden.NoPermission", 403)}
        return read


def read_everywhere(value: str) -> set[str]:
    return {f"aws:{value}", f"native:{value}", f"kms:{value}"}


MakePrincipal = Callable[..., Principal]


@pytest.fixture
def principal(rotor_server: RunningServer, admin: rotor.client.Client) -> Iterator[MakePrincipal]:
    """Makes a user whose policy has the statements (effect, actions, resources) given."""
    natives: list[rotor.client.Client] = []

    def make(*statements: tuple[str, Any, Any]) -> Principal:
        document = {
            "Version": "1",
            "Statement": [
                {"Effect": effect, "Action": action, "Resource": where}
                for effect, action, where in statements
            ],
        }
        user = make_user(admin, document, base="aws-policy")
        native = rotor.client.Client(
            rotor_server.url,
            access_key_id=user.access_key_id,
            access_key_secret=user.access_key_secret,
            retry=rotor.client.Retry(attempts=0),
        )
        natives.append(native)
        return Principal(
            boto=sm_client(rotor_server, user.access_key_id, user.access_key_secret),
            native=native,
            kms=tea_client(rotor_server, user.access_key_id, user.access_key_secret),
        )

    yield make
    for native in natives:
        native.close()


def test_an_aws_policy_on_a_prefix_holds_in_every_dialect(
    client: Any, admin: rotor.client.Client, principal: MakePrincipal
) -> None:
    base = _name()
    client.create_secret(Name=f"{base}/app/x", SecretString="app-value")
    client.create_secret(Name=f"{base}/other/x", SecretString="other-value")
    reader = principal(("Allow", "secretsmanager:GetSecretValue", f"{ARN}{base}/app/*"))

    assert reader.reads(f"{base}/app/x") == read_everywhere("app-value")
    assert reader.reads(f"{base}/other/x") == set()
    with pytest.raises(ClientError) as caught:
        reader.boto.put_secret_value(SecretId=f"{base}/app/x", SecretString="overwritten")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(errors.AccessDenied):
        reader.native.describe_secret(f"{base}/app/x")
    assert client.get_secret_value(SecretId=f"{base}/app/x")["SecretString"] == "app-value"

    # The audit trail names rotor's action, whichever vocabulary the policy used.
    outcomes = {
        (e.secret, e.outcome)
        for e in admin.iter_audit_events(action="kms:GetSecretValue", page_size=100)
        if e.secret is not None and e.secret.startswith(base)
    }
    assert outcomes == {(f"{base}/app/x", "allowed"), (f"{base}/other/x", "denied")}


@pytest.mark.parametrize(
    ("allow", "deny"),
    [
        (("kms:*", "acs:kms:*:*:secret/{base}/*"), ("secretsmanager:GetSecretValue", f"{ARN}*")),
        (("secretsmanager:*", f"{ARN}{{base}}/*"), ("kms:GetSecretValue", "*")),
        (("secretsmanager:*", "*"), ("kms:Get*", "acs:kms:*:*:secret/{base}/*")),
    ],
    ids=["deny-aws", "deny-rotor", "deny-rotor-pattern"],
)
def test_a_deny_in_one_vocabulary_beats_an_allow_in_the_other(
    client: Any, principal: MakePrincipal, allow: tuple[str, str], deny: tuple[str, str]
) -> None:
    base = _name()
    client.create_secret(Name=f"{base}/db", SecretString="guarded")
    who = principal(
        ("Allow", allow[0], allow[1].format(base=base)),
        ("Deny", deny[0], deny[1].format(base=base)),
    )
    assert who.reads(f"{base}/db") == set()
    # What the Allow gives and the Deny does not take stays allowed.
    assert who.boto.describe_secret(SecretId=f"{base}/db")["Name"] == f"{base}/db"
    assert who.native.describe_secret(f"{base}/db").name == f"{base}/db"


def test_a_complete_arn_names_one_incarnation_of_a_secret(
    client: Any, principal: MakePrincipal
) -> None:
    name = f"{_name()}/db"
    arn = client.create_secret(Name=name, SecretString="first")["ARN"]
    assert arn.startswith("arn:aws:secretsmanager:")
    assert arn.endswith(f":secret:{name}-" + arn[-6:])
    other_suffix = arn[:-6] + ("a" if arn[-6] != "a" else "b") + arn[-5:]
    exact = principal(("Allow", "secretsmanager:GetSecretValue", arn))
    wrong = principal(("Allow", "secretsmanager:GetSecretValue", other_suffix))
    any_suffix = principal(("Allow", "secretsmanager:GetSecretValue", f"{ARN}{name}-??????"))
    no_suffix = principal(("Allow", "secretsmanager:GetSecretValue", arn[:-7]))

    assert exact.reads(name) == read_everywhere("first")
    assert any_suffix.reads(name) == read_everywhere("first")
    assert wrong.reads(name) == set()
    assert no_suffix.reads(name) == set()  # an ARN always ends in its suffix, as at AWS

    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    recreated = client.create_secret(Name=name, SecretString="second")["ARN"]
    assert recreated != arn
    assert exact.reads(name) == set()
    assert any_suffix.reads(name) == read_everywhere("second")


def test_a_prefix_pattern_allows_creating_a_secret_a_complete_arn_does_not(
    client: Any, principal: MakePrincipal
) -> None:
    base = _name()
    creator = principal(
        ("Allow", "secretsmanager:CreateSecret", f"{ARN}{base}/app/*"),
        ("Allow", "secretsmanager:CreateSecret", f"{ARN}{base}/fixed-AbCdEf"),
    )
    made = creator.boto.create_secret(Name=f"{base}/app/new", SecretString="v")
    assert made["Name"] == f"{base}/app/new"
    for refused in (f"{base}/other/new", f"{base}/fixed"):
        with pytest.raises(ClientError) as caught:
            creator.boto.create_secret(Name=refused, SecretString="v")
        assert caught.value.response["Error"]["Code"] == "AccessDeniedException", refused


def test_an_aws_action_rotor_has_not_grants_nothing(
    client: Any, admin: rotor.client.Client, principal: MakePrincipal
) -> None:
    name = f"{_name()}/db"
    client.create_secret(Name=name, SecretString="v")
    stored = admin.put_policy(
        f"{_name()}-unknown",
        json.dumps(
            {
                "Version": "1",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["secretsmanager:Foo", "secretsmanager:GetResourcePolicy"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    assert stored.unmatched_actions == ("secretsmanager:Foo", "secretsmanager:GetResourcePolicy")
    nobody = principal(("Allow", ["secretsmanager:Foo", "secretsmanager:GetResourcePolicy"], "*"))
    assert nobody.reads(name) == set()
    with pytest.raises(ClientError) as caught:
        nobody.boto.describe_secret(SecretId=name)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_an_aws_policy_on_a_prefix_lists_only_its_secrets_through_kms(
    client: Any, principal: MakePrincipal
) -> None:
    """The KMS listing decides each secret with the ARN from its own row."""
    base = _name()
    for where in ("app/x", "app/y", "other/x"):
        client.create_secret(Name=f"{base}/{where}", SecretString="v")
    lister = principal(("Allow", "secretsmanager:ListSecrets", f"{ARN}{base}/app/*"))
    by_name = json.dumps([{"Key": "SecretName", "Values": [base]}])
    listed = lister.kms.list_secrets(kms_models.ListSecretsRequest(filters=by_name)).body
    assert sorted(s.secret_name for s in listed.secret_list.secret) == [
        f"{base}/app/x",
        f"{base}/app/y",
    ]
