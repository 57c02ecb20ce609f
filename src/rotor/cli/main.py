"""The ``rotor`` command: the Typer app, and the one place errors become exit codes.

Every :class:`rotor.errors.RotorError` leaving a command is printed as one red
line on stderr and exits with the error's ``exit_code`` (2 invalid input,
3 not found, 4 conflict, 5 authentication or access, 6 server error,
7 server unreachable); Typer's own usage errors exit 2. ``rotor rotate`` and
``rotor rotation enable`` also exit 1 when the rotation they wait for does not
succeed, and 8 when it still runs after ``--timeout``; ``rotor status`` exits 1 when a
rotation is failing or overdue.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.core

import rotor
from rotor import errors
from rotor.cli import (
    access,
    audit,
    functions,
    nodes,
    notifications,
    offline,
    passwords,
    render,
    rotate,
    rotation,
    secrets,
    serve,
    status,
)


def report(error: errors.RotorError) -> None:
    """Print ``error`` as one line on stderr."""
    render.error_line(error.message)


class RotorGroup(typer.core.TyperGroup):
    """The root command group; turns a RotorError from any subcommand into its exit code."""

    def invoke(self, ctx: Any) -> Any:  # a click Context; typer does not export its class
        try:
            return super().invoke(ctx)
        except errors.RotorError as error:
            report(error)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    name="rotor",
    cls=RotorGroup,
    help="rotor: a self-hosted secrets manager that rotates database credentials.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"rotor {rotor.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """rotor: a self-hosted secrets manager that rotates database credentials.

    The client and access-control commands talk to a running server's HTTP API;
    serve, purge and master-key work on the data dir directly.
    """


app.command("serve", rich_help_panel="Server", epilog=serve.EPILOG)(serve.run)
app.add_typer(nodes.app, name="node", rich_help_panel="Server")
app.add_typer(secrets.app, name="secret", rich_help_panel="Client")
app.command("password", rich_help_panel="Client")(passwords.password)
app.add_typer(rotation.app, name="rotation", rich_help_panel="Client")
app.add_typer(notifications.app, name="notification", rich_help_panel="Client")
app.command("rotate", rich_help_panel="Client", epilog=rotate.EXIT_CODES_EPILOG)(rotate.run)
app.command("status", rich_help_panel="Client", epilog=status.EXIT_CODES_EPILOG)(status.run)
app.add_typer(functions.app, name="function", rich_help_panel="Access control")
app.add_typer(access.principal_app, name="principal", rich_help_panel="Access control")
app.add_typer(access.key_app, name="access-key", rich_help_panel="Access control")
app.add_typer(access.policy_app, name="policy", rich_help_panel="Access control")
app.command("whoami", rich_help_panel="Access control")(access.whoami)
app.command("assume-role", rich_help_panel="Access control")(access.assume_role)
app.command("audit", rich_help_panel="Access control")(audit.run)
app.command("purge", rich_help_panel="Offline (data dir)")(offline.purge)
app.add_typer(offline.master_key_app, name="master-key", rich_help_panel="Offline (data dir)")


def main() -> None:
    """The console-script entry point."""
    app(prog_name="rotor")
