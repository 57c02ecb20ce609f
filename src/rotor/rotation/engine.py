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

Before every step the engine re-reads the stages:
- the rotation's version is already Current: the rotation is done, nothing runs;
- Current moved to another version (a value written out of band): abandoned;
- the version exists but is neither Current nor Pending: failed, nothing runs.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from rotor import errors
from rotor.access import delegation
from rotor.access.audit import AuditLog
from rotor.access.delegation import Delegation
from rotor.clock import utcnow
from rotor.rotation import flows, function_credentials, schedules
from rotor.rotation import functions as registry
from rotor.rotation.functions.base import (
    Credentials,
    InvocationContext,
    Redactor,
    SecretsAccess,
)
from rotor.settings import Settings
from rotor.store import (
    principals,
    rotation_configs,
    rotation_steps,
    rotations,
    secrets,
    stages,
    versions,
)
from rotor.store.audit import AuditEvent
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction
from rotor.store.rotations import EventKind, Rotation, Status

log = logging.getLogger(__name__)

MAX_MESSAGE = 2000


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Verdict:
    """What the stages say before a step."""

    done: bool = False
    abandoned: bool = False
    problem: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class DryRunReport:
    """What a dry run checked, and what it could not check."""

    #: The tasks that ran, ``RotateSecretNew (new)``.
    ran: tuple[str, ...]
    #: The tasks that did not run, each with why.
    skipped: tuple[str, ...]
    #: What the functions reported while they ran (redacted).
    log: tuple[str, ...]


#: Why a dry run leaves each kind of task out.
_NOT_DRY_RUN = {
    "set": "changes the target system; not run in a dry run",
    "end": "moves Current; not run in a dry run",
}
_CUSTOM_TEST = (
    "a custom function's test logs in with what its set step makes, which a dry run does "
    "not run; rotate once to test it"
)


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


def schedule_of(config: rotation_configs.RotationConfig) -> schedules.Schedule | None:
    """The stored schedule (validated when it was configured, so not against today's minimum)."""
    if config.interval_seconds is None and config.cron is None:
        return None
    return schedules.Schedule(
        interval_seconds=config.interval_seconds,
        cron=config.cron,
        window_seconds=config.window_seconds,
    )


def flow_of(
    function: str, flow_json: str | None, registration: RegisteredFunction | None = None
) -> flows.Flow:
    """The configured flow, else the registered function's own, else new/set/test/end."""
    flow_json = flow_json or (registration.definition.get("flow") if registration else None)
    return flows.Flow.from_json(flow_json) if flow_json else flows.default_flow(function)


def functions_of(store: Store, function: str, flow: flows.Flow) -> list[RegisteredFunction]:
    """The registered functions a rotation runs: its function and its flow's tasks'."""
    names = dict.fromkeys([function, *(task.resource for task in flow.tasks)])
    found = []
    for name in names:
        if name == function or registry.is_function(store, name):
            _, registration = registry.resolve(store, name)
            if registration is not None:
                found.append(registration)
    return found


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
        self.audit = audit
        self.settings = settings
        self.owner = owner
        self.api_url = api_url or settings.public_url
        self._wakeups: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # -- starting ---------------------------------------------------------------------

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
        flow = flow_of(config.function, config.flow, registration)
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

    # -- cancelling -------------------------------------------------------------------

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
        before = rotations.get_rotation(self.store, rotation_id)
        if not rotation_steps.claim(self.store, rotation_id, self.owner, lease):
            return rotations.get_rotation(self.store, rotation_id)
        if before.lease_owner is not None and before.lease_owner != self.owner:
            message = (
                f"resumed by {self.owner} at task {before.step_index + 1}; "
                f"{before.lease_owner} had stopped running it"
            )
            log.warning("rotation %s of %s %s", rotation_id, before.secret_name, message)
            rotations.add_event(self.store, rotation_id, EventKind.RESUMED, None, message)
        wake = threading.Event()
        stop = threading.Event()
        with self._lock:
            self._wakeups[rotation_id] = wake
        heartbeat = threading.Thread(
            target=self._renew,
            args=(rotation_id, stop),
            name=f"lease-{rotation_id[:8]}",
            daemon=True,
        )
        heartbeat.start()
        try:
            self._run(rotation_id, wake)
        except errors.ServiceUnavailable:
            log.warning("store unavailable while rotating %s; it will be resumed", rotation_id)
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

    def delegation_of(self, rotation: Rotation, flow: flows.Flow) -> Delegation:
        """What the rotation delegates, checked against its configurer's rights now;
        DelegationDenied when they no longer allow it."""
        config = rotation_configs.get_config(self.store, rotation.secret_name)
        granted = delegation.required(
            self.store,
            rotation.secret_name,
            rotation.parameters,
            functions_of(self.store, rotation.function, flow),
        )
        configurer = delegation.principal_identity(
            self.store, config.configured_by if config else None
        )
        recorded = config.delegated_secrets if config else frozenset()
        if recorded is not None:
            added = sorted(granted.secrets - recorded)
            if added:
                # Named by a value someone wrote after the configuration: the configurer
                # never delegated it.
                raise errors.DelegationDenied(
                    f"the secret's value names {added[0]!r}, which was not delegated when the "
                    "rotation was configured; configure the rotation again to delegate it"
                )
        delegation.check(configurer, granted, self.settings)
        if recorded is None:
            rotation_configs.record_delegated_secrets(
                self.store, rotation.secret_name, granted.secrets
            )
        return dataclasses.replace(
            granted, on_behalf_of=configurer.principal_name if configurer else ""
        )

    def _run(self, rotation_id: str, wake: threading.Event) -> None:
        rotation = rotations.get_rotation(self.store, rotation_id)
        flow = flows.Flow.from_json(rotation.flow)
        name = rotation.secret_name
        try:
            granted = self.delegation_of(rotation, flow)
        except errors.ServiceUnavailable:
            raise  # the store, not the delegation: resumed later
        except errors.RotorError as exc:
            message = f"{exc.code}: {exc.message}"
            rotations.add_event(self.store, rotation.id, EventKind.LOG, None, message)
            self._finish(rotation, Status.FAILED, None, message, exc.code)
            return
        redactor = Redactor()
        access = SecretsAccess(self.store, name, granted.secrets, redactor)
        payload: dict[str, Any] = {"SecretName": name, **rotation.parameters}
        local = dict(rotation.local)
        for index in range(rotation.step_index, len(flow.tasks)):
            task = flow.tasks[index]
            label = f"{task.name} ({task.step})"
            verdict = self._check_stages(rotation, task.step)
            if verdict.abandoned:
                self._finish(
                    rotation,
                    Status.ABANDONED,
                    label,
                    "a new value was written while the rotation ran",
                )
                return
            if verdict.problem:
                self._finish(rotation, Status.FAILED, label, verdict.problem, "StagesMoved")
                return
            if verdict.done:
                break
            event = flow.build_event(task, payload, local)
            if flow.passthrough_payload:
                event.setdefault("VersionId", rotation.version_id)
            output = self._attempt(rotation, index, label, task, event, access, granted, wake)
            if output is None:
                return  # finished (failed/cancelled) or no longer ours
            local.update(output)
            rotation_steps.step_succeeded(self.store, rotation.id, index, label, local)
            self._audit(rotation, f"rotor:Rotation{task.step.capitalize()}Step", "succeeded")
        on = secrets.get_secret(self.store, name).stages
        if on.get(stages.CURRENT) != rotation.version_id:
            self._finish(
                rotation,
                Status.FAILED,
                None,
                "the flow ended without making the new version Current",
                "NotMadeCurrent",
            )
            return
        self._finish(rotation, Status.SUCCEEDED, None, None)

    def _attempt(
        self,
        rotation: Rotation,
        index: int,
        label: str,
        task: flows.Task,
        event: dict[str, Any],
        access: SecretsAccess,
        granted: Delegation,
        wake: threading.Event,
    ) -> dict[str, Any] | None:
        """Call the task's function until it succeeds; None when the rotation ended instead."""
        function_name = self._task_function(task, rotation.function)
        while True:
            if not rotation_steps.start_step(self.store, rotation.id, self.owner, index):
                return None
            attempt = rotations.get_rotation(self.store, rotation.id).attempts
            try:
                return self._invoke(function_name, event, rotation, access, granted)
            except Exception as exc:  # every failure is recorded; transient ones retried
                message = self._message(exc, access)
                log.info(
                    "rotation %s: %s failed (attempt %d): %s", rotation.id, label, attempt, message
                )
                rotation_steps.step_failed(self.store, rotation.id, index, label, message)
                code = exc.code if isinstance(exc, errors.RotorError) else "FunctionError"
                self._audit(rotation, f"rotor:Rotation{task.step.capitalize()}Step", "failed", code)
                if not retryable(exc):
                    self._finish(
                        rotation,
                        Status.FAILED,
                        label,
                        f"{label} failed (not retried): {message}",
                        code,
                    )
                    return None
                if attempt >= self.settings.rotation_attempts:
                    self._finish(rotation, Status.FAILED, label, f"{label} failed: {message}", code)
                    return None
            delay = min(
                self.settings.rotation_retry_seconds * 2 ** (attempt - 1),
                self.settings.rotation_retry_max_seconds,
            )
            if wake.wait(delay):
                return None  # cancelled, or the server is stopping: resumed later

    def _task_function(self, task: flows.Task, function: str) -> str:
        """The function a task names; the configured one for the placeholder of a flow."""
        return task.resource if registry.is_function(self.store, task.resource) else function

    def _invoke(
        self,
        function_name: str,
        event: dict[str, Any],
        rotation: Rotation,
        access: SecretsAccess,
        granted: Delegation,
        *,
        dry_run: bool = False,
        said: list[str] | None = None,
    ) -> dict[str, Any]:
        """One call of a function. Credentials minted for it are deleted when it returns.
        In a dry run, what the function logs goes to ``said``."""
        said = [] if said is None else said
        function, registration = registry.resolve(self.store, function_name)
        minted: list[str] = []

        def mint() -> Credentials:
            credentials = function_credentials.mint(
                self.store,
                self.settings,
                rotation,
                function_name,
                granted,
                reach=frozenset() if dry_run else access.delegated,
            )
            minted.append(credentials.access_key_id)
            return credentials

        def record(line: str) -> None:
            if dry_run:
                said.append(access.redact(line)[:MAX_MESSAGE])
            else:
                rotations.add_event(
                    self.store, rotation.id, EventKind.LOG, None, access.redact(line)[:MAX_MESSAGE]
                )

        context = self._context(
            rotation, access, registration, dry_run=dry_run, log=record, mint=mint
        )
        try:
            result = function.invoke(dict(event), context)
        finally:
            if minted:
                principals.delete_access_keys(self.store, minted)
        if result is not None and not isinstance(result, dict):
            raise errors.InvalidParameter("a rotation function must return an object or None")
        return dict(result or {})

    def _context(
        self,
        rotation: Rotation,
        access: SecretsAccess,
        registration: RegisteredFunction | None,
        *,
        dry_run: bool,
        log: Callable[[str], None],
        mint: Callable[[], Credentials],
    ) -> InvocationContext:
        return InvocationContext(
            request_id=rotation.version_id,
            rotation_id=rotation.id,
            dry_run=dry_run,
            parameters=(
                rotation.parameters
                if self.settings.allow_plaintext_fallback
                else {**rotation.parameters, "AllowPlaintextFallback": False}
            ),
            expected_current=rotation.base_version_id,
            secrets=access,
            log=log,
            mint_credentials=mint,
            api_url=self.api_url,
            timeout_seconds=self.settings.rotation_function_timeout_seconds,
            function=registration,
        )

    def _message(self, exc: Exception, access: SecretsAccess) -> str:
        if isinstance(exc, errors.RotorError):
            text = f"{exc.code}: {exc.message}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return access.redact(text)[:MAX_MESSAGE]

    def _check_stages(self, rotation: Rotation, step: str) -> _Verdict:
        on = secrets.get_secret(self.store, rotation.secret_name).stages
        version = rotation.version_id
        current = on.get(stages.CURRENT)
        if current == version:
            return _Verdict(done=True)
        if current != rotation.base_version_id:
            return _Verdict(abandoned=True)
        exists = version in on.values() or versions.exists(
            self.store, rotation.secret_name, version
        )
        if exists and on.get(stages.PENDING) != version:
            return _Verdict(
                problem="the rotation's version is neither Current nor Pending; "
                "the stages were moved by someone else"
            )
        if not exists and step != "new":
            return _Verdict(problem="the Pending version of this rotation does not exist")
        return _Verdict()

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

    def _finish(
        self,
        rotation: Rotation,
        status: Status,
        label: str | None,
        message: str | None,
        code: str | None = None,
    ) -> None:
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
        rotation_steps.finish(
            self.store,
            rotation.id,
            status,
            message=message,
            step_label=label,
            next_rotation_at=next_at,
            owner=self.owner,
        )

    # -- dry run ----------------------------------------------------------------------

    def dry_run(
        self,
        name: str,
        function: str,
        parameters: dict[str, Any],
        flow: flows.Flow,
        granted: Delegation,
    ) -> DryRunReport:
        """Run the flow's new and test tasks into a throwaway Pending version, then discard it.

        ``granted`` was checked by the caller. A function's credentials reach only the
        rotated secret in a dry run, whatever is delegated. A custom function's test is
        not run (it needs its set step): the report says so."""
        version = f"dry-run-{uuid.uuid4()}"
        redactor = Redactor()
        access = SecretsAccess(self.store, name, granted.secrets, redactor)
        fake = Rotation(
            id=f"dry-run-{uuid.uuid4().hex[:8]}",
            secret_name=name,
            version_id=version,
            function=function,
            parameters=parameters,
            flow=flow.to_json(),
            step_index=0,
            status=Status.RUNNING,
            attempts=0,
            local={},
            base_version_id=secrets.get_secret(self.store, name).stages.get(stages.CURRENT),
            started_by="dry-run",
            created_at=utcnow(),
            updated_at=utcnow(),
            finished_at=None,
            error=None,
            lease_owner=None,
            lease_expires_at=None,
        )
        payload: dict[str, Any] = {"SecretName": name, **parameters}
        local: dict[str, Any] = {}
        ran: list[str] = []
        skipped: list[str] = []
        said: list[str] = []
        try:
            for task in flow.tasks:
                label = f"{task.name} ({task.step})"
                function_name = self._task_function(task, function)
                if task.step in _NOT_DRY_RUN:
                    skipped.append(f"{label}: {_NOT_DRY_RUN[task.step]}")
                    continue
                if task.step == "test" and registry.resolve(self.store, function_name)[1]:
                    skipped.append(f"{label}: {_CUSTOM_TEST}")
                    continue
                event = flow.build_event(task, payload, local)
                if flow.passthrough_payload or task.step != "new":
                    event.setdefault("VersionId", version)
                event["DryRun"] = True
                try:
                    result = self._invoke(
                        function_name, event, fake, access, granted, dry_run=True, said=said
                    )
                except Exception as exc:  # reported to the caller, redacted
                    raise errors.InvalidParameter(
                        f"dry run of rotation failed at {task.name} ({task.step}): "
                        f"{self._message(exc, access)}"
                    ) from exc
                local.update(result)
                ran.append(label)
        finally:
            on = secrets.get_secret(self.store, name).stages
            if on.get(stages.PENDING) == version:
                stages.update_stage(self.store, name, stages.PENDING, remove_from_version=version)
            try:
                rotations.discard_version(self.store, name, version)
            except errors.RotorError:
                log.warning("could not discard the dry-run version of %s", name)
        return DryRunReport(ran=tuple(ran), skipped=tuple(skipped), log=tuple(said))
