"""Schedules: durations, validation, next due times, windows, and missed due times."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from rotor import errors
from rotor.rotation import schedules
from rotor.rotation.schedules import Decision, Schedule

HOUR = 3600
DAY = 86400
MIN_INTERVAL = HOUR


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """A UTC time in March 2024 (day 1 is a Friday)."""
    return dt.datetime(2024, 3, day, hour, minute, second, tzinfo=dt.UTC)


def every(interval: str, window: str | None = None) -> Schedule:
    return Schedule.create(interval=interval, window=window, min_interval_seconds=MIN_INTERVAL)


def on(cron: str, window: str | None = None, minimum: int = MIN_INTERVAL) -> Schedule:
    return Schedule.create(cron=cron, window=window, min_interval_seconds=minimum)


# -- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * DAY),
        ("7d", 7 * DAY),
        ("12h", 12 * HOUR),
        ("90m", 90 * 60),
        ("45s", 45),
        ("604800s", 7 * DAY),
        ("3600", HOUR),
        (" 2h ", 2 * HOUR),
        ("1D", DAY),
        ("3650d", 3650 * DAY),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert schedules.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["0", "0d", "0s", "-1d", "-5", "1.5h", "1w", "2y", "", "d", "abc", "30 d", "3651d", "1e9"],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        schedules.parse_duration(text)
    assert repr(text) in caught.value.message


def test_parse_duration_refuses_more_than_ten_years_in_seconds() -> None:
    with pytest.raises(errors.InvalidParameter, match="ten years"):
        schedules.parse_duration(str(10 * 365 * DAY + 1))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30 * DAY, "30d"), (5400, "90m"), (HOUR, "1h"), (36 * HOUR, "36h"), (45, "45s"), (0, "0s")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert schedules.format_duration(seconds) == text
    if seconds:
        assert schedules.parse_duration(text) == seconds


def test_format_duration_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        schedules.format_duration(-1)


# -- creating schedules ------------------------------------------------------------------


def test_create_interval_from_text_or_seconds() -> None:
    assert every("30d") == Schedule(interval_seconds=30 * DAY)
    assert Schedule.create(interval=2 * HOUR, min_interval_seconds=HOUR).interval_seconds == 7200
    windowed = Schedule.create(interval="1d", window=7200, min_interval_seconds=HOUR)
    assert windowed.window_seconds == 7200
    assert windowed.period_seconds == DAY


def test_schedule_is_frozen_and_keyword_only() -> None:
    schedule = every("1d")
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.interval_seconds = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        Schedule(DAY)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"interval": "1d", "cron": "0 3 * * *"}],
)
def test_create_needs_exactly_one_of_interval_and_cron(kwargs: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidParameter, match="exactly one"):
        Schedule.create(**kwargs, min_interval_seconds=HOUR)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"interval_seconds": DAY, "cron": "0 3 * * *"},
        {"interval_seconds": 0},
        {"interval_seconds": DAY, "window_seconds": 0},
    ],
)
def test_constructor_checks_shape(kwargs: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidParameter):
        Schedule(**kwargs)  # type: ignore[arg-type]


def test_interval_below_minimum_is_refused() -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        Schedule.create(interval="30m", min_interval_seconds=HOUR)
    assert caught.value.message == "rotation interval 30m is shorter than the minimum of 1h"
    assert every("1h").interval_seconds == HOUR


@pytest.mark.parametrize("interval", ["0d", "-1h", "soon", 0, -5, True])
def test_invalid_interval_is_refused(interval: str | int) -> None:
    with pytest.raises(errors.InvalidParameter, match="rotation interval"):
        Schedule.create(interval=interval, min_interval_seconds=1)


def test_cron_is_normalised() -> None:
    schedule = on("  0   3 * *   * ")
    assert schedule.cron == "0 3 * * *"
    assert schedule.interval_seconds is None
    assert schedule.period_seconds == DAY
    assert on("@DAILY").cron == "@daily"


@pytest.mark.parametrize(
    "cron",
    [
        "bad",
        "* * * *",
        "0 0 * * * * *",
        "0 0 * * * * 2030 extra",
        "61 * * * *",
        "*/0 * * * *",
        "0 3 30 2 *",
        "H * * * *",
        "H(0-29) * * * *",
        "R * * * *",
        "0 0 * * * R",
        "@reboot",
        "",
    ],
)
def test_invalid_cron_is_refused(cron: str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        on(cron)
    assert repr(cron) in caught.value.message


def test_cron_that_is_not_text_is_refused() -> None:
    with pytest.raises(errors.InvalidParameter, match="invalid cron expression"):
        on(["0", "3", "*", "*", "*"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cron", ["0 0 * * fri", "0 0 * mar,apr *", "0 3 * * 1#2", "0 0 L * *", "0 3 * * thu"]
)
def test_named_days_and_months_are_accepted(cron: str) -> None:
    assert on(cron).cron == cron


def test_cron_more_frequent_than_minimum_is_refused() -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        on("*/5 * * * *")
    assert caught.value.message == (
        "cron expression '*/5 * * * *' can fire 5m apart, "
        "more often than the minimum interval of 1h"
    )
    assert on("0 * * * *").period_seconds == HOUR


def test_cron_smallest_gap_is_what_counts() -> None:
    # Daily-ish, but 00:00 and 01:00 are only an hour apart.
    with pytest.raises(errors.InvalidParameter, match="1h apart"):
        on("0 0,1 * * *", minimum=2 * HOUR)
    assert on("0 0,1 * * *").period_seconds == HOUR


def test_cron_with_seconds_field() -> None:
    # The sixth field is seconds.
    schedule = on("0 3 * * * 30")
    assert schedule.period_seconds == DAY
    assert schedules.after_rotation(schedule, finished_at=at(1, 3)) == at(1, 3, 0, 30)
    assert schedules.after_rotation(schedule, finished_at=at(1, 3, 0, 30)) == at(2, 3, 0, 30)
    fast = on("* * * * * */10", minimum=10)
    assert fast.period_seconds == 10
    assert schedules.after_rotation(fast, finished_at=at(1, 0, 0, 5)) == at(1, 0, 0, 10)
    with pytest.raises(errors.InvalidParameter, match="10s apart"):
        on("* * * * * */10", minimum=60)


@pytest.mark.parametrize("window", ["0s", "0", "-1h", "later", 0, -3])
def test_window_must_be_positive(window: str | int) -> None:
    with pytest.raises(errors.InvalidParameter, match="rotation window"):
        Schedule.create(interval="1d", window=window, min_interval_seconds=HOUR)


def test_window_longer_than_interval_is_refused() -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        every("1d", window="25h")
    assert caught.value.message == "rotation window 25h is longer than the interval of 1d"
    assert every("1d", window="24h").window_seconds == DAY


def test_window_longer_than_smallest_cron_gap_is_refused() -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        on("0 0,6 * * *", window="7h")
    assert caught.value.message == ("rotation window 7h is longer than the shortest cron gap of 6h")
    # Monthly: February makes the shortest gap 28 days.
    assert on("0 3 1 * *", window="28d").window_seconds == 28 * DAY
    with pytest.raises(errors.InvalidParameter, match="shortest cron gap of 28d"):
        on("0 3 1 * *", window="29d")


def test_describe() -> None:
    assert every("30d").describe() == "every 30d"
    assert on("0 3 * * *", window="2h").describe() == "cron 0 3 * * * within 2h"


# -- next due ----------------------------------------------------------------------------


def test_interval_without_history_counts_from_enabled() -> None:
    due = schedules.next_due(
        every("1d"), last_rotated_at=None, last_changed_at=None, enabled_at=at(1, 9), now=at(1, 9)
    )
    assert due == at(2, 9)


def test_interval_counts_from_the_later_of_rotation_and_change() -> None:
    schedule = every("7d")
    rotated_later = schedules.next_due(
        schedule,
        last_rotated_at=at(5),
        last_changed_at=at(3),
        enabled_at=at(1),
        now=at(6),
    )
    assert rotated_later == at(12)
    changed_later = schedules.next_due(
        schedule,
        last_rotated_at=at(3),
        last_changed_at=at(5, 12),
        enabled_at=at(1),
        now=at(6),
    )
    assert changed_later == at(12, 12)
    only_changed = schedules.next_due(
        schedule, last_rotated_at=None, last_changed_at=at(2), enabled_at=at(1), now=at(6)
    )
    assert only_changed == at(9)


def test_due_may_be_in_the_past() -> None:
    due = schedules.next_due(
        every("1d"), last_rotated_at=at(1), last_changed_at=None, enabled_at=at(1), now=at(20)
    )
    assert due == at(2)


def test_reference_in_the_future_counts_from_now() -> None:
    due = schedules.next_due(
        every("1d"), last_rotated_at=at(10), last_changed_at=None, enabled_at=at(1), now=at(5)
    )
    assert due == at(6)


def test_cron_due_is_first_occurrence_after_reference() -> None:
    schedule = on("0 3 * * *")
    assert schedules.next_due(
        schedule, last_rotated_at=None, last_changed_at=None, enabled_at=at(1, 1), now=at(1, 1)
    ) == at(1, 3)
    # Strictly after: a rotation at exactly 03:00 is due again the next day.
    assert schedules.next_due(
        schedule, last_rotated_at=at(1, 3), last_changed_at=at(1, 2), enabled_at=at(1), now=at(1, 4)
    ) == at(2, 3)
    # A manual change after the rotation moves the reference.
    assert schedules.next_due(
        schedule, last_rotated_at=at(1, 3), last_changed_at=at(2, 4), enabled_at=at(1), now=at(2, 5)
    ) == at(3, 3)


def test_other_timezones_are_converted_to_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    due = schedules.next_due(
        on("0 3 * * *"),
        last_rotated_at=dt.datetime(2024, 3, 1, 4, 30, tzinfo=plus_two),  # 02:30 UTC
        last_changed_at=None,
        enabled_at=at(1),
        now=at(1, 4),
    )
    assert due == at(1, 3)
    assert due.tzinfo is dt.UTC


@pytest.mark.parametrize("field", ["last_rotated_at", "last_changed_at", "enabled_at", "now"])
def test_naive_datetimes_are_refused(field: str) -> None:
    times: dict[str, dt.datetime | None] = {
        "last_rotated_at": at(1),
        "last_changed_at": at(1),
        "enabled_at": at(1),
        "now": at(2),
    }
    times[field] = dt.datetime(2024, 3, 1)
    with pytest.raises(ValueError, match=field):
        schedules.next_due(every("1d"), **times)  # type: ignore[arg-type]


def test_decide_and_after_rotation_refuse_naive() -> None:
    with pytest.raises(ValueError, match="now"):
        schedules.decide(every("1d"), at(1), dt.datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="due"):
        schedules.decide(every("1d"), dt.datetime(2024, 3, 1), at(1))
    with pytest.raises(ValueError, match="finished_at"):
        schedules.after_rotation(every("1d"), finished_at=dt.datetime(2024, 3, 1))


# -- deciding ----------------------------------------------------------------------------


def test_without_window_rotates_once_due() -> None:
    schedule = every("1d")
    assert schedules.decide(schedule, at(2), at(1, 23, 59)) == Decision(
        rotate=False, next_due=at(2)
    )
    assert schedules.decide(schedule, at(2), at(2)) == Decision(rotate=True, next_due=at(2))
    assert schedules.decide(schedule, at(2), at(9)) == Decision(rotate=True, next_due=at(2))


def test_decision_is_frozen() -> None:
    decision = schedules.decide(every("1d"), at(2), at(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.rotate = True  # type: ignore[misc]


def test_server_down_across_due_times_rotates_once() -> None:
    """Down from before the due time until three periods later: one rotation, then on schedule."""
    schedule = every("1d")
    due = schedules.next_due(
        schedule, last_rotated_at=at(1, 6), last_changed_at=None, enabled_at=at(1), now=at(1, 12)
    )
    assert due == at(2, 6)
    assert not schedules.decide(schedule, due, at(2, 5)).rotate  # last look before going down
    back = at(5, 9)
    rotations = 0
    now = back
    while now < at(5, 10):
        decision = schedules.decide(schedule, due, now)
        if decision.rotate:
            rotations += 1
            due = schedules.after_rotation(schedule, finished_at=now + dt.timedelta(seconds=5))
        now += dt.timedelta(seconds=10)
    assert rotations == 1
    assert due == at(6, 9, 0, 5)


def test_cron_server_down_rotates_once() -> None:
    schedule = on("0 3 * * *")
    due = at(2, 3)
    decision = schedules.decide(schedule, due, at(4, 12))
    assert decision == Decision(rotate=True, next_due=due)
    after = schedules.after_rotation(schedule, finished_at=at(4, 12, 1))
    assert after == at(5, 3)
    assert not schedules.decide(schedule, after, at(4, 12, 2)).rotate


def test_interval_window_hit() -> None:
    schedule = every("1d", window="2h")
    assert schedules.decide(schedule, at(2, 6), at(2, 5, 59)) == Decision(
        rotate=False, next_due=at(2, 6)
    )
    assert schedules.decide(schedule, at(2, 6), at(2, 6)).rotate
    assert schedules.decide(schedule, at(2, 6), at(2, 7, 59, 59)).rotate


def test_interval_window_missed_waits_for_next_window() -> None:
    schedule = every("1d", window="2h")
    # The window closes at 08:00 exactly (the end is exclusive).
    assert schedules.decide(schedule, at(2, 6), at(2, 8)) == Decision(
        rotate=False, next_due=at(3, 6)
    )
    assert schedules.decide(schedule, at(2, 6), at(2, 23)) == Decision(
        rotate=False, next_due=at(3, 6)
    )
    # Down for days: the next window start strictly after now.
    assert schedules.decide(schedule, at(2, 6), at(5, 9)) == Decision(
        rotate=False, next_due=at(6, 6)
    )
    # Then, at that window, it rotates.
    assert schedules.decide(schedule, at(6, 6), at(6, 6, 0, 1)).rotate


def test_interval_window_missed_but_inside_a_later_window_rotates() -> None:
    schedule = every("1d", window="2h")
    assert schedules.decide(schedule, at(2, 6), at(4, 7)) == Decision(
        rotate=True, next_due=at(4, 6)
    )


def test_cron_window_hit_and_missed() -> None:
    schedule = on("0 3 * * *", window="1h")
    assert schedules.decide(schedule, at(2, 3), at(2, 3, 30)) == Decision(
        rotate=True, next_due=at(2, 3)
    )
    assert schedules.decide(schedule, at(2, 3), at(2, 4)) == Decision(
        rotate=False, next_due=at(3, 3)
    )
    assert schedules.decide(schedule, at(2, 3), at(6, 12)) == Decision(
        rotate=False, next_due=at(7, 3)
    )
    assert schedules.decide(schedule, at(2, 3), at(6, 3, 15)) == Decision(
        rotate=True, next_due=at(6, 3)
    )


def test_cron_window_on_weekdays_skips_to_next_occurrence() -> None:
    schedule = on("0 2 * * mon-fri", window="30m")
    # Friday 1 March 02:00 missed; Saturday and Sunday have no window.
    assert schedules.decide(schedule, at(1, 2), at(2, 10)) == Decision(
        rotate=False, next_due=at(4, 2)
    )


def test_after_rotation() -> None:
    assert schedules.after_rotation(every("12h"), finished_at=at(1, 6, 30)) == at(1, 18, 30)
    cron = on("0 3 * * *")
    assert schedules.after_rotation(cron, finished_at=at(1, 2)) == at(1, 3)
    assert schedules.after_rotation(cron, finished_at=at(1, 3)) == at(2, 3)
    assert schedules.after_rotation(cron, finished_at=at(1, 3, 0, 1)) == at(2, 3)
