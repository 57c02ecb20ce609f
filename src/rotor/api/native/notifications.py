"""Notification subscriptions and their deliveries (:mod:`rotor.store.notifications`;
sent by :mod:`rotor.notifications.sender`).

Creating one is administrative (``rotor:CreateNotification`` on ``rotor:notifications``),
and its creator must also be allowed ``rotor:ListEvents`` on every secret its prefix
covers (``…:secret/PREFIX*``; on ``rotor:events`` too when there is no prefix, for the
events of no secret): a subscription is a way to read events, so it reaches no further
than its creator could read them; and the list of deliveries shows each (with its
event) only to a caller allowed ``rotor:ListEvents`` on that event's secret, as
``GET /v1/events`` would. Its URL must be a target rotor may deliver to
(:mod:`rotor.notifications.targets`). The signing secret is in the creation's answer
only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from rotor import errors
from rotor.access.keys import Identity
from rotor.api.native import callers, shapes
from rotor.api.native import events as event_routes
from rotor.api.native.request_bodies import Body
from rotor.api.openapi import BODY_FAILURES, failures
from rotor.notifications import targets
from rotor.notifications.sender import event_json
from rotor.settings import Settings
from rotor.store import events, notifications
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["notifications"])
Caller = Annotated[Identity, Depends(callers.caller)]

RESOURCE = "rotor:notifications"
EVENTS_RESOURCE = "rotor:events"


class CreateNotification(Body):
    url: str = Field(
        max_length=notifications.MAX_URL,
        description="Where to POST events: https (or a target an administrator allowed).",
    )
    events: list[str] = Field(
        min_length=1, max_length=len(events.TYPES) + 1, description="Event types, or ['*']."
    )
    prefix: str = Field(
        default="",
        max_length=notifications.MAX_PREFIX,
        description="Only events of secrets whose names start with this ('' for all, and "
        "the events of no secret).",
    )
    description: str = Field(default="", max_length=notifications.MAX_DESCRIPTION)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def notification_json(subscription: notifications.Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": list(subscription.events),
        "prefix": subscription.prefix,
        "description": subscription.description,
        "created_by": subscription.created_by,
        "created_at": shapes.timestamp(subscription.created_at),
    }


def delivery_json(delivery: notifications.Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "notification": delivery.subscription_id,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": shapes.timestamp(delivery.next_attempt_at),
        "last_attempt_at": shapes.timestamp(delivery.last_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": shapes.timestamp(delivery.delivered_at),
        "event": event_json(delivery.event),
    }


@router.post(
    "/notifications",
    status_code=201,
    summary="Subscribe a URL to events (the answer holds the signing secret, once)",
    responses=failures(*BODY_FAILURES, errors.AccessDenied, errors.Conflict),
)
def create_notification(request: Request, body: CreateNotification, caller: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:CreateNotification", resource=RESOURCE)
    settings: Settings = request.app.state.settings
    covered = callers.secret_pattern(request, body.prefix + "*")
    if not caller.allows("rotor:ListEvents", covered) or (
        body.prefix == "" and not caller.allows("rotor:ListEvents", EVENTS_RESOURCE)
    ):
        where = covered if body.prefix else f"{covered} and {EVENTS_RESOURCE}"
        raise errors.AccessDenied(
            f"{caller.principal_name} is not allowed to rotor:ListEvents on {where}: a "
            "notification reaches no further than its creator may read events"
        )
    targets.parse(body.url, targets.Allowed.parse(settings.notification_allowed_targets))
    subscription, secret = notifications.create(
        _store(request),
        url=body.url,
        event_types=body.events,
        prefix=body.prefix,
        description=body.description,
        created_by=caller.principal_name,
    )
    return JSONResponse({**notification_json(subscription), "secret": secret}, status_code=201)


@router.get(
    "/notifications",
    summary="List notification subscriptions",
    responses=failures(errors.AccessDenied),
)
def list_notifications(request: Request, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:ListNotifications", resource=RESOURCE)
    found = notifications.list_all(_store(request))
    return JSONResponse({"notifications": [notification_json(s) for s in found]})


@router.get(
    "/notifications/{notification_id}",
    summary="Show a notification subscription",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def get_notification(request: Request, notification_id: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:ListNotifications", resource=RESOURCE)
    return JSONResponse(notification_json(notifications.get(_store(request), notification_id)))


@router.delete(
    "/notifications/{notification_id}",
    summary="Delete a notification subscription and its deliveries",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def delete_notification(request: Request, notification_id: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:DeleteNotification", resource=RESOURCE)
    store = _store(request)
    subscription = notifications.get(store, notification_id)
    notifications.delete(store, notification_id)
    return JSONResponse(notification_json(subscription))


@router.post(
    "/notifications/{notification_id}:retry",
    summary="Make every failed delivery of a subscription due again",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def retry_notification(request: Request, notification_id: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:RetryNotifications", resource=RESOURCE)
    store = _store(request)
    notifications.get(store, notification_id)
    count = notifications.retry(store, subscription_id=notification_id)
    return JSONResponse({"retried": count})


@router.get(
    "/deliveries",
    summary="List notification deliveries, newest event first (state=failed: what needs a retry)",
    responses=failures(errors.AccessDenied),
)
def list_deliveries(
    request: Request,
    _: Caller,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
    notification: str | None = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    page_token: str | None = None,
) -> JSONResponse:
    callers.authorize(request, "rotor:ListNotifications", resource=RESOURCE)
    page = notifications.list_deliveries(
        _store(request),
        state=state,
        subscription_id=notification,
        page_size=page_size,
        page_token=page_token,
    )
    # A delivery shows its event: only to a caller who may see that event itself.
    return JSONResponse(
        {
            "deliveries": [
                delivery_json(d) for d in page.items if event_routes.visible(request, d.event)
            ],
            "next_page_token": page.next_page_token,
        }
    )


@router.post(
    "/deliveries/{delivery_id}:retry",
    summary="Make a failed delivery due again, with a fresh count of attempts",
    responses=failures(errors.AccessDenied, errors.NotFound, errors.Conflict),
)
def retry_delivery(request: Request, delivery_id: int, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:RetryNotifications", resource=RESOURCE)
    count = notifications.retry(_store(request), delivery_id=delivery_id)
    return JSONResponse({"retried": count})
