"""The client's rotation methods against a real server, with ``generated-password``."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import pytest

import rotor.client
from rotor import errors
from rotor.client import _operations_rotation
from tests.services.unreachable import MESSAGE as UNREACHABLE
from tests.services.unreachable import register_unreachable

FUNCTION = "generated-password"


def failing_rotation(
    client: rotor.client.Client, name: str, directory: Path
) -> rotor.client.Rotation:
    """A running rotation whose new step failed once and waits (5 s on this server) to retry."""
    client.create_secret(name, value="old")
    function = register_unreachable(client, directory)
    started = client.configure_rotation(name, function=function).started
    assert started is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rotation = client.get_rotation(started.id)
        if any(event.kind == "step_failed" for event in rotation.events):
            assert rotation.status == "running"
            return rotation
        time.sleep(0.05)
    raise AssertionError("the first attempt did not fail")


def test_configure_and_wait(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    before = dt.datetime.now(dt.UTC)
    result = client.configure_rotation(
        name, function=FUNCTION, parameters={"PasswordLength": 24}, every="30d"
    )
    assert isinstance(result, rotor.client.ConfiguredRotation)
    assert result.config.enabled
    assert result.config.function == FUNCTION
    assert result.config.parameters == {"PasswordLength": 24}
    assert result.config.every_seconds == 30 * 86400
    assert result.config.cron is None
    assert not result.config.custom_flow
    started = result.started
    assert started is not None
    assert started.name == name
    assert started.started_by == "principal admin"
    assert [(s.index, s.step) for s in started.steps] == [
        (0, "new"),
        (1, "set"),
        (2, "test"),
        (3, "end"),
    ]

    seen: list[rotor.client.Rotation] = []
    final = client.wait_for_rotation(started.id, timeout=30, poll=0.05, on_update=seen.append)
    assert seen[-1] is final
    assert final.done
    assert final.succeeded
    assert final.status == "succeeded"
    assert final.error is None
    assert final.step_index == 4
    assert final.finished_at is not None
    assert final.duration is not None
    assert final.duration >= dt.timedelta(0)
    for step in final.steps:
        assert step.attempts == 1
        assert step.error is None
        assert step.started_at is not None
        assert step.started_at >= before - dt.timedelta(seconds=5)
        assert step.duration is not None
    assert [e.kind for e in final.events] == [
        "started",
        "step_succeeded",
        "step_succeeded",
        "step_succeeded",
        "step_succeeded",
        "succeeded",
    ]
    assert final.events[1].step == "RotateSecretNew (new)"

    current = client.get_value(name)
    assert current.version_id == final.version_id
    assert isinstance(current.value, str)
    assert len(current.value) == 24
    assert client.get_value(name, stage="Previous").value == "old"

    config = client.describe_rotation(name)
    assert config.last_rotated_at is not None
    assert config.next_rotation_at is not None
    gap = config.next_rotation_at - config.last_rotated_at
    assert abs(gap - dt.timedelta(days=30)) < dt.timedelta(seconds=1)


def test_rotate_secret_and_history(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    configured = client.configure_rotation(name, function=FUNCTION, rotate_now=False)
    assert configured.started is None
    assert configured.config.next_rotation_at is None  # no schedule
    assert client.list_rotations(name).items == ()

    ids = []
    for _ in range(3):
        rotation = client.rotate_secret(name)
        assert rotation.created is True
        assert rotation.started_by == "principal admin"
        assert client.wait_for_rotation(rotation.id, timeout=30).succeeded
        ids.append(rotation.id)

    first = client.list_rotations(name, page_size=2)
    assert [r.id for r in first.items] == ids[::-1][:2]
    assert first.next_page_token is not None
    assert first.items[0].events == ()  # listings carry no events
    assert first.items[0].created is None
    second = client.list_rotations(name, page_size=2, page_token=first.next_page_token)
    assert [r.id for r in second.items] == [ids[0]]
    assert second.next_page_token is None
    assert [r.id for r in client.iter_rotations(name, page_size=1)] == ids[::-1]


def test_rotate_with_a_version_id(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    client.configure_rotation(name, function=FUNCTION, rotate_now=False)
    rotation = client.rotate_secret(name, version_id="rotated-1")
    assert rotation.version_id == "rotated-1"
    client.wait_for_rotation(rotation.id, timeout=30)
    assert client.get_value(name).version_id == "rotated-1"
    with pytest.raises(errors.InvalidParameter):
        client.rotate_secret(name, version_id="not a version id")


def test_dry_run_failure(client: rotor.client.Client, name: str, tmp_path: Path) -> None:
    client.create_secret(name, value="old")
    function = register_unreachable(client, tmp_path)
    with pytest.raises(errors.InvalidParameter, match="dry run") as refused:
        client.configure_rotation(name, function=function, rotate_now=False)
    assert UNREACHABLE in refused.value.message
    with pytest.raises(errors.NotFound):
        client.describe_rotation(name)
    assert len(list(client.iter_versions(name))) == 1


def test_refused_configurations(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    with pytest.raises(errors.InvalidParameter, match="minimum"):
        client.configure_rotation(name, function=FUNCTION, every="1m")
    with pytest.raises(errors.InvalidParameter):
        client.configure_rotation(name, function="no-such-function")
    with pytest.raises(errors.InvalidParameter, match="window"):
        client.configure_rotation(name, function=FUNCTION, every="1h", window="2h")
    with pytest.raises(errors.InvalidParameter, match="resourceArn"):
        client.configure_rotation(
            name,
            function=FUNCTION,
            flow="version: v1\ntype: flow\nsteps:\n  - type: task\n    name: Only\n",
        )
    with pytest.raises(errors.NotFound):
        client.describe_rotation(name)
    with pytest.raises(errors.InvalidParameter, match="not configured"):
        client.rotate_secret(name)
    with pytest.raises(errors.NotFound):
        client.configure_rotation(f"{name}-missing", function=FUNCTION)


def test_disable(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    with pytest.raises(errors.NotFound):
        client.disable_rotation(name)
    client.configure_rotation(name, function=FUNCTION, cron="0 3 * * *", rotate_now=False)
    assert client.describe_rotation(name).next_rotation_at is not None
    config = client.disable_rotation(name)
    assert not config.enabled
    assert config.next_rotation_at is None
    assert config.cron == "0 3 * * *"  # kept for a later enable
    assert client.disable_rotation(name) == config


def test_cancel_and_require_new(client: rotor.client.Client, name: str, tmp_path: Path) -> None:
    running = failing_rotation(client, name, tmp_path)
    assert running.steps[0].error is not None
    assert UNREACHABLE in running.steps[0].error

    again = client.rotate_secret(name)
    assert again.id == running.id
    assert again.created is False
    with pytest.raises(errors.RotationInProgress):
        client.rotate_secret(name, require_new=True)

    with pytest.raises(TimeoutError, match="still running"):
        client.wait_for_rotation(running.id, timeout=0.2, poll=0.05)

    cancelled = client.cancel_rotation(name)
    assert cancelled.id == running.id
    assert cancelled.status == "cancelled"
    assert cancelled.done
    assert not cancelled.succeeded
    final = client.wait_for_rotation(running.id, timeout=5)
    assert final.status == "cancelled"
    assert final.events[-1].kind == "cancelled"
    assert client.get_value(name).value == "old"
    assert "Pending" not in client.describe_secret(name).stages
    with pytest.raises(errors.NotFound):
        client.cancel_rotation(name)


def test_get_rotation_errors(client: rotor.client.Client) -> None:
    with pytest.raises(errors.NotFound):
        client.get_rotation("0" * 32)
    for bad in ("", "..", "a/b", "x" * 200, "id?x=1"):
        with pytest.raises(errors.InvalidParameter):
            client.get_rotation(bad)


def test_list_due_rotations(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    client.configure_rotation(name, function=FUNCTION, every="30d", rotate_now=False)
    due = client.list_due_rotations()
    assert isinstance(due, tuple)
    assert name not in due


# -- requests, without a server ------------------------------------------------------------------


def test_configure_sends_only_what_is_given() -> None:
    call = _operations_rotation.configure_rotation("app/db", function=None)
    assert call.method == "PUT"
    assert call.path == "/v1/secrets/app/db:rotation"
    assert call.body == {"enabled": True, "rotate_now": True}
    assert not call.idempotent  # it may start a rotation
    call = _operations_rotation.configure_rotation(
        "app/db",
        function="f",
        parameters={"A": 1},
        every="30d",
        window="2h",
        flow="",
        rotate_now=False,
    )
    assert call.body == {
        "enabled": True,
        "rotate_now": False,
        "function": "f",
        "parameters": {"A": 1},
        "every": "30d",
        "window": "2h",
        "flow": "",
    }
    assert call.idempotent
    assert _operations_rotation.disable_rotation("app/db").body == {"enabled": False}
    assert _operations_rotation.rotate_secret("app/db").body == {"require_new": False}
    assert _operations_rotation.list_rotations("app/db", page_size=5, page_token="t").params == (
        ("page_size", "5"),
        ("page_token", "t"),
    )


def test_wait_polls_until_the_status_is_final() -> None:
    statuses = iter(["running", "running", "succeeded"])
    requests: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        now = "2026-01-01T00:00:00.000000Z"
        return httpx.Response(
            200,
            json={
                "id": "r1",
                "name": "app/db",
                "version_id": "v1",
                "function": FUNCTION,
                "status": next(statuses),
                "step_index": 0,
                "attempts": 0,
                "started_by": "api",
                "created_at": now,
                "updated_at": now,
                "finished_at": None,
                "error": None,
                "steps": [],
                "events": [],
            },
        )

    with rotor.client.Client(
        "http://rotor.test",
        access_key_id="k",
        access_key_secret="s",
        transport=httpx.MockTransport(answer),
        environ={},
    ) as client:
        seen: list[str] = []
        final = client.wait_for_rotation("r1", poll=0.01, on_update=lambda r: seen.append(r.status))
    assert final.status == "succeeded"
    assert seen == ["running", "running", "succeeded"]
    assert requests == ["/v1/rotations/r1"] * 3
    with pytest.raises(ValueError, match="poll"):
        rotor.client.Client("http://rotor.test", environ={}).wait_for_rotation("r1", poll=0)
