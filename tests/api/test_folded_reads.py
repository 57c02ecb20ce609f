"""A read, bearer or signed, authenticates from the cache and checks the access generation its value's
query read (:func:`rotor.api.secret_reads.read_folded`): a change made through another
node is still seen on the very next read, and a value read under another generation than
the identity's is never answered.

Each "node" is an :class:`~rotor.access.keys.Authenticator` of its own on one store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest

from rotor import errors
from rotor.access import keys, rotor_signature
from rotor.api import secret_reads
from rotor.client import _signing
from rotor.settings import Settings
from rotor.store import nonces, principals, secrets, versions
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
) -> secret_reads.Outcome[versions.SecretValue]:
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


# -- signed reads: rotor's HMAC signature, each request with a nonce ---------------------


def signed_header(key_id: str, secret: str) -> str:
    request = httpx.Request("GET", "http://rotor.test/v1/secrets/app/db:value")
    return _signing.authorization(request, access_key_id=key_id, access_key_secret=secret)


def signed_of(
    node: keys.Authenticator, header: str, claims: list[str]
) -> Callable[[bool], keys.Identity]:
    """A signed read's authentication, as the native endpoint's: one ClaimOnce per request
    over the node's ledger; ``claims`` gets each nonce claimed in the store."""

    def counted(key_id: str, nonce: str, until: dt.datetime) -> bool:
        claims.append(nonce)
        return node.nonces.claim(key_id, nonce, until)

    once: nonces.ClaimOnce[dt.datetime] = nonces.ClaimOnce(counted)
    verifier = rotor_signature.Verifier(node)

    def authenticate(cached: bool) -> keys.Identity:
        return verifier.authenticate(
            authorization=header,
            method="GET",
            path="/v1/secrets/app/db:value",
            query="",
            body=b"",
            security_token=None,
            cached=cached,
            claim_nonce=once.claim,
        )

    return authenticate


def signed_reader(store: Store, name: str) -> tuple[str, str]:
    key_id, header = reader(store, name)
    return key_id, header.removeprefix("Bearer ").split(".", 1)[1]


def test_a_cached_signed_read_pays_no_round_trip_for_the_generation(
    store: Store, settings: Settings, secret: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id, key_secret = signed_reader(store, "signer-a")
    node = keys.Authenticator(store, 60)
    claims: list[str] = []
    first = folded(store, settings, signed_of(node, signed_header(key_id, key_secret), claims))
    assert first.value is not None
    calls: list[None] = []
    original = principals.access_generation
    monkeypatch.setattr(
        principals, "access_generation", lambda s: calls.append(None) or original(s)
    )
    header = signed_header(key_id, key_secret)
    outcome = folded(store, settings, signed_of(node, header, claims))
    assert outcome.value is not None
    assert outcome.value.value == "v1"
    assert calls == []
    assert len(claims) == 2


def test_a_signed_read_sees_a_key_disabled_and_a_policy_changed_on_another_node(
    store: Store, settings: Settings, secret: None
) -> None:
    """Each refusal comes on the very next signed request, with its nonce claimed once
    though the request was verified twice (from the cache, then against the store)."""
    key_id, key_secret = signed_reader(store, "signer-b")
    other = keys.Authenticator(store, 60)
    claims: list[str] = []

    def read_signed() -> secret_reads.Outcome[versions.SecretValue]:
        claims.clear()
        header = signed_header(key_id, key_secret)
        return folded(store, settings, signed_of(other, header, claims))

    assert read_signed().value is not None  # cached there
    principals.set_access_key_status(store, key_id, principals.DISABLED)
    outcome = read_signed()
    assert outcome.identity is None
    assert isinstance(outcome.error, keys.KeyRefused)
    assert len(claims) == 1
    principals.set_access_key_status(store, key_id, principals.ACTIVE)
    assert read_signed().value is not None
    principals.put_policy(store, "signer-b-reads", READS_APP % "other")  # narrowed
    outcome = read_signed()
    assert outcome.identity is not None
    assert isinstance(outcome.error, errors.AccessDenied)
    assert len(claims) == 1
    principals.put_policy(store, "signer-b-reads", READS_APP % "app")
    assert read_signed().value is not None
    assert len(claims) == 1


def test_a_replayed_signed_read_is_refused_on_every_node(
    store: Store, settings: Settings, secret: None
) -> None:
    key_id, key_secret = signed_reader(store, "signer-c")
    one, other = keys.Authenticator(store, 60), keys.Authenticator(store, 60)
    header = signed_header(key_id, key_secret)
    assert folded(store, settings, signed_of(one, header, [])).value is not None
    for node in (one, other):
        outcome = folded(store, settings, signed_of(node, header, []))
        assert outcome.identity is None
        assert isinstance(outcome.error, errors.Unauthenticated)


def test_a_signed_read_under_a_moving_generation_gives_up_claiming_once(
    store: Store, settings: Settings, secret: None
) -> None:
    key_id, key_secret = signed_reader(store, "signer-d")
    node = keys.Authenticator(store, 60)
    claims: list[str] = []
    authenticate = signed_of(node, signed_header(key_id, key_secret), claims)

    def moving(cached: bool) -> keys.Identity:
        identity = authenticate(cached)
        principals.put_policy(store, "signer-d-reads", READS_APP % "app")  # counts up
        return identity

    with pytest.raises(errors.ServiceUnavailable):
        folded(store, settings, moving)
    assert len(claims) == 1


def test_a_claim_asked_again_answers_the_first_claim() -> None:
    answers = iter([True, False])
    asked: list[str] = []

    def claim(key_id: str, nonce: str, until: float) -> bool:
        asked.append(nonce)
        return next(answers)

    once: nonces.ClaimOnce[float] = nonces.ClaimOnce(claim)
    assert once.claim("RK1", "n1", 1.0) is True
    assert once.claim("RK1", "n1", 1.0) is True
    assert asked == ["n1"]

    def failing(key_id: str, nonce: str, until: float) -> bool:
        asked.append(nonce)
        raise errors.InternalError("the store did not record the request's nonce")

    broken: nonces.ClaimOnce[float] = nonces.ClaimOnce(failing)
    for _ in range(2):
        with pytest.raises(errors.InternalError):
            broken.claim("RK1", "n2", 1.0)
    assert asked == ["n1", "n2"]
