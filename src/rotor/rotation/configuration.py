"""Configuring a secret's rotation: function, parameters, schedule, flow; enabling and disabling."""

from __future__ import annotations

import dataclasses
import difflib
import json
from typing import Any

from rotor import errors
from rotor.access import delegation
from rotor.access.keys import Identity
from rotor.clock import utcnow
from rotor.rotation import flows, schedules
from rotor.rotation import functions as registry
from rotor.rotation.dry_runs import DryRunReport
from rotor.rotation.engine import Engine
from rotor.rotation.functions.base import ChecksConfiguration, RotationFunction
from rotor.rotation.resolution import flow_of, functions_of
from rotor.rotation.scheduler import Scheduler
from rotor.store import rotation_configs
from rotor.store.rotation_configs import RotationConfig
from rotor.store.rotations import Rotation

MAX_PARAMETERS_BYTES = 16 * 1024
#: What only a function's registration may say (the code to run, and where).
REGISTRATION_ONLY = ("Handler", "Python", "PythonPath", "Url")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RotationRequest:
    """What a caller asks for; None keeps the configured value (when there is one)."""

    enabled: bool = True
    function: str | None = None
    parameters: dict[str, Any] | None = None
    every: str | None = None
    cron: str | None = None
    window: str | None = None
    flow: str | None = None
    rotate_now: bool = True
    #: Test the function (new, then test, into a throwaway version) when enabling
    #: without rotating now.
    dry_run: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class Configured:
    """What configuring did."""

    config: RotationConfig
    #: The rotation started now, if any.
    rotation: Rotation | None
    #: What the dry run checked and what it could not, when one ran.
    dry_run: DryRunReport | None


def _check_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(parameters, dict) or not all(isinstance(k, str) for k in parameters):
        raise errors.InvalidParameter("parameters must be an object with string keys")
    if len(json.dumps(parameters)) > MAX_PARAMETERS_BYTES:
        raise errors.InvalidParameter(f"parameters must be at most {MAX_PARAMETERS_BYTES} bytes")
    for reserved in ("SecretName", "Step", "VersionId"):
        if reserved in parameters:
            raise errors.InvalidParameter(f"parameter {reserved!r} is set by the engine")
    for only in REGISTRATION_ONLY:
        if only in parameters:
            raise errors.InvalidParameter(
                f"parameter {only!r} is not accepted in a rotation configuration: custom code "
                "is registered by an administrator (rotor function register), and the "
                "configuration names the registered function"
            )
    return parameters


def _current_object(engine: Engine, name: str) -> dict[str, Any] | None:
    """The secret's Current value as a JSON object, or None."""
    current = delegation.current_object(engine.store, name)
    return dict(current) if current else None


def _task_functions(engine: Engine, flow: flows.Flow) -> list[RotationFunction]:
    """The functions a flow's tasks name (its placeholders name the configured one)."""
    return [
        registry.resolve(engine.store, task.resource)[0]
        for task in flow.tasks
        if registry.is_function(engine.store, task.resource)
    ]


def _check_functions(
    engine: Engine, name: str, functions: list[RotationFunction], parameters: dict[str, Any]
) -> None:
    """Every parameter is one some function of the rotation reads, and each function
    accepts the parameters and the secret's Current value. A rotation that runs custom
    code takes any parameter: its handler may read it."""
    checked = [f for f in functions if isinstance(f, ChecksConfiguration)]
    if len(checked) == len(functions):
        known = frozenset().union(*(f.PARAMETERS for f in checked))
        for parameter in sorted(set(parameters) - known):
            hint = difflib.get_close_matches(parameter, sorted(known), n=1)
            raise errors.InvalidParameter(
                f"unknown rotation parameter {parameter!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; this function takes {', '.join(sorted(known)) or 'none'}"
            )
    current = _current_object(engine, name)
    for function in dict.fromkeys(checked):
        function.check_configuration(parameters, current)


def configure(
    engine: Engine,
    name: str,
    request: RotationRequest,
    *,
    identity: Identity,
    started_by: str = "configuration",
    scheduler: Scheduler | None = None,
) -> Configured:
    """Validate and store the rotation configuration; maybe dry-run, maybe rotate at once.

    Whatever the configuration delegates (other secrets, a role, a registered
    function) must be the caller's to give (:mod:`rotor.access.delegation`):
    DelegationDenied otherwise, and nothing is stored. Enabling with ``rotate_now``
    false first runs a dry test of the function (new into a throwaway Pending
    version, then test), so a misconfiguration shows up now rather than at the first
    scheduled rotation. Enabling with ``rotate_now`` starts a rotation through
    ``scheduler`` (:meth:`Scheduler.rotate`), which then runs it; TypeError without one.
    """
    rotating = request.enabled and request.rotate_now
    if rotating and scheduler is None:
        raise TypeError("configuring a rotation that starts now needs the scheduler to run it")
    settings = engine.settings
    existing = rotation_configs.get_config(engine.store, name)
    function = request.function or (existing.function if existing else None)
    if not function:
        raise errors.InvalidParameter("give the rotation function")
    implementation, registration = registry.resolve(engine.store, function)
    parameters = _check_parameters(
        request.parameters
        if request.parameters is not None
        else (existing.parameters if existing else {})
    )
    if request.every is not None or request.cron is not None:
        interval = schedules.parse_duration(request.every) if request.every is not None else None
        cron = request.cron
        window = schedules.parse_duration(request.window) if request.window is not None else None
    elif existing is not None:
        interval, cron = existing.interval_seconds, existing.cron
        window = (
            schedules.parse_duration(request.window)
            if request.window is not None
            else existing.window_seconds
        )
    else:
        interval, cron, window = None, None, None
        if request.window is not None:
            raise errors.InvalidParameter("a window needs a schedule (every or cron)")
    schedule = None
    if interval is not None or cron is not None:
        schedule = schedules.Schedule.create(
            interval=interval,
            cron=cron,
            window=window,
            min_interval_seconds=settings.rotation_min_interval_seconds,
        )
    if request.flow is not None:
        flow_json: str | None = flows.parse_flow(request.flow).to_json() if request.flow else None
    else:
        flow_json = existing.flow if existing else None
    flow = flow_of(function, flow_json, registration)
    granted = delegation.required(
        engine.store,
        name,
        parameters,
        functions_of(engine.store, function, flow),
        settings=settings,
    )
    delegation.check(identity, granted, settings)
    _check_functions(engine, name, [implementation, *_task_functions(engine, flow)], parameters)
    report = None
    if request.enabled and not request.rotate_now and request.dry_run:
        report = engine.dry_run(
            name,
            function,
            parameters,
            flow,
            dataclasses.replace(granted, on_behalf_of=identity.principal_name),
        )
    now = utcnow()
    next_at = None
    if request.enabled and schedule is not None and not request.rotate_now:
        next_at = schedules.next_due(
            schedule,
            last_rotated_at=existing.last_rotated_at if existing else None,
            last_changed_at=rotation_configs.current_version_created_at(engine.store, name),
            enabled_at=now,
            now=now,
        )
    config = rotation_configs.put_config(
        engine.store,
        name,
        enabled=request.enabled,
        function=function,
        parameters=parameters,
        interval_seconds=interval,
        cron=cron,
        window_seconds=window,
        flow=flow_json,
        next_rotation_at=next_at,
        configured_by=identity.principal_id,
        delegated_secrets=granted.secrets,
    )
    rotation = None
    if rotating:
        assert scheduler is not None
        rotation, _ = scheduler.rotate(name, started_by=started_by)
    return Configured(config=config, rotation=rotation, dry_run=report)


def disable(engine: Engine, name: str) -> RotationConfig:
    existing = rotation_configs.get_config(engine.store, name)
    if existing is None:
        raise errors.NotFound(f"rotation of secret {name!r} is not configured")
    return rotation_configs.put_config(
        engine.store,
        name,
        enabled=False,
        function=existing.function,
        parameters=existing.parameters,
        interval_seconds=existing.interval_seconds,
        cron=existing.cron,
        window_seconds=existing.window_seconds,
        flow=existing.flow,
        next_rotation_at=None,
        configured_by=existing.configured_by,
        delegated_secrets=existing.delegated_secrets,
    )


def describe(engine: Engine, name: str) -> RotationConfig:
    config = rotation_configs.get_config(engine.store, name)
    if config is None:
        raise errors.NotFound(f"rotation of secret {name!r} is not configured")
    return config
