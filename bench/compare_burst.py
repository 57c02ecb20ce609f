"""The burst of bench/compare.py: ``--burst`` ``generated-password`` rotations due at once
on a running ``rotor serve``, run by its own scheduler.

The secrets and their daily rotations are written through the store functions (from this
process, on the server's store), not yet due; the bearer read's p99 is measured idle;
then one UPDATE makes every one due two days ago, and wrk reads in runs of ``--seconds``
until the last rotation has finished (polled in the store every 0.2 s; a burst in
which none finishes for STALL_SECONDS is reported with its unfinished count). Figures: the
seconds from the UPDATE to the last finish, the rate, the idle p99 and the worst p99 of
the runs during the burst.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from compare_report import to_ms
from read_path import run_wrk
from tests.conftest import admin_identity

from rotor.clock import utcnow
from rotor.settings import Settings
from rotor.store import rotation_configs, secrets
from rotor.store import tables as t
from rotor.store.database import Store

GENERATED = "generated-password"
#: A burst in which no rotation finishes for this long is stuck (a failing rotation).
STALL_SECONDS = 120


def seed(store: Store, count: int) -> None:
    """``count`` secrets with a daily generated-password rotation, next due in a year."""
    admin = admin_identity(store).principal_id
    later = utcnow() + dt.timedelta(days=365)
    for i in range(count):
        name = f"burst/s{i}"
        value = json.dumps({"AccountName": f"a{i}", "AccountPassword": "initial"})
        secrets.create_secret(store, name=name, value=value, version_id="v0")
        rotation_configs.put_config(
            store,
            name,
            enabled=True,
            function=GENERATED,
            parameters={},
            interval_seconds=86400,
            cron=None,
            window_seconds=None,
            flow=None,
            next_rotation_at=later,
            configured_by=admin,
            delegated_secrets=None,
        )


def left(store: Store) -> int:
    """Burst rotations not yet done."""
    with store.read() as conn:
        query = sa.select(sa.func.count()).where(
            t.rotation_configs.c.function == GENERATED,
            t.rotation_configs.c.last_rotated_at.is_(None),
        )
        return int(conn.execute(query).scalar_one())


def burst(rotor: tuple[str, str, str], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    name, url, token = rotor
    settings = Settings.load(
        {"data_dir": work / name, "database_url": args.urls[name] or ""}, environ={}
    )
    store = Store.open(settings)
    try:
        began = time.monotonic()
        seed(store, args.burst)
        seeded = time.monotonic() - began

        def p99() -> float:
            path = "/v1/secrets/bench/db:value"
            run = run_wrk(url, token, path, args.connections, args.seconds, [])
            return to_ms(run.p99)

        idle = p99()
        ago = utcnow() - dt.timedelta(days=2)
        with store.write() as conn:
            conn.execute(t.versions.update().values(created_at=ago))
            conn.execute(
                t.rotation_configs.update()
                .where(t.rotation_configs.c.function == GENERATED)
                .values(enabled_at=ago, next_rotation_at=ago)
            )
        due = time.monotonic()
        finished = threading.Event()
        end, unfinished = [0.0], [0]

        def poll() -> None:
            """Until none is left, or none has finished for STALL_SECONDS (then it is
            stuck: what is left is reported unfinished, and the rate counts the rest)."""
            last, changed = args.burst, time.monotonic()
            while remaining := left(store):
                if remaining != last:
                    last, changed = remaining, time.monotonic()
                elif time.monotonic() - changed > STALL_SECONDS:
                    unfinished[0] = remaining
                    break
                time.sleep(0.2)
            end[0] = changed if unfinished[0] else time.monotonic()
            finished.set()

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        during = []
        while not finished.is_set():
            during.append(p99())
        poller.join()
    finally:
        store.close()
    seconds = end[0] - due
    if unfinished[0]:
        print(f"burst {name}: {unfinished[0]} rotations still not done {STALL_SECONDS} s on")
    return {
        "rotations": args.burst,
        "unfinished": unfinished[0],
        "seed_seconds": seeded,
        "seconds": seconds,
        "rate": (args.burst - unfinished[0]) / seconds,
        "idle_p99_ms": idle,
        "burst_p99_ms": during,
        "worst_p99_ms": max(during),
    }
