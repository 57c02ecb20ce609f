"""``rotor rotation ...`` and ``rotor rotate`` against a real server, with ``generated-password``."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

import rotor.client
from rotor import errors
from rotor.cli import rotate as rotate_cli
from rotor.cli import rotation as rotation_cli
from tests.cli.conftest import Invoke, run_cli
from tests.services.server import RunningServer, start_server, stop_server
from tests.services.unreachable import MESSAGE as UNREACHABLE
from tests.services.unreachable import register_unreachable

FUNCTION = ("--function", "generated-password")
STEP_LINE = re.compile(r"^✓ (new|set|test|end)\s+(RotateSecret\w+)\s+(\d+\.\d\d)s$", re.MULTILINE)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def failed(result: Result, exit_code: int) -> str:
    """The stderr of a command that must fail with ``exit_code``, without a traceback."""
    assert result.exit_code == exit_code, f"exit {result.exit_code}: {result.output}"
    assert result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def steps_shown(result: Result) -> list[tuple[str, str]]:
    return [(step, task) for step, task, _ in STEP_LINE.findall(result.stdout)]


FOUR_STEPS = [
    ("new", "RotateSecretNew"),
    ("set", "RotateSecretSet"),
    ("test", "RotateSecretTest"),
    ("end", "RotateSecretEnd"),
]


@pytest.fixture
def client(rotor_server: RunningServer) -> Iterator[rotor.client.Client]:
    with rotor_server.client() as c:
        yield c


def wait_for_failed_attempt(client: rotor.client.Client, name: str) -> rotor.client.Rotation:
    """The running rotation of ``name`` once its first attempt has failed (it then waits 5 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        latest = client.list_rotations(name, page_size=1).items[0]
        rotation = client.get_rotation(latest.id)
        if any(e.kind == "step_failed" for e in rotation.events):
            assert rotation.status == "running"
            return rotation
        time.sleep(0.05)
    raise AssertionError("the rotation's first attempt did not fail")


def start_failing_rotation(
    client: rotor.client.Client, name: str, directory: Path
) -> rotor.client.Rotation:
    """A rotation whose new step fails, retrying after the server's default 5 s."""
    client.create_secret(name, value="old")
    function = register_unreachable(client, directory)
    started = client.configure_rotation(name, function=function).started
    assert started is not None
    return wait_for_failed_attempt(client, name)


def rotate_requests(client: rotor.client.Client, name: str) -> int:
    """How many kms:RotateSecret requests on ``name`` the audit log holds so far."""
    return len(client.list_audit_events(secret=name, action="kms:RotateSecret").items)


# -- enable and rotate ---------------------------------------------------------------------------


def test_enable_rotates_now_showing_each_step(
    cli: Invoke, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="old")
    result = ok(
        cli(
            "rotation", "enable", name, *FUNCTION, "--every", "30d",
            "--param", "PasswordLength=40", "--param", 'ExcludeCharacters="\\',
        )
    )  # fmt: skip
    assert steps_shown(result) == FOUR_STEPS
    assert "Rotated " + name in result.stdout
    current = client.get_value(name)
    assert isinstance(current.value, str)
    assert current.value != "old"
    assert len(current.value) == 40
    assert not set(current.value) & {'"', "\\"}
    assert f"version {current.version_id} is Current" in result.stdout
    assert client.get_value(name, stage="Previous").value == "old"
    config = client.describe_rotation(name)
    assert config.parameters == {"PasswordLength": 40, "ExcludeCharacters": '"\\'}

    again = ok(cli("rotate", name))
    assert steps_shown(again) == FOUR_STEPS
    newer = client.get_value(name)
    assert newer.version_id != current.version_id
    assert client.get_value(name, stage="Previous").version_id == current.version_id
    assert "Pending" not in client.describe_secret(name).stages


def test_rotate_with_version_id_and_no_wait(
    cli: Invoke, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="old")
    ok(cli("rotation", "enable", name, *FUNCTION, "--no-rotate-now"))
    version = f"v-{uuid.uuid4().hex[:8]}"
    result = ok(cli("rotate", name, "--version-id", version, "--no-wait"))
    rotation_id = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", rotation_id), result.stdout
    final = client.wait_for_rotation(rotation_id, timeout=30)
    assert final.status == "succeeded"
    assert client.get_value(name).version_id == version


def test_dry_run_failure_stores_nothing(
    cli: Invoke, client: rotor.client.Client, name: str, tmp_path: Path
) -> None:
    client.create_secret(name, value="old")
    function = register_unreachable(client, tmp_path)
    stderr = failed(
        cli(
            "rotation", "enable", name, "--function", function, "--every", "30d",
            "--no-rotate-now",
        ),
        2,
    )  # fmt: skip
    assert "dry run" in stderr
    assert UNREACHABLE in stderr
    assert "RotateSecretNew" in stderr
    with pytest.raises(errors.NotFound):
        client.describe_rotation(name)
    failed(cli("rotation", "show", name), 3)
    assert [v.version_id for v in client.iter_versions(name)] == [client.get_value(name).version_id]
    assert client.get_value(name).value == "old"
    assert set(client.describe_secret(name).stages) == {"Current"}
    assert client.list_rotations(name).items == ()


def test_interval_below_the_minimum_is_refused(
    cli: Invoke, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="old")
    stderr = failed(cli("rotation", "enable", name, *FUNCTION, "--every", "1m"), 2)
    assert "minimum" in stderr
    with pytest.raises(errors.NotFound):
        client.describe_rotation(name)
    assert client.get_value(name).value == "old"


def test_bad_schedule_flags(cli: Invoke, client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    both = cli("rotation", "enable", name, *FUNCTION, "--every", "30d", "--cron", "0 3 * * *")
    assert "not both" in failed(both, 2)
    assert "cron" in failed(cli("rotation", "enable", name, *FUNCTION, "--cron", "nope"), 2)
    assert "KEY=VALUE" in failed(cli("rotation", "enable", name, *FUNCTION, "--param", "x"), 2)
    bad_json = cli("rotation", "enable", name, *FUNCTION, "--param-json", "[1]")
    assert "JSON object" in failed(bad_json, 2)
    with pytest.raises(errors.NotFound):
        client.describe_rotation(name)


MALFORMED_FLOW = """\
version: v1
type: flow
steps:
  - type: task
    name: RotateSecretNew
    resourceArn: generated-password
    inputMappings:
      - target: SecretName
        source: $input.payload.SecretName
      - target: Step
        source: new
  - type: task
    name: RotateSecretFinish
    inputMappings:
      - target: SecretName
        source: $input.payload.SecretName
      - target: Step
        source: end
"""


def test_malformed_flow_is_refused_naming_the_step(
    cli: Invoke, client: rotor.client.Client, name: str, tmp_path: Path
) -> None:
    client.create_secret(name, value="old")
    flow = tmp_path / "flow.yaml"
    flow.write_text(MALFORMED_FLOW)
    stderr = failed(cli("rotation", "enable", name, *FUNCTION, "--flow", str(flow)), 2)
    assert "RotateSecretFinish" in stderr
    assert "resourceArn" in stderr
    with pytest.raises(errors.NotFound):
        client.describe_rotation(name)

    missing = cli("rotation", "enable", name, *FUNCTION, "--flow", str(tmp_path / "nope.yaml"))
    assert "cannot read" in failed(missing, 2)


def test_custom_flow(cli: Invoke, client: rotor.client.Client, name: str, tmp_path: Path) -> None:
    client.create_secret(name, value="old")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        MALFORMED_FLOW.replace(
            "    name: RotateSecretFinish\n",
            "    name: RotateSecretFinish\n    resourceArn: generated-password\n",
        ).replace("        source: end\n", "        source: end\n      - target: VersionId\n"
                  "        source: $local.VersionId\n")
    )  # fmt: skip
    result = ok(cli("rotation", "enable", name, *FUNCTION, "--flow", str(flow)))
    assert steps_shown(result) == [("new", "RotateSecretNew"), ("end", "RotateSecretFinish")]
    assert client.describe_rotation(name).custom_flow
    assert client.get_value(name).value != "old"
    ok(cli("rotation", "enable", name, *FUNCTION, "--default-flow", "--no-rotate-now"))
    assert not client.describe_rotation(name).custom_flow


# -- show, history, cancel -----------------------------------------------------------------------


def test_show_prints_the_next_rotation(cli: Invoke, client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    enabled = ok(cli("rotation", "enable", name, *FUNCTION, "--every", "30d", "--no-rotate-now"))
    assert "Dry run passed: ran RotateSecretNew (new), RotateSecretTest (test)." in enabled.stdout
    assert "not run: RotateSecretSet (set): changes the target system" in enabled.stdout
    assert client.get_value(name).value == "old"  # the dry run changed nothing
    as_json = json.loads(
        ok(
            cli(
                "rotation", "enable", name, *FUNCTION, "--every", "30d", "--no-rotate-now", "--json"
            )
        ).stdout
    )
    assert as_json["dry_run"]["ran"] == ["RotateSecretNew (new)", "RotateSecretTest (test)"]

    data = json.loads(ok(cli("rotation", "show", name, "--json")).stdout)
    assert data["enabled"] is True
    assert data["function"] == "generated-password"
    assert data["every_seconds"] == 30 * 86400
    next_at = dt.datetime.fromisoformat(data["next_rotation_at"])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    assert abs(next_at - expected) < dt.timedelta(days=1)

    shown = ok(cli("rotation", "show", name)).stdout
    assert "every 30d" in shown
    assert re.search(rf"Next rotation at\s+{next_at:%Y-%m-%d %H:%M:%S} UTC", shown), shown
    assert re.search(r"Last rotated at\s+-", shown), shown

    disabled = json.loads(ok(cli("rotation", "disable", name, "--json")).stdout)
    assert disabled["enabled"] is False
    assert disabled["next_rotation_at"] is None
    assert re.search(r"Enabled\s+no", ok(cli("rotation", "show", name)).stdout)


def test_history_lists_rotations_newest_first(
    cli: Invoke, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="old")
    ok(cli("rotation", "enable", name, *FUNCTION))
    ok(cli("rotate", name))
    ok(cli("rotate", name))
    ids = [r.id for r in client.iter_rotations(name)]

    history = json.loads(ok(cli("rotation", "history", name, "--json")).stdout)
    assert [r["id"] for r in history] == ids
    assert len(history) == 3
    started = [r["created_at"] for r in history]
    assert started == sorted(started, reverse=True)
    assert [r["started_by"] for r in history] == ["principal admin"] * 3
    assert {r["status"] for r in history} == {"succeeded"}
    assert history[0]["version_id"] == client.get_value(name).version_id

    table = ok(cli("rotation", "history", name)).stdout
    positions = [table.index(rotation_id) for rotation_id in ids]
    assert positions == sorted(positions)
    assert table.count("succeeded") == 3

    limited = json.loads(ok(cli("rotation", "history", name, "--limit", "2", "--json")).stdout)
    assert [r["id"] for r in limited] == ids[:2]

    shown = ok(cli("rotation", "get", ids[0])).stdout
    for task in ("RotateSecretNew", "RotateSecretSet", "RotateSecretTest", "RotateSecretEnd"):
        assert task in shown
    assert "step_succeeded" in shown


def test_history_of_a_secret_never_rotated(
    cli: Invoke, client: rotor.client.Client, name: str
) -> None:
    client.create_secret(name, value="old")
    assert "has not been rotated" in ok(cli("rotation", "history", name)).stdout
    assert json.loads(ok(cli("rotation", "history", name, "--json")).stdout) == []


def test_cancel_with_nothing_running(cli: Invoke, client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    assert "not configured" in failed(cli("rotation", "show", name), 3)
    assert "no rotation" in failed(cli("rotation", "cancel", name), 3)
    ok(cli("rotation", "enable", name, *FUNCTION))
    assert "no rotation" in failed(cli("rotation", "cancel", name), 3)
    failed(cli("rotation", "cancel", f"{name}-missing"), 3)


def test_cancel_a_running_rotation(
    cli: Invoke, client: rotor.client.Client, name: str, tmp_path: Path
) -> None:
    running = start_failing_rotation(client, name, tmp_path)
    cancelled = json.loads(ok(cli("rotation", "cancel", name, "--json")).stdout)
    assert cancelled["id"] == running.id
    assert cancelled["status"] == "cancelled"
    assert client.get_value(name).value == "old"
    assert "Pending" not in client.describe_secret(name).stages
    shown = json.loads(ok(cli("rotation", "get", running.id, "--json")).stdout)
    assert shown["status"] == "cancelled"
    assert "cancelled" in [e["kind"] for e in shown["events"]]


def test_rotate_follows_a_running_rotation_until_it_is_cancelled(
    cli: Invoke, client: rotor.client.Client, name: str, tmp_path: Path
) -> None:
    running = start_failing_rotation(client, name, tmp_path)
    asked_before = rotate_requests(client, name)

    def cancel_once_followed() -> None:
        # Once the CLI's rotate request is on record, it has found the running rotation
        # and follows it: cancel then, not after a fixed delay the CLI may not have met.
        deadline = time.monotonic() + 60
        while rotate_requests(client, name) == asked_before and time.monotonic() < deadline:
            time.sleep(0.05)
        client.cancel_rotation(name)

    canceller = threading.Thread(target=cancel_once_followed)
    canceller.start()
    try:
        result = cli("rotate", name)
    finally:
        canceller.join()
    stderr = failed(result, rotate_cli.ROTATION_FAILED)
    assert running.id in result.stdout
    assert "already running" in result.stdout
    assert re.search(
        r"^! new\s+RotateSecretNew .*attempt 1 failed: .*unreachable", result.stdout, re.M
    )
    assert re.search(r"^✗ new\s+RotateSecretNew .*cancelled$", result.stdout, re.M), result.stdout
    assert "was cancelled" in stderr
    assert client.get_value(name).value == "old"


def test_rotate_gives_up_waiting_after_the_timeout(
    cli: Invoke, client: rotor.client.Client, name: str, tmp_path: Path
) -> None:
    running = start_failing_rotation(client, name, tmp_path)
    try:
        stderr = failed(cli("rotate", name, "--timeout", "0.3"), rotate_cli.WAIT_TIMED_OUT)
        assert "still running" in stderr
        assert running.id in stderr
        assert client.get_rotation(running.id).status == "running"
    finally:
        client.cancel_rotation(name)


# -- a failing rotation, with fast retries -------------------------------------------------------


@pytest.fixture(scope="module")
def fast_retry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server retrying a failed step after 50 ms, twice at most."""
    server = start_server(
        tmp_path_factory.mktemp("rotation-cli") / "data",
        env={"ROTOR_ROTATION_RETRY_SECONDS": "0.05", "ROTOR_ROTATION_ATTEMPTS": "2"},
    )
    try:
        yield server
    finally:
        stop_server(server)


def test_failed_rotation_exits_1_and_leaves_current(
    fast_retry_server: RunningServer, name: str, no_default_dir: dict[str, str], tmp_path: Path
) -> None:
    with fast_retry_server.client() as client:
        client.create_secret(name, value="old")
        function = register_unreachable(client, tmp_path)
    env = {**no_default_dir, **fast_retry_server.credentials_env}
    result = run_cli(
        [
            "rotation", "enable", name, "--function", function,
            "--url", fast_retry_server.url,
        ],
        env=env,
    )  # fmt: skip
    stderr = failed(result, rotate_cli.ROTATION_FAILED)
    assert "failed" in stderr
    assert "Current is unchanged" in stderr
    assert re.search(r"^! new\s+RotateSecretNew .*attempt 1 failed", result.stdout, re.M)
    failure = re.search(r"^✗ new\s+RotateSecretNew\s+\d+\.\d\ds\s+(.*)$", result.stdout, re.M)
    assert failure is not None, result.stdout
    assert UNREACHABLE in failure.group(1)
    assert failure.group(1).endswith("(after 2 attempts)")
    with fast_retry_server.client() as client:
        assert client.get_value(name).value == "old"
        assert client.list_rotations(name).items[0].status == "failed"

    batch = run_cli(["rotate", "--prefix", name, "--url", fast_retry_server.url], env=env)
    assert batch.exit_code == rotate_cli.ROTATION_FAILED, batch.output
    assert "1 of 1 rotations did not succeed" in batch.stderr
    assert "failed" in batch.stdout


# -- many secrets --------------------------------------------------------------------------------


def test_rotate_prefix_shows_progress_and_a_summary(
    cli: Invoke, client: rotor.client.Client
) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:12]}/batch/"
    names = [f"{prefix}s{i}" for i in range(3)]
    for secret in names:
        client.create_secret(secret, value="old")
        ok(cli("rotation", "enable", secret, *FUNCTION, "--every", "30d", "--no-rotate-now"))
    client.create_secret(f"{prefix}unrotated", value="old")  # no rotation: skipped
    client.create_secret(f"{prefix}disabled", value="old")
    ok(cli("rotation", "enable", f"{prefix}disabled", *FUNCTION, "--no-rotate-now"))
    ok(cli("rotation", "disable", f"{prefix}disabled"))

    result = ok(cli("rotate", "--prefix", prefix))
    assert "Rotating" in result.stdout
    assert "━" in result.stdout  # the progress bar
    assert "3/3" in result.stdout
    for secret in names:
        assert re.search(rf"{re.escape(secret)}\s*│\s*succeeded", result.stdout), result.stdout
        assert client.get_value(secret).value != "old"
    assert "unrotated" not in result.stdout
    assert "disabled" not in result.stdout
    assert client.get_value(f"{prefix}unrotated").value == "old"
    assert client.get_value(f"{prefix}disabled").value == "old"

    data = json.loads(ok(cli("rotate", "--prefix", prefix, "--json")).stdout)
    assert [entry["name"] for entry in data] == names
    assert {entry["status"] for entry in data} == {"succeeded"}
    assert all(entry["rotation"]["finished_at"] for entry in data)

    empty = ok(cli("rotate", "--prefix", f"{prefix}nothing-here"))
    assert "No rotation" in empty.stdout


def test_rotate_all_due(cli: Invoke, client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    ok(cli("rotation", "enable", name, *FUNCTION, "--every", "30d", "--no-rotate-now"))
    due = json.loads(ok(cli("rotation", "due", "--json")).stdout)
    assert isinstance(due, list)
    assert name not in due  # due in 30 days
    result = cli("rotate", "--all-due")
    assert result.exit_code in (0, 1), result.output  # other tests' secrets may be due
    assert name not in result.stdout
    assert client.get_value(name).value == "old"


def test_rotate_needs_exactly_one_target(
    cli: Invoke, client: rotor.client.Client, name: str
) -> None:
    assert "give one of NAME" in failed(cli("rotate"), 2)
    assert "not NAME and --all-due" in failed(cli("rotate", name, "--all-due"), 2)
    assert "not --all-due and --prefix" in failed(cli("rotate", "--all-due", "--prefix", "a/"), 2)
    assert "single secret" in failed(cli("rotate", "--all-due", "--version-id", "v1"), 2)
    assert "not found" in failed(cli("rotate", name), 3)
    client.create_secret(name, value="old")
    assert "not configured" in failed(cli("rotate", name), 2)


# -- JSON ----------------------------------------------------------------------------------------


def test_json_outputs_parse(cli: Invoke, client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="old")
    enabled = json.loads(ok(cli("rotation", "enable", name, *FUNCTION, "--json")).stdout)
    assert enabled["rotation"]["name"] == name
    assert enabled["rotation"]["last_rotated_at"] is not None
    assert enabled["started"]["status"] == "succeeded"
    assert [s["step"] for s in enabled["started"]["steps"]] == ["new", "set", "test", "end"]
    assert all(s["finished_at"] for s in enabled["started"]["steps"])

    dry = json.loads(
        ok(cli("rotation", "enable", name, *FUNCTION, "--no-rotate-now", "--json")).stdout
    )
    assert dry["started"] is None

    rotated = json.loads(ok(cli("rotate", name, "--json")).stdout)
    assert rotated["status"] == "succeeded"
    assert rotated["created"] is True
    assert rotated["version_id"] == client.get_value(name).version_id
    assert rotated["events"][0]["kind"] == "started"
    assert rotated["events"][-1]["kind"] == "succeeded"

    started = json.loads(ok(cli("rotate", name, "--no-wait", "--json")).stdout)
    assert started["status"] in ("running", "succeeded")
    client.wait_for_rotation(started["id"], timeout=30)

    got = json.loads(ok(cli("rotation", "get", started["id"], "--json")).stdout)
    assert got["id"] == started["id"]
    assert got["status"] == "succeeded"

    show = json.loads(ok(cli("rotation", "show", name, "--json")).stdout)
    assert set(show) == {
        "name", "enabled", "function", "parameters", "every_seconds", "cron",
        "window_seconds", "custom_flow", "next_rotation_at", "last_rotated_at",
    }  # fmt: skip
    history = json.loads(ok(cli("rotation", "history", name, "--json")).stdout)
    assert [r["id"] for r in history][:1] == [started["id"]]
    assert json.loads(ok(cli("rotation", "disable", name, "--json")).stdout)["enabled"] is False


def test_cron_and_window(cli: Invoke, client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value='{"AccountPassword": "old", "User": "app"}')
    result = ok(
        cli(
            "rotation", "enable", name, *FUNCTION, "--cron", "0 3 * * 0", "--window", "2h",
            "--no-rotate-now",
        )
    )  # fmt: skip
    assert "cron 0 3 * * 0 (UTC), within 2h" in result.stdout
    data = json.loads(ok(cli("rotation", "show", name, "--json")).stdout)
    assert data["cron"] == "0 3 * * 0"
    assert data["window_seconds"] == 7200
    next_at = dt.datetime.fromisoformat(data["next_rotation_at"])
    assert (next_at.weekday(), next_at.hour, next_at.minute) == (6, 3, 0)
    ok(cli("rotate", name))
    value = client.get_json(name)
    assert value["User"] == "app"
    assert value["AccountPassword"] != "old"


# -- the functions -------------------------------------------------------------------------------


def test_enable_help_lists_each_built_in_function_at_80_columns() -> None:
    text = ok(run_cli(["rotation", "enable", "--help"], env={"COLUMNS": "80"})).stdout
    lines = text.splitlines()
    assert max(len(line) for line in lines) == 80  # the panels' borders: really 80 wide
    for function, description in rotation_cli.BUILT_IN_FUNCTIONS.items():
        # One line each, the description whole (not wrapped, not cut short with "…").
        assert any(line.rstrip().endswith(f"{function}: {description}") for line in lines)
    assert "rotor function list" in " ".join(text.split())


def test_built_in_functions_are_those_the_server_has_installed(
    rotor_server: RunningServer,
) -> None:
    """The CLI imports only typer, so it lists the functions from a constant: this keeps
    that constant equal to the server's entry-point registry."""
    response = httpx.get(
        f"{rotor_server.url}/v1/functions",
        headers={
            "Authorization": f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["installed"] == sorted(rotation_cli.BUILT_IN_FUNCTIONS)


# -- parameters ----------------------------------------------------------------------------------


def test_param_values_are_typed() -> None:
    assert rotation_cli.param_value("true") is True
    assert rotation_cli.param_value("False") is False
    assert rotation_cli.param_value("40") == 40
    assert rotation_cli.param_value("-3") == -3
    assert rotation_cli.param_value("007") == "007"
    assert rotation_cli.param_value("1.5") == "1.5"
    assert rotation_cli.param_value("") == ""
    assert rotation_cli.param_value("a=b") == "a=b"
    assert rotation_cli.parse_parameters(None, None) is None
    assert rotation_cli.parse_parameters(
        ["PasswordLength=40", "Field=a=b"], '{"PasswordLength": 20, "Flag": "true"}'
    ) == {"PasswordLength": 40, "Field": "a=b", "Flag": "true"}
    with pytest.raises(errors.InvalidParameter):
        rotation_cli.parse_parameters(["=x"], None)
    with pytest.raises(errors.InvalidParameter):
        rotation_cli.parse_parameters(None, "{not json")
