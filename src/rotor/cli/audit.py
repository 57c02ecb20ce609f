"""``rotor audit``: query the audit log, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

import rotor.client
from rotor import errors
from rotor.cli import render, render_access, timespec
from rotor.cli.connection import Connection, connected
from rotor.cli.render import JsonOption

MAX_PAGE = 100
_TIME_HELP = (
    "an RFC 3339 time (2026-01-31T12:00:00Z; without a zone, UTC), a date, or a duration "
    "ago (2h, 7d)"
)


@connected
def run(
    connection: Connection,
    secret: Annotated[
        str | None, typer.Option("--secret", help="Only events about this secret.")
    ] = None,
    principal: Annotated[
        str | None, typer.Option("--principal", help="Only events of this principal.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action, e.g. kms:GetSecretValue."),
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome",
            help=f"Only this outcome: {', '.join(rotor.client.AUDIT_OUTCOMES)}.",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help=f"Events at or after: {_TIME_HELP}.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help=f"Events before: {_TIME_HELP}.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many events.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show audit events, newest first: who did what to which secret, when, from where, and
    the outcome. Never a secret value."""
    if limit < 1:
        raise errors.InvalidParameter("--limit must be at least 1")
    start = None if since is None else timespec.parse_time(since, "--since")
    end = None if until is None else timespec.parse_time(until, "--until")
    events: list[rotor.client.AuditEvent] = []
    with connection.client() as client:
        for event in client.iter_audit_events(
            secret=secret,
            principal=principal,
            action=action,
            outcome=outcome,
            since=start,
            until=end,
            page_size=min(limit, MAX_PAGE),
        ):
            events.append(event)
            if len(events) >= limit:
                break
    if as_json:
        render.echo_json([render_access.event_json(e) for e in events])
    elif events:
        render.console().print(render_access.events_table(events))
    else:
        render.console().print("No audit events match.")
