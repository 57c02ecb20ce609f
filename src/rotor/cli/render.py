"""How every ``rotor`` command writes: the console, ``--json`` output, times and error lines.

People get Rich output on stdout (never wrapped when piped, so each row stays on
one line for grep) and one red ``Error:`` line on stderr; scripts get ``--json``.
Times are shown in UTC. What each command shows is in :mod:`rotor.cli.render_secrets`
and :mod:`rotor.cli.render_rotation`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def console() -> Console:
    """The console for a command's output on stdout."""
    # Piped output is not wrapped to 80 columns, so each row stays on one line for grep.
    width = None if sys.stdout.isatty() else 1000
    return Console(highlight=False, soft_wrap=True, width=width)


def json_text(data: Any) -> str:
    """``data`` as ``--json`` prints it: indented, non-ASCII kept."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def echo_json(data: Any) -> None:
    typer.echo(json_text(data))


def error_line(message: str) -> None:
    """Print ``message`` as one ``Error:`` line on stderr."""
    stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    stderr.print(f"[bold red]Error:[/] {escape(' '.join(message.split()))}")


def iso_time(value: dt.datetime | None) -> str | None:
    """A time for JSON output: RFC 3339 in UTC, ``Z``-suffixed."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def when(value: dt.datetime | None) -> str:
    """A time for people: ``2024-05-01 12:00:00 UTC``, or ``-``."""
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
