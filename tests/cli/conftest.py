"""Fixtures for the CLI tests: an invoker bound to the shared server, and unique secret names."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rotor.cli import main
from tests.services.server import RunningServer

Invoke = Callable[..., Result]


def run_cli(
    args: Sequence[str], *, input: str | bytes | None = None, env: Mapping[str, str] | None = None
) -> Result:
    """``rotor ARGS`` in-process, with ``env`` added to the environment."""
    return CliRunner().invoke(main.app, list(args), input=input, env=env, prog_name="rotor")


@pytest.fixture
def no_default_dir(tmp_path: Path) -> dict[str, str]:
    """Environment in which the default data dir is an empty temp dir."""
    return {"XDG_DATA_HOME": str(tmp_path / "xdg")}


@pytest.fixture
def cli(rotor_server: RunningServer, no_default_dir: dict[str, str]) -> Invoke:
    """Run a ``rotor secret ...``/``rotor password`` command against the shared server.

    The URL is passed with ``--url`` and the access key through the environment.
    """

    def invoke(*args: str, input: str | bytes | None = None, env: Mapping[str, str] = {}) -> Result:
        return run_cli(
            [*args, "--url", rotor_server.url],
            input=input,
            env={**no_default_dir, **rotor_server.credentials_env, **env},
        )

    return invoke


@pytest.fixture
def name() -> str:
    """A secret name no other test uses (the server is shared by the session)."""
    return f"cli-{uuid.uuid4().hex[:12]}/secret"
