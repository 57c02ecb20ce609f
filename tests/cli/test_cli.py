"""``rotor secret ...`` and ``rotor password`` against a real server, through CliRunner."""

from __future__ import annotations

import base64
import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli.conftest import Invoke, run_cli
from tests.services.server import RunningServer, server_env

BLOB = bytes(range(256)) + b"\xff\xfe\x00 not utf-8"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def one_line_error(result: Result, exit_code: int) -> str:
    """The error line of a failed command, checking the exit code and the shape."""
    assert result.exit_code == exit_code, f"exit {result.exit_code}: {result.output}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- values in and out ---------------------------------------------------------------------------


def test_create_and_get(cli: Invoke, name: str) -> None:
    created = ok(cli("secret", "create", name, "--value", "hello world", "--tag", "team=a"))
    assert name in created.stdout
    got = ok(cli("secret", "get", name))
    assert got.stdout_bytes == b"hello world"  # just the value: no newline when not a terminal


def test_value_from_piped_stdin(cli: Invoke, name: str) -> None:
    ok(cli("secret", "create", name, input="first\n"))
    assert ok(cli("secret", "get", name)).stdout == "first\n"
    ok(cli("secret", "put", name, input="second"))
    assert ok(cli("secret", "get", name)).stdout == "second"
    ok(cli("secret", "put", name, "--file", "-", input="third"))
    assert ok(cli("secret", "get", name)).stdout == "third"


def test_value_from_file(cli: Invoke, name: str, tmp_path: Path) -> None:
    path = tmp_path / "value.pem"
    path.write_text("-----BEGIN-----\nabc\n-----END-----\n")
    ok(cli("secret", "create", name, "--file", str(path)))
    assert ok(cli("secret", "get", name)).stdout == path.read_text()


def test_create_without_value(cli: Invoke, name: str) -> None:
    created = json.loads(ok(cli("secret", "create", name, "--json")).stdout)
    assert created["stages"] == {}
    one_line_error(cli("secret", "get", name), 3)


def test_value_input_errors(cli: Invoke, name: str, tmp_path: Path) -> None:
    ok(cli("secret", "create", name))
    assert "no value" in one_line_error(cli("secret", "put", name), 2)
    both = cli("secret", "put", name, "--value", "a", "--file", str(tmp_path))
    assert "not both" in one_line_error(both, 2)
    missing = cli("secret", "put", name, "--file", str(tmp_path / "nope"))
    assert "cannot read" in one_line_error(missing, 2)
    binary_file = tmp_path / "blob"
    binary_file.write_bytes(BLOB)
    assert "--binary" in one_line_error(cli("secret", "put", name, "--file", str(binary_file)), 2)
    assert "--binary" in one_line_error(cli("secret", "put", name, "--value", "x", "--binary"), 2)


def test_binary_round_trip(cli: Invoke, name: str, tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(BLOB)
    ok(cli("secret", "create", name, "--binary", "--file", str(source)))
    assert ok(cli("secret", "get", name)).stdout_bytes == BLOB

    target = tmp_path / "out"
    ok(cli("secret", "get", name, "--output", str(target)))
    assert target.read_bytes() == BLOB
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    as_json = json.loads(ok(cli("secret", "get", name, "--json")).stdout)
    assert base64.b64decode(as_json["binary"]) == BLOB
    assert "value" not in as_json

    ok(cli("secret", "put", name, "--binary", input=BLOB[::-1]))
    assert ok(cli("secret", "get", name)).stdout_bytes == BLOB[::-1]
    versions = json.loads(ok(cli("secret", "versions", name, "--json")).stdout)
    assert [v["type"] for v in versions] == ["binary", "binary"]


def test_put_versions_and_stages(cli: Invoke, name: str) -> None:
    ok(cli("secret", "create", name, "--value", "one", "--version-id", "v1"))
    put = json.loads(
        ok(
            cli(
                "secret", "put", name, "--value", "two", "--version-id", "v2",
                "--stage", "Pending", "--stage", "Blue", "--json",
            )
        ).stdout
    )  # fmt: skip
    assert put["version_id"] == "v2"
    assert sorted(put["stages"]) == ["Blue", "Pending"]
    assert ok(cli("secret", "get", name)).stdout == "one"
    assert ok(cli("secret", "get", name, "--stage", "Pending")).stdout == "two"
    assert ok(cli("secret", "get", name, "--version-id", "v2")).stdout == "two"
    one_line_error(cli("secret", "get", name, "--stage", "Previous", "--version-id", "v2"), 3)

    moved = json.loads(
        ok(cli("secret", "stage", name, "Current", "--move-to", "v2", "--json")).stdout
    )
    assert moved["stages"]["Current"] == "v2"
    assert moved["stages"]["Previous"] == "v1"
    removed = ok(cli("secret", "stage", name, "Pending", "--remove-from", "v2"))
    assert "Pending" not in removed.stdout
    assert "Blue" in removed.stdout

    versions = json.loads(ok(cli("secret", "versions", name, "--json")).stdout)
    assert [v["version_id"] for v in versions] == ["v2", "v1"]
    assert sorted(versions[0]["stages"]) == ["Blue", "Current"]
    table = ok(cli("secret", "versions", name)).stdout
    assert "v1" in table
    assert "Previous" in table

    same = cli("secret", "put", name, "--value", "other", "--version-id", "v2")
    one_line_error(same, 4)


def test_get_json_text(cli: Invoke, name: str) -> None:
    ok(cli("secret", "create", name, "--value", "text value"))
    data = json.loads(ok(cli("secret", "get", name, "--json")).stdout)
    assert data["value"] == "text value"
    assert data["name"] == name
    assert data["stages"] == ["Current"]
    assert data["created_at"].endswith("Z")


# -- metadata ------------------------------------------------------------------------------------


def test_describe(cli: Invoke, name: str) -> None:
    ok(
        cli(
            "secret", "create", name, "--value", "v", "--description", "[bold]db[/bold]",
            "--type", "Password", "--tag", "team=a", "--tag", "env=prod",
        )
    )  # fmt: skip
    data = json.loads(ok(cli("secret", "describe", name, "--json")).stdout)
    assert data["name"] == name
    assert data["type"] == "Password"
    assert data["description"] == "[bold]db[/bold]"
    assert data["tags"] == {"team": "a", "env": "prod"}
    assert set(data["stages"]) == {"Current"}
    assert "value" not in data
    human = ok(cli("secret", "describe", name)).stdout
    assert name in human
    assert "[bold]db[/bold]" in human  # printed as text, not as markup
    assert "env=prod, team=a" in human


def test_list_filters_and_all_pages(cli: Invoke, name: str, rotor_server: RunningServer) -> None:
    prefix = name.rsplit("/", 1)[0] + "/"
    with rotor_server.client() as client:
        for i in range(55):  # more than one page of the server's default size (50)
            client.create_secret(f"{prefix}{i:02d}", tags={"parity": "odd" if i % 2 else "even"})
    listed = json.loads(ok(cli("secret", "list", "--prefix", prefix, "--json")).stdout)
    assert [s["name"] for s in listed] == [f"{prefix}{i:02d}" for i in range(55)]
    odd = json.loads(
        ok(cli("secret", "list", "--prefix", prefix, "--tag", "parity=odd", "--json")).stdout
    )
    assert len(odd) == 27
    table = ok(cli("secret", "list", "--prefix", prefix + "0")).stdout
    assert f"{prefix}00" in table
    assert f"{prefix}10" not in table
    empty = ok(cli("secret", "list", "--prefix", prefix + "nothing"))
    assert "No secrets" in empty.stdout
    assert "must be key=value" in one_line_error(cli("secret", "list", "--tag", "oops"), 2)


def test_delete_and_restore(cli: Invoke, name: str) -> None:
    ok(cli("secret", "create", name, "--value", "v"))
    deleted = ok(cli("secret", "delete", name))
    assert "restore" in deleted.stdout
    assert "scheduled for deletion" in one_line_error(cli("secret", "get", name), 4)
    prefix = name.rsplit("/", 1)[0]
    assert json.loads(ok(cli("secret", "list", "--prefix", prefix, "--json")).stdout) == []
    pending = json.loads(
        ok(cli("secret", "list", "--prefix", prefix, "--include-pending-deletion", "--json")).stdout
    )
    assert [s["name"] for s in pending] == [name]
    assert pending[0]["delete_after"] is not None

    ok(cli("secret", "restore", name))
    assert ok(cli("secret", "get", name)).stdout == "v"

    scheduled = json.loads(
        ok(cli("secret", "delete", name, "--recovery-days", "7", "--json")).stdout
    )
    assert scheduled["delete_after"] is not None
    restored = json.loads(ok(cli("secret", "restore", name, "--json")).stdout)
    assert restored["delete_after"] is None

    one_line_error(cli("secret", "delete", name, "--recovery-days", "7", "--force"), 2)
    one_line_error(cli("secret", "delete", name, "--recovery-days", "3"), 2)
    ok(cli("secret", "delete", name, "--force"))
    one_line_error(cli("secret", "describe", name), 3)


def test_password(cli: Invoke) -> None:
    password = ok(cli("password", "--length", "24")).stdout
    assert password.endswith("\n")
    assert len(password.rstrip("\n")) == 24
    data = json.loads(
        ok(
            cli("password", "--exclude-punctuation", "--exclude-characters", "aeiou", "--json")
        ).stdout
    )
    assert len(data["password"]) == 32
    assert data["password"].isalnum()
    assert not set("aeiou") & set(data["password"])
    relaxed = json.loads(
        ok(cli("password", "--length", "8", "--no-require-each-included-type", "--json")).stdout
    )
    assert len(relaxed["password"]) == 8
    impossible = cli(
        "password",
        "--exclude-uppercase",
        "--exclude-lowercase",
        "--exclude-numbers",
        "--exclude-punctuation",
    )
    one_line_error(impossible, 2)
    one_line_error(cli("password", "--length", "4"), 2)


# -- errors and exit codes -----------------------------------------------------------------------


def test_unknown_secret(cli: Invoke, name: str) -> None:
    line = one_line_error(cli("secret", "get", name), 3)
    assert name in line
    assert cli("secret", "describe", name).exit_code == 3
    assert cli("secret", "versions", name).exit_code == 3


def test_bad_names(cli: Invoke) -> None:
    assert "invalid secret name" in one_line_error(cli("secret", "get", "bad name"), 2)
    one_line_error(cli("secret", "create", "bad name!"), 2)  # refused by the server
    one_line_error(cli("secret", "create", "x" * 200), 2)


def test_conflict(cli: Invoke, name: str) -> None:
    ok(cli("secret", "create", name))
    assert name in one_line_error(cli("secret", "create", name), 4)


def test_wrong_credentials(cli: Invoke, name: str) -> None:
    result = cli("secret", "get", name, env={"ROTOR_ACCESS_KEY_SECRET": "wrong-key-secret"})
    one_line_error(result, 5)
    assert "wrong-key-secret" not in result.output


def test_server_down(no_default_dir: dict[str, str]) -> None:
    url = closed_port_url()
    env = {**no_default_dir, "ROTOR_ACCESS_KEY_ID": "RK", "ROTOR_ACCESS_KEY_SECRET": "s"}
    result = run_cli(["secret", "get", "app/db", "--url", url], env=env)
    assert url in one_line_error(result, 7)


def test_nothing_configured(no_default_dir: dict[str, str]) -> None:
    line = one_line_error(run_cli(["secret", "get", "app/db"], env=no_default_dir), 2)
    assert "ROTOR_URL" in line
    assert "ROTOR_DATA_DIR" in line


def test_usage_errors_exit_2(cli: Invoke, name: str) -> None:
    assert run_cli(["secret", "get"]).exit_code == 2
    assert run_cli(["secret", "get", name, "--no-such-flag"]).exit_code == 2
    assert run_cli(["no-such-command"]).exit_code == 2
    assert cli("secret", "delete", name, "--recovery-days", "soon").exit_code == 2


def test_no_flag_for_the_key_secret() -> None:
    result = run_cli(["secret", "get", "x", "--access-key-secret", "s"])
    assert result.exit_code == 2


# -- configuration sources -----------------------------------------------------------------------


def test_credentials_file(
    rotor_server: RunningServer, name: str, tmp_path: Path, no_default_dir: dict[str, str]
) -> None:
    path = tmp_path / "creds.json"
    path.write_text(
        json.dumps(
            {
                "access_key_id": rotor_server.access_key_id,
                "access_key_secret": rotor_server.access_key_secret,
            }
        )
    )
    args = ["--url", rotor_server.url, "--credentials-file", str(path)]
    ok(run_cli(["secret", "create", name, "--value", "v", *args], env=no_default_dir))
    assert ok(run_cli(["secret", "get", name, *args], env=no_default_dir)).stdout == "v"


def test_access_key_id_flag_and_secret_env(
    rotor_server: RunningServer, name: str, no_default_dir: dict[str, str]
) -> None:
    env = {**no_default_dir, "ROTOR_ACCESS_KEY_SECRET": rotor_server.access_key_secret}
    args = ["--url", rotor_server.url, "--access-key-id", rotor_server.access_key_id]
    ok(run_cli(["secret", "create", name, *args], env=env))


def test_data_dir_flag(
    rotor_server: RunningServer, name: str, no_default_dir: dict[str, str]
) -> None:
    args = ["--data-dir", str(rotor_server.data_dir)]
    ok(
        run_cli(
            ["secret", "create", name, "--value", "from the data dir", *args], env=no_default_dir
        )
    )
    env = {**no_default_dir, "ROTOR_DATA_DIR": str(rotor_server.data_dir)}
    assert ok(run_cli(["secret", "get", name], env=env)).stdout == "from the data dir"


def rotor_command() -> list[str]:
    script = Path(sys.executable).with_name("rotor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rotor"]


def test_console_script_next_to_a_server(rotor_server: RunningServer, name: str) -> None:
    """`ROTOR_DATA_DIR=DIR rotor secret get NAME` needs nothing else."""
    with rotor_server.client() as client:
        client.create_secret(name, value="next door")
    env = server_env({"ROTOR_DATA_DIR": str(rotor_server.data_dir)})
    done = subprocess.run(
        [*rotor_command(), "secret", "get", name],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"next door"

    missing = subprocess.run(
        [*rotor_command(), "secret", "get", name + "-missing"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert missing.returncode == 3
    stderr = missing.stderr.decode().strip().splitlines()
    assert len(stderr) == 1
    assert stderr[0].startswith("Error: ")


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rotor", "--version"],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("rotor ")


@pytest.mark.parametrize("command", [["secret", "get", "x"], ["password"], ["secret", "list"]])
def test_env_vars_shown_in_help(command: list[str]) -> None:
    help_text = ok(run_cli([*command, "--help"])).stdout
    for var in ("ROTOR_URL", "ROTOR_DATA_DIR", "ROTOR_ACCESS_KEY_ID", "ROTOR_ACCESS_KEY_SECRET"):
        assert var in help_text
