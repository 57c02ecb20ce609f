"""The audit log over the REST API: filters, time range, paging, and never a value."""

from __future__ import annotations

import datetime as dt

import pytest

import rotor.client
from rotor import errors
from rotor.api.native import audit as audit_routes
from tests.access.conftest import World, allow, assert_no_value_in, events_of, secrets_of


def test_audit_filters_and_pages(world: World) -> None:
    app = world.name("app")
    value = f"audited-value-{world.uid}"
    started = dt.datetime.now(dt.UTC)
    world.admin.create_secret(f"{app}/db", value=value)
    world.admin.put_value(f"{app}/db", value + "-2")
    actor = world.actor("audited", allow(("Allow", ["kms:GetSecretValue"], [secrets_of(app)])))
    with actor.client() as client:
        for _ in range(3):
            client.get_value(f"{app}/db")
        with pytest.raises(errors.AccessDenied):
            client.put_value(f"{app}/db", "nope")
    with pytest.raises(errors.NotFound):
        world.admin.get_value(f"{app}/missing")
    ended = dt.datetime.now(dt.UTC)

    about = events_of(world.admin, secret=f"{app}/db")
    assert [e.action for e in reversed(about)] == [
        "kms:CreateSecret",
        "kms:PutSecretValue",
        "kms:GetSecretValue",
        "kms:GetSecretValue",
        "kms:GetSecretValue",
        "kms:PutSecretValue",
    ]
    assert [e.at for e in about] == sorted((e.at for e in about), reverse=True)
    assert all(started <= e.at <= ended + dt.timedelta(seconds=1) for e in about)
    put = about[-2]
    assert (put.principal, put.outcome) == ("admin", "allowed")
    assert put.version_id
    assert about[0].outcome == "denied"
    assert all(e.source == "127.0.0.1" for e in about)

    reads = events_of(world.admin, principal=actor.name, action="kms:GetSecretValue")
    assert len(reads) == 3
    assert {e.version_id for e in reads} == {put.version_id}
    assert events_of(world.admin, principal=actor.name, outcome="denied")[0].action == (
        "kms:PutSecretValue"
    )
    missing = events_of(world.admin, secret=f"{app}/missing")
    assert [(e.outcome, e.error_code) for e in missing] == [("failed", "NotFound")]

    assert events_of(world.admin, secret=f"{app}/db", until=started) == []
    assert events_of(world.admin, secret=f"{app}/db", since=ended + dt.timedelta(seconds=1)) == []
    middle = about[2].at
    newer = events_of(world.admin, secret=f"{app}/db", since=middle)
    older = events_of(world.admin, secret=f"{app}/db", until=middle)
    assert len(newer) + len(older) == len(about)
    text_since = events_of(
        world.admin, secret=f"{app}/db", since=middle.isoformat().replace("+00:00", "Z")
    )
    assert text_since == newer

    first = world.admin.list_audit_events(secret=f"{app}/db", page_size=4)
    assert len(first.items) == 4
    assert first.next_page_token is not None
    rest = world.admin.list_audit_events(
        secret=f"{app}/db", page_size=4, page_token=first.next_page_token
    )
    assert rest.next_page_token is None
    assert list(first.items + rest.items) == about

    assert_no_value_in(
        events_of(world.admin, since=started),
        value,
        value + "-2",
        actor.key.access_key_secret,
    )


def test_reading_the_audit_log_needs_its_action(world: World) -> None:
    auditor = world.actor("auditor", allow(("Allow", ["rotor:ListAuditEvents"], ["rotor:audit"])))
    with auditor.client() as client:
        assert client.list_audit_events(page_size=1).items
        with pytest.raises(errors.InvalidParameter):
            client.list_audit_events(outcome="maybe")
        with pytest.raises(errors.InvalidParameter):
            client.list_audit_events(since=dt.datetime(2026, 1, 1))  # naive: no zone
    nosy = world.actor("nosy", allow(("Allow", ["kms:*"], ["*"])))
    with nosy.client() as client, pytest.raises(errors.AccessDenied):
        client.list_audit_events()
    (event,) = events_of(world.admin, principal=nosy.name)
    assert (event.action, event.outcome) == ("rotor:ListAuditEvents", "denied")


def test_every_admin_operation_is_audited(world: World) -> None:
    started = dt.datetime.now(dt.UTC)
    user, policy, role = world.name("user"), world.name("policy"), world.name("role")
    world.admin.create_principal(user)
    world.admin.create_principal(role, kind="role")
    key = world.admin.create_access_key(user)
    world.admin.list_access_keys(user)
    world.admin.disable_access_key(key.access_key_id)
    world.admin.enable_access_key(key.access_key_id)
    world.admin.put_policy(policy, allow(("Allow", ["kms:*"], ["*"])))
    world.admin.attach_policy(policy, user)
    world.admin.get_policy(policy)
    world.admin.list_policies()
    world.admin.detach_policy(policy, user)
    world.admin.delete_policy(policy)
    session = world.admin.assume_role(role)
    world.admin.get_principal(user)
    world.admin.list_principals()
    world.admin.delete_access_key(key.access_key_id)
    world.admin.delete_principal(user)
    events = events_of(world.admin, principal="admin", since=started)
    actions = {e.action for e in events if e.outcome == "allowed"}
    assert actions >= {
        "rotor:CreatePrincipal",
        "rotor:CreateAccessKey",
        "rotor:ListAccessKeys",
        "rotor:UpdateAccessKey",
        "rotor:CreatePolicy",
        "rotor:AttachPolicy",
        "rotor:GetPolicy",
        "rotor:DetachPolicy",
        "rotor:DeletePolicy",
        "sts:AssumeRole",
        "rotor:ListPrincipals",
        "rotor:DeleteAccessKey",
        "rotor:DeletePrincipal",
    }
    assert_no_value_in(
        events, key.access_key_secret, session.access_key_secret, session.security_token
    )


def test_rotation_steps_are_audited_and_found_by_outcome(world: World) -> None:
    secret = f"{world.name('rotated')}/token"
    world.admin.create_secret(secret, value="first")
    started = world.admin.configure_rotation(secret, function="generated-password").started
    assert started is not None
    rotation = world.admin.wait_for_rotation(started.id, timeout=30)
    assert rotation.succeeded
    steps = events_of(world.admin, secret=secret, outcome="succeeded")
    assert {e.rotation_id for e in steps} == {rotation.id}
    assert {e.version_id for e in steps} == {rotation.version_id}
    assert len(steps) == len(rotation.steps) + 1  # each step, and the rotation
    new_value = world.admin.get_value(secret).value
    assert isinstance(new_value, str)
    assert_no_value_in(events_of(world.admin, secret=secret), "first", new_value)


def test_the_client_knows_every_outcome_the_server_filters_on() -> None:
    assert rotor.client.AUDIT_OUTCOMES == audit_routes.OUTCOMES
