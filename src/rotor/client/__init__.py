"""The application-side client of rotor's native API.

    from rotor.client import Client

    with Client() as rotor:  # ROTOR_URL + ROTOR_ACCESS_KEY_ID/_SECRET, or ROTOR_DATA_DIR
        password = rotor.get_value("app/db").value

This package never imports the server's dependencies (the store, the API,
SQLAlchemy or FastAPI); errors are the :mod:`rotor.errors` classes.
"""

from __future__ import annotations

from rotor.client._access_models import (
    AUDIT_OUTCOMES,
    AccessKey,
    Attachments,
    AuditEvent,
    CallerIdentity,
    NewAccessKey,
    Node,
    Policy,
    PolicyInfo,
    Principal,
    RegisteredFunction,
    SessionCredentials,
)
from rotor.client._connection import DEFAULT_TIMEOUT, ClientConfig, Credentials, resolve_config
from rotor.client._database import DatabaseCredentials
from rotor.client._event_models import Event, EventBatch
from rotor.client._models import (
    ROTATION_STATUSES,
    ConfiguredRotation,
    DryRun,
    Page,
    Rotation,
    RotationConfig,
    RotationEvent,
    RotationStep,
    SecretInfo,
    SecretStages,
    SecretValue,
    VersionInfo,
)
from rotor.client._notification_models import (
    DELIVERY_STATES,
    Delivery,
    NewNotification,
    Notification,
)
from rotor.client._operations_secrets import PasswordOptions
from rotor.client._retries import DEFAULT_RETRY, Retry
from rotor.client._status_models import RotationStatus, SecretRotationStatus
from rotor.client.cache import SecretCache
from rotor.client.client import AsyncClient, Client

__all__ = [
    "AUDIT_OUTCOMES",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "DELIVERY_STATES",
    "ROTATION_STATUSES",
    "AccessKey",
    "AsyncClient",
    "Attachments",
    "AuditEvent",
    "CallerIdentity",
    "Client",
    "ClientConfig",
    "ConfiguredRotation",
    "Credentials",
    "DatabaseCredentials",
    "Delivery",
    "DryRun",
    "Event",
    "EventBatch",
    "NewAccessKey",
    "NewNotification",
    "Node",
    "Notification",
    "Page",
    "PasswordOptions",
    "Policy",
    "PolicyInfo",
    "Principal",
    "RegisteredFunction",
    "Retry",
    "Rotation",
    "RotationConfig",
    "RotationEvent",
    "RotationStatus",
    "RotationStep",
    "SecretCache",
    "SecretInfo",
    "SecretRotationStatus",
    "SecretStages",
    "SecretValue",
    "SessionCredentials",
    "VersionInfo",
    "resolve_config",
]
