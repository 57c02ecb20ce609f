"""Several real processes writing the same secret at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from rotor.settings import Settings
from rotor.store import secrets, stages, versions
from rotor.store.database import Store

WRITERS = 6
WRITES = 15


def _writer(data_dir: str, url: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    store = Store.open(
        Settings.load({"data_dir": Path(data_dir), "database_url": url}, environ={}),
        initialise=False,
    )
    start.wait()
    for i in range(WRITES):
        vid = f"w{worker}-{i}"
        versions.put_value(store, "shared", f"value {vid}", version_id=vid)
        if i % 3 == 0:
            stages.update_stage(store, "shared", "canary", move_to_version=vid)
        if i % 5 == 0:
            # The same idempotent write from every process: a no-op after the first.
            versions.put_value(store, "shared", "common", version_id="common", stages=["Pending"])
    store.close()


def test_concurrent_processes_lose_no_write_and_keep_one_version_per_stage(
    store: Store, settings: Settings
) -> None:
    secrets.create_secret(store, name="shared", value="initial", version_id="initial")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [
        ctx.Process(target=_writer, args=(str(settings.data_dir), settings.database_url, w, start))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    listed = []
    token = None
    while True:
        page = versions.list_versions(store, "shared", page_size=100, page_token=token)
        listed += page.items
        token = page.next_page_token
        if token is None:
            break
    ids = {v.version_id for v in listed}
    expected = {f"w{w}-{i}" for w in range(WRITERS) for i in range(WRITES)} | {"initial", "common"}
    assert ids == expected
    assert versions.get_value(store, "shared", version_id="common").value == "common"
    described = secrets.get_secret(store, "shared").stages
    # One version per stage, and every stage points at a version that exists.
    for stage in ("Current", "Previous", "Pending", "canary"):
        holders = [v.version_id for v in listed if stage in v.stages]
        assert holders == [described[stage]]
    # Previous is the Current that the last Current write replaced: the two newest
    # Current-writes are Current and Previous, in creation order.
    writes = [v for v in listed if v.version_id not in ("initial", "common")]
    assert [writes[0].version_id, writes[1].version_id] == [
        described["Current"],
        described["Previous"],
    ]


@pytest.mark.parametrize("creators", [8])
def test_racing_creates_make_exactly_one_secret(
    store: Store, settings: Settings, creators: int
) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_creator, args=(str(settings.data_dir), settings.database_url, n, start, results)
        )
        for n in range(creators)
    ]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert sorted(outcomes).count("created") == 1
    assert sorted(outcomes).count("SecretExists") == creators - 1
    winner = versions.get_value(store, "race").value
    assert isinstance(winner, str)
    assert winner.startswith("creator ")


def _creator(
    data_dir: str,
    url: str,
    n: int,
    start: multiprocessing.synchronize.Event,
    results: multiprocessing.Queue[str],
) -> None:
    from rotor import errors

    store = Store.open(
        Settings.load({"data_dir": Path(data_dir), "database_url": url}, environ={}),
        initialise=False,
    )
    start.wait()
    try:
        secrets.create_secret(store, name="race", value=f"creator {n}")
        results.put("created")
    except errors.RotorError as exc:
        results.put(exc.code)
    finally:
        store.close()
