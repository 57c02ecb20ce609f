"""Putting on record how a rotation's steps and the rotation itself end: the audit
trail, the one error line of a failure, the rotation's history, and the secret's
next scheduled rotation.

The engine (:mod:`rotor.rotation.engine`) decides the outcome; :class:`Outcomes`
writes it down.
"""

from __future__ import annotations

import dataclasses
import logging

from rotor import metrics
from rotor.access.audit import AuditLog
from rotor.clock import utcnow
from rotor.rotation import schedules
from rotor.rotation.resolution import schedule_of
from rotor.store import rotation_configs, rotation_steps
from rotor.store.audit import AuditEvent
from rotor.store.database import Store
from rotor.store.rotations import Rotation, Status

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcomes:
    """Records the outcomes of the rotations one runner (``owner``) runs."""

    store: Store
    owner: str
    audit: AuditLog | None = None

    def step(
        self, rotation: Rotation, step: str, outcome: str, error_code: str | None = None
    ) -> None:
        """A step's attempt succeeded or failed (its history is the engine's to write)."""
        self._audit(rotation, f"rotor:Rotation{step.capitalize()}Step", outcome, error_code)

    def finish(
        self,
        rotation: Rotation,
        status: Status,
        label: str | None,
        message: str | None,
        code: str | None = None,
    ) -> None:
        """End the rotation with ``status`` (at task ``label``), unless it is no longer
        this runner's; an enabled schedule's next rotation counts from now."""
        next_at = None
        config = rotation_configs.get_config(self.store, rotation.secret_name)
        if config is not None and config.enabled:
            schedule = schedule_of(config)
            if schedule is not None:
                next_at = schedules.after_rotation(schedule, finished_at=utcnow())
        self._audit(
            rotation,
            "rotor:Rotation",
            str(status),
            None if status is Status.SUCCEEDED else str(status),
        )
        if status is Status.FAILED:
            # Once, with what an operator needs to find it; the message stays in the
            # history (it is redacted, but a log line carries no value at all).
            log.error(
                "rotation %s of secret %s failed at %s: %s",
                rotation.id,
                rotation.secret_name,
                label or "its end",
                code or "Failed",
            )
        finished = rotation_steps.finish(
            self.store,
            rotation.id,
            status,
            message=message,
            step_label=label,
            next_rotation_at=next_at,
            owner=self.owner,
            code=None if status is Status.SUCCEEDED else code,
        )
        if finished:
            step = "" if status is Status.SUCCEEDED else metrics.step_of(label)
            metrics.ROTATIONS_FINISHED.labels(rotation.function, str(status), step).inc()
            metrics.ROTATION_SECONDS.labels(rotation.function, str(status)).observe(
                (utcnow() - rotation.created_at).total_seconds()
            )

    def _audit(
        self, rotation: Rotation, action: str, outcome: str, error_code: str | None = None
    ) -> None:
        if self.audit is None:
            return
        self.audit.record(
            AuditEvent(
                at=utcnow(),
                principal=rotation.started_by[:128],
                source="rotation engine",
                action=action,
                secret_name=rotation.secret_name,
                version_id=rotation.version_id,
                outcome=outcome,
                error_code=error_code,
                rotation_id=rotation.id,
            )
        )
