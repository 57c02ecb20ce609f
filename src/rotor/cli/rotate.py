"""``rotor rotate``: run rotations now and wait for them, showing each step as it ends.

A thin client of the native API, like :mod:`rotor.cli.secrets`. ``rotor rotate``
(and ``rotor rotation enable`` when it starts a rotation) waits by polling the
rotation, printing a line per step as it finishes, and exits with
:data:`ROTATION_FAILED` when the rotation ends failed, cancelled or abandoned, or
:data:`WAIT_TIMED_OUT` when it still runs after ``--timeout``. With ``--all-due``
or ``--prefix`` it starts a batch and shows a progress bar and a summary instead.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

import typer
from rich.text import Text

import rotor.client
from rotor import errors
from rotor.cli import render, render_rotation
from rotor.cli.connection import Connection, connected

ROTATION_FAILED = 1
"""Exit code of ``rotor rotate`` / ``rotor rotation enable`` when a rotation does not succeed."""
WAIT_TIMED_OUT = 8
"""Exit code when a rotation still runs after ``--timeout`` (it goes on)."""
POLL_SECONDS = 0.25
DEFAULT_TIMEOUT = 600.0

EXIT_CODES_EPILOG = (
    "Exit codes: 0 the rotation succeeded; 1 it failed, was cancelled or was abandoned "
    "(the error is printed); 8 it still runs after --timeout (it goes on); 2-7 as for "
    "every command."
)

NoWaitOption = Annotated[
    bool,
    typer.Option("--no-wait", help="Return as soon as the rotation has started, printing its id."),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.0,
        help="Seconds to wait for the rotation to end; after them rotor exits 8 and the "
        "rotation goes on.",
    ),
]


# -- following one rotation ----------------------------------------------------------------------


def follow(
    client: rotor.client.Client,
    rotation: rotor.client.Rotation,
    *,
    timeout: float,
    quiet: bool = False,
) -> rotor.client.Rotation:
    """Wait for ``rotation``, printing its steps (unless ``quiet``); exits when it did not succeed."""
    try:
        with render_rotation.live(render.console(), quiet=quiet) as update:
            final = client.wait_for_rotation(
                rotation.id, timeout=timeout, poll=POLL_SECONDS, on_update=update
            )
    except TimeoutError:
        render.error_line(
            f"rotation {rotation.id} of {rotation.name} is still running after {timeout:g} s; "
            f"it goes on: see `rotor rotation get {rotation.id}`"
        )
        raise typer.Exit(WAIT_TIMED_OUT) from None
    except KeyboardInterrupt:
        render.error_line(
            f"stopped waiting; rotation {rotation.id} of {rotation.name} goes on: "
            f"see `rotor rotation get {rotation.id}`"
        )
        raise typer.Exit(130) from None
    return final


def report_outcome(rotation: rotor.client.Rotation, *, quiet: bool) -> None:
    """Print how a finished rotation ended; exit ROTATION_FAILED unless it succeeded."""
    if rotation.succeeded:
        if not quiet:
            render.console().print(
                Text(
                    f"Rotated {rotation.name} in {render_rotation.elapsed(rotation.duration)}: "
                    f"version {rotation.version_id} is Current."
                )
            )
        return
    verb = {"failed": "failed", "cancelled": "was cancelled", "abandoned": "was abandoned"}
    why = f": {rotation.error}" if rotation.error else ""
    render.error_line(
        f"rotation {rotation.id} of {rotation.name} {verb.get(rotation.status, rotation.status)}"
        f"{why}; Current is unchanged"
    )
    raise typer.Exit(ROTATION_FAILED)


# -- batches -------------------------------------------------------------------------------------


def _batch_names(client: rotor.client.Client, *, all_due: bool, prefix: str | None) -> list[str]:
    if all_due:
        return list(client.list_due_rotations())
    names = []
    for info in client.iter_secrets(prefix=prefix):
        try:
            config = client.describe_rotation(info.name)
        except errors.NotFound:
            continue
        if config.enabled:
            names.append(info.name)
    return names


def _start_batch(
    client: rotor.client.Client, names: list[str]
) -> list[render_rotation.BatchOutcome]:
    outcomes = []
    for secret_name in names:
        try:
            outcomes.append(
                render_rotation.BatchOutcome(
                    secret_name, rotation=client.rotate_secret(secret_name)
                )
            )
        except (errors.InvalidRequest, errors.NotFound, errors.Conflict, errors.AccessDenied) as e:
            outcomes.append(
                render_rotation.BatchOutcome(secret_name, error=f"{e.code}: {e.message}")
            )
    return outcomes


def _wait_batch(
    client: rotor.client.Client,
    outcomes: list[render_rotation.BatchOutcome],
    *,
    timeout: float,
    progress: bool,
) -> None:
    """Poll every started rotation until all end or ``timeout``, with a progress bar."""
    console = render.console()
    running = [o for o in outcomes if o.rotation is not None and not o.rotation.done]
    bar = render_rotation.batch_progress(console, enabled=progress)
    deadline = time.monotonic() + timeout
    with bar:
        task = bar.add_task("rotate", total=len(outcomes))
        bar.advance(task, len(outcomes) - len(running))
        while running:
            for outcome in list(running):
                assert outcome.rotation is not None
                outcome.rotation = client.get_rotation(outcome.rotation.id)
                if outcome.rotation.done:
                    running.remove(outcome)
                    bar.advance(task)
            if not running or time.monotonic() >= deadline:
                break
            time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))


def _rotate_batch(
    client: rotor.client.Client,
    *,
    all_due: bool,
    prefix: str | None,
    no_wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    names = _batch_names(client, all_due=all_due, prefix=prefix)
    if not names:
        if as_json:
            render.echo_json([])
        else:
            what = "is due" if all_due else f"is enabled under the prefix {prefix!r}"
            render.console().print(Text(f"No rotation {what}."))
        return
    outcomes = _start_batch(client, names)
    if not no_wait:
        _wait_batch(client, outcomes, timeout=timeout, progress=not as_json)
    if as_json:
        render.echo_json([outcome.to_json() for outcome in outcomes])
    else:
        render.console().print(render_rotation.summary_table(outcomes))
    unfinished = [o for o in outcomes if o.status == "running"]
    failed = [o for o in outcomes if o.status not in ("running", "succeeded")]
    if failed:
        render.error_line(f"{len(failed)} of {len(outcomes)} rotations did not succeed")
        raise typer.Exit(ROTATION_FAILED)
    if unfinished and not no_wait:
        render.error_line(
            f"{len(unfinished)} of {len(outcomes)} rotations are still running after "
            f"{timeout:g} s; they go on"
        )
        raise typer.Exit(WAIT_TIMED_OUT)


# -- the command ---------------------------------------------------------------------------------


@connected
def run(
    connection: Connection,
    name: Annotated[
        str | None,
        typer.Argument(
            help="The secret to rotate (or use --all-due or --prefix).", show_default=False
        ),
    ] = None,
    all_due: Annotated[
        bool,
        typer.Option("--all-due", help="Rotate every secret whose scheduled rotation is due."),
    ] = False,
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            help="Rotate every secret whose name starts with PREFIX and whose rotation is enabled.",
            show_default=False,
        ),
    ] = None,
    version_id: Annotated[
        str | None,
        typer.Option(
            "--version-id",
            help="Version id of the new version (default: a new UUID); NAME only.",
            show_default=False,
        ),
    ] = None,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the rotation (for several secrets, a list) as JSON at the end."
        ),
    ] = False,
) -> None:
    """Rotate a secret now, showing each step and its timing as it finishes.

    With a rotation of the secret already running, rotor follows that one. --all-due and
    --prefix start a rotation for many secrets, show a progress bar while they run and a
    summary table at the end; rotor exits 1 if any did not succeed.
    """
    chosen = [
        flag
        for flag, given in (("NAME", name), ("--all-due", all_due), ("--prefix", prefix))
        if given
    ]
    if len(chosen) != 1:
        raise errors.InvalidParameter(
            "give one of NAME, --all-due or --prefix"
            + (f", not {' and '.join(chosen)}" if chosen else "")
        )
    if version_id is not None and name is None:
        raise errors.InvalidParameter("--version-id needs a single secret NAME")
    with connection.client() as client:
        if name is None:
            _rotate_batch(
                client,
                all_due=all_due,
                prefix=prefix,
                no_wait=no_wait,
                timeout=timeout,
                as_json=as_json,
            )
            return
        rotation = client.rotate_secret(name, version_id=version_id)
        if no_wait:
            if as_json:
                render.echo_json(render_rotation.rotation_json(rotation))
            else:
                typer.echo(rotation.id)
            return
        if not as_json:
            already = "" if rotation.created is not False else " (already running)"
            render.console().print(Text(f"Rotating {name} (rotation {rotation.id}{already}):"))
        final = follow(client, rotation, timeout=timeout, quiet=as_json)
    if as_json:
        render.echo_json(
            render_rotation.rotation_json(dataclasses.replace(final, created=rotation.created))
        )
    report_outcome(final, quiet=as_json)
