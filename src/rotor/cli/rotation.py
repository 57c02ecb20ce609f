"""``rotor rotation ...`` and ``rotor rotate``: configure, run and follow rotations on a server.

Thin clients of the native API, like :mod:`rotor.cli.secrets`: each command makes
:class:`rotor.client.Client` calls and renders the result. ``rotor rotate`` (and
``rotor rotation enable`` when it starts a rotation) waits by polling the rotation,
printing a line per step as it finishes, and exits with :data:`ROTATION_FAILED`
when the rotation ends failed, cancelled or abandoned, or :data:`WAIT_TIMED_OUT`
when it still runs after ``--timeout``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

import rotor.client
from rotor import errors
from rotor.cli.secrets import (
    AccessKeyIdOption,
    CredentialsFileOption,
    DataDirOption,
    JsonOption,
    NameArgument,
    UrlOption,
    _connect,
    _console,
    _echo_json,
    _time,
    _when,
)

ROTATION_FAILED = 1
"""Exit code of ``rotor rotate`` / ``rotor rotation enable`` when a rotation does not succeed."""
WAIT_TIMED_OUT = 8
"""Exit code when a rotation still runs after ``--timeout`` (it goes on)."""
POLL_SECONDS = 0.25
DEFAULT_TIMEOUT = 600.0

app = typer.Typer(
    help="Configure, inspect and cancel the rotation of secrets.", no_args_is_help=True
)

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


# -- output --------------------------------------------------------------------------------------


def _duration(seconds: int | None) -> str:
    """``2592000`` -> ``30d``: the largest exact unit, as the schedules are written."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _elapsed(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _schedule(config: rotor.client.RotationConfig) -> str:
    if config.every_seconds is not None:
        return f"every {_duration(config.every_seconds)}"
    if config.cron is not None:
        return f"cron {config.cron} (UTC)"
    return "no schedule (rotate with `rotor rotate`)"


def config_json(config: rotor.client.RotationConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "enabled": config.enabled,
        "function": config.function,
        "parameters": dict(config.parameters),
        "every_seconds": config.every_seconds,
        "cron": config.cron,
        "window_seconds": config.window_seconds,
        "custom_flow": config.custom_flow,
        "next_rotation_at": _time(config.next_rotation_at),
        "last_rotated_at": _time(config.last_rotated_at),
    }


def rotation_json(rotation: rotor.client.Rotation, *, events: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": rotation.id,
        "name": rotation.name,
        "version_id": rotation.version_id,
        "function": rotation.function,
        "status": rotation.status,
        "step_index": rotation.step_index,
        "attempts": rotation.attempts,
        "started_by": rotation.started_by,
        "created_at": _time(rotation.created_at),
        "updated_at": _time(rotation.updated_at),
        "finished_at": _time(rotation.finished_at),
        "error": rotation.error,
        "steps": [
            {
                "index": step.index,
                "name": step.name,
                "step": step.step,
                "attempts": step.attempts,
                "started_at": _time(step.started_at),
                "finished_at": _time(step.finished_at),
                "error": step.error,
            }
            for step in rotation.steps
        ],
    }
    if events:
        data["events"] = [
            {"at": _time(e.at), "kind": e.kind, "step": e.step, "message": e.message}
            for e in rotation.events
        ]
    if rotation.created is not None:
        data["created"] = rotation.created
    return data


_STATUS_STYLE = {
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "red",
    "abandoned": "red",
}


def _status_text(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def _config_table(config: rotor.client.RotationConfig) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    parameters = json.dumps(dict(config.parameters), ensure_ascii=False, sort_keys=True)
    rows = [
        ("Secret", config.name),
        ("Enabled", "yes" if config.enabled else "no"),
        ("Function", config.function),
        ("Parameters", parameters if config.parameters else "-"),
        ("Schedule", _schedule(config)),
        ("Window", _duration(config.window_seconds)),
        ("Flow", "custom" if config.custom_flow else "default (new, set, test, end)"),
        ("Next rotation at", _when(config.next_rotation_at)),
        ("Last rotated at", _when(config.last_rotated_at)),
    ]
    for key, value in rows:
        table.add_row(Text(key, style="bold"), Text(value))
    return table


def _error_line(message: str) -> None:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]Error:[/] {escape(' '.join(message.split()))}")


# -- following one rotation ----------------------------------------------------------------------


def _why(rotation: rotor.client.Rotation, step: rotor.client.RotationStep) -> str:
    """What ended ``rotation`` at ``step``, for its ✗ line."""
    if rotation.status == "failed":
        attempts = f" (after {step.attempts} attempts)" if step.attempts > 1 else ""
        return f"{step.error or rotation.error or 'failed'}{attempts}"
    if rotation.error and rotation.error != rotation.status:
        return f"{rotation.status}: {rotation.error}"
    return rotation.status


def _label(step: rotor.client.RotationStep) -> str:
    """How events name a step: ``RotateSecretNew (new)``."""
    return f"{step.name} ({step.step})"


@dataclasses.dataclass
class StepPrinter:
    """Prints a line per step of a rotation as it finishes, given every state polled.

    ``✓ new  RotateSecretNew  0.12s`` for a step that succeeded, ``! ...`` for a failed
    attempt that may be retried, and ``✗ ...`` with the error for the step that ended a
    rotation that did not succeed.
    """

    console: Console
    printed: set[int] = dataclasses.field(default_factory=set)
    failures_seen: int = 0

    def __call__(self, rotation: rotor.client.Rotation) -> None:
        width = max((len(step.name) for step in rotation.steps), default=0)
        failed_events = [e for e in rotation.events if e.kind == "step_failed"]
        final = len(failed_events) if rotation.status == "failed" else None
        new_failures = list(enumerate(failed_events, start=1))[self.failures_seen :]
        self.failures_seen = len(failed_events)
        for step in rotation.steps:
            if step.index in self.printed:
                continue
            label = _label(step)
            for number, event in new_failures:
                if event.step == label and number != final:
                    attempt = sum(1 for e in failed_events[:number] if e.step == label)
                    self._line(
                        "!",
                        "yellow",
                        step,
                        width,
                        "-",
                        f"attempt {attempt} failed: {event.message}",
                    )
            if step.finished_at is not None:
                self.printed.add(step.index)
                self._line("✓", "green", step, width, _elapsed(step.duration), "")
            elif rotation.done and step.index == rotation.step_index:
                self.printed.add(step.index)
                if step.started_at is None and rotation.status != "failed":
                    continue  # ended before this step began
                end = rotation.finished_at or rotation.updated_at
                took = None if step.started_at is None else end - step.started_at
                self._line("✗", "red", step, width, _elapsed(took), _why(rotation, step))

    def _line(
        self,
        mark: str,
        style: str,
        step: rotor.client.RotationStep,
        width: int,
        took: str,
        message: str,
    ) -> None:
        line = Text()
        line.append(mark, style=f"bold {style}")
        line.append(f" {step.step:<4}  {step.name:<{width}}  {took:>7}")
        if message:
            line.append("  ")
            line.append(" ".join(message.split()), style=style)
        self.console.print(line)


def follow(
    client: rotor.client.Client,
    rotation: rotor.client.Rotation,
    *,
    timeout: float,
    quiet: bool = False,
) -> rotor.client.Rotation:
    """Wait for ``rotation``, printing its steps (unless ``quiet``); exits when it did not succeed."""
    console = _console()
    printer = StepPrinter(console)

    def update(state: rotor.client.Rotation) -> None:
        if quiet:
            return
        printer(state)
        if status is not None and not state.done and state.step_index < len(state.steps):
            step = state.steps[state.step_index]
            status.update(f"{step.step} {step.name} ...")

    status = console.status("Rotating ...") if console.is_terminal and not quiet else None
    try:
        if status is not None:
            status.start()
        final = client.wait_for_rotation(
            rotation.id, timeout=timeout, poll=POLL_SECONDS, on_update=update
        )
    except TimeoutError:
        if status is not None:
            status.stop()
        _error_line(
            f"rotation {rotation.id} of {rotation.name} is still running after {timeout:g} s; "
            f"it goes on: see `rotor rotation get {rotation.id}`"
        )
        raise typer.Exit(WAIT_TIMED_OUT) from None
    except KeyboardInterrupt:
        if status is not None:
            status.stop()
        _error_line(
            f"stopped waiting; rotation {rotation.id} of {rotation.name} goes on: "
            f"see `rotor rotation get {rotation.id}`"
        )
        raise typer.Exit(130) from None
    finally:
        if status is not None:
            status.stop()
    return final


def _outcome(rotation: rotor.client.Rotation, *, quiet: bool) -> None:
    """Print how a finished rotation ended; exit ROTATION_FAILED unless it succeeded."""
    if rotation.succeeded:
        if not quiet:
            _console().print(
                Text(
                    f"Rotated {rotation.name} in {_elapsed(rotation.duration)}: "
                    f"version {rotation.version_id} is Current."
                )
            )
        return
    verb = {"failed": "failed", "cancelled": "was cancelled", "abandoned": "was abandoned"}
    why = f": {rotation.error}" if rotation.error else ""
    _error_line(
        f"rotation {rotation.id} of {rotation.name} {verb.get(rotation.status, rotation.status)}"
        f"{why}; Current is unchanged"
    )
    raise typer.Exit(ROTATION_FAILED)


# -- commands ------------------------------------------------------------------------------------


@app.command("enable", epilog=EXIT_CODES_EPILOG)
def enable(
    name: NameArgument,
    function: Annotated[
        str,
        typer.Option(
            "--function",
            help="Rotation function: generated-password, python-handler, http-function, or one "
            "a package registers.",
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
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
) -> None:
    """Enable rotation of a secret with a rotation function and, optionally, a schedule.

    Parameters, schedule and flow not given keep the values configured before. Unless
    --no-rotate-now, a rotation starts at once and rotor waits for it as `rotor rotate` does.
    """
    if every is not None and cron is not None:
        raise errors.InvalidParameter("give --every or --cron, not both")
    parameters = parse_parameters(param, param_json)
    flow_text = _read_flow(flow, default_flow)
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
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
            console = _console()
            window = (
                f", within {_duration(config.window_seconds)} of its due time"
                if config.window_seconds is not None
                else ""
            )
            console.print(
                Text(
                    f"Rotation of {config.name} enabled: {config.function}, "
                    f"{_schedule(config)}{window}."
                )
            )
            if not rotate_now:
                console.print(
                    Text(
                        "Dry run passed (new and test steps into a discarded version). "
                        f"Next rotation at: {_when(config.next_rotation_at)}."
                    )
                )
        if started is None or no_wait:
            if as_json:
                _echo_json(
                    {
                        "rotation": config_json(config),
                        "started": None if started is None else rotation_json(started),
                    }
                )
            elif started is not None:
                _console().print(Text(f"Started rotation {started.id}."))
            return
        if not as_json:
            _console().print(Text(f"Rotating {name} (rotation {started.id}):"))
        final = follow(client, started, timeout=timeout, quiet=as_json)
        if as_json:
            config = client.describe_rotation(name)
            _echo_json({"rotation": config_json(config), "started": rotation_json(final)})
    _outcome(final, quiet=as_json)


@app.command("disable")
def disable(
    name: NameArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
) -> None:
    """Stop scheduled rotations of a secret; its configuration is kept for a later enable."""
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
        config = client.disable_rotation(name)
    if as_json:
        _echo_json(config_json(config))
    else:
        _console().print(Text(f"Rotation of {config.name} disabled."))


@app.command("show")
def show(
    name: NameArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
) -> None:
    """Show a secret's rotation: function, parameters, schedule, next_rotation_at, last_rotated_at."""
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
        config = client.describe_rotation(name)
    if as_json:
        _echo_json(config_json(config))
    else:
        _console().print(_config_table(config))


@app.command("history")
def history(
    name: NameArgument,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many rotations.")
    ] = 20,
    as_json: JsonOption = False,
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
) -> None:
    """List a secret's rotations, newest first, with their status and error."""
    found: list[rotor.client.Rotation] = []
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
        for rotation in client.iter_rotations(name, page_size=min(limit, 100)):
            found.append(rotation)
            if len(found) >= limit:
                break
    if as_json:
        _echo_json([rotation_json(rotation, events=False) for rotation in found])
        return
    if not found:
        _console().print(Text(f"{name} has not been rotated."))
        return
    table = Table()
    table.add_column("Started", no_wrap=True)
    table.add_column("Rotation", no_wrap=True)
    table.add_column("Status")
    table.add_column("Version", overflow="fold")
    table.add_column("Took", justify="right")
    table.add_column("By")
    table.add_column("Error", overflow="fold")
    for rotation in found:
        table.add_row(
            Text(_when(rotation.created_at)),
            Text(rotation.id),
            _status_text(rotation.status),
            Text(rotation.version_id),
            Text(_elapsed(rotation.duration)),
            Text(rotation.started_by),
            Text(rotation.error or ""),
        )
    _console().print(table)


@app.command("get")
def get(
    rotation_id: Annotated[
        str,
        typer.Argument(metavar="ROTATION_ID", help="A rotation's id, as `rotor rotate` prints it."),
    ],
    as_json: JsonOption = False,
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
) -> None:
    """Show one rotation: its status, each step's timing and error, and its events."""
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
        rotation = client.get_rotation(rotation_id)
    if as_json:
        _echo_json(rotation_json(rotation))
        return
    console = _console()
    head = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    for key, value in (
        ("Rotation", Text(rotation.id)),
        ("Secret", Text(rotation.name)),
        ("Status", _status_text(rotation.status)),
        ("Version", Text(rotation.version_id)),
        ("Function", Text(rotation.function)),
        ("Started by", Text(rotation.started_by)),
        ("Started", Text(_when(rotation.created_at))),
        ("Finished", Text(_when(rotation.finished_at))),
        ("Error", Text(rotation.error or "-")),
    ):
        head.add_row(Text(key, style="bold"), value)
    console.print(head)
    steps = Table(title="Steps", title_justify="left")
    for column in ("#", "Step", "Task", "Attempts", "Took", "Error"):
        steps.add_column(column, overflow="fold")
    for step in rotation.steps:
        steps.add_row(
            str(step.index),
            Text(step.step),
            Text(step.name),
            str(step.attempts),
            _elapsed(step.duration),
            Text(step.error or ""),
        )
    console.print(steps)
    events = Table(title="Events", title_justify="left")
    for column in ("At", "Event", "Step", "Message"):
        events.add_column(column, overflow="fold")
    for event in rotation.events:
        events.add_row(
            Text(_when(event.at)),
            Text(event.kind),
            Text(event.step or ""),
            Text(event.message or ""),
        )
    console.print(events)


@app.command("cancel")
def cancel(
    name: NameArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
) -> None:
    """Cancel the running rotation of a secret before its end step; Pending is removed.

    Exits 3 when no rotation is running, 4 when it is already in its end step.
    """
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
        rotation = client.cancel_rotation(name)
    if as_json:
        _echo_json(rotation_json(rotation, events=False))
    else:
        _console().print(
            Text(f"Cancelled rotation {rotation.id} of {rotation.name}; Current is unchanged.")
        )


@app.command("due")
def due(
    as_json: JsonOption = False,
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
) -> None:
    """List the secrets whose scheduled rotation is due now."""
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
        names = client.list_due_rotations()
    if as_json:
        _echo_json(list(names))
    elif not names:
        _console().print("No rotation is due.")
    else:
        for secret_name in names:
            _console().print(Text(secret_name))


# -- rotor rotate --------------------------------------------------------------------------------


@dataclasses.dataclass
class _Outcome:
    """One secret of a batch: the rotation started for it, or why none could start."""

    name: str
    rotation: rotor.client.Rotation | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return self.rotation.status if self.rotation is not None else "not started"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "rotation": None if self.rotation is None else rotation_json(self.rotation),
            "error": self.error if self.error is not None else self._rotation_error(),
        }

    def _rotation_error(self) -> str | None:
        return None if self.rotation is None else self.rotation.error


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


def _start_batch(client: rotor.client.Client, names: list[str]) -> list[_Outcome]:
    outcomes = []
    for secret_name in names:
        try:
            outcomes.append(_Outcome(secret_name, rotation=client.rotate_secret(secret_name)))
        except (errors.InvalidRequest, errors.NotFound, errors.Conflict, errors.AccessDenied) as e:
            outcomes.append(_Outcome(secret_name, error=f"{e.code}: {e.message}"))
    return outcomes


def _wait_batch(
    client: rotor.client.Client, outcomes: list[_Outcome], *, timeout: float, progress: bool
) -> None:
    """Poll every started rotation until all end or ``timeout``, with a progress bar."""
    console = _console()
    running = [o for o in outcomes if o.rotation is not None and not o.rotation.done]
    bar = Progress(
        TextColumn("Rotating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("secrets"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
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


def _summary(outcomes: list[_Outcome]) -> Table:
    table = Table()
    table.add_column("Secret", overflow="fold")
    table.add_column("Status")
    table.add_column("Rotation", no_wrap=True)
    table.add_column("Took", justify="right")
    table.add_column("Error", overflow="fold")
    for outcome in outcomes:
        rotation = outcome.rotation
        table.add_row(
            Text(outcome.name),
            _status_text(outcome.status),
            Text(rotation.id if rotation else "-"),
            Text(_elapsed(rotation.duration if rotation else None)),
            Text(outcome.error or (rotation.error if rotation else None) or ""),
        )
    return table


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
            _echo_json([])
        else:
            what = "is due" if all_due else f"is enabled under the prefix {prefix!r}"
            _console().print(Text(f"No rotation {what}."))
        return
    outcomes = _start_batch(client, names)
    if not no_wait:
        _wait_batch(client, outcomes, timeout=timeout, progress=not as_json)
    if as_json:
        _echo_json([outcome.to_json() for outcome in outcomes])
    else:
        _console().print(_summary(outcomes))
    unfinished = [o for o in outcomes if o.status == "running"]
    failed = [o for o in outcomes if o.status not in ("running", "succeeded")]
    if failed:
        _error_line(f"{len(failed)} of {len(outcomes)} rotations did not succeed")
        raise typer.Exit(ROTATION_FAILED)
    if unfinished and not no_wait:
        _error_line(
            f"{len(unfinished)} of {len(outcomes)} rotations are still running after "
            f"{timeout:g} s; they go on"
        )
        raise typer.Exit(WAIT_TIMED_OUT)


def rotate(
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
    url: UrlOption = None,
    data_dir: DataDirOption = None,
    access_key_id: AccessKeyIdOption = None,
    credentials_file: CredentialsFileOption = None,
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
    with _connect(url, data_dir, access_key_id, credentials_file) as client:
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
                _echo_json(rotation_json(rotation))
            else:
                typer.echo(rotation.id)
            return
        if not as_json:
            already = "" if rotation.created is not False else " (already running)"
            _console().print(Text(f"Rotating {name} (rotation {rotation.id}{already}):"))
        final = follow(client, rotation, timeout=timeout, quiet=as_json)
    if as_json:
        _echo_json(rotation_json(dataclasses.replace(final, created=rotation.created)))
    _outcome(final, quiet=as_json)
