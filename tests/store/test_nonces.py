"""Signed requests' nonces: accepted once across every node of a store and across a
restart, however the claims are batched."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import secrets
import threading
import time

import pytest

from rotor import errors
from rotor.clock import utcnow
from rotor.settings import Settings
from rotor.store import nonces
from rotor.store.database import Store

KEY = "RKTESTNONCES"


def later() -> dt.datetime:
    return utcnow() + dt.timedelta(minutes=15)


def test_a_nonce_claimed_on_one_node_is_refused_on_another_and_after_a_restart(
    settings: Settings, store: Store
) -> None:
    nonce = secrets.token_hex(16)
    other = Store.open(settings)  # a second node on the same database
    try:
        assert nonces.Ledger(store).claim(KEY, nonce, later())
        assert not nonces.Ledger(other).claim(KEY, nonce, later())
        assert nonces.Ledger(other).claim("RKANOTHERKEY", nonce, later())  # per key
    finally:
        other.close()
    store.close()
    restarted = Store.open(settings)
    try:
        assert not nonces.Ledger(restarted).claim(KEY, nonce, later())
    finally:
        restarted.close()


def test_a_batch_accepts_each_nonce_once_and_the_rest_of_a_batch_with_a_replay(
    store: Store,
) -> None:
    used, fresh = secrets.token_hex(16), secrets.token_hex(16)
    assert nonces.claim_nonces(store, [nonces.Claim(KEY, used, later())]) == [True]
    batch = [
        nonces.Claim(KEY, fresh, later()),
        nonces.Claim(KEY, used, later()),  # stored before: the whole insert fails
        nonces.Claim(KEY, fresh, later()),  # twice in one batch: the first wins
    ]
    assert nonces.claim_nonces(store, batch) == [True, False, False]


def test_concurrent_claims_on_two_nodes_accept_each_nonce_exactly_once(
    settings: Settings, store: Store
) -> None:
    other = Store.open(settings)
    ledgers = [nonces.Ledger(store), nonces.Ledger(other)]
    wanted = [secrets.token_hex(16) for _ in range(40)]
    start = threading.Barrier(16)

    def claim(i: int) -> list[tuple[str, bool]]:
        start.wait()
        ledger = ledgers[i // 8]
        # Every nonce is sent twice, to either node.
        return [(n, ledger.claim(KEY, n, later())) for n in wanted[i % 8 :: 8]]

    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = [r for rs in pool.map(claim, range(16)) for r in rs]
    finally:
        other.close()
    accepted = sorted(n for n, ok in results if ok)
    assert accepted == sorted(wanted)
    assert len(results) == 2 * len(wanted)


def test_a_failed_batch_fails_each_claim_with_an_error_of_its_own(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails a batch of several claims: none is accepted, each request gets a
    ServiceUnavailable, and no two share one error object (raised in several threads at
    once, one object would gather every thread's traceback and carry one request's cause
    into another's log)."""
    first_writing, release = threading.Event(), threading.Event()
    ledger = nonces.Ledger(store)

    def failing(store: Store, claims: list[nonces.Claim]) -> list[bool]:
        first_writing.set()
        release.wait(60)
        raise errors.ServiceUnavailable("the store is unavailable")

    monkeypatch.setattr(nonces, "claim_nonces", failing)

    def claim(nonce: str) -> BaseException | bool:
        try:
            return ledger.claim(KEY, nonce, later())
        except errors.RotorError as exc:
            return exc

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        writer = pool.submit(claim, "first")
        assert first_writing.wait(60)
        waiting = [pool.submit(claim, f"n{i}") for i in range(4)]
        deadline = time.monotonic() + 60
        while len(ledger._waiting) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(ledger._waiting) == 4  # one batch, written after the first fails
        release.set()
        results = [writer.result(60)] + [f.result(60) for f in waiting]
    assert all(isinstance(r, errors.ServiceUnavailable) for r in results)
    assert len({id(r) for r in results}) == len(results)
