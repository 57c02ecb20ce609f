"""Random passwords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from rotor import errors
from rotor.access.keys import Identity
from rotor.api.native import callers, request_bodies
from rotor.api.openapi import BODY_FAILURES, failures
from rotor.store import passwords

router = APIRouter(prefix="/v1", tags=["passwords"])


@router.post(
    "/passwords",
    summary="Generate a random password",
    responses=failures(*BODY_FAILURES, errors.AccessDenied),
)
def generate_password(
    request: Request,
    body: request_bodies.GeneratePassword,
    _: Annotated[Identity, Depends(callers.caller)],
) -> JSONResponse:
    callers.authorize(request, "kms:GetRandomPassword")
    return JSONResponse({"password": passwords.generate_password(**body.model_dump())})
