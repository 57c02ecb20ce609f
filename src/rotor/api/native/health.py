"""Liveness and readiness; the only routes that need no credentials (they reveal nothing)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rotor import errors
from rotor.api.openapi import failures

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="The store answers",
    responses=failures(errors.InternalError, errors.ServiceUnavailable, v1=False),
)
def readyz(request: Request) -> JSONResponse:
    request.app.state.store.ping()
    return JSONResponse({"status": "ready"})
