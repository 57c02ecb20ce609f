"""Access keys: bearer authentication, expiry, and the first admin key."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest

from rotor import errors
from rotor.access import keys
from rotor.store import principals
from rotor.store.database import Store


def test_bearer_credentials_authenticate(store: Store) -> None:
    user = principals.create_principal(store, "alice")
    key_id, secret, _ = keys.create_access_key(store, user)
    identity = keys.Authenticator(store, 5).authenticate_bearer(f"Bearer {key_id}.{secret}")
    assert identity.principal_name == "alice"
    assert identity.access_key_id == key_id


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer nodot",
        "Bearer RKUNKNOWN.secret",
        "bearer {id}.{secret}",
        "Bearer {id}.wrong",
        "Bearer {id}.{secret}x",
        "Bearer .{secret}",
    ],
)
def test_bad_credentials_are_refused_alike(store: Store, header: str | None) -> None:
    user = principals.create_principal(store, "bob")
    key_id, secret, _ = keys.create_access_key(store, user)
    value = header.format(id=key_id, secret=secret) if header else header
    with pytest.raises(errors.Unauthenticated) as caught:
        keys.Authenticator(store, 5).authenticate_bearer(value)
    assert caught.value.message == "Authentication required."


def test_expired_keys_are_refused_and_purged(store: Store) -> None:
    user = principals.create_principal(store, "temp")
    key_id, secret, _ = keys.create_access_key(store, user, expires_in_seconds=-1)
    with pytest.raises(errors.Unauthenticated):
        keys.Authenticator(store, 5).authenticate_bearer(f"Bearer {key_id}.{secret}")
    live_id, live_secret, _ = keys.create_access_key(store, user, expires_in_seconds=3600)
    assert principals.delete_expired_access_keys(store) == 1
    assert principals.load_access_key(store, key_id) is None
    loaded = principals.load_access_key(store, live_id)
    assert loaded is not None
    assert loaded.expires_at is not None
    assert loaded.expires_at > dt.datetime.now(dt.UTC)
    assert loaded.secret == live_secret


def test_bootstrap_writes_admin_credentials_once(store: Store) -> None:
    path = keys.bootstrap_admin(store, store.settings.data_dir)
    assert path is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    creds = json.loads(path.read_text())
    token = f"Bearer {creds['access_key_id']}.{creds['access_key_secret']}"
    assert keys.Authenticator(store, 5).authenticate_bearer(token).principal_name == "admin"
    assert keys.bootstrap_admin(store, store.settings.data_dir) is None
    assert json.loads(path.read_text()) == creds


def test_key_secrets_are_encrypted_at_rest(store: Store) -> None:
    user = principals.create_principal(store, "carol")
    _, secret, _ = keys.create_access_key(store, user)
    import sqlalchemy as sa

    from rotor.store import tables

    with store.read() as conn:
        rows = conn.execute(sa.select(tables.access_keys)).all()
    assert all(secret.encode() not in bytes(r.ciphertext) for r in rows)
