"""What ``rotor rotation ...`` and ``rotor rotate`` show: configurations, rotations and steps.

Tables and JSON for the configuration and the history, the line per step that
:func:`live` prints while ``rotor rotate`` waits (with a spinner on a
terminal), and the progress bar and summary of a batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

import rotor.client
from rotor.cli.render import iso_time, when


def duration(seconds: int | None) -> str:
    """``2592000`` -> ``30d``: the largest exact unit, as the schedules are written."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def elapsed(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def schedule(config: rotor.client.RotationConfig) -> str:
    if config.every_seconds is not None:
        return f"every {duration(config.every_seconds)}"
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
        "next_rotation_at": iso_time(config.next_rotation_at),
        "last_rotated_at": iso_time(config.last_rotated_at),
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
        "node": rotation.node,
        "created_at": iso_time(rotation.created_at),
        "updated_at": iso_time(rotation.updated_at),
        "finished_at": iso_time(rotation.finished_at),
        "error": rotation.error,
        "steps": [
            {
                "index": step.index,
                "name": step.name,
                "step": step.step,
                "attempts": step.attempts,
                "started_at": iso_time(step.started_at),
                "finished_at": iso_time(step.finished_at),
                "error": step.error,
            }
            for step in rotation.steps
        ],
    }
    if events:
        data["events"] = [
            {
                "at": iso_time(e.at),
                "kind": e.kind,
                "step": e.step,
                "message": e.message,
                "node": e.node,
            }
            for e in rotation.events
        ]
    if rotation.created is not None:
        data["created"] = rotation.created
    return data


def configured_json(
    config: rotor.client.RotationConfig,
    started: rotor.client.Rotation | None,
    dry_run: rotor.client.DryRun | None = None,
) -> dict[str, Any]:
    """What ``rotor rotation enable --json`` prints: the configuration, the rotation started,
    and what the dry run checked."""
    return {
        "rotation": config_json(config),
        "started": None if started is None else rotation_json(started),
        "dry_run": None
        if dry_run is None
        else {"ran": list(dry_run.ran), "skipped": list(dry_run.skipped), "log": list(dry_run.log)},
    }


def dry_run_view(dry_run: rotor.client.DryRun) -> Text:
    """What a passed dry run checked (into a discarded version) and what it could not."""
    text = Text(f"Dry run passed: ran {', '.join(dry_run.ran) or 'nothing'}.")
    for skipped in dry_run.skipped:
        text.append(f"\n  not run: {skipped}")
    for line in dry_run.log:
        text.append(f"\n  | {line}")
    return text


_STATUS_STYLE = {
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "red",
    "abandoned": "red",
}


def status_text(status: str) -> Text:
    """``status``, coloured: yellow while running, green for success, red for the rest."""
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def config_table(config: rotor.client.RotationConfig) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    parameters = json.dumps(dict(config.parameters), ensure_ascii=False, sort_keys=True)
    rows = [
        ("Secret", config.name),
        ("Enabled", "yes" if config.enabled else "no"),
        ("Function", config.function),
        ("Parameters", parameters if config.parameters else "-"),
        ("Schedule", schedule(config)),
        ("Window", duration(config.window_seconds)),
        ("Flow", "custom" if config.custom_flow else "default (new, set, test, end)"),
        ("Next rotation at", when(config.next_rotation_at)),
        ("Last rotated at", when(config.last_rotated_at)),
    ]
    for key, value in rows:
        table.add_row(Text(key, style="bold"), Text(value))
    return table


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
                self._line("✓", "green", step, width, elapsed(step.duration), "")
            elif rotation.done and step.index == rotation.step_index:
                self.printed.add(step.index)
                if step.started_at is None and rotation.status != "failed":
                    continue  # ended before this step began
                end = rotation.finished_at or rotation.updated_at
                took = None if step.started_at is None else end - step.started_at
                self._line("✗", "red", step, width, elapsed(took), _why(rotation, step))

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


@contextlib.contextmanager
def live(
    console: Console, *, quiet: bool = False
) -> Iterator[Callable[[rotor.client.Rotation], None]]:
    """What ``rotor rotate`` shows while it waits: :class:`StepPrinter`'s lines and, on a
    terminal, a spinner naming the step running; nothing when ``quiet``.

    Yields the ``on_update`` for :meth:`rotor.client.Client.wait_for_rotation`; the spinner
    stops when the block ends.
    """
    printer = StepPrinter(console)
    status = console.status("Rotating ...") if console.is_terminal and not quiet else None

    def update(state: rotor.client.Rotation) -> None:
        if quiet:
            return
        printer(state)
        if status is not None and not state.done and state.step_index < len(state.steps):
            step = state.steps[state.step_index]
            status.update(f"{step.step} {step.name} ...")

    if status is not None:
        status.start()
    try:
        yield update
    finally:
        if status is not None:
            status.stop()


def history_table(found: Sequence[rotor.client.Rotation]) -> Table:
    """A row per rotation: when, its id, status, version, duration, who started it, error."""
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
            Text(when(rotation.created_at)),
            Text(rotation.id),
            status_text(rotation.status),
            Text(rotation.version_id),
            Text(elapsed(rotation.duration)),
            Text(rotation.started_by),
            Text(rotation.error or ""),
        )
    return table


def rotation_tables(rotation: rotor.client.Rotation) -> tuple[Table, Table, Table]:
    """One rotation as ``rotor rotation get`` shows it: its fields, its steps, its events."""
    head = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    for key, value in (
        ("Rotation", Text(rotation.id)),
        ("Secret", Text(rotation.name)),
        ("Status", status_text(rotation.status)),
        ("Version", Text(rotation.version_id)),
        ("Function", Text(rotation.function)),
        ("Started by", Text(rotation.started_by)),
        ("Node", Text(rotation.node or "-")),
        ("Started", Text(when(rotation.created_at))),
        ("Finished", Text(when(rotation.finished_at))),
        ("Error", Text(rotation.error or "-")),
    ):
        head.add_row(Text(key, style="bold"), value)
    steps = Table(title="Steps", title_justify="left")
    for column in ("#", "Step", "Task", "Attempts", "Took", "Error"):
        steps.add_column(column, overflow="fold")
    for step in rotation.steps:
        steps.add_row(
            str(step.index),
            Text(step.step),
            Text(step.name),
            str(step.attempts),
            elapsed(step.duration),
            Text(step.error or ""),
        )
    events = Table(title="Events", title_justify="left")
    for column in ("At", "Event", "Step", "Node", "Message"):
        events.add_column(column, overflow="fold")
    for event in rotation.events:
        events.add_row(
            Text(when(event.at)),
            Text(event.kind),
            Text(event.step or ""),
            Text(event.node or ""),
            Text(event.message or ""),
        )
    return head, steps, events


# -- batches (rotor rotate --all-due / --prefix) -------------------------------------------------


@dataclasses.dataclass
class BatchOutcome:
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


def batch_progress(console: Console, *, enabled: bool) -> Progress:
    """The bar shown while a batch runs: ``Rotating ━━━━ 3/5 secrets 0:00:02``."""
    return Progress(
        TextColumn("Rotating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("secrets"),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
    )


def summary_table(outcomes: Sequence[BatchOutcome]) -> Table:
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
            status_text(outcome.status),
            Text(rotation.id if rotation else "-"),
            Text(elapsed(rotation.duration if rotation else None)),
            Text(outcome.error or (rotation.error if rotation else None) or ""),
        )
    return table
