"""Policies: JSON documents that allow or deny actions on resources.

The shape is the cloud one (``../shared/reference``)::

    {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["kms:GetSecretValue"],
                                    "Resource": ["acs:kms:*:*:secret/app/*"]}]}

Evaluation: default deny; an explicit Deny beats any Allow. ``Action`` and
``Resource`` take ``*`` and ``?`` wildcards; actions compare case-insensitively
(as the cloud does), resources case-sensitively. Actions that match no rotor
operation (``kms:Decrypt``, ``rds:CreateAccount``) are kept as written and simply
grant nothing in rotor.

A policy may also be written in AWS Secrets Manager's vocabulary: an action
``secretsmanager:<Name>`` is the rotor action(s) :data:`AWS_ACTIONS` maps it onto
(so a Deny in one vocabulary beats an Allow in the other: it is the same action),
and a resource ``arn:...`` is matched against the secret's ARN in AWS form,
``arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>``, which the
caller's ``arn_of`` looks up only when such a statement is reached: a policy
without one costs what it always did. A secret that does not exist (yet) has the
suffix :data:`NO_SUFFIX`, which only wildcards match, so ``secret:app/*`` covers
creating ``app/x`` while a complete ARN names one incarnation of a secret and no
other.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rotor import errors

MAX_DOCUMENT_BYTES = 32 * 1024
MAX_STATEMENTS = 100
_ACTION_RE = re.compile(r"[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+")
_RESOURCE_RE = re.compile(r"[\x21-\x7e]{1,1024}")

#: The resource name prefix of a secret: ``acs:kms:<region>:<account>:secret/<name>``.
SECRET_RESOURCE = "acs:kms:{region}:{account}:secret/{name}"
#: How a resource pattern in AWS ARN form starts.
AWS_ARN = "arn:"
#: A principal (user or role): its keys and attachments, assuming it, passing it.
PRINCIPAL_RESOURCE = "rotor:principal/{name}"
#: A registered function.
FUNCTION_RESOURCE = "rotor:function/{name}"

#: Every rotor operation's action. An API operation maps to exactly one of these.
ACTIONS: dict[str, str] = {
    # secrets (the KMS names, so one policy serves the native and KMS-compatible APIs)
    "kms:CreateSecret": "create a secret",
    "kms:DescribeSecret": "describe a secret, show its rotation configuration",
    "kms:ListSecrets": "list secrets (only those the resource patterns match are shown)",
    "kms:UpdateSecret": "change a secret's description and tags",
    "kms:DeleteSecret": "schedule or force a secret's deletion",
    "kms:RestoreSecret": "cancel a scheduled deletion",
    "kms:GetSecretValue": "read a value",
    "kms:PutSecretValue": "write a new version",
    "kms:ListSecretVersionIds": "list a secret's versions",
    "kms:UpdateSecretVersionStage": "move or remove a stage",
    "kms:GetRandomPassword": "generate a random password",
    "kms:RotateSecret": "start a rotation now",
    "kms:UpdateSecretRotationPolicy": "configure, enable or disable rotation",
    # rotor's own
    "rotor:CancelRotation": "cancel a running rotation",
    "rotor:ListRotations": "read rotation history and rotations",
    "rotor:CreatePrincipal": "create a user or role",
    "rotor:ListPrincipals": "list principals, show one",
    "rotor:DeletePrincipal": "delete a principal and its keys",
    "rotor:CreateAccessKey": "create an access key for a principal",
    "rotor:ListAccessKeys": "list a principal's access keys (never their secrets)",
    "rotor:UpdateAccessKey": "disable or enable an access key",
    "rotor:DeleteAccessKey": "delete an access key",
    "rotor:CreatePolicy": "create or replace a policy",
    "rotor:GetPolicy": "show or list policies",
    "rotor:DeletePolicy": "delete a policy",
    "rotor:AttachPolicy": "attach a policy to a principal",
    "rotor:DetachPolicy": "detach a policy from a principal",
    "rotor:ListAuditEvents": "read the audit log",
    "rotor:ListNodes": "list the nodes serving the store",
    "rotor:GetMetrics": "read the Prometheus metrics (GET /metrics)",
    "rotor:ListEvents": "follow the event log (GET /v1/events): each secret's events, on it",
    "rotor:CreateNotification": "create a notification subscription (administrative)",
    "rotor:ListNotifications": "list notification subscriptions and their deliveries",
    "rotor:DeleteNotification": "delete a notification subscription",
    "rotor:RetryNotifications": "make failed notification deliveries due again",
    "rotor:RegisterFunction": "register a custom function, or replace its registration",
    "rotor:ListFunctions": "list registered functions, show one",
    "rotor:RemoveFunction": "remove a registered function",
    "rotor:AttachFunction": "name a registered function in a rotation configuration",
    "rotor:PassRole": "give a rotation function a role (parameter Role)",
    "rotor:PassSecret": "give a rotation another secret (MasterSecret, any *Secret parameter)",
    "sts:AssumeRole": "get short-lived credentials of a role",
}

#: Every AWS Secrets Manager action, onto the rotor actions it is (what the AWS dialect
#: checks for the operation). Rotor's action is sometimes coarser: ``kms:UpdateSecret``
#: changes the description and the tags, so UpdateSecret, TagResource and UntagResource
#: each allow all three. An action that maps onto none grants nothing.
AWS_ACTIONS: dict[str, tuple[str, ...]] = {
    "secretsmanager:CreateSecret": ("kms:CreateSecret",),
    "secretsmanager:DescribeSecret": ("kms:DescribeSecret",),
    "secretsmanager:ListSecrets": ("kms:ListSecrets",),
    "secretsmanager:UpdateSecret": ("kms:UpdateSecret",),
    "secretsmanager:TagResource": ("kms:UpdateSecret",),
    "secretsmanager:UntagResource": ("kms:UpdateSecret",),
    "secretsmanager:DeleteSecret": ("kms:DeleteSecret",),
    "secretsmanager:RestoreSecret": ("kms:RestoreSecret",),
    "secretsmanager:GetSecretValue": ("kms:GetSecretValue",),
    # BatchGetSecretValue reads each secret as GetSecretValue does, and needs that action.
    "secretsmanager:BatchGetSecretValue": (),
    "secretsmanager:PutSecretValue": ("kms:PutSecretValue",),
    "secretsmanager:ListSecretVersionIds": ("kms:ListSecretVersionIds",),
    "secretsmanager:UpdateSecretVersionStage": ("kms:UpdateSecretVersionStage",),
    "secretsmanager:GetRandomPassword": ("kms:GetRandomPassword",),
    # At AWS, RotateSecret both configures rotation and starts one.
    "secretsmanager:RotateSecret": ("kms:RotateSecret", "kms:UpdateSecretRotationPolicy"),
    "secretsmanager:CancelRotateSecret": ("kms:UpdateSecretRotationPolicy",),
    # Resource policies and replication: rotor has none.
    "secretsmanager:GetResourcePolicy": (),
    "secretsmanager:PutResourcePolicy": (),
    "secretsmanager:DeleteResourcePolicy": (),
    "secretsmanager:ValidateResourcePolicy": (),
    "secretsmanager:ListResourcePolicies": (),
    "secretsmanager:ReplicateSecretToRegions": (),
    "secretsmanager:RemoveRegionsFromReplication": (),
    "secretsmanager:StopReplicationToReplica": (),
    "secretsmanager:AssociateCrossAccountReplica": (),
    "secretsmanager:DisassociateCrossAccountReplica": (),
}

#: The suffix of the ARN of a secret that does not exist (yet): a character no resource
#: pattern can hold (they are printable ASCII), so only ``*`` and ``?`` match it.
NO_SUFFIX = "\x00" * 6
#: Looks up the AWS-form ARN of the secret a rotor resource name names (with
#: :data:`NO_SUFFIX` when there is no such secret); None for a resource that is no secret.
ArnOf = Callable[[str], str | None]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Statement:
    effect: str
    #: As written, in either vocabulary.
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    #: The rotor actions ``actions`` name (:func:`_grants`).
    grants: frozenset[str]
    #: ``resources`` in rotor's form, matched against a rotor resource name ...
    names: tuple[str, ...]
    #: ... and in AWS ARN form (``arn:...``), matched against a secret's ARN.
    arns: tuple[str, ...]

    def names_action(self, action: str) -> bool:
        if action in ACTIONS:
            return action in self.grants
        return any(_matches(p, action, fold=True) for p in self.actions)

    def names_resource(self, resource: str) -> bool:
        return any(_matches(p, resource, fold=False) for p in self.names)

    def names_arn(self, arn: str) -> bool:
        return any(_matches(p, arn, fold=False) for p in self.arns)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]

    @property
    def actions(self) -> list[str]:
        return [a for s in self.statements for a in s.actions]

    def unmatched_actions(self) -> list[str]:
        """Actions written in the policy that match no rotor operation (they grant nothing)."""
        return [a for a in dict.fromkeys(self.actions) if not _grants((a,))]


@functools.lru_cache(maxsize=4096)
def _pattern(pattern: str, fold: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if fold else re.DOTALL)


def _matches(pattern: str, value: str, *, fold: bool) -> bool:
    return _pattern(pattern, fold).fullmatch(value) is not None


def _grants(actions: tuple[str, ...]) -> frozenset[str]:
    """The rotor actions that ``actions`` (patterns in either vocabulary) name."""
    named = {known for known in ACTIONS if any(_matches(p, known, fold=True) for p in actions)}
    for aws, rotor in AWS_ACTIONS.items():
        if any(_matches(p, aws, fold=True) for p in actions):
            named.update(rotor)
    return frozenset(named)


def matches_pattern(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern`` (``*`` and ``?`` wildcards, case-sensitive)."""
    return _matches(pattern, value, fold=False)


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise errors.InvalidParameter(f"{where} must be a string or a non-empty list of strings")
    return tuple(items)


def parse_policy(document: str | dict[str, Any]) -> Policy:
    """A validated policy; the error names the problem (statement index, field, value)."""
    if isinstance(document, str):
        if len(document.encode()) > MAX_DOCUMENT_BYTES:
            raise errors.InvalidParameter(
                f"a policy document is at most {MAX_DOCUMENT_BYTES} bytes"
            )
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise errors.InvalidParameter(f"the policy is not valid JSON: {exc.args[0]}") from None
    if not isinstance(document, dict):
        raise errors.InvalidParameter("a policy is a JSON object")
    unknown = set(document) - {"Version", "Statement"}
    if unknown:
        raise errors.InvalidParameter(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    if str(document.get("Version", "1")) != "1":
        raise errors.InvalidParameter('policy "Version" must be "1"')
    raw = document.get("Statement")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise errors.InvalidParameter('a policy needs a non-empty "Statement" list')
    if len(raw) > MAX_STATEMENTS:
        raise errors.InvalidParameter(f"a policy has at most {MAX_STATEMENTS} statements")
    return Policy(statements=tuple(_statement(i, s) for i, s in enumerate(raw)))


def _statement(index: int, raw: Any) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise errors.InvalidParameter(f"{where} must be an object")
    unknown = set(raw) - {"Effect", "Action", "Resource", "Sid", "Condition"}
    if unknown:
        raise errors.InvalidParameter(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if "Condition" in raw:
        raise errors.InvalidParameter(f"{where}: Condition is not supported")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise errors.InvalidParameter(f'{where}: "Effect" must be "Allow" or "Deny"')
    actions = _string_list(raw.get("Action"), f"{where}.Action")
    for action in actions:
        if action != "*" and not _ACTION_RE.fullmatch(action):
            raise errors.InvalidParameter(
                f"{where}: action {action!r} is not service:Name (wildcards * and ? allowed)"
            )
    resources = _string_list(raw.get("Resource"), f"{where}.Resource")
    for resource in resources:
        if not _RESOURCE_RE.fullmatch(resource):
            raise errors.InvalidParameter(
                f"{where}: resource {resource!r} must be 1-1024 printable characters, no spaces"
            )
    return Statement(
        effect=effect,
        actions=actions,
        resources=resources,
        grants=_grants(actions),
        names=tuple(r for r in resources if not r.startswith(AWS_ARN)),
        arns=tuple(r for r in resources if r.startswith(AWS_ARN)),
    )


def decide(
    policies: Iterable[Policy], action: str, resource: str, arn_of: ArnOf | None = None
) -> bool:
    """Whether ``policies`` allow ``action`` on ``resource``: default deny, Deny wins.

    ``arn_of`` gives the secret's ARN for the statements that name ARNs; without it an
    Allow naming only ARNs allows nothing and a Deny naming an ARN denies (fail closed).
    It is called at most once, and only when such a statement is reached.
    """
    allowed = False
    arn: str | None = None
    looked_up = False
    for policy in policies:
        for statement in policy.statements:
            deny = statement.effect == "Deny"
            if (allowed and not deny) or not statement.names_action(action):
                continue
            if not statement.names_resource(resource):
                if not statement.arns:
                    continue
                if arn_of is None:
                    if deny:
                        return False  # an ARN it cannot check: a Deny is never skipped
                    continue
                if not looked_up:
                    arn, looked_up = arn_of(resource), True
                if arn is None or not statement.names_arn(arn):
                    continue
            if deny:
                return False
            allowed = True
    return allowed


def decide_all(
    layers: Sequence[Sequence[Policy]], action: str, resource: str, arn_of: ArnOf | None = None
) -> bool:
    """Every layer must allow (a role's policies, then a session's narrowing policy)."""
    return all(decide(layer, action, resource, arn_of) for layer in layers)


ADMINISTRATOR = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
