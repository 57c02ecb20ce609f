"""A rotation never hands out more than its configurer holds, and custom code is registered.

Each escalation the black-box test found is reproduced against the session's real
server: a principal ``dev`` that holds only ``kms:*`` on ``secret/dev/*`` tries to reach
``prod/db-master`` through a rotation function's credentials (a ``*Secret``
parameter, ``MasterSecret`` in its own secret's value, ``Role``, a dry run, a handler
or URL of its choosing). Every attempt is refused with nothing stored and nothing
sent; the legitimate paths still work, and revoking the configurer's rights stops a
delegation at the next rotation.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import rotor.client
from rotor import errors
from tests.access.conftest import Actor, World, allow, events_of, secrets_of


class _Webhook(BaseHTTPRequestHandler):
    """An HTTP rotation function that tries to loot a secret with the credentials it gets,
    and otherwise rotates its own secret properly."""

    calls: queue.Queue[dict[str, Any]]
    loot: str

    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name, step, version = event["SecretName"], event["Step"], event["VersionId"]
        seen: dict[str, Any] = {"step": step}
        with rotor.client.Client(
            self.headers["X-Rotor-Url"],
            access_key_id=self.headers["X-Rotor-Access-Key-Id"],
            access_key_secret=self.headers["X-Rotor-Access-Key-Secret"],
            security_token=self.headers.get("X-Rotor-Security-Token"),
            retry=rotor.client.Retry(attempts=0),
        ) as client:
            for what, attempt in (
                ("read", lambda: client.get_value(self.loot)),
                ("write", lambda: client.put_value(self.loot, "pwned")),
            ):
                try:
                    attempt()
                    seen[what] = "allowed"
                except errors.AccessDenied:
                    seen[what] = "denied"
            if step == "new":
                client.put_value(name, f"v-{version[:8]}", version_id=version, stages=["Pending"])
            elif step == "end":
                client.update_stage(name, "Current", move_to_version=version)
                client.update_stage(name, "Pending", remove_from_version=version)
        self.calls.put(seen)
        body = json.dumps({"VersionId": version}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Webhook:
    def __init__(self, loot: str) -> None:
        handler = type("Handler", (_Webhook,), {"calls": queue.Queue(), "loot": loot})
        self.calls: queue.Queue[dict[str, Any]] = handler.calls
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> list[dict[str, Any]]:
        out = []
        while not self.calls.empty():
            out.append(self.calls.get_nowait())
        return out


@pytest.fixture
def master(world: World) -> str:
    name = world.name("prod/db-master")
    world.admin.create_secret(name, value=json.dumps({"AccountPassword": "prod-root-pw-123"}))
    return name


@pytest.fixture
def webhook(master: str) -> Iterator[Webhook]:
    hook = Webhook(master)
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()
    hook.thread.join()


@pytest.fixture
def hook_function(world: World, webhook: Webhook) -> str:
    """An HTTP function an administrator registered, which may be given any secret."""
    name = world.name("hook")
    world.admin.register_function(name, kind="http-function", url=webhook.url, secrets=["*"])
    return name


def dev_actor(world: World, *extra: dict[str, Any], base: str = "dev") -> Actor:
    """``dev``: kms:* on its own secrets, and attaching the registered functions."""
    prefix = world.name("dev")
    return world.actor(
        base,
        allow(("Allow", ["kms:*"], [secrets_of(prefix)])),
        allow(("Allow", ["rotor:AttachFunction"], ["rotor:function/*"])),
        *extra,
    )


def dev_secret(world: World, dev: Actor, value: str = "initial") -> str:
    name = f"{world.name('dev')}/x"
    with dev.client() as client:
        client.create_secret(name, value=value)
    return name


def configure(actor: Actor, name: str, body: dict[str, Any]) -> httpx.Response:
    with actor.http() as http:
        return http.put(f"/v1/secrets/{name}:rotation", json=body)


def assert_refused(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    for word in words:
        assert word in response.json()["message"]


def assert_not_configured(world: World, name: str) -> None:
    with pytest.raises(errors.NotFound):
        world.admin.describe_rotation(name)


# -- the escalations, refused --------------------------------------------------------------------


def test_dev_cannot_read_the_master_directly(world: World, master: str) -> None:
    dev = dev_actor(world)
    with dev.client() as client, pytest.raises(errors.AccessDenied):
        client.get_value(master)


@pytest.mark.parametrize("rotate_now", [True, False])
def test_a_parameter_naming_another_secret_is_refused(
    world: World, master: str, webhook: Webhook, hook_function: str, rotate_now: bool
) -> None:
    dev = dev_actor(world)
    name = dev_secret(world, dev)
    response = configure(
        dev,
        name,
        {
            "function": hook_function,
            "parameters": {"LootSecret": master},
            "rotate_now": rotate_now,
        },
    )
    assert_refused(response, 403, "DelegationDenied", master, "kms:GetSecretValue", dev.name)
    assert_not_configured(world, name)
    assert webhook.received() == []  # not even a dry run reached it


def test_master_secret_in_the_secrets_own_value_is_refused(
    world: World, master: str, webhook: Webhook, hook_function: str
) -> None:
    dev = dev_actor(world)
    name = dev_secret(world, dev, json.dumps({"AccountName": "app", "MasterSecret": master}))
    for function in (hook_function, "mysql-alternating"):
        response = configure(dev, name, {"function": function, "rotate_now": False})
        assert_refused(response, 403, "DelegationDenied", master)
    assert_not_configured(world, name)
    assert webhook.received() == []


def test_reading_is_not_enough_delegating_needs_pass_secret(
    world: World, master: str, webhook: Webhook, hook_function: str
) -> None:
    dev = dev_actor(world, allow(("Allow", ["kms:GetSecretValue"], [f"*:secret/{master}"])))
    name = dev_secret(world, dev)
    response = configure(
        dev, name, {"function": hook_function, "parameters": {"X": 1, "LootSecret": master}}
    )
    assert_refused(response, 403, "DelegationDenied", "rotor:PassSecret", master)
    assert_not_configured(world, name)


def test_a_role_needs_pass_role_and_the_registration(
    world: World, webhook: Webhook, hook_function: str
) -> None:
    dev = dev_actor(world)
    name = dev_secret(world, dev)
    response = configure(
        dev, name, {"function": hook_function, "parameters": {"Role": "admin"}, "rotate_now": False}
    )
    assert_refused(response, 403, "DelegationDenied", "admin")
    # Even with PassRole on admin, the function is not registered to be given that role.
    passer = dev_actor(
        world, allow(("Allow", ["rotor:PassRole"], ["rotor:principal/admin"])), base="passer"
    )
    response = configure(passer, name, {"function": hook_function, "parameters": {"Role": "admin"}})
    assert_refused(response, 403, "DelegationDenied", "not registered to be given the role")
    assert_not_configured(world, name)
    assert webhook.received() == []


@pytest.mark.parametrize(
    ("parameters", "word"),
    [
        ({"Handler": "/srv/evil.py:handler"}, "Handler"),
        ({"Python": "/bin/sh"}, "Python"),
        ({"PythonPath": "/srv"}, "PythonPath"),
        ({"Url": "http://127.0.0.1:1/"}, "Url"),
    ],
)
def test_code_and_addresses_are_not_accepted_from_a_configuration(
    world: World, hook_function: str, parameters: dict[str, Any], word: str
) -> None:
    dev = dev_actor(world)
    name = dev_secret(world, dev)
    response = configure(dev, name, {"function": hook_function, "parameters": parameters})
    assert_refused(response, 400, "InvalidParameter", word, "rotor function register")
    assert_not_configured(world, name)


@pytest.mark.parametrize("kind", ["python-handler", "http-function"])
def test_the_adapters_cannot_be_named_directly(world: World, kind: str) -> None:
    dev = dev_actor(world)
    name = dev_secret(world, dev)
    response = configure(
        dev, name, {"function": kind, "parameters": {"WebhookSecret": f"{world.name('dev')}/h"}}
    )
    assert_refused(response, 400, "InvalidParameter", "registered first")
    assert_not_configured(world, name)


def test_a_handler_outside_the_registry_is_unknown(world: World) -> None:
    dev = dev_actor(world)
    name = dev_secret(world, dev)
    response = configure(dev, name, {"function": "/srv/evil.py:handler"})
    assert_refused(response, 400, "InvalidParameter", "unknown rotation function")
    assert_not_configured(world, name)


def test_attaching_a_registered_function_needs_attach_function(
    world: World, hook_function: str, webhook: Webhook
) -> None:
    prefix = world.name("dev")
    dev = world.actor("plain", allow(("Allow", ["kms:*"], [secrets_of(prefix)])))
    name = f"{prefix}/y"
    with dev.client() as client:
        client.create_secret(name, value="v")
    response = configure(dev, name, {"function": hook_function})
    assert_refused(response, 403, "DelegationDenied", "rotor:AttachFunction", hook_function)
    assert_not_configured(world, name)
    assert webhook.received() == []


def test_registering_functions_needs_the_administrative_action(world: World) -> None:
    dev = dev_actor(world)
    with dev.client() as client:
        with pytest.raises(errors.AccessDenied):
            client.register_function(world.name("mine"), kind="python-handler", handler="os:system")
        # ...and what is registered is visible only to who may list it.
        assert client.list_functions() == ()
    with pytest.raises(errors.NotFound):
        world.admin.get_function(world.name("mine"))


def test_a_registration_is_checked(world: World, tmp_path: Any) -> None:
    admin = world.admin
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "python-handler", "handler": "relative.py:handler"}, "absolute"),
        ({"kind": "python-handler", "handler": "/nonexistent/file.py:handler"}, "does not exist"),
        ({"kind": "python-handler", "handler": "os:system", "python": "sh"}, "absolute"),
        ({"kind": "python-handler", "handler": "os:system", "python": "/etc/passwd"}, "executable"),
        ({"kind": "python-handler", "handler": "os:system", "url": "http://x/"}, "does not take"),
        ({"kind": "http-function", "url": "file:///etc/passwd"}, "http"),
        ({"kind": "http-function", "url": "http://x/", "roles": ["nobody-here"]}, "not a role"),
        ({"kind": "python-handler", "handler": "os:system", "secrets": ["a b"]}, "not valid"),
    ]
    for body, word in cases:
        with pytest.raises(errors.InvalidParameter, match=word):
            admin.register_function(world.name("bad"), **body)
    with pytest.raises(errors.Conflict):
        admin.register_function("mysql-alternating", kind="python-handler", handler="os:system")


# -- the legitimate paths ----------------------------------------------------------------------


def delegating_dev(world: World, master: str) -> Actor:
    """A dev who may read the master and delegate it."""
    return dev_actor(
        world,
        allow(("Allow", ["kms:GetSecretValue", "rotor:PassSecret"], [f"*:secret/{master}"])),
    )


def delegated_rotation(
    world: World, master: str, hook_function: str, *, rotate_now: bool
) -> tuple[Actor, str, dict[str, Any]]:
    """A dev who may delegate the master configures the hook with it: (dev, secret, answer)."""
    dev = delegating_dev(world, master)
    name = dev_secret(world, dev)
    response = configure(
        dev,
        name,
        {"function": hook_function, "parameters": {"LootSecret": master}, "rotate_now": rotate_now},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return dev, name, answer


def test_a_delegated_secret_is_readable_never_writable(
    world: World, master: str, webhook: Webhook, hook_function: str
) -> None:
    _, name, answer = delegated_rotation(world, master, hook_function, rotate_now=True)
    done = world.admin.wait_for_rotation(answer["started"]["id"], timeout=60)
    assert done.status == "succeeded", done
    calls = webhook.received()
    assert [c["step"] for c in calls] == ["new", "set", "test", "end"]
    assert {c["read"] for c in calls} == {"allowed"}
    assert {c["write"] for c in calls} == {"denied"}
    assert world.admin.get_json(master) == {"AccountPassword": "prod-root-pw-123"}
    assert world.admin.get_value(name).value == f"v-{done.version_id[:8]}"


def test_a_dry_run_mints_nothing_beyond_the_rotated_secret(
    world: World, master: str, webhook: Webhook, hook_function: str
) -> None:
    delegated_rotation(world, master, hook_function, rotate_now=False)
    calls = webhook.received()
    assert [c["step"] for c in calls] == ["new"]  # a custom test needs set: not dry-run
    assert {c["read"] for c in calls} == {"denied"}


def test_revoking_the_configurers_read_stops_the_next_rotation(
    world: World, master: str, webhook: Webhook, hook_function: str
) -> None:
    dev, name, _ = delegated_rotation(world, master, hook_function, rotate_now=False)
    webhook.received()
    current = world.admin.get_value(name)
    world.admin.detach_policy(f"{dev.name}-p2", dev.name)
    with dev.client() as client:
        started = client.rotate_secret(name)
    done = world.admin.wait_for_rotation(started.id, timeout=60)
    assert done.status == "failed"
    assert done.error is not None
    assert "DelegationDenied" in done.error
    assert master in done.error
    assert webhook.received() == []  # no step ran, no credentials were minted
    after = world.admin.get_value(name)
    assert (after.version_id, after.value) == (current.version_id, current.value)


def test_a_value_written_later_cannot_widen_the_delegation(
    world: World, master: str, hook_function: str, webhook: Webhook
) -> None:
    """A principal who can write the secret (not the configurer) names a master in its
    value after the admin configured the rotation: the rotation refuses to use it."""
    dev = dev_actor(world)
    name = dev_secret(world, dev, json.dumps({"AccountName": "app"}))
    world.admin.configure_rotation(name, function=hook_function, rotate_now=False)
    webhook.received()
    with dev.client() as client:
        client.put_value(name, json.dumps({"AccountName": "app", "MasterSecret": master}))
        started = client.rotate_secret(name)
    done = world.admin.wait_for_rotation(started.id, timeout=60)
    assert done.status == "failed"
    assert done.error is not None
    assert "was not delegated" in done.error
    assert webhook.received() == []


def test_a_function_session_is_audited_with_function_rotation_and_configurer(
    world: World, master: str, webhook: Webhook, hook_function: str
) -> None:
    dev = delegating_dev(world, master)
    name = dev_secret(world, dev)
    response = configure(
        dev, name, {"function": hook_function, "parameters": {"LootSecret": master}}
    )
    done = world.admin.wait_for_rotation(response.json()["started"]["id"], timeout=60)
    assert done.status == "succeeded", done
    events = [e for e in events_of(world.admin, secret=master) if e.function is not None]
    assert events, "the function's reads of the master were not audited"
    for event in events:
        assert event.function == hook_function
        assert event.rotation_id == done.id
        assert event.on_behalf_of == dev.name
        assert event.principal == "rotation-functions"
    assert {e.outcome for e in events} == {"allowed", "denied"}


def test_a_function_in_use_cannot_be_removed(world: World, hook_function: str) -> None:
    name = world.name("svc/in-use")
    world.admin.create_secret(name, value="v")
    world.admin.configure_rotation(name, function=hook_function, rotate_now=False)
    with pytest.raises(errors.Conflict, match=name):
        world.admin.remove_function(hook_function)
    world.admin.get_function(hook_function)
    world.admin.delete_secret(name, force=True)
