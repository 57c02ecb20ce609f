"""``rotor rotation ...``: configure, inspect and cancel the rotation of secrets on a server.

Thin clients of the native API, like :mod:`rotor.cli.secrets`: each command makes
:class:`rotor.client.Client` calls and renders the result. ``rotor rotation
enable`` starts a rotation and waits for it as ``rotor rotate`` does
(:mod:`rotor.cli.rotate`), unless ``--no-rotate-now`` or ``--no-wait``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

import rotor.client
from rotor import errors
from rotor.cli import render, render_rotation
from rotor.cli.connection import Connection, connected
from rotor.cli.render import JsonOption
from rotor.cli.rotate import (
    DEFAULT_TIMEOUT,
    EXIT_CODES_EPILOG,
    NoWaitOption,
    TimeoutOption,
    follow,
    report_outcome,
)
from rotor.cli.secrets import NameArgument

app = typer.Typer(
    help="Configure, inspect and cancel the rotation of secrets.", no_args_is_help=True
)

BUILT_IN_FUNCTIONS = {
    "generated-password": "a random password, as the whole value or a JSON field",
    "mysql-alternating": "two MySQL/MariaDB accounts in turn, via a master account",
    "mysql-single-user": "one MySQL/MariaDB account changes its own password",
    "postgres-alternating": "two PostgreSQL roles in turn, via a master role",
    "postgres-single-user": "one PostgreSQL role changes its own password",
    "rds-alternating": "two Alibaba Cloud RDS accounts in turn, via its OpenAPI",
}
"""The rotation functions rotor installs, each with one line on what it rotates.

Written here because the CLI imports no server code; a test compares it with the server's
``GET /v1/functions`` ``installed`` list."""


def _functions_epilog() -> str:
    rows = "\n".join(f"- {name}: {text}" for name, text in BUILT_IN_FUNCTIONS.items())
    return (
        f"Built-in functions:\n\n{rows}\n\nA package may install more; registered (custom) "
        "functions are listed by rotor function list."
    )


# -- input ---------------------------------------------------------------------------------------

_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")


def param_value(text: str) -> Any:
    """A ``--param`` value as JSON: ``true``/``false`` and integers are typed, the rest text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    return text


def parse_parameters(items: Iterable[str] | None, as_json: str | None) -> dict[str, Any] | None:
    """The rotation parameters from ``--param-json`` and ``--param`` (which wins); None: neither."""
    if not items and as_json is None:
        return None
    parameters: dict[str, Any] = {}
    if as_json is not None:
        try:
            loaded = json.loads(as_json)
        except ValueError:
            raise errors.InvalidParameter("--param-json is not valid JSON") from None
        if not isinstance(loaded, dict):
            raise errors.InvalidParameter('--param-json must be a JSON object, e.g. {"K": "V"}')
        parameters.update(loaded)
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidParameter(f"--param {item!r} must be KEY=VALUE")
        parameters[key] = param_value(value)
    return parameters


def _read_flow(path: Path | None, default_flow: bool) -> str | None:
    if path is not None and default_flow:
        raise errors.InvalidParameter("give --flow or --default-flow, not both")
    if default_flow:
        return ""
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidParameter(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise errors.InvalidParameter(f"cannot read {path}: {exc.strerror}") from None


# -- commands ------------------------------------------------------------------------------------


@app.command("enable", epilog=f"{_functions_epilog()}\n\n{EXIT_CODES_EPILOG}")
@connected
def enable(
    connection: Connection,
    name: NameArgument,
    function: Annotated[
        str,
        typer.Option(
            "--function",
            help="Rotation function: a built-in one (listed below), one a package installs, "
            "or a registered one (rotor function list).",
            show_default=False,
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A rotation parameter, KEY=VALUE (repeatable). true/false and integers are "
            "sent as JSON booleans and numbers, anything else as text.",
            show_default=False,
        ),
    ] = None,
    param_json: Annotated[
        str | None,
        typer.Option(
            "--param-json",
            help="Rotation parameters as a JSON object, e.g. '{\"PasswordLength\": 40}' "
            "(--param entries are added to it).",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            help="Rotate every 30d, 12h, 90m, ... counted from the last rotation or value change.",
            show_default=False,
        ),
    ] = None,
    cron: Annotated[
        str | None,
        typer.Option(
            "--cron",
            help="Rotate on a cron schedule, in UTC: 5 fields, or 6 with seconds last.",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="Start a scheduled rotation only within this long after its due time (e.g. 2h).",
            show_default=False,
        ),
    ] = None,
    flow: Annotated[
        Path | None,
        typer.Option(
            "--flow",
            help="Flow definition (YAML) instead of the default new, set, test, end.",
            show_default=False,
        ),
    ] = None,
    default_flow: Annotated[
        bool, typer.Option("--default-flow", help="Drop a configured flow: back to the default.")
    ] = False,
    rotate_now: Annotated[
        bool,
        typer.Option(
            "--rotate-now/--no-rotate-now",
            help="Rotate at once, or instead dry-run the function's new and test steps into a "
            "throwaway version, so a misconfiguration fails now.",
        ),
    ] = True,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"rotation": configuration, "started": rotation or null} as JSON.',
        ),
    ] = False,
) -> None:
    """Enable rotation of a secret with a rotation function and, optionally, a schedule.

    Parameters, schedule and flow not given keep the values configured before. Unless
    --no-rotate-now, a rotation starts at once and rotor waits for it as `rotor rotate` does.
    """
    if every is not None and cron is not None:
        raise errors.InvalidParameter("give --every or --cron, not both")
    parameters = parse_parameters(param, param_json)
    flow_text = _read_flow(flow, default_flow)
    with connection.client() as client:
        result = client.configure_rotation(
            name,
            function=function,
            parameters=parameters,
            every=every,
            cron=cron,
            window=window,
            flow=flow_text,
            rotate_now=rotate_now,
        )
        config, started = result.config, result.started
        if not as_json:
            console = render.console()
            window = (
                f", within {render_rotation.duration(config.window_seconds)} of its due time"
                if config.window_seconds is not None
                else ""
            )
            console.print(
                Text(
                    f"Rotation of {config.name} enabled: {config.function}, "
                    f"{render_rotation.schedule(config)}{window}."
                )
            )
            if result.dry_run is not None:
                console.print(render_rotation.dry_run_view(result.dry_run))
            if not rotate_now:
                console.print(Text(f"Next rotation at: {render.when(config.next_rotation_at)}."))
        if started is None or no_wait:
            if as_json:
                render.echo_json(render_rotation.configured_json(config, started, result.dry_run))
            elif started is not None:
                render.console().print(Text(f"Started rotation {started.id}."))
            return
        if not as_json:
            render.console().print(Text(f"Rotating {name} (rotation {started.id}):"))
        final = follow(client, started, timeout=timeout, quiet=as_json)
        if as_json:
            config = client.describe_rotation(name)
            render.echo_json(render_rotation.configured_json(config, final))
    report_outcome(final, quiet=as_json)


@app.command("disable")
@connected
def disable(
    connection: Connection,
    name: NameArgument,
    as_json: JsonOption = False,
) -> None:
    """Stop scheduled rotations of a secret; its configuration is kept for a later enable."""
    with connection.client() as client:
        config = client.disable_rotation(name)
    if as_json:
        render.echo_json(render_rotation.config_json(config))
    else:
        render.console().print(Text(f"Rotation of {config.name} disabled."))


@app.command("show")
@connected
def show(
    connection: Connection,
    name: NameArgument,
    as_json: JsonOption = False,
) -> None:
    """Show a secret's rotation: function, parameters, schedule, next_rotation_at, last_rotated_at."""
    with connection.client() as client:
        config = client.describe_rotation(name)
    if as_json:
        render.echo_json(render_rotation.config_json(config))
    else:
        render.console().print(render_rotation.config_table(config))


@app.command("history")
@connected
def history(
    connection: Connection,
    name: NameArgument,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many rotations.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """List a secret's rotations, newest first, with their status and error."""
    found: list[rotor.client.Rotation] = []
    with connection.client() as client:
        for rotation in client.iter_rotations(name, page_size=min(limit, 100)):
            found.append(rotation)
            if len(found) >= limit:
                break
    if as_json:
        render.echo_json(
            [render_rotation.rotation_json(rotation, events=False) for rotation in found]
        )
        return
    if not found:
        render.console().print(Text(f"{name} has not been rotated."))
        return
    render.console().print(render_rotation.history_table(found))


@app.command("get")
@connected
def get(
    connection: Connection,
    rotation_id: Annotated[
        str,
        typer.Argument(metavar="ROTATION_ID", help="A rotation's id, as `rotor rotate` prints it."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show one rotation: its status, each step's timing and error, and its events."""
    with connection.client() as client:
        rotation = client.get_rotation(rotation_id)
    if as_json:
        render.echo_json(render_rotation.rotation_json(rotation))
        return
    console = render.console()
    for table in render_rotation.rotation_tables(rotation):
        console.print(table)


@app.command("cancel")
@connected
def cancel(
    connection: Connection,
    name: NameArgument,
    as_json: JsonOption = False,
) -> None:
    """Cancel the running rotation of a secret before its end step; Pending is removed.

    Exits 3 when no rotation is running, 4 when it is already in its end step.
    """
    with connection.client() as client:
        rotation = client.cancel_rotation(name)
    if as_json:
        render.echo_json(render_rotation.rotation_json(rotation, events=False))
    else:
        render.console().print(
            Text(f"Cancelled rotation {rotation.id} of {rotation.name}; Current is unchanged.")
        )


@app.command("due")
@connected
def due(
    connection: Connection,
    as_json: JsonOption = False,
) -> None:
    """List the secrets whose scheduled rotation is due now."""
    with connection.client() as client:
        names = client.list_due_rotations()
    if as_json:
        render.echo_json(list(names))
    elif not names:
        render.console().print("No rotation is due.")
    else:
        for secret_name in names:
            render.console().print(Text(secret_name))
