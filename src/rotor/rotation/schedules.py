"""Schedules: when a secret's next rotation is due, and whether to start it now.

A schedule is either an interval (``30d``, ``12h``, like the cloud APIs'
``RotationInterval`` / ``AutomaticallyAfterDays``) or a cron expression read in
UTC, optionally with a window: rotation starts only inside
``[due, due + window)``. Everything here is pure arithmetic on tz-aware
datetimes; the scheduler stores the results and acts on them.

The rules:

- Interval mode counts from the later of the last successful rotation and the
  last manual value change (rotation enabled, if neither happened).
- Cron mode is due at the first occurrence after that same reference time.
- Without a window a due rotation starts as soon as it is seen, however late,
  and exactly once: a server that was down at the due time rotates once when
  it comes back.
- With a window, a rotation whose window was missed is not started late; it
  waits for the next window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from typing import TYPE_CHECKING

from rotor import errors

if TYPE_CHECKING:
    from croniter import croniter

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
#: The longest interval or window accepted: ten years of 365 days.
MAX_DURATION_SECONDS = 10 * 365 * DAY
#: How many consecutive cron occurrences are examined to find the smallest gap.
CRON_SAMPLE = 50
#: Where the cron gap sampling starts: fixed, so validation does not depend on the clock.
_CRON_SAMPLE_START = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)

_UNITS: dict[str, int] = {"d": DAY, "h": HOUR, "m": MINUTE, "s": 1}
_DURATION_RE = re.compile(r"(\d{1,12})([dhms]?)", re.IGNORECASE)
_CRON_ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
# croniter's hashed (H) and random (R) fields differ per parse: no stable schedule.
_CRON_UNSTABLE_RE = re.compile(r"(?:^|,)[HR](?:\(|/|,|$)", re.IGNORECASE)


def parse_duration(text: str) -> int:
    """Seconds in ``text``: ``30d``, ``12h``, ``90m``, ``45s`` or a bare number of seconds.

    Refuses zero, negative numbers, other units and anything over ten years.
    """
    if not isinstance(text, str):
        raise errors.InvalidParameter(f"invalid duration {text!r}: expected text such as 30d")
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise errors.InvalidParameter(
            f"invalid duration {text!r}: use a whole number with d, h, m or s (e.g. 30d, 12h)"
        )
    seconds = int(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise errors.InvalidParameter(f"invalid duration {text!r}: must be more than zero")
    if seconds > MAX_DURATION_SECONDS:
        raise errors.InvalidParameter(f"invalid duration {text!r}: must be at most ten years")
    return seconds


def format_duration(seconds: int) -> str:
    """``seconds`` in its largest exact unit: ``2592000`` -> ``"30d"``, ``5400`` -> ``"90m"``."""
    if seconds < 0:
        raise ValueError(f"negative duration: {seconds}")
    for unit, size in _UNITS.items():
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_aware(value: dt.datetime, name: str) -> dt.datetime:
    """``value`` in UTC; a naive datetime is a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """When a secret rotates: every ``interval_seconds`` or on ``cron``, maybe inside a window.

    Build one from user input with :meth:`create`, which validates everything;
    the constructor checks only the shape, for values read back from storage.
    """

    #: Rotate this many seconds after the reference time (exclusive with ``cron``).
    interval_seconds: int | None = None
    #: A cron expression in UTC, normalised (exclusive with ``interval_seconds``).
    cron: str | None = None
    #: Start a rotation only within this many seconds of its due time.
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        if (self.interval_seconds is None) == (self.cron is None):
            raise errors.InvalidParameter(
                "a rotation schedule needs exactly one of an interval or a cron expression"
            )
        if self.interval_seconds is not None and self.interval_seconds <= 0:
            raise errors.InvalidParameter("the rotation interval must be more than zero")
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise errors.InvalidParameter("the rotation window must be more than zero")

    @classmethod
    def create(
        cls,
        *,
        interval: int | str | None = None,
        cron: str | None = None,
        window: int | str | None = None,
        min_interval_seconds: int,
    ) -> Schedule:
        """A validated schedule; ``interval`` and ``window`` are seconds or duration text (``30d``).

        Refuses: both or neither of interval and cron; an invalid cron expression
        (5 fields, or 6 where the 6th is seconds); an interval, or a gap between
        consecutive cron occurrences, shorter than ``min_interval_seconds``; a
        window that is not positive or is longer than the period.
        """
        if (interval is None) == (cron is None):
            raise errors.InvalidParameter(
                "give exactly one of a rotation interval or a cron expression"
            )
        window_seconds = None if window is None else _seconds(window, "rotation window")
        if interval is not None:
            interval_seconds = _seconds(interval, "rotation interval")
            if interval_seconds < min_interval_seconds:
                raise errors.InvalidParameter(
                    f"rotation interval {format_duration(interval_seconds)} is shorter than "
                    f"the minimum of {format_duration(min_interval_seconds)}"
                )
            period, expression = interval_seconds, None
        else:
            assert cron is not None
            expression = normalize_cron(cron)
            period = cron_min_gap(expression)
            if period < min_interval_seconds:
                raise errors.InvalidParameter(
                    f"cron expression {expression!r} can fire "
                    f"{format_duration(period)} apart, more often than the minimum interval "
                    f"of {format_duration(min_interval_seconds)}"
                )
            interval_seconds = None
        if window_seconds is not None and window_seconds > period:
            raise errors.InvalidParameter(
                f"rotation window {format_duration(window_seconds)} is longer than the "
                f"{'interval' if expression is None else 'shortest cron gap'} "
                f"of {format_duration(period)}"
            )
        return cls(
            interval_seconds=interval_seconds, cron=expression, window_seconds=window_seconds
        )

    @property
    def period_seconds(self) -> int:
        """The interval, or the smallest gap between consecutive cron occurrences."""
        if self.interval_seconds is not None:
            return self.interval_seconds
        assert self.cron is not None
        return cron_min_gap(self.cron)

    def describe(self) -> str:
        """Human text: ``every 30d`` / ``cron 0 3 * * *``, plus ``within 2h`` with a window."""
        if self.interval_seconds is not None:
            text = f"every {format_duration(self.interval_seconds)}"
        else:
            text = f"cron {self.cron}"
        if self.window_seconds is not None:
            text += f" within {format_duration(self.window_seconds)}"
        return text


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """What the scheduler should do with a secret whose rotation is due at some time."""

    #: Start a rotation now.
    rotate: bool
    #: When rotating: the due time being served. When waiting: when to look again.
    next_due: dt.datetime


def _seconds(value: int | str, what: str) -> int:
    if isinstance(value, bool):
        raise errors.InvalidParameter(f"invalid {what} {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise errors.InvalidParameter(f"invalid {what} {value}: must be more than zero")
        if value > MAX_DURATION_SECONDS:
            raise errors.InvalidParameter(f"invalid {what} {value}: must be at most ten years")
        return value
    try:
        return parse_duration(value)
    except errors.InvalidParameter as exc:
        raise errors.InvalidParameter(f"{what}: {exc.message}") from None


def normalize_cron(expression: str) -> str:
    """``expression`` with single spaces, after checking that croniter accepts it.

    Five fields, or six where the sixth is seconds, or one of the ``@daily``
    style aliases; read in UTC. Refuses an expression that never fires.
    """
    if not isinstance(expression, str):
        raise errors.InvalidParameter(f"invalid cron expression {expression!r}")
    return _normalize_cron(expression)


@functools.lru_cache(maxsize=1024)
def _normalize_cron(expression: str) -> str:
    normalized = " ".join(expression.split())
    fields = normalized.split(" ")
    if normalized.startswith("@"):
        if normalized.lower() not in _CRON_ALIASES:
            raise errors.InvalidParameter(
                f"invalid cron expression {expression!r}: unknown alias "
                f"(use one of {', '.join(sorted(_CRON_ALIASES))})"
            )
        normalized = normalized.lower()
    elif len(fields) not in (5, 6):
        raise errors.InvalidParameter(
            f"invalid cron expression {expression!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week), or 6 with seconds last"
        )
    elif any(_CRON_UNSTABLE_RE.search(field) for field in fields):
        raise errors.InvalidParameter(
            f"invalid cron expression {expression!r}: hashed (H) and random (R) fields "
            "are not supported"
        )
    try:
        _croniter(normalized, _CRON_SAMPLE_START).get_next(dt.datetime)
    except (ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
        # croniter's errors are ValueErrors; its text describes the expression only.
        raise errors.InvalidParameter(f"invalid cron expression {expression!r}: {exc}") from exc
    return normalized


def _croniter(expression: str, start: dt.datetime) -> croniter:
    """croniter's iterator; imported on first use, so that `rotor serve` starts without it."""
    from croniter import croniter

    return croniter(expression, start)


@functools.lru_cache(maxsize=1024)
def cron_min_gap(expression: str) -> int:
    """The smallest gap, in seconds, between consecutive occurrences of ``expression``.

    Looks at the first :data:`CRON_SAMPLE` occurrences from a fixed date; cached,
    as the scheduler rebuilds schedules on every pass.
    """
    it = _croniter(expression, _CRON_SAMPLE_START)
    previous: dt.datetime = it.get_next(dt.datetime)
    smallest: int | None = None
    for _ in range(CRON_SAMPLE):
        try:
            current: dt.datetime = it.get_next(dt.datetime)
        except ValueError:  # no further occurrence within croniter's search horizon
            break
        gap = int((current - previous).total_seconds())
        smallest = gap if smallest is None else min(smallest, gap)
        previous = current
    if smallest is None:
        raise errors.InvalidParameter(f"cron expression {expression!r} does not repeat")
    return smallest


def cron_next(expression: str, after: dt.datetime) -> dt.datetime:
    """The first occurrence of ``expression`` strictly after ``after`` (UTC)."""
    after = check_aware(after, "after")
    result: dt.datetime = _croniter(expression, after).get_next(dt.datetime)
    return result.astimezone(dt.UTC)


def next_due(
    schedule: Schedule,
    *,
    last_rotated_at: dt.datetime | None,
    last_changed_at: dt.datetime | None,
    enabled_at: dt.datetime,
    now: dt.datetime,
) -> dt.datetime:
    """When the next rotation is due, from the secret's history.

    The reference time is the later of the last successful rotation and the
    last manual value change, or when rotation was enabled if neither
    happened; a reference in the future (a clock ahead of this one) counts
    from ``now``. Interval mode: reference + interval. Cron mode: the first
    occurrence after the reference. The result may be in the past: pass it to
    :func:`decide`.
    """
    enabled_at = check_aware(enabled_at, "enabled_at")
    now = check_aware(now, "now")
    history = [
        check_aware(value, name)
        for value, name in (
            (last_rotated_at, "last_rotated_at"),
            (last_changed_at, "last_changed_at"),
        )
        if value is not None
    ]
    reference = min(max(history) if history else enabled_at, now)
    if schedule.interval_seconds is not None:
        return reference + dt.timedelta(seconds=schedule.interval_seconds)
    assert schedule.cron is not None
    return cron_next(schedule.cron, reference)


def decide(schedule: Schedule, due: dt.datetime, now: dt.datetime) -> Decision:
    """Whether a rotation due at ``due`` starts at ``now``, or when to look again.

    Without a window: rotate once ``now >= due``, however late. With a window:
    rotate while ``due <= now < due + window``; once that window has passed,
    the rotation is not started late: it moves to the next window start (due
    plus whole intervals, or the next cron occurrence). If ``now`` already lies
    inside such a later window (the server was down across whole periods),
    that window is served at once.
    """
    due = check_aware(due, "due")
    now = check_aware(now, "now")
    if now < due:
        return Decision(rotate=False, next_due=due)
    if schedule.window_seconds is None:
        return Decision(rotate=True, next_due=due)
    window = dt.timedelta(seconds=schedule.window_seconds)
    if now < due + window:
        return Decision(rotate=True, next_due=due)
    # Missed: find the first window start whose window has not closed by now.
    open_after = now - window
    if schedule.interval_seconds is not None:
        interval = dt.timedelta(seconds=schedule.interval_seconds)
        periods = (open_after - due) // interval + 1
        start = due + periods * interval
    else:
        assert schedule.cron is not None
        start = cron_next(schedule.cron, open_after)
    return Decision(rotate=start <= now, next_due=start)


def after_rotation(schedule: Schedule, *, finished_at: dt.datetime) -> dt.datetime:
    """When the next rotation is due after one (succeeded or failed) finished at ``finished_at``."""
    finished_at = check_aware(finished_at, "finished_at")
    if schedule.interval_seconds is not None:
        return finished_at + dt.timedelta(seconds=schedule.interval_seconds)
    assert schedule.cron is not None
    return cron_next(schedule.cron, finished_at)
