"""Random passwords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from rotor.access.keys import Identity
from rotor.api.native import schemas
from rotor.store import passwords

router = APIRouter(prefix="/v1", tags=["passwords"])


@router.post("/passwords", summary="Generate a random password")
def generate_password(
    request: Request,
    body: schemas.GeneratePassword,
    _: Annotated[Identity, Depends(schemas.caller)],
) -> JSONResponse:
    schemas.authorize(request, "kms:GetRandomPassword")
    return JSONResponse({"password": passwords.generate_password(**body.model_dump())})
