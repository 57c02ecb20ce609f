"""An :class:`InvocationContext` built by hand around a real SQLite store."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from rotor.access.delegation import referenced_secrets
from rotor.rotation.functions.base import (
    Credentials,
    InvocationContext,
    Redactor,
    SecretsAccess,
)
from rotor.settings import Settings
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction

CREDENTIALS = Credentials(
    access_key_id="RTKFUNCTIONTEST0001",
    access_key_secret="minted-secret-7f3a9c2e",
    security_token="minted-token-5b1d",
)
API_URL = "http://127.0.0.1:8943"


@dataclasses.dataclass(kw_only=True)
class Harness:
    """A context and what the function did with it."""

    context: InvocationContext
    redactor: Redactor
    lines: list[str]
    minted: list[Credentials]


MakeContext = Callable[..., Harness]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(Settings.load({"data_dir": tmp_path / "data"}, environ={}))
    yield opened
    opened.close()


@pytest.fixture
def make_context(store: Store) -> MakeContext:
    def make(
        secret_name: str = "app/db",
        parameters: Mapping[str, Any] | None = None,
        *,
        timeout_seconds: float = 30.0,
        request_id: str = "version-0001",
        function: RegisteredFunction | None = None,
    ) -> Harness:
        redactor = Redactor()
        lines: list[str] = []
        minted: list[Credentials] = []

        def mint() -> Credentials:
            minted.append(CREDENTIALS)
            return CREDENTIALS

        context = InvocationContext(
            request_id=request_id,
            rotation_id="rotation-0001",
            dry_run=False,
            parameters=parameters or {},
            expected_current=None,
            secrets=SecretsAccess(
                store, secret_name, frozenset(referenced_secrets(parameters or {})), redactor
            ),
            log=lines.append,
            mint_credentials=mint,
            api_url=API_URL,
            timeout_seconds=timeout_seconds,
            function=function,
        )
        return Harness(context=context, redactor=redactor, lines=lines, minted=minted)

    return make


def registration(kind: str, **definition: Any) -> RegisteredFunction:
    """A registered function as an administrator would have stored it."""
    now = dt.datetime.now(dt.UTC)
    return RegisteredFunction(
        name="test-function",
        kind=kind,
        definition=definition,
        roles=(),
        secrets=(),
        description="",
        registered_by="admin",
        created_at=now,
        updated_at=now,
    )
