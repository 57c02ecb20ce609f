"""``rotor notification create|list|show|delete|deliveries|retry``: subscriptions that make
the server post events to a URL, and the outbox of their deliveries.

Thin clients of the native API, like :mod:`rotor.cli.access`. A new subscription's
signing secret is printed once, on stdout (a warning on stderr says so); the server never
shows it again. The event types are the server's to check: an unknown one is refused
with a message naming it and the known ones.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

import rotor.client
from rotor import errors
from rotor.cli import render
from rotor.cli.connection import Connection, connected
from rotor.cli.render import JsonOption, iso_time, when

MAX_PAGE = 100

R = TypeVar("R")

app = typer.Typer(
    help="Subscribe URLs to events, and list and retry their deliveries.", no_args_is_help=True
)

IdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="The subscription's id (ntf_..., from list).", show_default=False
    ),
]


def _event_types(events: Sequence[str], event: Sequence[str]) -> list[str]:
    """The types of ``--events a,b`` and of each ``--event c``, in order, each once."""
    types = [part.strip() for value in (*events, *event) for part in value.split(",")]
    found = list(dict.fromkeys(t for t in types if t))
    if not found:
        raise errors.InvalidParameter(
            "give the event types: --events rotation.failed,secret.changed (or '*' for all)"
        )
    return found


# -- what is shown -----------------------------------------------------------------------------


def notification_json(notification: rotor.client.Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "url": notification.url,
        "events": list(notification.events),
        "prefix": notification.prefix,
        "description": notification.description,
        "created_by": notification.created_by,
        "created_at": iso_time(notification.created_at),
    }


def delivery_json(delivery: rotor.client.Delivery) -> dict[str, Any]:
    event = delivery.event
    return {
        "id": delivery.id,
        "notification": delivery.notification,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": iso_time(delivery.next_attempt_at),
        "last_attempt_at": iso_time(delivery.last_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": iso_time(delivery.delivered_at),
        "event": {
            "id": event.id,
            "seq": event.seq,
            "type": event.type,
            "secret": event.secret,
            "timestamp": iso_time(event.timestamp),
            "node": event.node,
            "data": dict(event.data),
        },
    }


def _notifications_table(items: Sequence[rotor.client.Notification]) -> Table:
    table = Table("ID", "URL", "Events", "Prefix", "Description", "Created by", "Created")
    for n in items:
        table.add_row(
            Text(n.id),
            Text(n.url),
            Text(", ".join(n.events)),
            Text(n.prefix or "-"),
            Text(n.description or "-"),
            Text(n.created_by),
            when(n.created_at),
        )
    return table


def _notification_view(notification: rotor.client.Notification) -> Table:
    fields = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    fields.add_row("ID", Text(notification.id))
    fields.add_row("URL", Text(notification.url))
    fields.add_row("Events", Text(", ".join(notification.events)))
    fields.add_row(
        "Prefix", Text(notification.prefix or "- (every secret, and the events of no secret)")
    )
    fields.add_row("Description", Text(notification.description or "-"))
    fields.add_row("Created by", Text(notification.created_by))
    fields.add_row("Created", when(notification.created_at))
    return fields


_STATE_STYLE = {"delivered": "green", "pending": "yellow", "failed": "red"}


def _last(delivery: rotor.client.Delivery) -> str:
    """The last attempt's outcome: its error (which names a status), else its status."""
    if delivery.last_error:
        return delivery.last_error
    return "-" if delivery.last_status is None else f"HTTP {delivery.last_status}"


def _deliveries_table(items: Sequence[rotor.client.Delivery]) -> Table:
    table = Table(
        "ID",
        "Notification",
        "Event",
        "Secret",
        "State",
        "Attempts",
        "Last status/error",
        "Next attempt",
    )
    for d in items:
        table.add_row(
            str(d.id),
            Text(d.notification),
            Text(d.event.type),
            Text(d.event.secret or "-"),
            Text(d.state, style=_STATE_STYLE.get(d.state, "")),
            str(d.attempts),
            Text(_last(d)),
            when(d.next_attempt_at) if d.state == "pending" else "-",
        )
    return table


# -- commands ----------------------------------------------------------------------------------


def _server_from_environment(command: Callable[..., R]) -> Callable[..., R]:
    """``command`` (wearing :func:`connected`) without the connection's ``--url``: the
    command's own ``--url`` is the subscription's target, so the server is found as when
    ``--url`` is not given (``ROTOR_URL``, the client config, the data dir)."""
    signature = inspect.signature(command)
    parameters = [p for p in signature.parameters.values() if p.name != "url"]

    @functools.wraps(command)
    def without_url(**kwargs: Any) -> R:
        return command(url=None, **kwargs)

    without_url.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    without_url.__annotations__ = {p.name: p.annotation for p in parameters}
    return without_url


@app.command("create")
@_server_from_environment
@connected
def create(
    connection: Connection,
    target: Annotated[
        str,
        typer.Option(
            "--url",
            help="Where to POST the events: an https URL (plain http, or a private address, "
            "only where the server's ROTOR_NOTIFICATION_ALLOWED_TARGETS allows it). The "
            "rotor server is ROTOR_URL's (or the data dir's) here.",
            show_default=False,
        ),
    ],
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--events",
            metavar="TYPE[,TYPE...]",
            help="Event types, comma-separated: rotation.failed,rotation.overdue,... or '*' "
            "for all (the API reference lists them).",
            show_default=False,
        ),
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", metavar="TYPE", help="One event type (repeatable).", show_default=False
        ),
    ] = None,
    prefix: Annotated[
        str,
        typer.Option(
            "--prefix",
            help="Only events of secrets whose names start with this (default: every secret, "
            "and the events of no secret, such as master_key.rotated).",
            show_default=False,
        ),
    ] = "",
    description: Annotated[
        str,
        typer.Option("--description", help="What the subscription is for.", show_default=False),
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Subscribe a URL to events and print its signing secret: the only time it is shown.

    Each event is POSTed signed as Standard Webhooks describes (webhook-id,
    webhook-timestamp, webhook-signature); the receiver verifies it with the secret.
    Needs rotor:CreateNotification on rotor:notifications, and rotor:ListEvents on the
    secrets the prefix covers.
    """
    types = _event_types(events or (), event or ())
    with connection.client() as client:
        created = client.create_notification(target, types, prefix=prefix, description=description)
    typer.echo("The signing secret is shown only this once: give it to the receiver now.", err=True)
    if as_json:
        render.echo_json({**notification_json(created), "secret": created.secret})
        return
    console = render.console()
    console.print(
        Text(f"Created notification {created.id}: {', '.join(created.events)} to {created.url}.")
    )
    console.print(Text(f"Signing secret: {created.secret}"))


@app.command("list")
@connected
def list_(connection: Connection, as_json: JsonOption = False) -> None:
    """List the subscriptions, oldest first (never their secrets). Needs rotor:ListNotifications."""
    with connection.client() as client:
        items = client.list_notifications()
    if as_json:
        render.echo_json([notification_json(n) for n in items])
    elif items:
        render.console().print(_notifications_table(items))
    else:
        render.console().print("No notifications.")


@app.command("show")
@connected
def show(connection: Connection, notification_id: IdArgument, as_json: JsonOption = False) -> None:
    """Show a subscription (never its secret). Needs rotor:ListNotifications."""
    with connection.client() as client:
        notification = client.get_notification(notification_id)
    if as_json:
        render.echo_json(notification_json(notification))
    else:
        render.console().print(_notification_view(notification))


@app.command("delete")
@connected
def delete(connection: Connection, notification_id: IdArgument) -> None:
    """Delete a subscription and its deliveries, sent or not. Needs rotor:DeleteNotification."""
    with connection.client() as client:
        notification = client.delete_notification(notification_id)
    render.console().print(Text(f"Deleted notification {notification.id} and its deliveries."))


@app.command("deliveries")
@connected
def deliveries(
    connection: Connection,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help=f"Only deliveries in this state: {', '.join(rotor.client.DELIVERY_STATES)} "
            "(failed: those that wait for a retry).",
            show_default=False,
        ),
    ] = None,
    notification: Annotated[
        str | None,
        typer.Option(
            "--notification",
            metavar="ID",
            help="Only those of this subscription.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List deliveries, newest event first: each event on its way to a subscription, its
    state, attempts and last answer. Needs rotor:ListNotifications."""
    if limit < 1:
        raise errors.InvalidParameter("--limit must be at least 1")
    found: list[rotor.client.Delivery] = []
    with connection.client() as client:
        for delivery in client.iter_deliveries(
            state=state, notification=notification, page_size=min(limit, MAX_PAGE)
        ):
            found.append(delivery)
            if len(found) >= limit:
                break
    if as_json:
        render.echo_json([delivery_json(d) for d in found])
    elif found:
        render.console().print(_deliveries_table(found))
    else:
        render.console().print("No deliveries match.")


@app.command("retry")
@connected
def retry(
    connection: Connection,
    delivery_id: Annotated[
        int | None,
        typer.Argument(
            metavar="DELIVERY_ID", help="A failed delivery (from deliveries).", show_default=False
        ),
    ] = None,
    notification: Annotated[
        str | None,
        typer.Option(
            "--notification",
            metavar="ID",
            help="Retry every failed delivery of this subscription instead.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Make a failed delivery (or every failed one of a subscription) due now, with a fresh
    count of attempts. Needs rotor:RetryNotifications."""
    if delivery_id is not None and notification is not None:
        raise errors.InvalidParameter("give a DELIVERY_ID or --notification ID, not both")
    out = render.console()
    if delivery_id is not None:
        with connection.client() as client:
            client.retry_delivery(delivery_id)
        out.print(Text(f"Retried delivery {delivery_id}: it is due now."))
        return
    if notification is None:
        raise errors.InvalidParameter("give the DELIVERY_ID to retry, or --notification ID")
    with connection.client() as client:
        count = client.retry_notification(notification)
    if count:
        plural = "y" if count == 1 else "ies"
        out.print(Text(f"Retried {count} failed deliver{plural} of {notification}: due now."))
    else:
        out.print(Text(f"No failed deliveries of {notification} to retry."))
