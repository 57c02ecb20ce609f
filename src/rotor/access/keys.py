"""Access keys: making them, checking a request's credentials, and the first admin key.

Two ways to authenticate a native API request (both resolve to the same
principals and policies as the compatible dialects):

- **Bearer**: ``Authorization: Bearer <access_key_id>.<access_key_secret>``.
- **Signed** (:mod:`rotor.access.rotor_signature`): an HMAC-SHA256 signature over the
  method, path, sorted query, body hash, a timestamp and a nonce; the secret
  never travels.

A key of an assumed role also needs its session token
(``X-Rotor-Security-Token``). Keys and their policies are cached for
``credential_cache_seconds``, so the read path does not decrypt a key or parse
policies on every request. A key id that does not exist is remembered as
unknown for as long, so refusing it costs what refusing a wrong secret costs (a
cache hit and a constant-time comparison, against a stand-in secret) rather
than a store read every time: the answer's timing does not tell which part was
wrong. The unknown ids have a cache of their own, so a flood of made-up ids
cannot push the real keys out; each cache holds at most :data:`CACHE_LIMIT`
entries, the oldest making room for a new one. Remembering an id as unknown
never hides a key created later: key ids are 110 random bits drawn as the key
is created (:func:`new_key_id`), so no one can have sent one before.

Revocation is seen at once on every node: each request reads the store's access
generation (:func:`rotor.store.principals.access_generation`, one indexed row),
which every change that can take a right away counts up, and a node whose cache
was filled under another generation drops both caches first. So a key disabled or
a policy revoked through one node is refused by every node from its next request
on; ``credential_cache_seconds`` only bounds how long an unchanged entry is kept.
A read saves that round trip, whatever its credentials (bearer, or any signature
scheme): it authenticates from the cache (``cached``) and its value's query reads the
generation from the same snapshot (:func:`rotor.api.secret_reads.folded`), which
answers only when that is the generation its :attr:`Identity.generation` was read
under, and checks for real whatever went wrong under the cache (a signed request is
verified again then, its nonce claimed once).

What stays visible: the first request with an id this node has not seen (or not
within ``credential_cache_seconds``) reads the store, known or unknown, while a
key in use is already cached; ``bench/auth_timing.py`` shows both.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from rotor import errors
from rotor.access import policies
from rotor.clock import utcnow
from rotor.private_files import write_private_file
from rotor.store import nonces, principals
from rotor.store import secrets as stored_secrets
from rotor.store.database import Store

log = logging.getLogger(__name__)

ADMIN = "admin"
ADMIN_POLICY = "AdministratorAccess"
CREDENTIALS_FILE = "admin-credentials.json"
#: The most keys an Authenticator caches, and the most unknown key ids it remembers.
CACHE_LIMIT = 10_000
_DUMMY_SECRET = secrets.token_urlsafe(30)
_T = TypeVar("_T")


class Signed(Protocol):
    """What a signature scheme's verifier answers: whose key signed, and with what token."""

    @property
    def access_key_id(self) -> str: ...

    @property
    def security_token(self) -> str | None: ...


_Signed = TypeVar("_Signed", bound=Signed)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    """Who made a request, and what they may do."""

    principal_id: str
    principal_name: str
    access_key_id: str
    #: Each layer must allow an action: the principal's policies, then (for an
    #: assumed role) the session's narrowing policy.
    layers: tuple[tuple[policies.Policy, ...], ...] = ()
    #: A rotation function's key: the function, its rotation, and whom it acts for.
    function_session: principals.FunctionSession | None = None
    #: A secret's ARN in AWS form, for the policy statements that name ARNs
    #: (:func:`arn_lookup`); without it they match nothing.
    arn_of: policies.ArnOf | None = None
    #: The access generation read before this identity was (-1: not from the store's
    #: keys): it is what the store said as long as the generation has not moved since.
    generation: int = -1

    def allows(self, action: str, resource: str, *, arn: str | None = None) -> bool:
        """Whether the policies allow ``action`` on ``resource``; ``arn`` is the secret's
        AWS-form ARN where the caller has it already (a listing's rows), so a statement
        naming ARNs costs no lookup of it."""
        arn_of = self.arn_of if arn is None else (lambda _resource: arn)
        return bool(self.layers) and policies.decide_all(self.layers, action, resource, arn_of)

    def require(self, action: str, resource: str) -> None:
        if not self.allows(action, resource):
            raise errors.AccessDenied(
                f"{self.principal_name} is not allowed to {action} on {resource}"
            )


class KeyRefused(errors.Unauthenticated):
    """A key whose secret was proved but that may not be used now.

    ``reason`` says why, for dialects whose errors tell (the native API's 401s do
    not): ``disabled``, ``expired``, ``token-missing`` or ``token-mismatch``.
    """

    def __init__(self, reason: str) -> None:
        # The native API's message stays that of every other 401.
        super().__init__(errors.Unauthenticated().message)
        self.reason = reason


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Verified:
    key: principals.AccessKey
    identity: Identity


def new_key_id() -> str:
    return "RK" + base64.b32encode(secrets.token_bytes(15)).decode()[:22]


def new_key_secret() -> str:
    return secrets.token_urlsafe(30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_access_key(
    store: Store,
    principal: principals.Principal,
    *,
    expires_in_seconds: float | None = None,
    session_policy: str | None = None,
    function_session: principals.FunctionSession | None = None,
) -> tuple[str, str, str]:
    """A new key for ``principal``: (id, secret, session token). The secret is shown once.

    With ``session_policy`` (assumed-role credentials) the key also gets a session
    token, and the policy narrows what the principal's policies allow.
    """
    key_id, secret = new_key_id(), new_key_secret()
    expires_at = None
    if expires_in_seconds is not None:
        expires_at = utcnow() + dt.timedelta(seconds=expires_in_seconds)
    token = ""
    if session_policy is not None:
        token = secrets.token_urlsafe(48)
    principals.insert_access_key(
        store,
        principal,
        key_id,
        secret,
        expires_at=expires_at,
        session_token_hash=token_hash(token) if token else None,
        session_policy=session_policy,
        function_session=function_session,
    )
    return key_id, secret, token


def ensure_admin_policy(store: Store) -> None:
    """The built-in AdministratorAccess policy exists (every store has it)."""
    try:
        principals.get_policy(store, ADMIN_POLICY)
    except errors.NotFound:
        principals.put_policy(
            store, ADMIN_POLICY, json.dumps(policies.ADMINISTRATOR), "Everything, on everything."
        )


def bootstrap_admin(store: Store, data_dir: Path) -> Path | None:
    """On first start, create the admin principal and key and write them 0600 to the data dir.

    Returns the credentials file when it was written now, else None.
    """
    ensure_admin_policy(store)
    if principals.get_principal(store, ADMIN) is not None:
        return None
    try:
        admin = principals.create_principal(store, ADMIN)
    except errors.Conflict:
        return None  # another process bootstrapped at the same moment
    principals.attach_policy(store, ADMIN, ADMIN_POLICY)
    key_id, secret, _ = create_access_key(store, admin)
    path = data_dir / CREDENTIALS_FILE
    write_private_file(
        path, json.dumps({"access_key_id": key_id, "access_key_secret": secret}, indent=2) + "\n"
    )
    return path


class _Expiring(Generic[_T]):
    """At most ``limit`` entries, each until its expiry; a new one past the limit pushes
    out the oldest (never the others).

    Writers hold the owner's lock; readers need none (one dict look-up).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[str, tuple[float, _T]] = {}

    def get(self, key: str, now: float) -> _T | None:
        hit = self._entries.get(key)
        return hit[1] if hit is not None and hit[0] > now else None

    def put(self, key: str, value: _T, until: float) -> None:
        # Entries stay in the order they were put, which is the order they expire in.
        self._entries.pop(key, None)
        while len(self._entries) >= self.limit:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (until, value)

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class Authenticator:
    """Turns a request's credentials into an :class:`Identity`, or raises Unauthenticated."""

    def __init__(self, store: Store, cache_seconds: float) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._known: _Expiring[_Verified] = _Expiring(CACHE_LIMIT)
        self._unknown: _Expiring[bool] = _Expiring(CACHE_LIMIT)
        self._lock = threading.Lock()
        #: The access generation the cached entries were read under.
        self._generation = -1
        #: Where every signature scheme with nonces claims them (one per store, so
        #: concurrent requests of any dialect share a write).
        self.nonces = nonces.Ledger(store)

    def _revalidate(self) -> int:
        """Drop the caches if the store's access generation moved since they were filled;
        returns the generation read (what may be cached under it)."""
        generation = principals.access_generation(self.store)
        if generation != self._generation:
            with self._lock:
                if generation != self._generation:
                    self._known.clear()
                    self._unknown.clear()
                    self._generation = generation
        return generation

    def _load(self, key_id: str, generation: int) -> _Verified | None:
        """What is known of ``key_id``: from the cache, else read from the store and
        cached, unless the access generation has moved since ``generation`` was read (a
        change committed while this request read the key)."""
        now = time.monotonic()
        verified = self._known.get(key_id, now)
        if verified is not None:
            return verified
        if self._unknown.get(key_id, now):
            return None
        key = principals.load_access_key(self.store, key_id)
        if key is None:
            with self._lock:
                if generation == self._generation:
                    self._unknown.put(key_id, True, now + self.cache_seconds)
            return None
        layers: list[tuple[policies.Policy, ...]] = [
            tuple(
                policies.parse_policy(doc)
                for doc in principals.policy_documents_of(self.store, key.principal.id)
            )
        ]
        if key.session_policy is not None:
            layers.append((policies.parse_policy(key.session_policy),))
        verified = _Verified(
            key=key,
            identity=Identity(
                principal_id=key.principal.id,
                principal_name=key.principal.name,
                access_key_id=key.id,
                layers=tuple(layers),
                function_session=key.function_session,
                arn_of=arn_lookup(self.store),
                generation=generation,
            ),
        )
        with self._lock:
            if generation == self._generation:
                self._known.put(key_id, verified, now + self.cache_seconds)
        return verified

    def forget(self, key_id: str | None = None) -> None:
        """Drop what is cached about keys (one id, or all: after a policy or key change),
        known and unknown alike."""
        with self._lock:
            for cache in (self._known, self._unknown):
                if key_id is None:
                    cache.clear()
                else:
                    cache.pop(key_id)

    def key_secret(self, key_id: str, *, cached: bool = False) -> str | None:
        """The secret of a usable key (for signature schemes), else None.

        The first step of every request's authentication, so the cache is checked against
        the store's access generation here (:meth:`identify` then uses what this read);
        ``cached`` trusts the cache's generation instead, for a caller that checks the
        identity's :attr:`~Identity.generation` against the store afterwards (a cache never
        checked yet is checked all the same, so every identity has a generation of the
        store's: :func:`rotor.api.secret_reads.read` compares it with its value's)."""
        generation = self._generation
        if not cached or generation < 0:
            generation = self._revalidate()
        verified = self._load(key_id, generation)
        return None if verified is None else verified.key.secret

    def identify(self, key_id: str, security_token: str | None) -> Identity:
        """The identity of a key whose secret the caller has proved; checks status, expiry
        and session token."""
        verified = self._load(key_id, self._generation)
        if verified is None:
            raise errors.Unauthenticated()
        key = verified.key
        if key.status != principals.ACTIVE:
            raise KeyRefused("disabled")
        if key.expires_at is not None and key.expires_at <= utcnow():
            raise KeyRefused("expired")
        if key.session_token_hash is not None:
            if not security_token:
                raise KeyRefused("token-missing")
            if not hmac.compare_digest(token_hash(security_token), key.session_token_hash):
                raise KeyRefused("token-mismatch")
        elif security_token:
            raise KeyRefused("token-mismatch")  # a token that does not belong to this key
        return verified.identity

    def identify_signed(
        self, verify: Callable[[], _Signed]
    ) -> tuple[_Signed, Identity] | errors.RotorError:
        """Check a signed request (``verify``, a scheme's verifier on it) and identify its
        key: the verified request and its identity, or the error that refused the
        credentials, returned so the caller can back off before raising it. A store
        outage is raised: the store's fault, not the caller's, so no back-off."""
        try:
            verified = verify()
            return verified, self.identify(verified.access_key_id, verified.security_token)
        except errors.ServiceUnavailable:
            raise
        except errors.RotorError as exc:
            return exc

    def authenticate_bearer(
        self, authorization: str | None, security_token: str | None = None, *, cached: bool = False
    ) -> Identity:
        if not authorization or not authorization.startswith("Bearer "):
            raise errors.Unauthenticated()
        key_id, _, secret = authorization[7:].strip().partition(".")
        if not key_id or not secret or len(key_id) > 64:
            raise errors.Unauthenticated()
        expected = self.key_secret(key_id, cached=cached)
        matches = hmac.compare_digest(secret.encode(), (expected or _DUMMY_SECRET).encode())
        if expected is None or not matches:
            raise errors.Unauthenticated()
        return self.identify(key_id, security_token)


def secret_resource(name: str, *, region: str, account: str) -> str:
    """The resource name policies match a secret by."""
    return policies.SECRET_RESOURCE.format(region=region, account=account, name=name)


def secret_arn(store: Store, resource: str) -> str | None:
    """The AWS-form ARN of the secret ``resource`` (a :func:`secret_resource`) names, with
    :data:`policies.NO_SUFFIX` while there is no such secret; None for another resource."""
    parts = resource.split(":", 4)
    if len(parts) != 5 or parts[:2] != ["acs", "kms"] or not parts[4].startswith("secret/"):
        return None
    name = parts[4].removeprefix("secret/")
    try:
        suffix = stored_secrets.arn_suffix(store, name)
    except (errors.NotFound, errors.InvalidParameter):  # none (yet), or a pattern of names
        suffix = policies.NO_SUFFIX
    return stored_secrets.aws_arn(name, suffix, region=parts[2], account=parts[3])


def arn_lookup(store: Store) -> policies.ArnOf:
    """What an :class:`Identity` of ``store``'s principals looks a secret's ARN up with."""
    return functools.partial(secret_arn, store)
