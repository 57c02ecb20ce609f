"""The at-a-glance rotation status (``GET /v1/status``, ``Client.get_status``, ``rotor
status``): each configured rotation's state, against a real ``rotor serve``; which state
wins when several facts hold; and that a caller learns nothing of the secrets whose
rotations it may not list."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from typer.testing import Result

import rotor.client
from rotor.rotation import status
from rotor.store import rotation_configs
from rotor.store.rotations import Status
from tests.access.conftest import Actor, World, allow, secrets_of
from tests.cli.conftest import run_cli
from tests.services.server import RunningServer, start_server, stop_server

# -- which state wins --------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
GRACE = dt.timedelta(seconds=300)


def _at(minutes: float) -> dt.datetime:
    return NOW + dt.timedelta(minutes=minutes)


def _found(
    *,
    enabled: bool = True,
    next_at: dt.datetime | None = None,
    last_rotated_at: dt.datetime | None = None,
    last: Status | None = None,
    running: bool = False,
) -> rotation_configs.ConfigStatus:
    config = rotation_configs.RotationConfig(
        secret_name="app/db",
        enabled=enabled,
        function="generated-password",
        parameters={},
        interval_seconds=86400,
        cron=None,
        window_seconds=None,
        flow=None,
        enabled_at=_at(-10_000),
        next_rotation_at=next_at,
        last_rotated_at=last_rotated_at,
    )
    ended = None
    if last is not None:
        ended = rotation_configs.RotationSummary(
            id="r1", status=last, started_at=_at(-60), finished_at=_at(-59), error=None
        )
    now_running = None
    if running:
        now_running = rotation_configs.RotationSummary(
            id="r2", status=Status.RUNNING, started_at=_at(-1), finished_at=None, error=None
        )
    return rotation_configs.ConfigStatus(config=config, last_finished=ended, running=now_running)


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        # A person turned it off: no alarm, whatever its last rotation did.
        (_found(enabled=False, last=Status.FAILED), status.State.DISABLED),
        # Failing until a rotation succeeds: also while the next one runs.
        (_found(last=Status.FAILED, running=True, next_at=_at(60)), status.State.FAILING),
        (_found(last=Status.ABANDONED, next_at=_at(-60)), status.State.FAILING),
        (_found(last=Status.SUCCEEDED, running=True, next_at=_at(-60)), status.State.RUNNING),
        # Due longer ago than the grace period, and not started.
        (_found(last=Status.SUCCEEDED, last_rotated_at=_at(-60), next_at=_at(-6)), "overdue"),
        (_found(next_at=_at(-6)), status.State.OVERDUE),
        # Within the grace period the scheduler has time to start it.
        (_found(last=Status.SUCCEEDED, last_rotated_at=_at(-60), next_at=_at(-4)), "ok"),
        (_found(next_at=_at(-4)), status.State.NEVER_ROTATED),
        (_found(), status.State.NEVER_ROTATED),
        # A cancelled rotation is no failure: what counts is the last success.
        (_found(last=Status.CANCELLED, last_rotated_at=_at(-60), next_at=_at(60)), "ok"),
        (_found(last=Status.CANCELLED), status.State.NEVER_ROTATED),
    ],
)
def test_the_first_state_that_holds_wins(
    found: rotation_configs.ConfigStatus, expected: str
) -> None:
    assert status.state_of(found, NOW, GRACE) == expected


def test_the_summary_names_every_state() -> None:
    counted = status.summary([status.State.OK, status.State.FAILING, status.State.OK])
    assert counted == {
        "ok": 2,
        "running": 0,
        "failing": 1,
        "overdue": 0,
        "disabled": 0,
        "never-rotated": 0,
    }


# -- against a real server ---------------------------------------------------------------

#: The scheduler ticks once at start and then not for an hour: a rotation due after the
#: start is not started by it, as when no node's scheduler runs. Rotations asked for
#: (rotate now) still run at once.
ENV = {
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "3600",
    "ROTOR_OVERDUE_GRACE_SECONDS": "1",
    "ROTOR_ROTATION_MIN_INTERVAL_SECONDS": "1",
    "ROTOR_ROTATION_RETRY_SECONDS": "0.05",
}

BROKEN_HANDLER = (
    "def handler(event, context):\n"
    "    raise PermissionError('the database refused the master login')\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = tmp_path_factory.mktemp("status")
    (base / "broken.py").write_text(BROKEN_HANDLER)
    running = start_server(base / "data", env=ENV)
    try:
        with running.client() as admin:
            admin.register_function(
                "status-broken", kind="python-handler", handler=f"{base / 'broken.py'}:handler"
            )
        yield running
    finally:
        stop_server(running)


@pytest.fixture
def admin(server: RunningServer) -> Iterator[rotor.client.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def prefix() -> str:
    """A name prefix of this test's own (the module's tests share a server)."""
    return f"glance-{uuid.uuid4().hex[:8]}/"


def _http(server: RunningServer) -> httpx.Client:
    bearer = f"Bearer {server.access_key_id}.{server.access_key_secret}"
    return httpx.Client(base_url=server.url, headers={"Authorization": bearer}, timeout=30)


def _status(http: httpx.Client, **params: str) -> dict[str, Any]:
    response = http.get("/v1/status", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _states(body: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["state"] for entry in body["secrets"]}


def _cli(server: RunningServer, *args: str, env: dict[str, str] | None = None) -> Result:
    credentials = env if env is not None else server.credentials_env
    return run_cli(["status", *args, "--url", server.url], env=credentials)


def _rotated(admin: rotor.client.Client, name: str, function: str, **schedule: Any) -> Any:
    """Configure a rotation that starts at once, and wait for it to end."""
    admin.create_secret(name, value="first-value")
    started = admin.configure_rotation(name, function=function, **schedule).started
    assert started is not None
    return admin.wait_for_rotation(started.id, timeout=60)


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.1)


def _overdue(admin: rotor.client.Client, name: str, prefix: str) -> None:
    """A rotation due 2 s after it is configured, which the idle scheduler never starts."""
    admin.create_secret(name, value="first-value")
    admin.configure_rotation(name, function="generated-password", every="2s", rotate_now=False)

    def overdue() -> bool:
        found = {s.name: s.state for s in admin.get_status(prefix=prefix).secrets}
        return found.get(name) == "overdue"

    _wait_for(overdue, f"{name} overdue")


def test_a_rotation_that_succeeded_is_ok_and_rotor_status_exits_0(
    server: RunningServer, admin: rotor.client.Client, prefix: str
) -> None:
    name = prefix + "db"
    done = _rotated(admin, name, "generated-password", every="1d")
    assert done.status == "succeeded"
    with _http(server) as http:
        body = _status(http, prefix=prefix)
    assert body["overdue_grace_seconds"] == 1
    assert body["summary"] == {
        "ok": 1,
        "running": 0,
        "failing": 0,
        "overdue": 0,
        "disabled": 0,
        "never-rotated": 0,
    }
    (entry,) = body["secrets"]
    assert entry["name"] == name
    assert entry["state"] == "ok"
    assert (entry["function"], entry["enabled"], entry["every_seconds"]) == (
        "generated-password",
        True,
        86400,
    )
    assert entry["last_rotation"]["id"] == done.id
    assert entry["last_rotation"]["status"] == "succeeded"
    assert entry["last_rotation"]["error"] is None
    assert entry["last_rotated_at"] == entry["last_rotation"]["finished_at"]
    assert entry["next_rotation_at"] > entry["last_rotated_at"]
    assert entry["running_rotation"] is None

    found = admin.get_status(prefix=prefix)
    assert found.problems == 0
    assert [(s.name, s.state, s.last_rotation_id) for s in found.secrets] == [(name, "ok", done.id)]
    shown = _cli(server, "--prefix", prefix)
    assert shown.exit_code == 0, shown.output
    assert name in shown.output
    assert "1 secret: 1 ok" in shown.output


def test_a_failing_rotation_is_failing_with_its_error_and_rotor_status_exits_1(
    server: RunningServer, admin: rotor.client.Client, prefix: str
) -> None:
    name = prefix + "db"
    done = _rotated(admin, name, "status-broken", every="1d")
    assert done.status == "failed"
    found = admin.get_status(prefix=prefix)
    (entry,) = found.secrets
    assert entry.state == "failing"
    assert entry.problem
    assert found.problems == 1
    assert entry.last_rotation_id == done.id
    assert entry.last_status == "failed"
    assert entry.last_error == done.error
    assert entry.last_error is not None
    assert "RotationFunctionFailed" in entry.last_error
    assert "the database refused the master login" in entry.last_error
    assert entry.last_rotated_at is None

    shown = _cli(server, "--prefix", prefix)
    assert shown.exit_code == 1, shown.output
    line = next(row for row in shown.output.splitlines() if name in row)
    assert "failing" in line
    assert "RotationFunctionFailed" in line
    assert "1 secret: 1 failing" in shown.output
    # Disabled, it no longer raises the alarm (a person turned it off).
    admin.disable_rotation(name)
    assert [s.state for s in admin.get_status(prefix=prefix).secrets] == ["disabled"]
    assert _cli(server, "--prefix", prefix).exit_code == 0


def test_a_due_rotation_no_scheduler_starts_is_overdue(
    server: RunningServer, admin: rotor.client.Client, prefix: str
) -> None:
    name = prefix + "db"
    _overdue(admin, name, prefix)
    found = admin.get_status(prefix=prefix)
    (entry,) = found.secrets
    assert entry.next_rotation_at is not None
    assert entry.next_rotation_at < found.at - dt.timedelta(seconds=found.overdue_grace_seconds)
    assert entry.running_rotation_id is None
    assert found.summary["overdue"] == 1
    shown = _cli(server, "--prefix", prefix, "--problems")
    assert shown.exit_code == 1, shown.output
    assert "overdue" in next(row for row in shown.output.splitlines() if name in row)


def test_prefix_and_problems_filter_the_list_and_the_summary_counts_what_may_be_seen(
    server: RunningServer, admin: rotor.client.Client, prefix: str
) -> None:
    _rotated(admin, prefix + "a/ok", "generated-password", every="1d")
    _rotated(admin, prefix + "a/failing", "status-broken", every="1d")
    admin.create_secret(prefix + "b/new", value="first-value")
    admin.configure_rotation(prefix + "b/new", function="generated-password", rotate_now=False)
    _overdue(admin, prefix + "b/late", prefix)
    with _http(server) as http:
        every = _status(http, prefix=prefix)
        assert _states(every) == {
            prefix + "a/failing": "failing",
            prefix + "a/ok": "ok",
            prefix + "b/late": "overdue",
            prefix + "b/new": "never-rotated",
        }
        assert [e["name"] for e in every["secrets"]] == sorted(_states(every))
        problems = _status(http, prefix=prefix, problems="true")
        assert _states(problems) == {prefix + "a/failing": "failing", prefix + "b/late": "overdue"}
        # The summary still counts all of them: what else is fine.
        assert problems["summary"] == every["summary"]
        assert every["summary"]["ok"] == 1
        narrower = _status(http, prefix=prefix + "b/")
        assert _states(narrower) == {
            prefix + "b/late": "overdue",
            prefix + "b/new": "never-rotated",
        }
        assert sum(narrower["summary"].values()) == 2
        # A prefix is a prefix, not a pattern.
        assert _status(http, prefix=prefix.replace("-", "_"))["secrets"] == []

    listed = _cli(server, "--prefix", prefix, "--problems")
    assert listed.exit_code == 1
    rows = [line for line in listed.output.splitlines() if prefix in line]
    assert len(rows) == 2
    assert "4 secrets: 1 ok, 1 failing, 1 overdue, 1 never-rotated" in listed.output
    calm = _cli(server, "--prefix", prefix + "a/ok")
    assert calm.exit_code == 0, calm.output


def test_rotor_status_json_prints_the_api_s_answer(
    server: RunningServer, admin: rotor.client.Client, prefix: str
) -> None:
    _rotated(admin, prefix + "ok", "generated-password", every="1d")
    _rotated(admin, prefix + "failing", "status-broken", cron="0 3 * * *")
    printed = _cli(server, "--prefix", prefix, "--json")
    assert printed.exit_code == 1, printed.output
    with _http(server) as http:
        answered = _status(http, prefix=prefix)
    shown = json.loads(printed.output)
    assert set(shown) == set(answered)
    assert _times(shown["secrets"]) == _times(answered["secrets"])
    assert shown["summary"] == answered["summary"]
    assert {e["name"]: e["cron"] for e in shown["secrets"]} == {
        prefix + "failing": "0 3 * * *",
        prefix + "ok": None,
    }


def _times(data: Any) -> Any:
    """``data`` with every RFC 3339 time parsed (the CLI and the server format them apart)."""
    if isinstance(data, dict):
        return {k: _times(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_times(v) for v in data]
    if isinstance(data, str) and data.endswith("Z"):
        try:
            return dt.datetime.fromisoformat(data)
        except ValueError:
            return data
    return data


# -- what a caller may see ---------------------------------------------------------------


def test_a_caller_sees_and_counts_only_the_secrets_it_may_list_the_rotations_of(
    server: RunningServer, admin: rotor.client.Client, prefix: str
) -> None:
    """The adversary's question: can a principal learn about secrets it may not see
    through /v1/status? Not their names, states, errors or number, whatever it asks."""
    team_a, team_b = prefix + "team-a", prefix + "team-b"
    _rotated(admin, f"{team_a}/db", "generated-password", every="1d")
    _rotated(admin, f"{team_b}/db", "status-broken", every="1d")
    _overdue(admin, f"{team_b}/late", prefix)
    world = World(admin=admin, uid=uuid.uuid4().hex[:10], url=server.url)
    # Everything on team-b but the one action the status needs.
    reader = world.actor(
        "status-reader",
        allow(
            ("Allow", ["rotor:ListRotations"], [secrets_of(team_a)]),
            (
                "Allow",
                ["kms:ListSecrets", "kms:DescribeSecret", "kms:GetSecretValue", "kms:*Rotat*"],
                [secrets_of(team_b)],
            ),
        ),
    )
    every = _as(reader, prefix=prefix)
    assert _states(every) == {f"{team_a}/db": "ok"}
    assert sum(every["summary"].values()) == 1
    assert every["summary"]["failing"] == every["summary"]["overdue"] == 0
    for params in (
        {},
        {"prefix": team_b},
        {"problems": "true"},
        {"prefix": team_b, "problems": "true"},
    ):
        answered = _as(reader, raw=True, **params)
        assert team_b not in answered
        body = json.loads(answered)
        assert all(entry["name"].startswith(team_a) for entry in body["secrets"])
        assert body["summary"]["failing"] == body["summary"]["overdue"] == 0
    assert sum(_as(reader, prefix=team_b)["summary"].values()) == 0
    # Nothing is failing for this caller: the CLI's alarm stays quiet too.
    quiet = _cli(server, "--prefix", prefix, env=_env_of(reader))
    assert quiet.exit_code == 0, quiet.output
    assert team_b not in quiet.output
    # The list of secrets (kms:ListSecrets) shows team-b: the status does not.
    with reader.client() as client:
        assert {s.name for s in client.list_secrets(prefix=team_b).items} == {
            f"{team_b}/db",
            f"{team_b}/late",
        }
        with pytest.raises(rotor.errors.AccessDenied):
            client.list_rotations(f"{team_b}/db")

    # An explicit Deny hides one secret from a caller allowed every other.
    denied = world.actor(
        "status-denied",
        allow(
            ("Allow", ["rotor:ListRotations"], ["*"]),
            ("Deny", ["rotor:ListRotations"], [f"acs:kms:*:*:secret/{team_b}/db"]),
        ),
    )
    seen = _states(_as(denied, prefix=prefix))
    assert seen == {f"{team_a}/db": "ok", f"{team_b}/late": "overdue"}
    # Each request is audited as the action the status is authorized by.
    events = admin.list_audit_events(principal=denied.name).items
    assert {e.action for e in events} == {"rotor:ListRotations"}


def _as(actor: Actor, *, raw: bool = False, **params: str) -> Any:
    with actor.http() as http:
        response = http.get("/v1/status", params=params)
    assert response.status_code == 200, response.text
    return response.text if raw else response.json()


def _env_of(actor: Actor) -> dict[str, str]:
    return {
        "ROTOR_ACCESS_KEY_ID": actor.key.access_key_id,
        "ROTOR_ACCESS_KEY_SECRET": actor.key.access_key_secret,
    }
