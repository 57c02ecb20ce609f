"""The client's access-control and audit methods against a real server: typed results,
checks made before sending, and secrets kept out of reprs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import assert_type

import httpx
import pytest

import rotor.client
from rotor import errors
from tests.services.server import RunningServer

READ_ALL = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": "*"}],
}


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_principal_key_and_policy_results_are_typed(
    client: rotor.client.Client, uid: str, rotor_server: RunningServer
) -> None:
    principal = client.create_principal(f"client-user-{uid}")
    assert_type(principal, rotor.client.Principal)
    role = client.create_principal(f"client-role-{uid}", kind="role")
    assert role.kind == "role"
    principals = client.list_principals()
    assert_type(principals, tuple[rotor.client.Principal, ...])
    assert principal.name in {p.name for p in principals}

    key = client.create_access_key(principal.name, expires_in_seconds=3600)
    assert_type(key, rotor.client.NewAccessKey)
    assert isinstance(key, rotor.client.AccessKey)
    assert key.access_key_secret not in repr(key)
    assert key.expires_at is not None
    assert not key.expired
    keys = client.list_access_keys(principal.name)
    assert_type(keys, tuple[rotor.client.AccessKey, ...])
    assert [type(k) for k in keys] == [rotor.client.AccessKey]
    assert_type(client.disable_access_key(key.access_key_id), rotor.client.AccessKey)
    assert client.enable_access_key(key.access_key_id).status == "active"

    policy = client.put_policy(f"client-policy-{uid}", READ_ALL, description="reads")
    assert_type(policy, rotor.client.Policy)
    assert policy.document == READ_ALL
    assert_type(client.list_policies(), tuple[rotor.client.PolicyInfo, ...])
    attached = client.attach_policy(policy.name, principal.name)
    assert_type(attached, rotor.client.Attachments)
    assert attached.policies == (policy.name,)
    shown = client.get_principal(principal.name)
    assert shown.policies == (policy.name,)

    with rotor_server.client(
        access_key_id=key.access_key_id, access_key_secret=key.access_key_secret
    ) as as_user:
        me = as_user.get_caller_identity()
    assert_type(me, rotor.client.CallerIdentity)
    assert (me.principal, me.policies, me.session) == (principal.name, (policy.name,), False)
    assert me.expires_at == key.expires_at

    session = client.assume_role(role.name, duration_seconds=900, policy=READ_ALL)
    assert_type(session, rotor.client.SessionCredentials)
    assert session.access_key_secret not in repr(session)
    assert session.security_token not in repr(session)
    with rotor.client.Client(
        rotor_server.url,
        access_key_id=session.access_key_id,
        access_key_secret=session.access_key_secret,
        security_token=session.security_token,
    ) as as_role:
        assert as_role.get_caller_identity().session

    assert_type(client.detach_policy(policy.name, principal.name), rotor.client.Attachments)
    assert_type(client.delete_policy(policy.name), rotor.client.PolicyInfo)
    assert_type(client.delete_access_key(key.access_key_id), rotor.client.AccessKey)
    assert_type(client.delete_principal(principal.name), rotor.client.Principal)


def test_the_security_token_comes_from_the_environment(
    rotor_server: RunningServer, client: rotor.client.Client, uid: str
) -> None:
    role = client.create_principal(f"client-env-role-{uid}", kind="role")
    session = client.assume_role(role.name)
    env = {
        "ROTOR_ACCESS_KEY_ID": session.access_key_id,
        "ROTOR_ACCESS_KEY_SECRET": session.access_key_secret,
        "ROTOR_SECURITY_TOKEN": session.security_token,
    }
    with rotor.client.Client(rotor_server.url, environ=env) as from_env:
        assert from_env.get_caller_identity().principal == role.name


def test_audit_events_are_typed_and_paged(client: rotor.client.Client, name: str) -> None:
    started = dt.datetime.now(dt.UTC)
    client.create_secret(name, value="audited")
    for _ in range(3):
        client.get_value(name)
    page = client.list_audit_events(secret=name, page_size=2)
    assert_type(page, rotor.client.Page[rotor.client.AuditEvent])
    assert len(page.items) == 2
    assert page.next_page_token is not None
    events = list(client.iter_audit_events(secret=name, since=started, page_size=2))
    assert [e.action for e in events] == ["kms:GetSecretValue"] * 3 + ["kms:CreateSecret"]
    assert all(e.outcome in rotor.client.AUDIT_OUTCOMES for e in events)
    assert events[0].secret == name
    assert "audited" not in repr(events)


def refuse_to_send(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should be sent, but {request.method} {request.url} was")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_principal("bad name"),
        lambda c: c.get_principal("a/b"),
        lambda c: c.delete_principal(""),
        lambda c: c.create_access_key("x:y"),
        lambda c: c.disable_access_key("RK/../x"),
        lambda c: c.delete_access_key("RK.1"),
        lambda c: c.put_policy("p?", READ_ALL),
        lambda c: c.attach_policy("ok", "not ok"),
        lambda c: c.assume_role("r/1"),
        lambda c: c.list_audit_events(outcome="sometimes"),
        lambda c: c.list_audit_events(since=dt.datetime(2026, 1, 1)),
    ],
)
def test_invalid_input_is_refused_before_sending(call: object) -> None:
    with rotor.client.Client(
        "http://rotor.test",
        access_key_id="RKID",
        access_key_secret="secret",
        transport=httpx.MockTransport(refuse_to_send),
    ) as client:
        assert callable(call)
        with pytest.raises(errors.InvalidParameter):
            call(client)


def test_an_unexpected_answer_is_reported_without_its_body() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_key_id": "RK1", "access_key_secret": "s3cr3t"})

    with (
        rotor.client.Client(
            "http://rotor.test",
            access_key_id="RKID",
            access_key_secret="secret",
            transport=httpx.MockTransport(answer),
        ) as client,
        pytest.raises(errors.InternalError) as caught,
    ):
        client.create_access_key("someone")
    assert "s3cr3t" not in str(caught.value)
