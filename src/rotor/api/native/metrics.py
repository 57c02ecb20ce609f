"""``GET /metrics``: Prometheus's text exposition of :mod:`rotor.metrics`, plus what the
store says at scrape time.

It is authenticated like every ``/v1`` request (Prometheus sends a bearer key:
``authorization: {type: Bearer, credentials: KEY_ID.KEY_SECRET}``) and needs
``rotor:GetMetrics`` on ``rotor:metrics``. The store-derived figures are read by the
node that answers, from the store every node shares, so each node reports the same
ones (as rotor status counts them: :mod:`rotor.rotation.status`): overdue and failing
rotations, the age of the oldest last success, and how long the oldest due rotation has
waited to start. Per-secret figures only with
``ROTOR_METRICS_PER_SECRET`` (one series per secret). The answer is the text format
0.0.4, which every Prometheus reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
from prometheus_client.registry import Collector

from rotor import errors, metrics
from rotor.access.keys import Identity
from rotor.api.native import callers
from rotor.api.openapi import failures
from rotor.clock import utcnow
from rotor.rotation import status
from rotor.settings import Settings
from rotor.store import rotation_configs
from rotor.store.database import Store

router = APIRouter(tags=["metrics"])
Caller = Annotated[Identity, Depends(callers.caller)]

METRICS_RESOURCE = "rotor:metrics"


class StoreFigures(Collector):
    """The figures a scrape reads from the store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        grace = self.settings.overdue_grace_timedelta
        found = rotation_configs.config_statuses(self.store)
        states = [status.state_of(found_one, now, grace) for found_one in found]
        enabled = [c.config for c in found if c.config.enabled]
        yield GaugeMetricFamily(
            "rotor_rotations_configured", "Secrets with rotation enabled.", len(enabled)
        )
        yield GaugeMetricFamily(
            "rotor_rotations_overdue",
            "Enabled rotations due longer ago than ROTOR_OVERDUE_GRACE_SECONDS and not running "
            "(rotor status: overdue).",
            states.count(status.State.OVERDUE),
        )
        yield GaugeMetricFamily(
            "rotor_rotations_failing",
            "Secrets whose latest finished rotation failed or was abandoned (rotor status: "
            "failing).",
            states.count(status.State.FAILING),
        )
        ages = [(now - c.last_rotated_at).total_seconds() for c in enabled if c.last_rotated_at]
        yield GaugeMetricFamily(
            "rotor_oldest_successful_rotation_age_seconds",
            "Seconds since the last successful rotation of the secret that went longest without "
            "one (0 when none has rotated).",
            max(ages, default=0.0),
        )
        waiting = [
            (now - c.config.next_rotation_at).total_seconds()
            for c in found
            if c.config.enabled
            and c.running is None
            and c.config.next_rotation_at is not None
            and c.config.next_rotation_at < now
        ]
        yield GaugeMetricFamily(
            "rotor_scheduler_lag_seconds",
            "How long the rotation due the longest ago has waited to start (0 when none is due).",
            max(waiting, default=0.0),
        )
        if self.settings.metrics_per_secret:
            last = GaugeMetricFamily(
                "rotor_secret_last_successful_rotation_timestamp_seconds",
                "When each secret with rotation enabled last rotated successfully (Unix time).",
                labels=["secret"],
            )
            for c in found:
                if c.config.enabled and c.config.last_rotated_at is not None:
                    last.add_metric([c.config.secret_name], c.config.last_rotated_at.timestamp())
            yield last


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition)",
    responses={
        200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}},
        **failures(errors.AccessDenied, errors.ServiceUnavailable),
    },
    response_class=Response,
)
def get_metrics(request: Request, _: Caller) -> Response:
    callers.authorize(request, "rotor:GetMetrics", resource=METRICS_RESOURCE)
    registry = metrics.registry()
    body = generate_latest(registry)
    figures = StoreFigures(request.app.state.store, request.app.state.settings)
    body += _exposition(figures)
    return Response(content=body, media_type=CONTENT_TYPE)


def _exposition(collector: Collector) -> bytes:
    """One collector's families in the text format (not kept in any registry)."""
    once = CollectorRegistry(auto_describe=False)
    once.register(collector)
    return generate_latest(once)
