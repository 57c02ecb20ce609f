"""Durations and times as people type them on the command line.

``--expires-in 90d``, ``--duration 1h`` take a duration; ``--since 2h`` takes a
duration (that long ago) or an RFC 3339 time (``2026-01-31T12:00:00Z``, or a date,
taken as midnight UTC).
"""

from __future__ import annotations

import datetime as dt
import re

from rotor import errors

_DURATION = re.compile(r"([0-9]{1,9})([dhms]?)", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}


def parse_duration(text: str, option: str) -> int:
    """Seconds in ``30d``, ``12h``, ``90m``, ``45s`` or a bare number of seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise errors.InvalidParameter(
            f"{option} {text!r} is not a duration: use a whole number with d, h, m or s "
            "(e.g. 90d, 1h, 30m)"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise errors.InvalidParameter(f"{option} must be longer than 0 seconds")
    return seconds


def parse_time(text: str, option: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An aware UTC time from ``2h`` (ago), an RFC 3339 time, or a date (midnight UTC)."""
    if _DURATION.fullmatch(text.strip()) and not text.strip().isdigit():
        return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=parse_duration(text, option))
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise errors.InvalidParameter(
            f"{option} {text!r} is neither a time (2026-01-31T12:00:00Z, 2026-01-31) "
            "nor a duration ago (2h, 7d)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
