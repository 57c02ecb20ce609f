"""``rotor status``: every configured rotation's state at a glance, for people and for cron.

A table (secret, state, last result, last success, next due, error) and a one-line
summary, from ``GET /v1/status``; ``--json`` prints the API's answer. The exit code is
the point for monitoring: :data:`PROBLEMS_FOUND` when a secret the caller may see is
failing or overdue, 0 otherwise, so ``rotor status || alert`` in cron needs no parsing.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import rotor.client
from rotor.cli import render, render_rotation
from rotor.cli.connection import Connection, connected

PROBLEMS_FOUND = 1
"""Exit code of ``rotor status`` when a secret is failing or overdue."""

EXIT_CODES_EPILOG = (
    "Exit codes: 0 no rotation shown or counted is failing or overdue; 1 one is (the "
    "table says which, and why); 2-7 as for every command. With --prefix, only the secrets "
    "under it count."
)

_STATE_STYLE = {
    "ok": "green",
    "running": "yellow",
    "failing": "bold red",
    "overdue": "bold red",
    "disabled": "dim",
    "never-rotated": "cyan",
}


@connected
def run(
    connection: Connection,
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", help="Only secrets whose name starts with this, e.g. app/."),
    ] = None,
    problems: Annotated[
        bool,
        typer.Option(
            "--problems",
            help="Show only the failing and overdue secrets (the summary still counts all).",
        ),
    ] = False,
    as_json: render.JsonOption = False,
) -> None:
    """Show every configured rotation's state at a glance, and exit 1 if one is failing or
    overdue.

    States: ok (its last rotation succeeded), running, failing (its latest rotation that
    ended failed or was abandoned, until one succeeds), overdue (due longer ago than
    ROTOR_OVERDUE_GRACE_SECONDS and not started: no scheduler is starting it), disabled,
    never-rotated. Shows, and counts, only the secrets whose rotations you may list
    (rotor:ListRotations). For cron or a monitor: `rotor status --problems || alert`.
    """
    with connection.client() as client:
        found = client.get_status(prefix=prefix, problems=problems)
    if as_json:
        render.echo_json(status_json(found))
    else:
        out = render.console()
        if found.secrets:
            out.print(status_table(found.secrets))
        out.print(summary_line(found, prefix=prefix))
    if found.problems:
        raise typer.Exit(PROBLEMS_FOUND)


def state_text(state: str) -> Text:
    """``state``, coloured: red for a problem, green for ok."""
    return Text(state, style=_STATE_STYLE.get(state, ""))


def _last_result(entry: rotor.client.SecretRotationStatus) -> Text:
    if entry.running_rotation_id is not None:
        text = Text("running", style="yellow")
        text.append(f" since {render.when(entry.running_since)}", style="")
        if entry.last_status is not None:
            text.append("; before: ")
            text.append_text(render_rotation.status_text(entry.last_status))
        return text
    if entry.last_status is None:
        return Text("-")
    text = render_rotation.status_text(entry.last_status)
    text.append(f" {render.when(entry.last_finished_at)}", style="")
    return text


def status_table(entries: tuple[rotor.client.SecretRotationStatus, ...]) -> Table:
    """A row per secret: its state, the latest rotation's result, when it last succeeded,
    when it is due next, and the error of its latest rotation."""
    table = Table()
    table.add_column("Secret", overflow="fold")
    table.add_column("State", no_wrap=True)
    table.add_column("Last result")
    table.add_column("Last success", no_wrap=True)
    table.add_column("Next due", no_wrap=True)
    table.add_column("Error", overflow="fold")
    for entry in entries:
        table.add_row(
            Text(entry.name),
            state_text(entry.state),
            _last_result(entry),
            Text(render.when(entry.last_rotated_at)),
            Text(render.when(entry.next_rotation_at)),
            Text(" ".join((entry.last_error or "").split())),
        )
    return table


def summary_line(found: rotor.client.RotationStatus, *, prefix: str | None = None) -> Text:
    """``3 secrets: 1 ok, 1 failing, 1 overdue`` (the states with none are left out)."""
    total = sum(found.summary.values())
    if total == 0:
        where = f" under {prefix}" if prefix else ""
        return Text(f"No rotation configured{where} that you may see.")
    line = Text(f"{total} secret{'s' if total != 1 else ''}: ")
    counted = [(state, n) for state, n in found.summary.items() if n]
    for index, (state, count) in enumerate(counted):
        if index:
            line.append(", ")
        line.append(f"{count} ")
        line.append_text(state_text(state))
    return line


def status_json(found: rotor.client.RotationStatus) -> dict[str, Any]:
    """The API's answer, rebuilt from the client's result."""
    return {
        "at": render.iso_time(found.at),
        "overdue_grace_seconds": found.overdue_grace_seconds,
        "summary": dict(found.summary),
        "secrets": [_entry_json(entry) for entry in found.secrets],
    }


def _entry_json(entry: rotor.client.SecretRotationStatus) -> dict[str, Any]:
    last = None
    if entry.last_rotation_id is not None:
        last = {
            "id": entry.last_rotation_id,
            "status": entry.last_status,
            "started_at": render.iso_time(entry.last_started_at),
            "finished_at": render.iso_time(entry.last_finished_at),
            "error": entry.last_error,
        }
    running = None
    if entry.running_rotation_id is not None:
        running = {
            "id": entry.running_rotation_id,
            "started_at": render.iso_time(entry.running_since),
        }
    return {
        "name": entry.name,
        "state": entry.state,
        "function": entry.function,
        "enabled": entry.enabled,
        "every_seconds": entry.every_seconds,
        "cron": entry.cron,
        "window_seconds": entry.window_seconds,
        "next_rotation_at": render.iso_time(entry.next_rotation_at),
        "last_rotated_at": render.iso_time(entry.last_rotated_at),
        "last_rotation": last,
        "running_rotation": running,
    }
