"""Signed requests' nonces: each (access key, nonce) is accepted once, on every node.

A nonce is claimed by inserting it into ``request_nonces``, whose primary key is the
pair, in the store every node shares; it stays there until its request's timestamp
could no longer pass (expired rows are purged with the expired keys). So a replay is
refused on any node and after a restart, because the claim is committed before the
request is answered.

Every signed request claims a nonce, so on SQLite each would be a write transaction of
its own queued on the single writer. A :class:`Ledger` commits the claims that arrive
together in one transaction (group commit): a request's claim waits for the
transaction that holds it, so nothing is answered before its nonce is stored, but
sixteen concurrent requests cost one write rather than sixteen queued ones.

A read may verify its request more than once (from the credential cache, then checked
against the store: :func:`rotor.api.secret_reads.folded`); :class:`ClaimOnce` makes its
nonce claimed once whatever the number, the first claim's answer standing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import sqlalchemy as sa

from rotor import errors
from rotor.store import tables as t
from rotor.store.database import Store

#: When a claim may be forgotten: a time, or Unix seconds, as the scheme's verifier says it.
_Until = TypeVar("_Until")


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """A request's nonce, remembered until ``expires_at``."""

    access_key_id: str
    nonce: str
    expires_at: dt.datetime


def claim_nonces(store: Store, claims: list[Claim]) -> list[bool]:
    """Record the claims in one transaction; for each, False when its key had used its
    nonce already (a replay, here or on another node, or earlier in ``claims``)."""
    fresh: dict[tuple[str, str], Claim] = {}
    for claim in claims:
        fresh.setdefault((claim.access_key_id, claim.nonce), claim)
    firsts = list(fresh.values())
    try:
        with store.write() as conn:
            conn.execute(
                t.request_nonces.insert(),
                [
                    {"access_key_id": c.access_key_id, "nonce": c.nonce, "expires_at": c.expires_at}
                    for c in firsts
                ],
            )
        stored = set(map(id, firsts))
    except sa.exc.IntegrityError:
        # One of them was used already: find which, each in a transaction of its own
        # (rare: a replay, or a client resending).
        stored = {id(c) for c in firsts if _claim_one(store, c)}
    return [id(c) in stored for c in claims]


def _claim_one(store: Store, claim: Claim) -> bool:
    try:
        with store.write() as conn:
            conn.execute(
                t.request_nonces.insert().values(
                    access_key_id=claim.access_key_id,
                    nonce=claim.nonce,
                    expires_at=claim.expires_at,
                )
            )
    except sa.exc.IntegrityError:
        return False
    return True


@dataclasses.dataclass(eq=False, slots=True)
class _Waiting:
    claim: Claim
    done: bool = False
    fresh: bool = False
    #: The batch was not stored: what this claim raises (a new error of its own).
    failure: type[errors.ServerError] | None = None


class Ledger:
    """Claims nonces in ``store``, those of concurrent requests in one transaction.

    The first request to find no transaction under way writes every claim waiting then
    (its own among them); the others wait for it, and whoever is still waiting when it
    commits writes the next batch. A store error fails every claim of its batch: the
    writer raises it (its cause is logged once, with that request), each other claim a
    new error of its own, so no request's error carries another's statement.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._changed = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._writing = False

    def claim(self, access_key_id: str, nonce: str, expires_at: dt.datetime) -> bool:
        """Record the key's ``nonce`` until ``expires_at``; False when it was used already.

        Returns once the claim is committed."""
        mine = _Waiting(Claim(access_key_id, nonce, expires_at))
        with self._changed:
            self._waiting.append(mine)
            while not mine.done and self._writing:
                self._changed.wait()
            if not mine.done:
                self._writing = True
                batch, self._waiting = self._waiting, []
        if not mine.done:
            self._write(batch)  # raises the store's error, if any, in this request
        if mine.failure is not None:
            raise mine.failure("the store did not record the request's nonce")
        return mine.fresh

    def _write(self, batch: list[_Waiting]) -> None:
        results: list[bool] | None = None
        failure: type[errors.ServerError] = errors.InternalError
        try:
            results = claim_nonces(self.store, [w.claim for w in batch])
        except errors.ServiceUnavailable:
            failure = errors.ServiceUnavailable
            raise
        finally:  # whatever happened, no claim of the batch waits forever
            with self._changed:
                for i, waiting in enumerate(batch):
                    waiting.done = True
                    if results is None:  # the writer raises the error itself, above this
                        waiting.failure = failure
                    else:
                        waiting.fresh = results[i]
                self._writing = False
                self._changed.notify_all()


class ClaimOnce(Generic[_Until]):
    """One request's claims through ``claim``: each (key, nonce) is claimed once, and
    asking again answers what the first claim answered (or raises what it raised), so a
    request verified twice never refuses itself as its own replay, nor claims twice."""

    def __init__(self, claim: Callable[[str, str, _Until], bool]) -> None:
        self._claim = claim
        self._answers: dict[tuple[str, str], bool | Exception] = {}

    def claim(self, access_key_id: str, nonce: str, expires_at: _Until) -> bool:
        pair = (access_key_id, nonce)
        answer = self._answers.get(pair)
        if answer is None:
            try:
                answer = self._claim(access_key_id, nonce, expires_at)
            except Exception as exc:
                self._answers[pair] = exc
                raise
            self._answers[pair] = answer
        if isinstance(answer, Exception):
            raise answer
        return answer
