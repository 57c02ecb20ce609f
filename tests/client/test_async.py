"""AsyncClient: every operation family against the real server, concurrency, TLS and
timeouts, and (through ``httpx.MockTransport``, as in test_transport.py) retries and
error mapping.

No asyncio plugin for pytest is used: each test runs its coroutine with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, assert_type

import httpx
import pytest

import rotor.client
from rotor import errors
from rotor.client.client import AsyncClient, Client
from tests.client.test_transport import FAST, NOW, SECRET, Script, error_body
from tests.services import tls
from tests.services.server import RunningServer
from tests.services.unreachable import register_unreachable

T = TypeVar("T")
FUNCTION = "generated-password"


def connect(server: RunningServer, **kwargs: Any) -> AsyncClient:
    """An async client of ``server`` with the admin key."""
    kwargs.setdefault("access_key_id", server.access_key_id)
    kwargs.setdefault("access_key_secret", server.access_key_secret)
    return AsyncClient(server.url, **kwargs)


async def collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


# -- the real server ---------------------------------------------------------------------------


def test_secrets_values_versions_and_stages(rotor_server: RunningServer, name: str) -> None:
    async def main() -> None:
        async with connect(rotor_server) as client:
            info = await client.create_secret(name, value="one", version_id="v1", tags={"t": "a"})
            assert_type(info, rotor.client.SecretInfo)
            assert (info.name, set(info.stages)) == (name, {"Current"})
            assert await client.describe_secret(name) == info

            value = await client.get_value(name)
            assert_type(value, rotor.client.SecretValue)
            assert (value.value, value.version_id) == ("one", "v1")

            version = await client.put_value(name, json.dumps({"user": "app"}), version_id="v2")
            assert_type(version, rotor.client.VersionInfo)
            assert version.stages == ("Current",)
            assert_type(await client.get_json(name), dict[str, Any])
            assert await client.get_json(name) == {"user": "app"}
            assert (await client.get_value(name, stage="Previous")).value == "one"

            await client.put_value(name, b"\x00\xff", version_id="v3", stages=["Pending"])
            moved = await client.update_stage(name, "Current", move_to_version="v3")
            assert_type(moved, rotor.client.SecretStages)
            assert (moved.stages["Current"], moved.stages["Previous"]) == ("v3", "v2")
            assert (await client.get_value(name)).value == b"\x00\xff"

            page = await client.list_versions(name, page_size=2)
            assert_type(page, rotor.client.Page[rotor.client.VersionInfo])
            assert [v.version_id for v in page.items] == ["v3", "v2"]
            versions = client.iter_versions(name, page_size=1)
            assert_type(versions, AsyncIterator[rotor.client.VersionInfo])
            assert [v.version_id for v in await collect(versions)] == ["v3", "v2", "v1"]

            updated = await client.update_secret(name, description="new", tags={"t": "b"})
            assert (updated.description, dict(updated.tags)) == ("new", {"t": "b"})

            scheduled = await client.delete_secret(name, recovery_days=7)
            assert scheduled.delete_after is not None
            with pytest.raises(errors.SecretPendingDeletion):
                await client.get_value(name)
            assert (await client.restore_secret(name)).delete_after is None
            await client.delete_secret(name, force=True)
            with pytest.raises(errors.NotFound):
                await client.describe_secret(name)

    asyncio.run(main())


def test_list_and_iterate_secrets(rotor_server: RunningServer, name: str) -> None:
    prefix = name.rsplit("/", 1)[0] + "/"

    async def main() -> None:
        async with connect(rotor_server) as client:
            for i in range(5):
                await client.create_secret(f"{prefix}{i}", tags={"odd": str(i % 2)})
            page = await client.list_secrets(prefix=prefix, page_size=2)
            assert_type(page, rotor.client.Page[rotor.client.SecretInfo])
            assert [s.name for s in page.items] == [f"{prefix}0", f"{prefix}1"]
            assert page.next_page_token is not None
            secrets = client.iter_secrets(prefix=prefix, page_size=2)
            assert_type(secrets, AsyncIterator[rotor.client.SecretInfo])
            assert [s.name for s in await collect(secrets)] == [f"{prefix}{i}" for i in range(5)]
            odd = await collect(client.iter_secrets(prefix=prefix, tags={"odd": "1"}))
            assert [s.name for s in odd] == [f"{prefix}1", f"{prefix}3"]

    asyncio.run(main())


def test_concurrent_reads(rotor_server: RunningServer, name: str) -> None:
    prefix = name.rsplit("/", 1)[0] + "/"

    async def main() -> None:
        async with connect(rotor_server) as client:
            names = [f"{prefix}{i}" for i in range(10)]
            await asyncio.gather(*(client.create_secret(n, value=f"value of {n}") for n in names))
            reads = await asyncio.gather(*(client.get_value(n) for n in names * 5))
            assert [r.value for r in reads] == [f"value of {n}" for n in names * 5]
            # A failure in one read does not disturb the others.
            results = await asyncio.gather(
                client.get_value(names[0]),
                client.get_value(f"{prefix}missing"),
                client.get_value(names[1]),
                return_exceptions=True,
            )
            first, missing, second = results
            assert isinstance(missing, errors.NotFound)
            assert isinstance(first, rotor.client.SecretValue)
            assert isinstance(second, rotor.client.SecretValue)
            assert (first.value, second.value) == (f"value of {names[0]}", f"value of {names[1]}")

    asyncio.run(main())


def test_rotation_start_and_poll(rotor_server: RunningServer, name: str) -> None:
    async def main() -> None:
        async with connect(rotor_server) as client:
            await client.create_secret(name, value="old")
            configured = await client.configure_rotation(
                name, function=FUNCTION, parameters={"PasswordLength": 24}, every="30d"
            )
            assert_type(configured, rotor.client.ConfiguredRotation)
            assert configured.started is not None
            seen: list[rotor.client.Rotation] = []
            final = await client.wait_for_rotation(
                configured.started.id, timeout=30, poll=0.05, on_update=seen.append
            )
            assert_type(final, rotor.client.Rotation)
            assert final.succeeded
            assert seen[-1] is final
            current = await client.get_value(name)
            assert current.version_id == final.version_id
            assert isinstance(current.value, str)
            assert len(current.value) == 24

            rotation = await client.rotate_secret(name)
            assert rotation.created is True
            assert (await client.wait_for_rotation(rotation.id, timeout=30)).succeeded
            assert (await client.get_rotation(rotation.id)).id == rotation.id
            history = await collect(client.iter_rotations(name, page_size=1))
            assert [r.id for r in history] == [rotation.id, final.id]
            assert (await client.list_rotations(name)).items[0].id == rotation.id
            assert (await client.describe_rotation(name)).function == FUNCTION
            assert not (await client.disable_rotation(name)).enabled
            assert_type(await client.list_due_rotations(), tuple[str, ...])
            with pytest.raises(errors.NotFound):
                await client.cancel_rotation(name)

    asyncio.run(main())


def test_wait_for_rotation_times_out(
    rotor_server: RunningServer, name: str, tmp_path: Path
) -> None:
    with rotor_server.client() as admin:
        function = register_unreachable(admin, tmp_path)

    async def main() -> None:
        async with connect(rotor_server) as client:
            await client.create_secret(name, value="old")
            # The target is unreachable: the new step fails and waits to be retried.
            configured = await client.configure_rotation(name, function=function)
            assert configured.started is not None
            with pytest.raises(ValueError, match="poll"):
                await client.wait_for_rotation(configured.started.id, poll=0)
            with pytest.raises(TimeoutError, match="still running"):
                await client.wait_for_rotation(configured.started.id, timeout=0.3, poll=0.05)
            cancelled = await client.cancel_rotation(name)
            assert cancelled.status == "cancelled"

    asyncio.run(main())


def test_access_and_audit(rotor_server: RunningServer, name: str) -> None:
    uid = uuid.uuid4().hex[:10]
    read_all = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": "*"}],
    }

    async def main() -> None:
        async with connect(rotor_server) as client:
            started = dt.datetime.now(dt.UTC)
            await client.create_secret(name, value="audited")
            principal = await client.create_principal(f"async-user-{uid}")
            assert_type(principal, rotor.client.Principal)
            role = await client.create_principal(f"async-role-{uid}", kind="role")
            assert principal.name in {p.name for p in await client.list_principals()}
            key = await client.create_access_key(principal.name)
            assert_type(key, rotor.client.NewAccessKey)
            assert [k.access_key_id for k in await client.list_access_keys(principal.name)] == [
                key.access_key_id
            ]
            policy = await client.put_policy(f"async-policy-{uid}", read_all)
            assert_type(policy, rotor.client.Policy)
            assert (await client.get_policy(policy.name)).document == read_all
            assert policy.name in {p.name for p in await client.list_policies()}
            await client.attach_policy(policy.name, principal.name)
            assert (await client.get_principal(principal.name)).policies == (policy.name,)

            async with connect(
                rotor_server,
                access_key_id=key.access_key_id,
                access_key_secret=key.access_key_secret,
            ) as as_user:
                me = await as_user.get_caller_identity()
                assert_type(me, rotor.client.CallerIdentity)
                assert me.principal == principal.name
                assert (await as_user.get_value(name)).value == "audited"
                with pytest.raises(errors.AccessDenied):
                    await as_user.put_value(name, "not allowed")
                await client.disable_access_key(key.access_key_id)
                with pytest.raises(errors.Unauthenticated):
                    await as_user.get_value(name)
                await client.enable_access_key(key.access_key_id)
                assert (await as_user.get_value(name)).value == "audited"

            session = await client.assume_role(role.name, duration_seconds=900)
            assert_type(session, rotor.client.SessionCredentials)
            async with connect(
                rotor_server,
                access_key_id=session.access_key_id,
                access_key_secret=session.access_key_secret,
                security_token=session.security_token,
            ) as as_role:
                assert (await as_role.get_caller_identity()).session

            page = await client.list_audit_events(secret=name, page_size=1)
            assert_type(page, rotor.client.Page[rotor.client.AuditEvent])
            assert page.next_page_token is not None
            events = client.iter_audit_events(secret=name, since=started, page_size=2)
            assert_type(events, AsyncIterator[rotor.client.AuditEvent])
            found = await collect(events)
            assert found[-1].action == "kms:CreateSecret"
            with rotor_server.client() as sync_client:
                assert found == list(sync_client.iter_audit_events(secret=name, since=started))

            await client.detach_policy(policy.name, principal.name)
            await client.delete_policy(policy.name)
            await client.delete_access_key(key.access_key_id)
            await client.delete_principal(principal.name)
            await client.delete_principal(role.name)

    asyncio.run(main())


def test_errors_from_the_server(rotor_server: RunningServer, name: str) -> None:
    async def main() -> None:
        async with connect(rotor_server) as client:
            with pytest.raises(errors.NotFound) as missing:
                await client.get_value(name)
            assert name in missing.value.message
            await client.create_secret(name)
            with pytest.raises(errors.SecretExists) as exists:
                await client.create_secret(name)
            assert exists.value.exit_code == 4
            with pytest.raises(errors.InvalidParameter, match="invalid secret name"):
                await client.get_value("has space")
            with pytest.raises(errors.ValueTooLarge):
                await client.put_value(name, "x" * (64 * 1024 + 1))
        async with connect(rotor_server, access_key_secret="wrong-secret-value") as client:
            with pytest.raises(errors.Unauthenticated) as caught:
                await client.describe_secret(name)
            assert "wrong-secret-value" not in str(caught.value)

    asyncio.run(main())


def test_password_and_health(rotor_server: RunningServer) -> None:
    async def main() -> None:
        async with connect(rotor_server) as client:
            password = await client.generate_password(length=40, exclude_punctuation=True)
            assert_type(password, str)
            assert len(password) == 40
            assert password.isalnum()
        env = {"XDG_DATA_HOME": "/nonexistent"}
        async with AsyncClient(rotor_server.url, environ=env) as anonymous:
            assert await anonymous.healthz() == "ok"
            assert await anonymous.readyz() == "ready"
            with pytest.raises(errors.InvalidParameter, match="ROTOR_ACCESS_KEY_ID"):
                await anonymous.describe_secret("anything")

    asyncio.run(main())


def test_configuration_from_the_environment_and_the_data_dir(
    rotor_server: RunningServer, name: str
) -> None:
    async def main() -> None:
        env = {"ROTOR_URL": rotor_server.url, **rotor_server.credentials_env}
        async with AsyncClient(environ=env) as from_env:
            assert from_env.url == rotor_server.url
            assert from_env.config.url_source == "ROTOR_URL"
            await from_env.create_secret(name, value="found")
        async with AsyncClient(data_dir=rotor_server.data_dir, environ={}) as from_dir:
            assert from_dir.url == rotor_server.url
            assert (await from_dir.get_value(name)).value == "found"
        async with AsyncClient(environ=env, signing="hmac") as signed:
            assert (await signed.get_value(name)).value == "found"

    asyncio.run(main())


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_server_after_retries() -> None:
    url = closed_port_url()
    retry = rotor.client.Retry(attempts=2, backoff=0.05, max_backoff=0.1)

    async def main() -> None:
        async with AsyncClient(url, access_key_id="k", access_key_secret="s", retry=retry) as c:
            with pytest.raises(errors.ServerUnreachable) as caught:
                await c.describe_secret("x")
            assert url in caught.value.message
            assert caught.value.exit_code == 7

    started = time.monotonic()
    asyncio.run(main())
    assert 0.05 <= time.monotonic() - started < 5  # two backoffs: 0.025-0.05 s, 0.05-0.1 s


def test_tls_verified_by_default(tls_server: RunningServer, certificates: tls.Certificates) -> None:
    async def main() -> None:
        async with connect(tls_server, ca_bundle=None) as untrusting:
            with pytest.raises(errors.ServerUnreachable, match="certificate") as caught:
                await untrusting.healthz()
            assert caught.value.__cause__ is not None
        async with connect(tls_server, ca_bundle=certificates.ca) as trusting:
            assert await trusting.healthz() == "ok"
            assert (await trusting.get_caller_identity()).principal == "admin"

    asyncio.run(main())


def test_default_timeouts() -> None:
    async def main() -> None:
        async with AsyncClient("http://127.0.0.1:1", access_key_id="k", access_key_secret="s") as c:
            assert c._timeout == rotor.client.DEFAULT_TIMEOUT
            assert (c._timeout.connect, c._timeout.read) == (5.0, 30.0)

    asyncio.run(main())


# -- the same surface as Client ----------------------------------------------------------------


def public_methods(cls: type[Any]) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")} - {"config", "retry", "url"}


def test_same_methods_and_signatures_as_client() -> None:
    assert public_methods(AsyncClient) - {"aclose"} == public_methods(Client) - {"close"}
    assert inspect.signature(AsyncClient) == inspect.signature(Client)
    sync = Client("http://rotor.test", environ={})
    not_sync = AsyncClient("http://rotor.test", environ={})
    for method in public_methods(Client) - {"close"}:
        assert inspect.signature(getattr(sync, method)) == inspect.signature(
            getattr(not_sync, method)
        ), method
        assert getattr(sync, method).__doc__ == getattr(not_sync, method).__doc__, method
    sync.close()
    asyncio.run(not_sync.aclose())


# -- retries and error mapping, through a mock transport ---------------------------------------


def make_client(script: Script, **kwargs: Any) -> AsyncClient:
    return AsyncClient(
        "http://rotor.test",
        access_key_id="RKID",
        access_key_secret="keysecret",
        retry=FAST,
        transport=httpx.MockTransport(script),
        **kwargs,
    )


def call(script: Script, operation: Callable[[AsyncClient], Awaitable[T]], **kwargs: Any) -> T:
    async def main() -> T:
        async with make_client(script, **kwargs) as client:
            return await operation(client)

    return asyncio.run(main())


def test_get_retried_on_5xx() -> None:
    script = Script(
        httpx.Response(503, json=error_body("ServiceUnavailable")),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, json=SECRET),
    )
    assert call(script, lambda c: c.describe_secret("app/db")).name == "app/db"
    assert len(script.requests) == 3


def test_retries_give_up_with_the_last_error() -> None:
    script = Script(httpx.Response(503, json=error_body("ServiceUnavailable", "store down")))
    with pytest.raises(errors.ServiceUnavailable) as caught:
        call(script, lambda c: c.describe_secret("app/db"))
    assert len(script.requests) == 1 + FAST.attempts
    assert "rid123" in caught.value.message


def test_non_idempotent_not_retried_on_5xx() -> None:
    script = Script(httpx.Response(503, json=error_body("ServiceUnavailable")))
    with pytest.raises(errors.ServiceUnavailable):
        call(script, lambda c: c.create_secret("app/db"))
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "InvalidParameter", errors.InvalidParameter),
        (401, "Unauthenticated", errors.Unauthenticated),
        (403, "AccessDenied", errors.AccessDenied),
        (404, "NotFound", errors.NotFound),
        (409, "VersionConflict", errors.VersionConflict),
        (409, "SomethingNew", errors.Conflict),
        (413, "ValueTooLarge", errors.ValueTooLarge),
        (429, "SlowDown", errors.InvalidRequest),
    ],
)
def test_4xx_mapped_and_never_retried(
    status: int, code: str, error: type[errors.RotorError]
) -> None:
    script = Script(httpx.Response(status, json=error_body(code, "server says no")))
    with pytest.raises(error) as caught:
        call(script, lambda c: c.get_value("app/db"))
    assert type(caught.value) is error
    assert caught.value.message == "server says no"
    assert len(script.requests) == 1


def test_connect_errors_retried_for_any_request() -> None:
    script = Script(httpx.ConnectError("connection refused"), httpx.Response(201, json=SECRET))
    assert call(script, lambda c: c.create_secret("app/db")).name == "app/db"
    assert len(script.requests) == 2


def test_lost_response_of_a_create_not_retried() -> None:
    script = Script(httpx.ReadError("connection reset"), httpx.Response(201, json=SECRET))
    with pytest.raises(errors.ServerUnreachable, match=r"http://rotor\.test"):
        call(script, lambda c: c.create_secret("app/db"))
    assert len(script.requests) == 1


def test_put_retried_with_the_same_version_id_and_a_fresh_signature() -> None:
    version = {"name": "app/db", "version_id": "x", "stages": ["Current"], "created_at": NOW}
    script = Script(
        httpx.ReadError("connection reset"),
        httpx.Response(500, json=error_body("InternalError")),
        httpx.Response(200, json=version),
    )
    signatures: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        signatures.append(request.headers["authorization"])
        return script(request)

    async def put() -> None:
        async with AsyncClient(
            "http://rotor.test",
            access_key_id="RKID",
            access_key_secret="keysecret",
            signing="hmac",
            retry=FAST,
            transport=httpx.MockTransport(answer),
        ) as client:
            await client.put_value("app/db", "value")

    asyncio.run(put())
    bodies = [json.loads(request.content) for request in script.requests]
    assert len(bodies) == 3
    assert all(body == bodies[0] for body in bodies)
    assert all(s.startswith("ROTOR-HMAC-SHA256 ") for s in signatures)
    assert len(set(signatures)) == 3  # a fresh nonce each time, never refused as a replay


def test_timeout_reported_as_unreachable() -> None:
    script = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(errors.ServerUnreachable, match="timed out"):
        call(script, lambda c: c.describe_secret("app/db"))


def test_unexpected_success_body() -> None:
    script = Script(httpx.Response(200, json={"unexpected": "shape", "value": "leaked-secret"}))
    with pytest.raises(errors.InternalError) as caught:
        call(script, lambda c: c.get_value("app/db"))
    assert "leaked-secret" not in caught.value.message
    assert caught.value.__cause__ is None


def test_pages_fetched_as_iterated() -> None:
    other = {**SECRET, "name": "app/other"}
    script = Script(
        httpx.Response(200, json={"secrets": [SECRET], "next_page_token": "t1"}),
        httpx.Response(200, json={"secrets": [other], "next_page_token": None}),
    )

    async def first_then_all(client: AsyncClient) -> list[str]:
        secrets = client.iter_secrets(prefix="app/", page_size=1)
        assert script.requests == []  # nothing is sent before iterating
        return [s.name async for s in secrets]

    assert call(script, first_then_all) == ["app/db", "app/other"]
    tokens = [r.url.params.get("page_token") for r in script.requests]
    assert tokens == [None, "t1"]
