"""The sender: every server process runs one, delivering the outbox
(:mod:`rotor.store.notifications`) as HTTP POSTs signed the Standard Webhooks way.

A delivery is claimed with a lease, so of all the processes of all the nodes one posts
it; a receiver that answers 2xx has it. Anything else (no answer within the timeout, a
refused connection, a 3xx, which is never followed, a 4xx or 5xx) is retried with a
doubling back-off until the last attempt, after which the delivery is listed as failed
until someone retries it. A process that dies while posting leaves its lease to run
out; the delivery is then posted again by whichever sender claims it. So a receiver
gets each event at least once, and more than once only after such a crash: the
``webhook-id`` header (the event's id) is the same on every attempt, for it to drop a
repeat.

The body is the event as the events API shows it: ids, names, stages, a step and an
error code, never a value. Headers (Standard Webhooks): ``webhook-id``,
``webhook-timestamp`` (seconds) and ``webhook-signature`` (``v1,`` + base64 of the
HMAC-SHA256 of ``id.timestamp.body`` under the subscription's secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import ssl
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from rotor import errors, metrics
from rotor.clock import utcnow
from rotor.notifications import targets
from rotor.settings import Settings
from rotor.store import events, notifications
from rotor.store.database import Store

log = logging.getLogger(__name__)

#: How often an idle sender looks for due deliveries.
POLL_SECONDS = 0.5
#: How long a claim lasts beyond the delivery's own timeout.
LEASE_MARGIN_SECONDS = 30.0
USER_AGENT = "rotor-notifications"


def body_of(event: events.Event) -> bytes:
    """The JSON a delivery posts (the same object the events API lists)."""
    return json.dumps(event_json(event), separators=(",", ":")).encode()


def event_json(event: events.Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "seq": event.seq,
        "type": event.type,
        "timestamp": events.iso(event.at),
        "node": event.node,
        "data": event.data,
    }


def signed_headers(secret: bytes, event_id: str, at: dt.datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (its own timestamp)."""
    signature = Webhook(secret).sign(event_id, at, body.decode())
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


class Sender:
    """Delivers due notifications for one process (``owner``, its lease name)."""

    def __init__(self, store: Store, settings: Settings, owner: str) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.allowed = targets.Allowed.parse(settings.notification_allowed_targets)
        context = ssl.create_default_context(cafile=settings.notification_ca_file or None)
        self._client = httpx.AsyncClient(
            verify=context,
            follow_redirects=False,
            trust_env=False,
            timeout=settings.notification_timeout_seconds,
            headers={"user-agent": USER_AGENT},
        )

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    sent = await self.deliver_due()
                except errors.ServiceUnavailable:
                    log.warning("could not read the notification outbox: the store is unavailable")
                    sent = 0
                except Exception:
                    log.exception("notification sender failed; will try again")
                    sent = 0
                if not sent:
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def deliver_due(self) -> int:
        """Claim what is due and post it; returns how many were attempted."""
        lease = self.settings.notification_timeout_seconds + LEASE_MARGIN_SECONDS
        claimed = await asyncio.to_thread(notifications.claim_due, self.store, self.owner, lease)
        if claimed:
            await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _deliver(self, claimed: notifications.Claimed) -> None:
        delivery = claimed.delivery
        status, error = await self._post(claimed)
        attempts = delivery.attempts + 1
        retry_at = None
        if error is not None and attempts < self.settings.notification_attempts:
            delay = min(
                self.settings.notification_retry_seconds * 2 ** (attempts - 1),
                self.settings.notification_retry_max_seconds,
            )
            retry_at = utcnow() + dt.timedelta(seconds=delay)
        settled = await asyncio.to_thread(
            notifications.settle,
            self.store,
            delivery.id,
            self.owner,
            status=status,
            error=error,
            retry_at=retry_at,
        )
        if not settled:
            return
        where = f"delivery {delivery.id} of {delivery.event.type} {delivery.event.id}"
        if error is None:
            metrics.NOTIFICATIONS.labels("delivered").inc()
        elif retry_at is not None:
            metrics.NOTIFICATIONS.labels("retried").inc()
            log.warning(
                "%s to notification %s failed (attempt %d): %s; retried at %s",
                where,
                delivery.subscription_id,
                attempts,
                error,
                events.iso(retry_at),
            )
        else:
            metrics.NOTIFICATIONS.labels("failed").inc()
            log.error(
                "%s to notification %s failed after %d attempts: %s",
                where,
                delivery.subscription_id,
                attempts,
                error,
            )

    async def _post(self, claimed: notifications.Claimed) -> tuple[int | None, str | None]:
        """(HTTP status, None) when delivered, else (status or None, why not)."""
        event = claimed.delivery.event
        try:
            target = targets.parse(claimed.url, self.allowed)
            address = await asyncio.to_thread(targets.resolve, target, self.allowed)
        except errors.InvalidParameter as exc:
            return None, exc.message
        body = body_of(event)
        headers = signed_headers(claimed.signing_secret, event.id, utcnow(), body)
        headers["content-type"] = "application/json"
        default_port = 443 if target.scheme == "https" else 80
        headers["host"] = (
            target.host if target.port == default_port else f"{target.host}:{target.port}"
        )
        literal = f"[{address}]" if ":" in address else address
        url = f"{target.scheme}://{literal}:{target.port}{target.target}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            response = await self._client.post(
                url, content=body, headers=headers, extensions=extensions
            )
        except httpx.TimeoutException:
            return None, "no answer within the timeout"
        except httpx.HTTPError as exc:
            return None, f"could not connect: {str(exc)[:200] or type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        if 300 <= response.status_code < 400:
            return response.status_code, f"HTTP {response.status_code}: redirects are not followed"
        return response.status_code, f"HTTP {response.status_code}"
