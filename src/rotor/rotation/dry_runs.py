"""What a dry run is made of: its throwaway rotation, the tasks it leaves out and why,
its report, and the cleanup after it.

The engine runs a dry run in its one step loop (:meth:`rotor.rotation.engine.Engine.dry_run`):
into a throwaway version, the tasks that change nothing outside rotor (new, and a
built-in function's test) run once each; nothing is recorded, and the version is
discarded afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

from rotor import errors
from rotor.clock import utcnow
from rotor.rotation import flows
from rotor.store import functions, rotations, secrets, stages
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction
from rotor.store.rotations import Rotation, Status

log = logging.getLogger(__name__)

#: Why a dry run leaves each kind of task out.
NOT_DRY_RUN = {
    "set": "changes the target system; not run in a dry run",
    "end": "moves Current; not run in a dry run",
}
CUSTOM_TEST = (
    "a custom function's test logs in with what its set step makes, which a dry run does "
    "not run; rotate once to test it"
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DryRunReport:
    """What a dry run checked, and what it could not check."""

    #: The tasks that ran, ``RotateSecretNew (new)``.
    ran: tuple[str, ...]
    #: The tasks that did not run, each with why.
    skipped: tuple[str, ...]
    #: What the functions reported while they ran (redacted).
    log: tuple[str, ...]


LAMBDA_NEW = (
    "a Lambda-style handler's createSecret finds its token as AWSPENDING only in a "
    "rotation in progress, which a dry run is not; rotate once to test it"
)


def left_out(task: flows.Task, registration: RegisteredFunction | None) -> str | None:
    """Why a dry run does not run ``task``, whose function is registered code
    (``registration``) or built in (None); None when it runs it."""
    if task.step in NOT_DRY_RUN:
        return NOT_DRY_RUN[task.step]
    if registration is not None and registration.kind == functions.LAMBDA_HANDLER:
        return LAMBDA_NEW
    return CUSTOM_TEST if task.step == "test" and registration is not None else None


def throwaway_rotation(
    store: Store, name: str, function: str, parameters: dict[str, Any], flow: flows.Flow
) -> Rotation:
    """A rotation record for a dry run, never stored, with a throwaway version id."""
    now = utcnow()
    return Rotation(
        id=f"dry-run-{uuid.uuid4().hex[:8]}",
        secret_name=name,
        version_id=f"dry-run-{uuid.uuid4()}",
        function=function,
        parameters=parameters,
        flow=flow.to_json(),
        step_index=0,
        status=Status.RUNNING,
        attempts=0,
        local={},
        base_version_id=secrets.get_secret(store, name).stages.get(stages.CURRENT),
        started_by="dry-run",
        created_at=now,
        updated_at=now,
        finished_at=None,
        error=None,
        lease_owner=None,
        lease_expires_at=None,
    )


def discard(store: Store, name: str, version: str) -> None:
    """Remove what a dry run's new task made: Pending on its version, and the version."""
    on = secrets.get_secret(store, name).stages
    if on.get(stages.PENDING) == version:
        stages.update_stage(store, name, stages.PENDING, remove_from_version=version)
    try:
        rotations.discard_version(store, name, version)
    except errors.RotorError:
        log.warning("could not discard the dry-run version of %s", name)
