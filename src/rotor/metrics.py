"""Prometheus metrics: what each layer counts, and how one scrape collects every process's.

The layers record into the metrics defined here (requests in :mod:`rotor.api.front`,
rotations in :mod:`rotor.rotation.engine` and :mod:`rotor.rotation.outcomes`, the audit
queue and the store's pool in :mod:`rotor.api.app`); ``GET /metrics``
(:mod:`rotor.api.native.metrics`) exposes them with what it reads from the store at
scrape time (overdue rotations, time since the last success, scheduler lag).

With several worker processes (``rotor serve --workers``) each process writes its values
to files in one directory of the node (prometheus_client's multiprocess mode, named by
``PROMETHEUS_MULTIPROC_DIR``, which ``rotor serve`` sets before this module is imported),
and a scrape answered by any worker sums them: :func:`registry`.

Label values are bounded, whatever a client sends: an action is a known action name
(anything else counts as ``other``), a step one of new/set/test/end, a function a name
an administrator configured.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

#: The environment variable prometheus_client's multiprocess mode reads at import.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The directory under a data dir the workers of ``rotor serve --workers`` write to.
MULTIPROCESS_DIR = "metrics"
_STEP = re.compile(r"\((new|set|test|end)\)$")

REQUESTS = Counter(
    "rotor_requests",
    "API requests answered, by dialect (native, kms, aws), action and outcome (allowed, denied, "
    "unauthenticated, failed).",
    ["dialect", "action", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "rotor_request_duration_seconds",
    "Time from a request's arrival to its answer, by dialect and action.",
    ["dialect", "action"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ROTATIONS_STARTED = Counter(
    "rotor_rotations_started", "Rotations started, by function.", ["function"]
)
ROTATIONS_FINISHED = Counter(
    "rotor_rotations_finished",
    "Rotations that ended, by function, status (succeeded, failed, cancelled, abandoned) and "
    "the step it ended at (new, set, test, end; empty when it ended after every step).",
    ["function", "status", "step"],
)
ROTATION_SECONDS = Histogram(
    "rotor_rotation_duration_seconds",
    "Time from a rotation's start to its end, by function and status.",
    ["function", "status"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600),
)
AUDIT_QUEUE = Gauge(
    "rotor_audit_queue_depth",
    "Audit events recorded but not yet written to the store.",
    multiprocess_mode="livesum",
)
STORE_CONNECTIONS = Gauge(
    "rotor_store_connections",
    "The store's pooled connections, by state (in_use, idle).",
    ["state"],
    multiprocess_mode="livesum",
)
NOTIFICATIONS = Counter(
    "rotor_notification_deliveries",
    "Notification delivery attempts, by outcome (delivered; retried: failed, tried again "
    "later; failed: failed on its last attempt, listed until retried by hand).",
    ["outcome"],
)
BUILD = Gauge(
    "rotor_build_info",
    "The rotor release this node runs (always 1).",
    ["version"],
    multiprocess_mode="max",
)


#: The labelled series of each (dialect, action, outcome) seen: looking a series up by its
#: labels costs more than counting it, on every request. Bounded as the labels are.
_request_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def count_request(dialect: str, action: str, outcome: str, seconds: float) -> None:
    """Count one answered request and its duration."""
    key = (dialect, action, outcome)
    series = _request_series.get(key)
    if series is None:
        series = _request_series.setdefault(
            key,
            (REQUESTS.labels(dialect, action, outcome), REQUEST_SECONDS.labels(dialect, action)),
        )
    series[0].inc()
    series[1].observe(seconds)


def step_of(label: str | None) -> str:
    """The step a task label names (``RotateSecretSet (set)`` is ``set``); empty for none."""
    match = _STEP.search(label or "")
    return match.group(1) if match else ""


def action_label(action: str | None, known: frozenset[str]) -> str:
    """``action`` when it is a known action name, else ``other`` (a path, a made-up name)."""
    return action if action in known else "other"


def prepare_multiprocess_dir(data_dir: Path) -> Path:
    """Empty (or make) the directory the workers of a node write their values to, and name
    it for the processes started after this; call before anything imports this module's
    metrics in a worker."""
    directory = data_dir / MULTIPROCESS_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory


def registry() -> CollectorRegistry:
    """What a scrape reads: this process's metrics, or, with several workers, the sum of
    every worker's."""
    if os.environ.get(MULTIPROCESS_ENV):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return PROCESS_REGISTRY


def process_stopped(pid: int) -> None:
    """Drop a worker that exited from the gauges that sum live processes."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
