"""What a stored rotation configuration resolves to: its schedule, its flow, the
registered functions it runs, and what it delegates now.

Configuring (:mod:`rotor.rotation.configuration`), starting and running
(:mod:`rotor.rotation.engine`) and scheduling (:mod:`rotor.rotation.scheduler`) read a
configuration through these, so they agree on what it means.
"""

from __future__ import annotations

import dataclasses

from rotor import errors
from rotor.access import delegation
from rotor.access.delegation import Delegation
from rotor.rotation import flows, schedules
from rotor.rotation import functions as registry
from rotor.settings import Settings
from rotor.store import rotation_configs
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction
from rotor.store.rotations import Rotation


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


def delegation_of(
    store: Store, settings: Settings, rotation: Rotation, flow: flows.Flow
) -> Delegation:
    """What the rotation delegates, checked against its configurer's rights now;
    DelegationDenied when they no longer allow it."""
    config = rotation_configs.get_config(store, rotation.secret_name)
    granted = delegation.required(
        store,
        rotation.secret_name,
        rotation.parameters,
        functions_of(store, rotation.function, flow),
        settings=settings,
    )
    configurer = delegation.principal_identity(store, config.configured_by if config else None)
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
    delegation.check(configurer, granted, settings)
    if recorded is None:
        rotation_configs.record_delegated_secrets(store, rotation.secret_name, granted.secrets)
    return dataclasses.replace(
        granted, on_behalf_of=configurer.principal_name if configurer else ""
    )
