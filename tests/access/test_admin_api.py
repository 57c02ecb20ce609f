"""Principals, access keys, policies and attachments over the REST API of a real server."""

from __future__ import annotations

import httpx
import pytest

from rotor import errors
from tests.access.conftest import World, allow, events_of
from tests.services.server import RunningServer


def test_principals_are_created_listed_shown_and_deleted(world: World) -> None:
    user, role = world.name("user"), world.name("role")
    created = world.admin.create_principal(user)
    assert (created.name, created.kind) == (user, "user")
    assert world.admin.create_principal(role, kind="role").kind == "role"
    with pytest.raises(errors.Conflict):
        world.admin.create_principal(user)

    names = {p.name: p.kind for p in world.admin.list_principals()}
    assert names[user] == "user"
    assert names[role] == "role"
    assert names["admin"] == "user"

    policy = world.name("policy")
    world.admin.put_policy(policy, allow(("Allow", ["kms:ListSecrets"], ["*"])))
    world.admin.attach_policy(policy, user)
    key = world.admin.create_access_key(user)
    shown = world.admin.get_principal(user)
    assert shown.policies == (policy,)
    assert shown.access_keys is not None
    assert [k.access_key_id for k in shown.access_keys] == [key.access_key_id]

    world.admin.delete_principal(user)
    with pytest.raises(errors.NotFound):
        world.admin.get_principal(user)
    with pytest.raises(errors.NotFound):
        world.admin.delete_principal(user)
    assert world.admin.get_policy(policy).attached_to == ()


def test_access_keys_never_show_their_secret_after_creation(
    world: World, rotor_server: RunningServer
) -> None:
    user = world.name("keys")
    world.admin.create_principal(user)
    first = world.admin.create_access_key(user)
    second = world.admin.create_access_key(user, expires_in_seconds=3600)
    assert first.access_key_secret != second.access_key_secret
    assert first.access_key_secret not in repr(first)
    assert first.expires_at is None
    assert second.expires_at is not None

    listed = world.admin.list_access_keys(user)
    assert [k.access_key_id for k in listed] == [first.access_key_id, second.access_key_id]
    assert all(k.status == "active" and not k.session for k in listed)
    with httpx.Client(base_url=rotor_server.url) as http:
        bearer = {
            "Authorization": f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
        }
        body = http.get(f"/v1/principals/{user}/access-keys", headers=bearer).text
        shown = http.get(f"/v1/principals/{user}", headers=bearer).text
    for text in (body, shown):
        assert first.access_key_secret not in text
        assert second.access_key_secret not in text
        assert "secret" not in text.replace("access_key_id", "")

    with pytest.raises(errors.InvalidParameter) as bad:
        world.admin.create_access_key(user, expires_in_seconds=0)
    assert "expires_in_seconds" in bad.value.message
    with pytest.raises(errors.NotFound):
        world.admin.create_access_key(world.name("nobody"))
    with pytest.raises(errors.NotFound):
        world.admin.disable_access_key("RKNOSUCHKEY")


def test_policies_are_replaced_attached_detached_and_deleted(world: World) -> None:
    user, policy = world.name("user"), world.name("policy")
    world.admin.create_principal(user)
    first = world.admin.put_policy(
        policy, allow(("Allow", ["kms:GetSecretValue"], ["*"])), description="read"
    )
    assert (first.created, first.description, first.unmatched_actions) == (True, "read", ())
    replaced = world.admin.put_policy(policy, allow(("Allow", ["rotor:Nothing"], ["*"])))
    assert replaced.created is False
    assert replaced.unmatched_actions == ("rotor:Nothing",)
    assert policy in {p.name for p in world.admin.list_policies()}

    assert world.admin.attach_policy(policy, user).policies == (policy,)
    assert world.admin.attach_policy(policy, user).policies == (policy,)  # idempotent
    assert world.admin.get_policy(policy).attached_to == (user,)
    with pytest.raises(errors.Conflict) as attached:
        world.admin.delete_policy(policy)
    assert user in attached.value.message
    assert world.admin.detach_policy(policy, user).policies == ()
    with pytest.raises(errors.NotFound):
        world.admin.detach_policy(policy, user)
    with pytest.raises(errors.NotFound):
        world.admin.attach_policy(world.name("missing"), user)
    assert world.admin.delete_policy(policy).name == policy
    with pytest.raises(errors.NotFound):
        world.admin.get_policy(policy)


def test_a_principal_cannot_delete_itself(world: World) -> None:
    actor = world.actor("self", allow(("Allow", ["rotor:DeletePrincipal"], ["*"])))
    with actor.client() as client, pytest.raises(errors.Conflict):
        client.delete_principal(actor.name)
    assert world.admin.get_principal(actor.name).name == actor.name


def test_principal_and_policy_actions_are_checked_per_resource(world: World) -> None:
    team = world.name("team")
    manager = world.actor(
        "manager",
        allow(
            (
                "Allow",
                ["rotor:*Principal*", "rotor:*AccessKey*", "rotor:*Policy"],
                [f"rotor:principal/{team}-*"],
            ),
            ("Allow", ["rotor:CreatePolicy", "rotor:GetPolicy"], [f"rotor:policy/{team}-*"]),
        ),
    )
    member, outsider = f"{team}-member", world.name("outsider")
    world.admin.create_principal(outsider)
    with manager.client() as client:
        client.create_principal(member)
        key = client.create_access_key(member)
        client.put_policy(f"{team}-read", allow(("Allow", ["kms:ListSecrets"], ["*"])))
        client.attach_policy(f"{team}-read", member)
        assert client.get_principal(member).policies == (f"{team}-read",)
        assert [p.name for p in client.list_principals()] == [member]
        assert [p.name for p in client.list_policies()] == [f"{team}-read"]
        client.disable_access_key(key.access_key_id)
        for forbidden in (
            lambda: client.create_principal(world.name("x")),
            lambda: client.get_principal(outsider),
            lambda: client.create_access_key(outsider),
            lambda: client.list_access_keys("admin"),
            lambda: client.attach_policy("AdministratorAccess", manager.name),
            lambda: client.put_policy("AdministratorAccess", allow(("Allow", ["*"], ["*"]))),
            lambda: client.get_policy("AdministratorAccess"),
            lambda: client.delete_policy(f"{team}-read"),
        ):
            with pytest.raises(errors.AccessDenied):
                forbidden()
    denied = events_of(world.admin, principal=manager.name, outcome="denied")
    assert {e.action for e in denied} == {
        "rotor:CreatePrincipal",
        "rotor:ListPrincipals",
        "rotor:CreateAccessKey",
        "rotor:ListAccessKeys",
        "rotor:AttachPolicy",
        "rotor:CreatePolicy",
        "rotor:GetPolicy",
        "rotor:DeletePolicy",
    }


def test_get_principal_hides_keys_from_who_may_not_list_them(world: World) -> None:
    viewer = world.actor("viewer", allow(("Allow", ["rotor:ListPrincipals"], ["*"])))
    with viewer.client() as client:
        shown = client.get_principal(viewer.name)
    assert shown.access_keys is None
    assert shown.policies == (f"{viewer.name}-p0",)


def test_whoami_needs_only_authentication(world: World) -> None:
    me = world.admin.get_caller_identity()
    assert (me.principal, me.kind, me.session) == ("admin", "user", False)
    assert "AdministratorAccess" in me.policies
    actor = world.actor("who")
    with actor.client() as client:
        identity = client.get_caller_identity()
    assert identity.access_key_id == actor.key.access_key_id
    assert identity.principal == actor.name
    assert identity.policies == ()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/principals", {"name": "bad name"}, 400, "InvalidParameter"),
        ("POST", "/v1/principals", {"name": "x", "kind": "group"}, 400, "InvalidParameter"),
        ("POST", "/v1/principals", {"name": "x", "extra": 1}, 400, "InvalidParameter"),
        ("GET", "/v1/principals/no-such-principal-x", None, 404, "NotFound"),
        ("GET", "/v1/principals/bad:name", None, 404, "UnknownOperation"),
        ("PUT", "/v1/policies/p", {"document": 5}, 400, "InvalidParameter"),
        ("PUT", "/v1/policies/p", {}, 400, "InvalidParameter"),
        (
            "POST",
            "/v1/assume-role",
            {"role": "r", "duration_seconds": "1h"},
            400,
            "InvalidParameter",
        ),
        ("GET", "/v1/audit?outcome=maybe", None, 400, "InvalidParameter"),
        ("GET", "/v1/audit?since=yesterday", None, 400, "InvalidParameter"),
        ("GET", "/v1/audit?since=2026-01-01T00:00:00", None, 400, "InvalidParameter"),
        ("GET", "/v1/audit?page_size=1000", None, 400, "InvalidParameter"),
        ("GET", "/v1/audit?page_token=%25%25", None, 400, "InvalidParameter"),
        ("DELETE", "/v1/access-keys/RKNOSUCHKEY", None, 404, "NotFound"),
    ],
)
def test_errors_have_the_envelope(
    rotor_server: RunningServer,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
) -> None:
    bearer = f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
    with httpx.Client(base_url=rotor_server.url, headers={"Authorization": bearer}) as http:
        response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    data = response.json()
    assert set(data) == {"code", "message", "request_id"}
    assert data["code"] == code
    assert data["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in data["message"]


@pytest.mark.parametrize(
    "path", ["/v1/principals", "/v1/policies", "/v1/whoami", "/v1/audit", "/v1/principals/admin"]
)
def test_every_route_needs_credentials(rotor_server: RunningServer, path: str) -> None:
    response = httpx.get(rotor_server.url + path)
    assert response.status_code == 401
    assert response.json()["code"] == "Unauthenticated"
