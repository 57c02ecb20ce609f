"""Nodes as rows: each server process records itself when it starts and a heartbeat
every ``heartbeat_seconds``, so any node can tell which nodes are alive.

A node is listed by its id (``ROTOR_NODE_ID``, default host:pid); the row is keyed by
its *instance* (the id plus a random part), which is also the owner its rotation leases
name, so two processes given the same id never pass for one. A clean stop records
``stopped_at``; a node that died just falls silent. Rows of nodes stopped or silent for
longer than :data:`KEPT` are pruned by the heartbeats of the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from rotor.clock import utcnow
from rotor.store import tables as t
from rotor.store.database import Store

#: How long a stopped or silent node stays listed (``rotor node list --all``).
KEPT = dt.timedelta(days=1)
#: A node is live while its last heartbeat is younger than this many heartbeat periods.
LIVE_PERIODS = 3


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    instance: str
    node: str
    version: str
    url: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None

    def live(self, now: dt.datetime, heartbeat_seconds: float) -> bool:
        silent = now - self.heartbeat_at
        return self.stopped_at is None and silent < dt.timedelta(
            seconds=heartbeat_seconds * LIVE_PERIODS
        )


def register(store: Store, instance: str, *, version: str, url: str) -> None:
    """Record this process as a node that has just started."""
    now = utcnow()
    with store.write() as conn:
        conn.execute(
            t.nodes.insert().values(
                instance=instance,
                node=store.node,
                version=version,
                url=url,
                started_at=now,
                heartbeat_at=now,
                stopped_at=None,
            )
        )


def heartbeat(store: Store, instance: str) -> None:
    """Record that this node is alive, and forget nodes gone for longer than :data:`KEPT`."""
    now = utcnow()
    with store.write() as conn:
        conn.execute(
            t.nodes.update().where(t.nodes.c.instance == instance).values(heartbeat_at=now)
        )
        conn.execute(t.nodes.delete().where(t.nodes.c.heartbeat_at < now - KEPT))


def stopped(store: Store, instance: str) -> None:
    """Record a clean stop."""
    now = utcnow()
    with store.write() as conn:
        conn.execute(
            t.nodes.update()
            .where(t.nodes.c.instance == instance)
            .values(heartbeat_at=now, stopped_at=now)
        )


def list_nodes(store: Store) -> list[Node]:
    """Every node heard from within :data:`KEPT`, the most recently started first."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.nodes).order_by(t.nodes.c.started_at.desc(), t.nodes.c.instance)
        ).all()
    return [Node(**row._mapping) for row in rows]
