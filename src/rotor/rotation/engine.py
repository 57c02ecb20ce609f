"""The rotation engine: starts rotations and runs the tasks of their flow (new -> set ->
test -> end) for one secret.

One version id per rotation, kept for every retry and for a resume after a
crash. Progress is persisted after every step, and a runner holds a renewable
lease on the rotation, so a rotation whose process died is resumed by the next
runner from the step that did not complete.

Starting (:meth:`Engine.start`, for every API dialect alike): a version id the caller
gives is an idempotency key, so a request sent twice, or by two clients at once,
starts at most one rotation and never reports a version no rotation made:
- a rotation already succeeded with it: that rotation again; nothing new runs;
- the running rotation has it: that rotation;
- another rotation is running: RotationInProgress;
- a version has that id that no rotation made (the Current one, one a plain put
  wrote), or one made from a Current since replaced: VersionConflict;
- else a new rotation with that version id (on the version, Pending again, when an
  earlier rotation made it and did not succeed:
  :func:`rotor.store.rotations.create_rotation`).
Without one, the running rotation is returned (RotationInProgress when ``require_new``),
else a new one starts with a generated version id. Callers start and run a rotation in
one call, :meth:`rotor.rotation.scheduler.Scheduler.rotate`.

Before a rotation runs (and again when it is resumed) the engine checks what it
delegates (:mod:`rotor.access.delegation`) against the rights its configurer holds
at that moment; a rotation whose delegation is no longer allowed fails before any
step, Current untouched.

Before every attempt of a step the engine re-reads the stages, in the transaction that
records the attempt (nothing is recorded when they say stop):
- the rotation's version is already Current: the rotation is done, nothing runs;
- Current moved to another version (a value written out of band): abandoned;
- the version exists but is neither Current nor Pending: failed, nothing runs.

A dry run (:meth:`Engine.dry_run`) is the same step loop in another mode: into a
throwaway version, it runs only the tasks that change nothing outside rotor (new, and
a built-in function's test), once each, records nothing, and says what it ran and what
it left out.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import logging
import threading
import uuid
from typing import Any

from rotor import errors, log_context, metrics
from rotor.access.audit import AuditLog
from rotor.access.delegation import Delegation
from rotor.rotation import dry_runs, flows, invocation, outcomes, resolution
from rotor.rotation import functions as registry
from rotor.rotation.functions.base import Redactor, SecretsAccess
from rotor.settings import Settings
from rotor.store import rotation_configs, rotation_steps, rotations, stages, versions
from rotor.store.database import Store
from rotor.store.rotations import EventKind, Rotation, Status

log = logging.getLogger(__name__)


#: Failures that trying again cannot cure: a refusal, a bad configuration or value.
_PERMANENT: tuple[type[errors.RotorError], ...] = (
    errors.AccessDenied,
    errors.Unauthenticated,
    errors.InvalidRequest,
    errors.NotFound,
    errors.Conflict,
    errors.DecryptionFailed,
)


def retryable(exc: BaseException) -> bool:
    """Whether a failed step may pass on another attempt. Transient failures (a refused
    connection, a timeout, throttling, a lock wait, an unreachable store) are; a refused
    login or access, invalid parameters or secret JSON, a handler that does not load are
    not, and fail the rotation at once."""
    if isinstance(exc, errors.FunctionFailed):
        return exc.retryable
    return not isinstance(exc, _PERMANENT)


class _Stop(enum.Enum):
    """Why a task's attempts stopped without output."""

    #: The rotation's version is Current already: nothing more to run.
    DONE = "done"
    #: The rotation ended (failed, cancelled, abandoned) or is no longer this runner's.
    ENDED = "ended"


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Verdict:
    """What the stages say before a step."""

    #: The rotation's version is Current: nothing more to run.
    done: bool = False
    #: The rotation must end now, so, with this message and error code.
    end: Status | None = None
    message: str | None = None
    code: str | None = None

    @property
    def go(self) -> bool:
        """Whether the step may run."""
        return not self.done and self.end is None


def _verdict(standing: rotation_steps.Standing, rotation: Rotation, step: str) -> _Verdict:
    on = standing.stages
    version = rotation.version_id
    current = on.get(stages.CURRENT)
    if current == version:
        return _Verdict(done=True)
    if current != rotation.base_version_id:
        return _Verdict(
            end=Status.ABANDONED, message="a new value was written while the rotation ran"
        )
    exists = standing.version_exists
    if exists and on.get(stages.PENDING) != version:
        return _Verdict(
            end=Status.FAILED,
            message="the rotation's version is neither Current nor Pending; "
            "the stages were moved by someone else",
            code="StagesMoved",
        )
    if not exists and step != "new":
        return _Verdict(
            end=Status.FAILED,
            message="the Pending version of this rotation does not exist",
            code="StagesMoved",
        )
    return _Verdict()


@dataclasses.dataclass(kw_only=True)
class _Pass:
    """One pass of the step loop over a rotation's flow: what its steps share."""

    rotation: Rotation
    flow: flows.Flow
    granted: Delegation
    access: SecretsAccess
    #: Set to end a wait between attempts (a cancel, a stopping server).
    wake: threading.Event = dataclasses.field(default_factory=threading.Event)
    #: A dry run: each task that changes nothing runs once; nothing is recorded.
    dry_run: bool = False
    local: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: What a dry run ran, left out, and heard the functions say.
    ran: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    said: list[str] = dataclasses.field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any]:
        return {"SecretName": self.rotation.secret_name, **self.rotation.parameters}


class Engine:
    """Starts, runs, cancels and dry-runs rotations against one store."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        owner: str,
        api_url: str = "",
        audit: AuditLog | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.invoker = invocation.Invoker(
            store=store, settings=settings, api_url=api_url or settings.public_url
        )
        self.outcomes = outcomes.Outcomes(store=store, owner=owner, audit=audit)
        self._wakeups: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # -- starting and cancelling --------------------------------------------------------

    def start(
        self,
        name: str,
        *,
        started_by: str,
        version_id: str | None = None,
        require_new: bool = False,
    ) -> tuple[Rotation, bool]:
        """Start a rotation of ``name`` now; returns it and whether it is new.

        ``version_id`` is an idempotency key (the module docstring has the rules).
        ``require_new``: RotationInProgress when a rotation is running, VersionConflict
        when one already succeeded with ``version_id``, instead of returning it.
        """
        config = rotation_configs.get_config(self.store, name)
        if config is None:
            raise errors.InvalidParameter(
                f"rotation of secret {name!r} is not configured; configure a function first"
            )
        _, registration = registry.resolve(self.store, config.function)
        flow = resolution.flow_of(config.function, config.flow, registration)
        if version_id is not None:
            versions.validate_version_id(version_id)
        rotation, created = rotations.create_rotation(
            self.store,
            name,
            version_id=version_id or str(uuid.uuid4()),
            function=config.function,
            parameters=config.parameters,
            flow=flow.to_json(),
            tasks=[(task.name, task.step) for task in flow.tasks],
            started_by=started_by,
        )
        if created:
            metrics.ROTATIONS_STARTED.labels(config.function).inc()
        another = version_id is not None and rotation.version_id != version_id
        if created or not (require_new or another):
            return rotation, created
        if rotation.status is Status.RUNNING:
            raise errors.RotationInProgress(
                f"rotation {rotation.id} of secret {name!r} (version {rotation.version_id!r}) "
                "is already running"
            )
        raise errors.VersionConflict(
            f"version {version_id!r} of secret {name!r} was rotated in by rotation {rotation.id}"
        )

    def cancel(self, name: str) -> Rotation:
        running = rotations.running_rotation(self.store, name)
        if running is None:
            raise errors.NotFound(f"no rotation of secret {name!r} is running")
        rotation_steps.finish(self.store, running.id, Status.CANCELLED, message="cancelled")
        with self._lock:
            wake = self._wakeups.get(running.id)
        if wake is not None:
            wake.set()
        return rotations.get_rotation(self.store, running.id)

    def wake_all(self) -> None:
        """End every wait between attempts now (the server is stopping); the rotations stay
        running, for the next runner to resume."""
        with self._lock:
            for wake in self._wakeups.values():
                wake.set()

    # -- running ----------------------------------------------------------------------

    def run(self, rotation_id: str) -> Rotation:
        """Run (or resume) a rotation to its end, unless another live runner holds it."""
        lease = self.settings.rotation_lease_seconds
        claim = rotation_steps.take(self.store, rotation_id, self.owner, lease)
        if not claim.taken:
            return claim.before
        # Every line logged while it runs names it: here, in its lease's thread, in a driver.
        with log_context.rotation(rotation_id, claim.before.secret_name):
            return self._run_as_runner(rotation_id, claim.before)

    def _run_as_runner(self, rotation_id: str, before: Rotation) -> Rotation:
        if before.lease_owner is not None and before.lease_owner != self.owner:
            message = (
                f"resumed by node {self.store.node} at task {before.step_index + 1}; "
                f"node {before.node or before.lease_owner} had stopped running it"
            )
            log.warning("rotation %s of %s %s", rotation_id, before.secret_name, message)
            rotations.add_event(self.store, rotation_id, EventKind.RESUMED, None, message)
        wake = threading.Event()
        stop = threading.Event()
        with self._lock:
            self._wakeups[rotation_id] = wake
        heartbeat = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._renew, rotation_id, stop),
            name=f"lease-{rotation_id[:8]}",
            daemon=True,
        )
        heartbeat.start()
        try:
            self._run(before, wake)
        except errors.ServiceUnavailable:
            log.warning("store unavailable while rotating %s; it will be resumed", rotation_id)
            return before  # what is known; the store cannot say more now
        finally:
            stop.set()
            heartbeat.join()
            with self._lock:
                self._wakeups.pop(rotation_id, None)
        return rotations.get_rotation(self.store, rotation_id)

    def _renew(self, rotation_id: str, stop: threading.Event) -> None:
        interval = max(self.settings.rotation_lease_seconds / 3, 0.05)
        while not stop.wait(interval):
            try:
                if not rotation_steps.claim(
                    self.store, rotation_id, self.owner, self.settings.rotation_lease_seconds
                ):
                    return
            except errors.RotorError:
                log.warning("could not renew the lease of rotation %s", rotation_id)

    def _run(self, rotation: Rotation, wake: threading.Event) -> None:
        """Run the rotation (as read when its lease was taken) from its next step."""
        flow = flows.Flow.from_json(rotation.flow)
        try:
            granted = resolution.delegation_of(self.store, self.settings, rotation, flow)
        except errors.ServiceUnavailable:
            raise  # the store, not the delegation: resumed later
        except errors.RotorError as exc:
            message = f"{exc.code}: {exc.message}"
            rotations.add_event(self.store, rotation.id, EventKind.LOG, None, message)
            self.outcomes.finish(rotation, Status.FAILED, None, message, exc.code)
            return
        access = SecretsAccess(self.store, rotation.secret_name, granted.secrets, Redactor())
        run = _Pass(
            rotation=rotation,
            flow=flow,
            granted=granted,
            access=access,
            wake=wake,
            local=dict(rotation.local),
        )
        if not self._steps(run):
            return
        on = rotation_steps.standing(self.store, rotation.id).stages
        if on.get(stages.CURRENT) != rotation.version_id:
            message = "the flow ended without making the new version Current"
            self.outcomes.finish(rotation, Status.FAILED, None, message, "NotMadeCurrent")
            return
        self.outcomes.finish(rotation, Status.SUCCEEDED, None, None)

    def dry_run(
        self,
        name: str,
        function: str,
        parameters: dict[str, Any],
        flow: flows.Flow,
        granted: Delegation,
    ) -> dry_runs.DryRunReport:
        """Run the flow's new and test tasks into a throwaway Pending version, then discard it.

        ``granted`` was checked by the caller. A function's credentials reach only the
        rotated secret in a dry run, whatever is delegated. A custom function's test is
        not run (it needs its set step): the report says so. A task that fails ends the
        dry run: InvalidParameter, naming the task."""
        rotation = dry_runs.throwaway_rotation(self.store, name, function, parameters, flow)
        access = SecretsAccess(self.store, name, granted.secrets, Redactor())
        run = _Pass(rotation=rotation, flow=flow, granted=granted, access=access, dry_run=True)
        try:
            self._steps(run)
        finally:
            dry_runs.discard(self.store, name, rotation.version_id)
        return dry_runs.DryRunReport(
            ran=tuple(run.ran), skipped=tuple(run.skipped), log=tuple(run.said)
        )

    # -- the step loop ----------------------------------------------------------------

    def _steps(self, run: _Pass) -> bool:
        """Run the flow's tasks from the rotation's next one; False when the rotation
        ended before its last (failed, abandoned, cancelled, no longer ours)."""
        rotation, flow = run.rotation, run.flow
        # A task's success is recorded with the next task's first attempt (one transaction),
        # or alone after the last: a crash between them runs the task again, as a crash
        # before its success was recorded always did.
        done: rotation_steps.Done | None = None
        for index in range(rotation.step_index, len(flow.tasks)):
            task = flow.tasks[index]
            label = f"{task.name} ({task.step})"
            if run.dry_run:
                function_name = self._task_function(task, rotation.function)
                registration = registry.resolve(self.store, function_name)[1]
                left_out = dry_runs.left_out(task, registration)
                if left_out is not None:
                    run.skipped.append(f"{label}: {left_out}")
                    continue
            event = flow.build_event(task, run.payload, run.local)
            if flow.passthrough_payload or (run.dry_run and task.step != "new"):
                event.setdefault("VersionId", rotation.version_id)
            if run.dry_run:
                event["DryRun"] = True
            output = self._attempt(run, index, label, task, event, done)
            done = None
            if output is _Stop.DONE:
                break
            if output is _Stop.ENDED:
                return False  # finished (failed/cancelled/abandoned) or no longer ours
            run.local.update(output)
            if run.dry_run:
                run.ran.append(label)
            else:
                done = rotation_steps.Done(index=index, label=label, local=dict(run.local))
                self.outcomes.step(rotation, task.step, "succeeded")
        if done is not None:
            rotation_steps.step_succeeded(self.store, rotation.id, done)
        return True

    def _attempt(
        self,
        run: _Pass,
        index: int,
        label: str,
        task: flows.Task,
        event: dict[str, Any],
        after: rotation_steps.Done | None,
    ) -> dict[str, Any] | _Stop:
        """Call the task's function until it succeeds; DONE when the stages say the
        rotation is done before an attempt, ENDED when it ended instead. Each attempt starts
        with the check of the stages (:func:`_verdict`), in the transaction that records it.
        ``after``: the task before's success, recorded with the first attempt.
        A dry run calls it once, and raises InvalidParameter if it fails."""
        rotation, access = run.rotation, run.access
        function_name = self._task_function(task, rotation.function)
        if run.dry_run:
            try:
                return self._invoke(run, function_name, event)
            except Exception as exc:  # reported to the caller, redacted
                raise errors.InvalidParameter(
                    f"dry run of rotation failed at {label}: "
                    f"{invocation.failure_message(exc, access)}"
                ) from exc
        while True:
            started = rotation_steps.start_step(
                self.store,
                rotation.id,
                self.owner,
                index,
                lambda standing: _verdict(standing, rotation, task.step).go,
                after=after,
            )
            after = None
            if started is None:
                return _Stop.ENDED
            if started.attempt is None:
                verdict = _verdict(started.standing, rotation, task.step)
                if verdict.end is None:
                    return _Stop.DONE
                self.outcomes.finish(rotation, verdict.end, label, verdict.message, verdict.code)
                return _Stop.ENDED
            attempt = started.attempt
            try:
                return self._invoke(run, function_name, event)
            except Exception as exc:  # every failure is recorded; transient ones retried
                message = invocation.failure_message(exc, access)
                log.info(
                    "rotation %s: %s failed (attempt %d): %s", rotation.id, label, attempt, message
                )
                rotation_steps.step_failed(self.store, rotation.id, index, label, message)
                code = exc.code if isinstance(exc, errors.RotorError) else "FunctionError"
                self.outcomes.step(rotation, task.step, "failed", code)
                if not retryable(exc):
                    message = f"{label} failed (not retried): {message}"
                    self.outcomes.finish(rotation, Status.FAILED, label, message, code)
                    return _Stop.ENDED
                if attempt >= self.settings.rotation_attempts:
                    self.outcomes.finish(
                        rotation, Status.FAILED, label, f"{label} failed: {message}", code
                    )
                    return _Stop.ENDED
            delay = min(
                self.settings.rotation_retry_seconds * 2 ** (attempt - 1),
                self.settings.rotation_retry_max_seconds,
            )
            if run.wake.wait(delay):
                return _Stop.ENDED  # cancelled, or the server is stopping: resumed later

    def _invoke(self, run: _Pass, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
        """One call; what the function logs goes to the history (a dry run: its report)."""

        def record(line: str) -> None:
            if run.dry_run:
                run.said.append(line)
            else:
                rotations.add_event(self.store, run.rotation.id, EventKind.LOG, None, line)

        return self.invoker.invoke(
            function_name,
            event,
            run.rotation,
            run.access,
            run.granted,
            dry_run=run.dry_run,
            log=record,
        )

    def _task_function(self, task: flows.Task, function: str) -> str:
        """The function a task names; the configured one for the placeholder of a flow."""
        return task.resource if registry.is_function(self.store, task.resource) else function
