"""Access keys: generating them, checking a bearer credential, and the first admin key.

A bearer credential is ``<access_key_id>.<access_key_secret>``. Verified keys are
cached for ``credential_cache_seconds`` so the read path does not decrypt the key
on every request; the comparison is constant-time whether the key id exists or not.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hmac
import json
import logging
import secrets
import threading
import time
from pathlib import Path

from rotor import errors
from rotor.store import principals
from rotor.store.database import Store, utcnow
from rotor.store.master_key import write_private_file

log = logging.getLogger(__name__)

ADMIN = "admin"
CREDENTIALS_FILE = "admin-credentials.json"
_CACHE_LIMIT = 10_000
_DUMMY_SECRET = secrets.token_urlsafe(30)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    """Who made a request."""

    principal_id: str
    principal_name: str
    access_key_id: str


def new_key_id() -> str:
    return "RK" + base64.b32encode(secrets.token_bytes(15)).decode()[:22]


def new_key_secret() -> str:
    return secrets.token_urlsafe(30)


def create_access_key(
    store: Store, principal: principals.Principal, *, expires_in_seconds: float | None = None
) -> tuple[str, str]:
    """A new key for ``principal``: (id, secret). The secret is shown once."""
    key_id, secret = new_key_id(), new_key_secret()
    expires_at = None
    if expires_in_seconds is not None:
        expires_at = utcnow() + dt.timedelta(seconds=expires_in_seconds)
    principals.insert_access_key(store, principal, key_id, secret, expires_at=expires_at)
    return key_id, secret


def bootstrap_admin(store: Store, data_dir: Path) -> Path | None:
    """On first start, create the admin principal and key and write them 0600 to the data dir.

    Returns the credentials file when it was written now, else None.
    """
    if principals.get_principal(store, ADMIN) is not None:
        return None
    try:
        admin = principals.create_principal(store, ADMIN)
    except errors.Conflict:
        return None  # another process bootstrapped at the same moment
    key_id, secret = create_access_key(store, admin)
    path = data_dir / CREDENTIALS_FILE
    write_private_file(
        path, json.dumps({"access_key_id": key_id, "access_key_secret": secret}, indent=2) + "\n"
    )
    return path


class Authenticator:
    """Turns a request's credential into an :class:`Identity`, or raises Unauthenticated."""

    def __init__(self, store: Store, cache_seconds: float) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, principals.AccessKey]] = {}
        self._lock = threading.Lock()

    def _key(self, key_id: str) -> principals.AccessKey | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        key = principals.load_access_key(self.store, key_id)
        if key is not None:
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key_id] = (now + self.cache_seconds, key)
        return key

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    def authenticate_bearer(self, authorization: str | None) -> Identity:
        if not authorization or not authorization.startswith("Bearer "):
            raise errors.Unauthenticated()
        key_id, _, secret = authorization[7:].strip().partition(".")
        if not key_id or not secret or len(key_id) > 64:
            raise errors.Unauthenticated()
        key = self._key(key_id)
        expected = key.secret if key is not None else _DUMMY_SECRET
        matches = hmac.compare_digest(secret.encode(), expected.encode())
        if key is None or not matches or key.status != principals.ACTIVE:
            raise errors.Unauthenticated()
        if key.expires_at is not None and key.expires_at <= utcnow():
            raise errors.Unauthenticated()
        return Identity(
            principal_id=key.principal.id,
            principal_name=key.principal.name,
            access_key_id=key.id,
        )
