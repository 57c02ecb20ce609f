"""The Authenticator's caches: an unknown key id costs what a wrong secret costs.

A key id is remembered as unknown for ``credential_cache_seconds``, in a bounded cache
of its own. The tests put a key in the store behind the Authenticator's back, under an
id it already refused, to see what it remembers.
"""

from __future__ import annotations

import time

import pytest

from rotor import errors
from rotor.access import keys
from rotor.store import principals, tables
from rotor.store.database import Store


def bearer(key_id: str, secret: str) -> str:
    return f"Bearer {key_id}.{secret}"


def refused(authenticator: keys.Authenticator, key_id: str, secret: str) -> bool:
    try:
        authenticator.authenticate_bearer(bearer(key_id, secret))
    except errors.Unauthenticated:
        return True
    return False


def refused_then_stored(store: Store, authenticator: keys.Authenticator) -> tuple[str, str]:
    """A key id the authenticator refused, then stored behind its back: (id, secret)."""
    user = principals.create_principal(store, "stored-behind-its-back")
    key_id, secret = keys.new_key_id(), keys.new_key_secret()
    assert refused(authenticator, key_id, secret)
    principals.insert_access_key(store, user, key_id, secret)
    return key_id, secret


def test_an_unknown_id_is_remembered_until_forgotten(store: Store) -> None:
    authenticator = keys.Authenticator(store, 60)
    key_id, secret = refused_then_stored(store, authenticator)
    assert refused(authenticator, key_id, secret)  # answered from memory, not the store
    assert authenticator.key_secret(key_id) is None  # the signed schemes' look-up too
    authenticator.forget(key_id)
    assert not refused(authenticator, key_id, secret)


def test_forgetting_everything_forgets_unknown_ids(store: Store) -> None:
    authenticator = keys.Authenticator(store, 60)
    key_id, secret = refused_then_stored(store, authenticator)
    authenticator.forget()
    assert not refused(authenticator, key_id, secret)


def test_an_unknown_id_is_remembered_as_long_as_a_key(store: Store) -> None:
    authenticator = keys.Authenticator(store, 0.2)
    key_id, secret = refused_then_stored(store, authenticator)
    time.sleep(0.3)
    assert not refused(authenticator, key_id, secret)


def test_a_new_key_works_at_once(store: Store) -> None:
    """Unknown ids sent before do not hide a key made afterwards (its id is new)."""
    user = principals.create_principal(store, "cache-d")
    authenticator = keys.Authenticator(store, 60)
    for _ in range(100):
        assert refused(authenticator, keys.new_key_id(), keys.new_key_secret())
    key_id, secret, _ = keys.create_access_key(store, user)
    assert not refused(authenticator, key_id, secret)


def test_made_up_ids_neither_push_out_real_keys_nor_pile_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "CACHE_LIMIT", 50)
    user = principals.create_principal(store, "cache-e")
    authenticator = keys.Authenticator(store, 60)
    real_id, real_secret, _ = keys.create_access_key(store, user)
    assert not refused(authenticator, real_id, real_secret)
    made_up = [keys.new_key_id() for _ in range(200)]
    for key_id in made_up:
        assert refused(authenticator, key_id, "wrong")
    # The real key is still cached: deleted from the store behind the access generation's
    # back, it still works here.
    with store.write() as conn:
        conn.execute(tables.access_keys.delete().where(tables.access_keys.c.id == real_id))
    assert not refused(authenticator, real_id, real_secret)
    # Only the newest 50 made-up ids are remembered: the oldest made room.
    for key_id in (made_up[0], made_up[-1]):
        principals.insert_access_key(store, user, key_id, "now-real")
    assert not refused(authenticator, made_up[0], "now-real")
    assert refused(authenticator, made_up[-1], "now-real")


# -- revocation seen by every node ------------------------------------------------------------


def two_nodes(store: Store) -> tuple[keys.Authenticator, keys.Authenticator]:
    """Two nodes' authenticators on one store, caching for a minute."""
    return keys.Authenticator(store, 60), keys.Authenticator(store, 60)


def test_a_key_disabled_through_one_node_is_refused_by_another_on_its_next_request(
    store: Store,
) -> None:
    user = principals.create_principal(store, "revoked-a")
    key_id, secret, _ = keys.create_access_key(store, user)
    one, other = two_nodes(store)
    assert not refused(other, key_id, secret)  # cached there
    principals.set_access_key_status(store, key_id, principals.DISABLED)
    one.forget(key_id)
    with pytest.raises(keys.KeyRefused):
        other.authenticate_bearer(bearer(key_id, secret))
    principals.set_access_key_status(store, key_id, principals.ACTIVE)
    assert not refused(other, key_id, secret)


def test_a_deleted_key_is_refused_by_every_node_on_its_next_request(store: Store) -> None:
    user = principals.create_principal(store, "revoked-b")
    key_id, secret, _ = keys.create_access_key(store, user)
    _, other = two_nodes(store)
    assert other.key_secret(key_id) == secret  # the signed schemes' look-up, cached
    principals.delete_access_key(store, key_id)
    assert other.key_secret(key_id) is None
    assert refused(other, key_id, secret)


def test_a_policy_detached_or_changed_is_seen_by_every_node_on_its_next_request(
    store: Store,
) -> None:
    keys.ensure_admin_policy(store)
    user = principals.create_principal(store, "revoked-c")
    principals.attach_policy(store, "revoked-c", keys.ADMIN_POLICY)
    key_id, secret, _ = keys.create_access_key(store, user)
    _, other = two_nodes(store)
    resource = "acs:kms:local:rotor:secret/app/db"
    assert other.authenticate_bearer(bearer(key_id, secret)).allows("kms:GetSecretValue", resource)
    principals.detach_policy(store, "revoked-c", keys.ADMIN_POLICY)
    identity = other.authenticate_bearer(bearer(key_id, secret))
    assert not identity.allows("kms:GetSecretValue", resource)
    principals.put_policy(
        store,
        "reads-app",
        '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["kms:GetSecretValue"],'
        ' "Resource": ["acs:kms:*:*:secret/app/*"]}]}',
    )
    principals.attach_policy(store, "revoked-c", "reads-app")
    assert other.authenticate_bearer(bearer(key_id, secret)).allows("kms:GetSecretValue", resource)
    principals.put_policy(
        store,
        "reads-app",
        '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["kms:GetSecretValue"],'
        ' "Resource": ["acs:kms:*:*:secret/other/*"]}]}',
    )
    identity = other.authenticate_bearer(bearer(key_id, secret))
    assert not identity.allows("kms:GetSecretValue", resource)


def test_an_unchanged_generation_keeps_the_cache(store: Store) -> None:
    """Without a change, the cache is used: a key deleted behind the generation's back is
    still known (so the per-request check is what makes revocation visible)."""
    user = principals.create_principal(store, "revoked-d")
    key_id, secret, _ = keys.create_access_key(store, user)
    _, other = two_nodes(store)
    assert not refused(other, key_id, secret)
    with store.write() as conn:
        conn.execute(tables.access_keys.delete().where(tables.access_keys.c.id == key_id))
    assert not refused(other, key_id, secret)
