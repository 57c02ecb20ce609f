"""``rotor function register|list|show|remove``: custom rotation code an administrator registers.

A rotation configuration names a registered function (``rotor rotation enable NAME
--function FUNCTION``); it never carries a handler path, an interpreter or a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import rotor.client
from rotor import errors
from rotor.cli import render
from rotor.cli.connection import Connection, connected
from rotor.cli.render import JsonOption, iso_time, when
from rotor.protocol import FUNCTION_KINDS, FunctionKind

app = typer.Typer(
    help="Register, list, show and remove custom rotation functions.", no_args_is_help=True
)

#: The kinds ``--kind`` takes, each as the client's literal.
KINDS: dict[str, FunctionKind] = {kind: kind for kind in FUNCTION_KINDS}

FunctionArgument = Annotated[
    str,
    typer.Argument(help="Function name: 1-64 characters of A-Za-z0-9_.-", show_default=False),
]


def function_json(function: rotor.client.RegisteredFunction) -> dict[str, Any]:
    return {
        "name": function.name,
        "kind": function.kind,
        "handler": function.handler,
        "python": function.python,
        "python_path": list(function.python_path),
        "url": function.url,
        "headers_secret": function.headers_secret,
        "timeout_seconds": function.timeout_seconds,
        "custom_flow": function.custom_flow,
        "roles": list(function.roles),
        "secrets": list(function.secrets),
        "description": function.description,
        "registered_by": function.registered_by,
        "created_at": iso_time(function.created_at),
        "updated_at": iso_time(function.updated_at),
    }


def _code(function: rotor.client.RegisteredFunction) -> str:
    return function.handler or function.url or "-"


@app.command("register")
@connected
def register(
    connection: Connection,
    name: FunctionArgument,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="python-handler (handler(event, context) in its own process), "
            "lambda-handler (the same in AWS Lambda's convention: lambda_handler(event, "
            "context) with the AWS SDK pointed at rotor) or "
            "http-function (an endpoint that gets each step's event as a POST).",
            show_default=False,
        ),
    ],
    handler: Annotated[
        str | None,
        typer.Option(
            help="python-handler, lambda-handler: module:function or /abs/path/file.py:function."
        ),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(
            help="python-handler, lambda-handler: the interpreter (absolute path); default rotor's."
        ),
    ] = None,
    python_path: Annotated[
        list[str] | None,
        typer.Option(
            "--python-path", help="python-handler, lambda-handler: a sys.path entry (repeatable)."
        ),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="http-function: the endpoint's URL.")
    ] = None,
    headers_secret: Annotated[
        str | None,
        typer.Option(help='http-function: a secret holding {"Headers": {...}}.'),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds per step (default: rotor's).")
    ] = None,
    flow_file: Annotated[
        Path | None, typer.Option("--flow-file", help="The function's own flow (YAML).")
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role a configuration may give it (repeatable)."),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            help="A secret name pattern (* wildcard) a configuration may give it beyond the "
            "rotated secret, e.g. its MasterSecret (repeatable).",
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Register a custom function, or replace its registration (rotor:RegisterFunction)."""
    if kind not in KINDS:
        raise errors.InvalidParameter(f"--kind must be one of {', '.join(KINDS)}")
    flow = None
    if flow_file is not None:
        try:
            flow = flow_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.InvalidParameter(f"cannot read {flow_file}: {exc}") from None
    kind_name = KINDS[kind]
    with connection.client() as client:
        function = client.register_function(
            name,
            kind=kind_name,
            handler=handler,
            python=python,
            python_path=python_path or (),
            url=endpoint,
            headers_secret=headers_secret,
            timeout_seconds=timeout,
            flow=flow,
            roles=role or (),
            secrets=secret or (),
            description=description,
        )
    if as_json:
        render.echo_json(function_json(function))
    else:
        render.console().print(Text(f"Registered {function.kind} {function.name}."))


@app.command("list")
@connected
def list_(connection: Connection, as_json: JsonOption = False) -> None:
    """List the registered functions you may see."""
    with connection.client() as client:
        items = client.list_functions()
    if as_json:
        render.echo_json([function_json(f) for f in items])
        return
    table = Table("Name", "Kind", "Code", "Roles", "Secrets", "Registered by")
    for f in items:
        table.add_row(
            Text(f.name),
            f.kind,
            Text(_code(f)),
            Text(", ".join(f.roles) or "-"),
            Text(", ".join(f.secrets) or "-"),
            Text(f.registered_by),
        )
    render.console().print(table)


@app.command("show")
@connected
def show(connection: Connection, name: FunctionArgument, as_json: JsonOption = False) -> None:
    """Show a registered function: its code, and what it may be given."""
    with connection.client() as client:
        f = client.get_function(name)
    if as_json:
        render.echo_json(function_json(f))
        return
    fields = Table.grid(padding=(0, 2))
    for label, value in (
        ("Name", f.name),
        ("Kind", f.kind),
        ("Code", _code(f)),
        ("Python", f.python or "-"),
        ("Python path", ":".join(f.python_path) or "-"),
        ("Headers secret", f.headers_secret or "-"),
        ("Timeout", "-" if f.timeout_seconds is None else f"{f.timeout_seconds:g} s"),
        ("Own flow", "yes" if f.custom_flow else "no"),
        ("Roles", ", ".join(f.roles) or "-"),
        ("Secrets", ", ".join(f.secrets) or "-"),
        ("Description", f.description or "-"),
        ("Registered by", f.registered_by),
        ("Updated", when(f.updated_at)),
    ):
        fields.add_row(label, Text(value))
    render.console().print(fields)


@app.command("remove")
@connected
def remove(connection: Connection, name: FunctionArgument) -> None:
    """Remove a registered function; refused while a rotation configuration names it."""
    with connection.client() as client:
        function = client.remove_function(name)
    render.console().print(Text(f"Removed {function.kind} {function.name}."))
