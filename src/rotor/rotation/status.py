"""Each configured rotation's state at a glance (``GET /v1/status``, ``rotor status``):
whether a secret's rotation is fine, or failing, or overdue, so a failure is seen at once
instead of when a credential expires.

A secret is in exactly one state, the first of these that holds:

- ``disabled``: its rotation is disabled (whatever its last rotation did: a person
  turned it off, so it raises no alarm);
- ``failing``: the latest rotation that ended failed or was abandoned; it stays so,
  also while the next rotation runs, until one succeeds (or is cancelled);
- ``running``: a rotation runs now;
- ``overdue``: its next scheduled rotation was due longer ago than the grace period
  (``ROTOR_OVERDUE_GRACE_SECONDS``) and none has started: no node's scheduler is
  starting it (a scheduler starts a due rotation within a tick);
- ``never-rotated``: no rotation of it has succeeded yet, and none failed;
- ``ok``: the rest: its latest rotation succeeded and it is not overdue.

``failing`` and ``overdue`` are the :data:`PROBLEMS`: what a monitor alerts on.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable

from rotor.store import events, rotation_configs
from rotor.store.database import Store
from rotor.store.rotation_configs import ConfigStatus
from rotor.store.rotations import Status


class State(enum.StrEnum):
    OK = "ok"
    RUNNING = "running"
    FAILING = "failing"
    OVERDUE = "overdue"
    DISABLED = "disabled"
    NEVER_ROTATED = "never-rotated"


#: The states a monitor alerts on.
PROBLEMS = frozenset({State.FAILING, State.OVERDUE})

#: A rotation that ended this way leaves its secret failing.
FAILED = frozenset({Status.FAILED, Status.ABANDONED})


def state_of(status: ConfigStatus, now: dt.datetime, grace: dt.timedelta) -> State:
    """The one state of a configured rotation at ``now`` (see the module's docstring)."""
    config = status.config
    if not config.enabled:
        return State.DISABLED
    if status.last_finished is not None and status.last_finished.status in FAILED:
        return State.FAILING
    if status.running is not None:
        return State.RUNNING
    if config.next_rotation_at is not None and config.next_rotation_at < now - grace:
        return State.OVERDUE
    if config.last_rotated_at is None:
        return State.NEVER_ROTATED
    return State.OK


def summary(states: Iterable[State]) -> dict[str, int]:
    """How many secrets are in each state, every state named (0 included), in
    :class:`State`'s order."""
    counts = dict.fromkeys((str(state) for state in State), 0)
    for state in states:
        counts[str(state)] += 1
    return counts


def notice_overdue(store: Store, now: dt.datetime, grace: dt.timedelta) -> list[str]:
    """Record ``rotation.overdue`` for each secret that is overdue now, once per due time
    however many nodes look; returns the secrets this call recorded it for."""
    noted = []
    for found in rotation_configs.config_statuses(store):
        due = found.config.next_rotation_at
        if due is None or state_of(found, now, grace) is not State.OVERDUE:
            continue
        if events.note_overdue(store, found.config.secret_name, due):
            noted.append(found.config.secret_name)
    return noted
