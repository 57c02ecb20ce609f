"""A bearer read authenticates from the cache and checks the access generation its value's
query read (:func:`rotor.api.secret_reads.read_folded`): a change made through another
node is still seen on the very next read, and a value read under another generation than
the identity's is never answered.

Each "node" is an :class:`~rotor.access.keys.Authenticator` of its own on one store.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rotor import errors
from rotor.access import keys
from rotor.api import secret_reads
from rotor.settings import Settings
from rotor.store import principals, secrets, versions
from rotor.store.database import Store

READS_APP = (
    '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["kms:GetSecretValue"],'
    ' "Resource": ["acs:kms:*:*:secret/%s/*"]}]}'
)
REQUEST = secret_reads.Read("app/db")


def reader(store: Store, name: str) -> tuple[str, str]:
    """A principal allowed to read app/*, and the bearer header of its key."""
    user = principals.create_principal(store, name)
    principals.put_policy(store, f"{name}-reads", READS_APP % "app")
    principals.attach_policy(store, name, f"{name}-reads")
    key_id, secret, _ = keys.create_access_key(store, user)
    return key_id, f"Bearer {key_id}.{secret}"


def folded(
    store: Store, settings: Settings, authenticate: Callable[[bool], keys.Identity]
) -> secret_reads.Outcome:
    return secret_reads.read_folded(store, settings, authenticate, REQUEST, {})


def bearer_of(node: keys.Authenticator, header: str) -> Callable[[bool], keys.Identity]:
    def authenticate(cached: bool) -> keys.Identity:
        return node.authenticate_bearer(header, cached=cached)

    return authenticate


@pytest.fixture
def secret(store: Store) -> None:
    secrets.create_secret(store, name="app/db", value="v1")


def test_the_read_reads_the_generation_with_the_value(store: Store, secret: None) -> None:
    before = principals.access_generation(store)
    assert versions.get_value(store, "app/db").access_generation == before
    principals.put_policy(store, "unrelated", READS_APP % "other")
    principals.delete_policy(store, "unrelated")
    assert versions.get_value(store, "app/db").access_generation > before


def test_a_cached_read_pays_no_round_trip_for_the_generation(
    store: Store, settings: Settings, secret: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, header = reader(store, "reader-a")
    node = keys.Authenticator(store, 60)
    assert folded(store, settings, bearer_of(node, header)).value is not None
    calls: list[None] = []
    original = principals.access_generation
    monkeypatch.setattr(
        principals, "access_generation", lambda s: calls.append(None) or original(s)
    )
    outcome = folded(store, settings, bearer_of(node, header))
    assert outcome.value is not None
    assert outcome.value.value == "v1"
    assert calls == []


def test_a_key_disabled_on_one_node_is_refused_on_the_next_read_of_another(
    store: Store, settings: Settings, secret: None
) -> None:
    key_id, header = reader(store, "reader-b")
    one, other = keys.Authenticator(store, 60), keys.Authenticator(store, 60)
    assert folded(store, settings, bearer_of(other, header)).value is not None  # cached there
    principals.set_access_key_status(store, key_id, principals.DISABLED)
    one.forget(key_id)
    outcome = folded(store, settings, bearer_of(other, header))
    assert outcome.identity is None
    assert outcome.value is None
    assert isinstance(outcome.error, keys.KeyRefused)
    principals.set_access_key_status(store, key_id, principals.ACTIVE)
    assert folded(store, settings, bearer_of(other, header)).value is not None


def test_a_policy_changed_on_one_node_takes_effect_on_the_next_read_of_another(
    store: Store, settings: Settings, secret: None
) -> None:
    _, header = reader(store, "reader-c")
    other = keys.Authenticator(store, 60)
    assert folded(store, settings, bearer_of(other, header)).value is not None
    principals.put_policy(store, "reader-c-reads", READS_APP % "other")  # narrowed
    outcome = folded(store, settings, bearer_of(other, header))
    assert outcome.identity is not None
    assert outcome.value is None
    assert isinstance(outcome.error, errors.AccessDenied)
    # Granted again: the refusal cached under the old generation is checked for real.
    principals.put_policy(store, "reader-c-reads", READS_APP % "app")
    assert folded(store, settings, bearer_of(other, header)).value is not None


def test_a_read_refused_on_its_second_attempt_audits_no_version_of_the_first(
    store: Store, settings: Settings, secret: None
) -> None:
    """The read from the cache fetched a version under the old generation; the read
    checked for real is refused, and its audit names the secret, not that version."""
    _, header = reader(store, "reader-f")
    other = keys.Authenticator(store, 60)
    assert folded(store, settings, bearer_of(other, header)).value is not None
    principals.put_policy(store, "reader-f-reads", READS_APP % "other")  # narrowed
    audit: dict[str, object] = {}
    outcome = secret_reads.read_folded(store, settings, bearer_of(other, header), REQUEST, audit)
    assert isinstance(outcome.error, errors.AccessDenied)
    assert audit == {"action": secret_reads.ACTION, "secret_name": "app/db"}


def racing(
    store: Store, node: keys.Authenticator, header: str, key_id: str, at_cached: bool
) -> tuple[Callable[[bool], keys.Identity], list[bool]]:
    """An authentication after which the key is disabled (once, at the first attempt from
    the cache or checked for real as ``at_cached`` says), and the attempts it raced."""
    raced: list[bool] = []

    def authenticate(cached: bool) -> keys.Identity:
        identity = node.authenticate_bearer(header, cached=cached)
        if not raced and cached == at_cached:
            raced.append(cached)
            principals.set_access_key_status(store, key_id, principals.DISABLED)
        return identity

    return authenticate, raced


def test_a_read_racing_a_generation_change_is_not_answered_under_the_old_identity(
    store: Store, settings: Settings, secret: None
) -> None:
    """The key is disabled after this node authenticated the read (from its cache, or
    checked for real) and before the value is read: the answer is the refusal."""
    key_id, header = reader(store, "reader-d")
    node = keys.Authenticator(store, 60)
    for race_at_cached in (True, False):
        principals.set_access_key_status(store, key_id, principals.ACTIVE)
        assert folded(store, settings, bearer_of(node, header)).value is not None
        if not race_at_cached:  # the cache goes stale, so the read is checked for real
            principals.put_policy(store, "reader-d-reads", READS_APP % "app")
        authenticate, raced = racing(store, node, header, key_id, race_at_cached)
        outcome = folded(store, settings, authenticate)
        assert raced == [race_at_cached]
        assert outcome.value is None
        assert isinstance(outcome.error, keys.KeyRefused)


def test_a_generation_that_keeps_moving_is_never_answered(
    store: Store, settings: Settings, secret: None
) -> None:
    _, header = reader(store, "reader-e")
    node = keys.Authenticator(store, 60)

    def authenticate(cached: bool) -> keys.Identity:
        identity = node.authenticate_bearer(header, cached=cached)
        principals.put_policy(store, "reader-e-reads", READS_APP % "app")  # counts up
        return identity

    with pytest.raises(errors.ServiceUnavailable):
        folded(store, settings, authenticate)
