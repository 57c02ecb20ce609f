"""One call of a rotation function: the context it gets, the credentials lent to it for
the call, where what it logs goes, and how its failure reads.

The engine (:mod:`rotor.rotation.engine`) decides which function runs when; an
:class:`Invoker` only makes the call. A custom function's short-lived credentials
(:mod:`rotor.rotation.function_credentials`) are minted when it asks for them and
deleted when the call returns. Everything a function says or fails with is redacted
(the values it read are replaced) and cut to :data:`MAX_MESSAGE` characters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rotor import errors
from rotor.access.delegation import Delegation
from rotor.rotation import function_credentials
from rotor.rotation import functions as registry
from rotor.rotation.functions.base import Credentials, InvocationContext, SecretsAccess
from rotor.settings import Settings
from rotor.store import principals
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction
from rotor.store.rotations import Rotation

#: The longest log line or failure message kept of a function.
MAX_MESSAGE = 2000


def failure_message(exc: Exception, access: SecretsAccess) -> str:
    """What a failed call says, redacted: ``<code>: <message>``."""
    if isinstance(exc, errors.RotorError):
        text = f"{exc.code}: {exc.message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return access.redact(text)[:MAX_MESSAGE]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Invoker:
    """Calls the rotation functions of one store."""

    store: Store
    settings: Settings
    #: Where a custom function reaches rotor's API.
    api_url: str

    def invoke(
        self,
        function_name: str,
        event: dict[str, Any],
        rotation: Rotation,
        access: SecretsAccess,
        granted: Delegation,
        *,
        dry_run: bool,
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        """Call ``function_name`` once with ``event``; its result (an object, or None for
        an empty one). What it logs reaches ``log`` redacted. In a dry run its credentials
        reach only the rotated secret, whatever is delegated."""
        function, registration = registry.resolve(self.store, function_name)
        minted: list[str] = []

        def mint() -> Credentials:
            credentials = function_credentials.mint(
                self.store,
                self.settings,
                rotation,
                function_name,
                granted,
                reach=frozenset() if dry_run else access.delegated,
            )
            minted.append(credentials.access_key_id)
            return credentials

        def record(line: str) -> None:
            log(access.redact(line)[:MAX_MESSAGE])

        context = self._context(
            rotation, access, registration, dry_run=dry_run, log=record, mint=mint
        )
        try:
            result = function.invoke(dict(event), context)
        finally:
            if minted:
                principals.delete_access_keys(self.store, minted)
        if result is not None and not isinstance(result, dict):
            raise errors.InvalidParameter("a rotation function must return an object or None")
        return dict(result or {})

    def _context(
        self,
        rotation: Rotation,
        access: SecretsAccess,
        registration: RegisteredFunction | None,
        *,
        dry_run: bool,
        log: Callable[[str], None],
        mint: Callable[[], Credentials],
    ) -> InvocationContext:
        return InvocationContext(
            request_id=rotation.version_id,
            rotation_id=rotation.id,
            dry_run=dry_run,
            parameters=(
                rotation.parameters
                if self.settings.allow_plaintext_fallback
                else {**rotation.parameters, "AllowPlaintextFallback": False}
            ),
            expected_current=rotation.base_version_id,
            secrets=access,
            log=log,
            mint_credentials=mint,
            api_url=self.api_url,
            timeout_seconds=self.settings.rotation_function_timeout_seconds,
            function=registration,
            region=self.settings.region,
            account_id=self.settings.account_id,
        )
