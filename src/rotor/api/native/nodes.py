"""The nodes serving this store, from the heartbeats each records (:mod:`rotor.store.nodes`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from rotor import errors
from rotor.access.keys import Identity
from rotor.api.native import callers, shapes
from rotor.api.openapi import failures
from rotor.clock import utcnow
from rotor.settings import Settings
from rotor.store import nodes
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["nodes"])
Caller = Annotated[Identity, Depends(callers.caller)]

NODES_RESOURCE = "rotor:nodes"


@router.get(
    "/nodes",
    summary="List the nodes serving this store (live ones, or all heard from in a day)",
    responses=failures(errors.AccessDenied),
)
def list_nodes(request: Request, _: Caller, all: bool = False) -> JSONResponse:
    callers.authorize(request, "rotor:ListNodes", resource=NODES_RESOURCE)
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    now = utcnow()
    found = []
    for node in nodes.list_nodes(store):
        live = node.live(now, settings.heartbeat_seconds)
        if live or all:
            found.append(
                {
                    "node": node.node,
                    "instance": node.instance,
                    "version": node.version,
                    "url": node.url,
                    "started_at": shapes.timestamp(node.started_at),
                    "last_heartbeat_at": shapes.timestamp(node.heartbeat_at),
                    "stopped_at": shapes.timestamp(node.stopped_at),
                    "live": live,
                    "this_node": node.instance == request.app.state.instance,
                }
            )
    return JSONResponse({"nodes": found})
