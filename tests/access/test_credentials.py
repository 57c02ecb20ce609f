"""Which credentials a real server accepts: disabled, deleted and expired keys are refused
at once, and assumed-role credentials work only with their own session token, only as
narrowly as asked, and only until they expire."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import rotor.client
from rotor import errors
from rotor.settings import Settings
from rotor.store import tables
from rotor.store.database import Store
from tests.access.conftest import Actor, World, allow, assert_no_value_in, events_of, secrets_of
from tests.services.server import RunningServer


@pytest.fixture
def server_store(rotor_server: RunningServer) -> Iterator[Store]:
    """The shared server's own store (SQLite in its data dir), to age a key."""
    store = Store.open(
        Settings.load({"data_dir": rotor_server.data_dir}, environ={}), initialise=False
    )
    yield store
    store.close()


def set_expiry(store: Store, key_id: str, expires_at: dt.datetime) -> None:
    with store.write() as conn:
        conn.execute(
            tables.access_keys.update()
            .where(tables.access_keys.c.id == key_id)
            .values(expires_at=expires_at)
        )


def read_status(actor: Actor, path: str) -> tuple[int, str]:
    """GET ``path`` with the actor's bearer key: (status, request id)."""
    with actor.http() as http:
        response = http.get(path)
    return response.status_code, response.headers["x-request-id"]


def unauthenticated_request_ids(admin: rotor.client.Client, since: dt.datetime) -> set[str]:
    events = events_of(admin, outcome="unauthenticated", since=since)
    assert all(e.principal is None and e.error_code == "Unauthenticated" for e in events)
    return {e.request_id for e in events if e.request_id}


def wait_until(moment: dt.datetime) -> None:
    time.sleep(max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)


def test_disabled_and_deleted_keys_are_refused_at_once(world: World) -> None:
    app = world.name("app")
    world.admin.create_secret(f"{app}/db", value="v")
    started = dt.datetime.now(dt.UTC)
    actor = world.actor("keys", allow(("Allow", ["kms:GetSecretValue"], [secrets_of(app)])))
    path = f"/v1/secrets/{app}/db:value"
    assert read_status(actor, path)[0] == 200

    disabled = world.admin.disable_access_key(actor.key.access_key_id)
    assert disabled.status == "disabled"
    status, refused_disabled = read_status(actor, path)
    assert status == 401
    with actor.client() as client, pytest.raises(errors.Unauthenticated):
        client.get_caller_identity()  # whoami needs only authentication, and gets none

    assert world.admin.enable_access_key(actor.key.access_key_id).status == "active"
    assert read_status(actor, path)[0] == 200

    world.admin.delete_access_key(actor.key.access_key_id)
    status, refused_deleted = read_status(actor, path)
    assert status == 401
    assert world.admin.list_access_keys(actor.name) == ()
    with pytest.raises(errors.NotFound):
        world.admin.delete_access_key(actor.key.access_key_id)

    refused = unauthenticated_request_ids(world.admin, started)
    assert {refused_disabled, refused_deleted} <= refused
    allowed = events_of(world.admin, principal=actor.name, outcome="allowed", since=started)
    assert len([e for e in allowed if e.action == "kms:GetSecretValue"]) == 2
    updates = events_of(world.admin, action="rotor:UpdateAccessKey", since=started)
    assert {e.outcome for e in updates} == {"allowed"}
    assert len(updates) == 2


def test_an_expired_key_is_refused(world: World) -> None:
    started = dt.datetime.now(dt.UTC)
    actor = world.actor("expiring", expires_in_seconds=1)
    assert actor.key.expires_at is not None
    assert actor.key.expires_at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    wait_until(actor.key.expires_at)
    status, request_id = read_status(actor, "/v1/whoami")
    assert status == 401
    assert request_id in unauthenticated_request_ids(world.admin, started)
    (listed,) = world.admin.list_access_keys(actor.name)
    assert listed.expired


def test_a_deleted_principal_loses_its_keys_at_once(world: World) -> None:
    actor = world.actor("leaving")
    assert read_status(actor, "/v1/whoami")[0] == 200
    deleted = world.admin.delete_principal(actor.name)
    assert deleted.name == actor.name
    assert read_status(actor, "/v1/whoami")[0] == 401
    with pytest.raises(errors.NotFound):
        world.admin.get_principal(actor.name)


def role_and_assumer(world: World) -> tuple[Actor, Actor, str]:
    """A role that may read every secret under ``app-UID/``, and a user that may assume it."""
    app = world.name("app")
    for leaf in ("a", "b"):
        world.admin.create_secret(f"{app}/{leaf}", value=f"{leaf}-{world.uid}")
    role = world.actor(
        "role", allow(("Allow", ["kms:GetSecretValue"], [secrets_of(app)])), kind="role"
    )
    assumer = world.actor(
        "assumer", allow(("Allow", ["sts:AssumeRole"], [f"rotor:principal/{role.name}"]))
    )
    return role, assumer, app


def session_client(
    url: str, credentials: rotor.client.SessionCredentials, token: str | None = None
) -> rotor.client.Client:
    return rotor.client.Client(
        url,
        access_key_id=credentials.access_key_id,
        access_key_secret=credentials.access_key_secret,
        security_token=credentials.security_token if token is None else token,
        retry=rotor.client.Retry(attempts=0),
    )


def test_assumed_role_credentials_work_with_their_own_token_only(world: World) -> None:
    role, assumer, app = role_and_assumer(world)
    started = dt.datetime.now(dt.UTC)
    with assumer.client() as client:
        credentials = client.assume_role(role.name, duration_seconds=900)
        other = client.assume_role(role.name)
        # The assumer itself cannot read: only the role can.
        with pytest.raises(errors.AccessDenied):
            client.get_value(f"{app}/a")
    assert credentials.role == role.name
    lifetime = credentials.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=880) < lifetime <= dt.timedelta(seconds=900)
    assert dt.timedelta(seconds=3580) < other.expires_at - dt.datetime.now(dt.UTC)
    assert "security_token" not in repr(credentials)
    assert credentials.security_token not in repr(credentials)

    with session_client(world.url, credentials) as session:
        assert session.get_value(f"{app}/a").value == f"a-{world.uid}"
        me = session.get_caller_identity()
        assert (me.principal, me.kind, me.session) == (role.name, "role", True)
        assert me.expires_at == credentials.expires_at
    for token in ("", other.security_token):
        with (
            session_client(world.url, credentials, token=token) as wrong,
            pytest.raises(errors.Unauthenticated),
        ):
            wrong.get_value(f"{app}/a")
    # A long-term key given a session token is refused too.
    with (
        rotor.client.Client(
            world.url,
            access_key_id=role.key.access_key_id,
            access_key_secret=role.key.access_key_secret,
            security_token=credentials.security_token,
            retry=rotor.client.Retry(attempts=0),
        ) as mixed,
        pytest.raises(errors.Unauthenticated),
    ):
        mixed.get_caller_identity()

    keys = {k.access_key_id: k for k in world.admin.list_access_keys(role.name)}
    assert keys[credentials.access_key_id].session
    assert not keys[role.key.access_key_id].session

    events = events_of(world.admin, since=started)
    assumed = [e for e in events if e.action == "sts:AssumeRole"]
    assert {(e.principal, e.outcome) for e in assumed} == {(assumer.name, "allowed")}
    reads = [e for e in events if e.access_key_id == credentials.access_key_id]
    assert {(e.principal, e.action, e.outcome) for e in reads} >= {
        (role.name, "kms:GetSecretValue", "allowed")
    }
    assert len([e for e in events if e.outcome == "unauthenticated"]) >= 3
    assert_no_value_in(
        events,
        f"a-{world.uid}",
        credentials.access_key_secret,
        credentials.security_token,
        other.security_token,
    )


def test_a_session_policy_narrows_the_role(world: World) -> None:
    role, assumer, app = role_and_assumer(world)
    narrow = allow(("Allow", ["kms:GetSecretValue"], [f"acs:kms:*:*:secret/{app}/a"]))
    with assumer.client() as client:
        credentials = client.assume_role(role.name, policy=narrow)
        # A session policy cannot widen what the role may do.
        wide = client.assume_role(role.name, policy=allow(("Allow", ["*"], ["*"])))
    with session_client(world.url, credentials) as session:
        assert session.get_value(f"{app}/a").value == f"a-{world.uid}"
        with pytest.raises(errors.AccessDenied):
            session.get_value(f"{app}/b")
    with session_client(world.url, wide) as session:
        assert session.get_value(f"{app}/b").value == f"b-{world.uid}"
        with pytest.raises(errors.AccessDenied):
            session.put_value(f"{app}/b", "no")
        with pytest.raises(errors.AccessDenied):
            session.create_principal(world.name("no"))


def test_assumed_role_credentials_expire(world: World, server_store: Store) -> None:
    role, assumer, app = role_and_assumer(world)
    with assumer.client() as client:
        credentials = client.assume_role(role.name)
    # Shorten the session (the API's minimum is 15 minutes) before its first use.
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    set_expiry(server_store, credentials.access_key_id, expires_at)
    with session_client(world.url, credentials) as session:
        assert session.get_value(f"{app}/a").value == f"a-{world.uid}"
        wait_until(expires_at)
        with pytest.raises(errors.Unauthenticated):
            session.get_value(f"{app}/a")
    with server_store.read() as conn:
        row = conn.execute(
            sa.select(tables.access_keys.c.expires_at).where(
                tables.access_keys.c.id == credentials.access_key_id
            )
        ).first()
    assert row is None or row.expires_at <= dt.datetime.now(dt.UTC)


def test_only_roles_can_be_assumed_and_only_when_allowed(world: World) -> None:
    role, assumer, _ = role_and_assumer(world)
    user = world.actor("plain-user")
    started = dt.datetime.now(dt.UTC)
    with pytest.raises(errors.InvalidParameter) as not_a_role:
        world.admin.assume_role(user.name)
    assert "only roles can be assumed" in not_a_role.value.message
    with pytest.raises(errors.NotFound):
        world.admin.assume_role(world.name("missing"))
    for seconds in (899, 43201):
        with pytest.raises(errors.InvalidParameter) as bad_duration:
            world.admin.assume_role(role.name, duration_seconds=seconds)
        assert "between 900 and 43200" in bad_duration.value.message
    assert world.admin.assume_role(role.name, duration_seconds=43200).role == role.name
    with user.client() as client, pytest.raises(errors.AccessDenied):
        client.assume_role(role.name)
    other_role = world.actor("other-role", kind="role")
    with assumer.client() as client, pytest.raises(errors.AccessDenied):
        client.assume_role(other_role.name)
    denied = events_of(world.admin, action="sts:AssumeRole", outcome="denied", since=started)
    assert {e.principal for e in denied} == {user.name, assumer.name}
