"""``rotor function register|list|show|remove`` against a real server, as docs/how-to/custom-functions.md shows."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli.conftest import Invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_a_function_is_registered_listed_shown_attached_and_removed(
    cli: Invoke, uid: str, tmp_path: Path
) -> None:
    handler = tmp_path / "index.py"
    handler.write_text("def handler(event, context):\n    return None\n")
    name = f"fn-{uid}"
    registered = ok(
        cli(
            "function", "register", name, "--kind", "python-handler",
            "--handler", f"{handler}:handler", "--role", "rotation-functions",
            "--secret", "db/master-*", "--timeout", "120", "--description", "the reference",
        )
    )  # fmt: skip
    assert registered.stdout.strip() == f"Registered python-handler {name}."
    shown = json.loads(ok(cli("function", "show", name, "--json")).stdout)
    assert shown["handler"] == f"{handler}:handler"
    assert shown["roles"] == ["rotation-functions"]
    assert shown["secrets"] == ["db/master-*"]
    assert shown["timeout_seconds"] == 120
    assert shown["registered_by"] == "admin"
    assert name in ok(cli("function", "list")).stdout
    assert name in ok(cli("function", "show", name)).stdout

    secret = f"fn-app-{uid}"
    ok(cli("secret", "create", secret, "--value", "v"))
    ok(cli("rotation", "enable", secret, "--function", name, "--no-rotate-now"))
    refused = cli("function", "remove", name)
    assert refused.exit_code == 4, refused.output
    assert secret in refused.stderr
    ok(cli("rotation", "disable", secret))
    ok(cli("secret", "delete", secret, "--force"))
    assert ok(cli("function", "remove", name)).stdout.strip() == f"Removed python-handler {name}."
    assert cli("function", "show", name).exit_code == 3


def test_an_http_function_and_bad_registrations(cli: Invoke, uid: str) -> None:
    name = f"hook-{uid}"
    ok(cli("function", "register", name, "--kind", "http-function", "--endpoint", "https://h/r"))
    assert json.loads(ok(cli("function", "show", name, "--json")).stdout)["url"] == "https://h/r"
    for args in (
        ["--kind", "shell"],
        ["--kind", "http-function", "--endpoint", "file:///etc/passwd"],
        ["--kind", "python-handler", "--handler", "relative.py:handler"],
    ):
        result = cli("function", "register", f"bad-{uid}", *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("Error: ")
    ok(cli("function", "remove", name))


def test_a_lambda_handler_is_registered_as_its_kind(cli: Invoke, uid: str, tmp_path: Path) -> None:
    handler = tmp_path / "rotate.py"
    handler.write_text("def lambda_handler(event, context):\n    return None\n")
    name = f"lambda-{uid}"
    registered = ok(
        cli(
            "function", "register", name, "--kind", "lambda-handler",
            "--handler", f"{handler}:lambda_handler",
        )
    )  # fmt: skip
    assert registered.stdout.strip() == f"Registered lambda-handler {name}."
    shown = json.loads(ok(cli("function", "show", name, "--json")).stdout)
    assert (shown["kind"], shown["handler"]) == ("lambda-handler", f"{handler}:lambda_handler")
    refused = cli("function", "register", f"bad-{uid}", "--kind", "lambda")
    assert refused.exit_code == 2, refused.output
    assert "python-handler, lambda-handler, http-function" in refused.stderr
    ok(cli("function", "remove", name))
