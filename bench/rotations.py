"""Rotations through the engine, in process, on a fresh SQLite store: rate, server-side
p50 and CPU per rotation.

For ``generated-password``, ``mysql-single-user`` and ``mysql-alternating`` (against a
throwaway MariaDB started the way the test suite starts one, ``tests/services/mariadb.py``),
at each client count: every client is a thread that starts and runs rotations of its own
secrets back to back (``Engine.start`` then ``Engine.run``, what a request to rotate now
costs the server). Printed per row: rotations/s, the p50 of one rotation's start-to-end
time, and the process's CPU time per rotation (this process is the server: the MariaDB
server's own CPU is not counted).

``--burst N`` then makes N ``generated-password`` rotations due at once and lets a
:class:`rotor.rotation.scheduler.Scheduler` run them: the time until the last finishes,
the rate, and CPU per rotation.

On a machine busy with other work the rates and times are noise; CPU per rotation is
the figure to compare.

    .venv/bin/python bench/rotations.py [--rotations 100] [--clients 1,8] [--burst 0]
        [--functions generated-password,mysql-single-user,mysql-alternating]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import admin_identity
from tests.rotation.mysql.support import Database, make_app
from tests.services.mariadb import run_mariadb_server

from rotor.clock import utcnow
from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store import secrets
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.rotations import Status

GENERATED = "generated-password"
MYSQL = ("mysql-single-user", "mysql-alternating")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    label: str
    rotations: int
    seconds: float
    cpu_seconds: float
    p50: float

    def line(self) -> str:
        return (
            f"{self.label:<34} {self.rotations / self.seconds:8.1f}/s  "
            f"p50 {self.p50 * 1000:7.1f} ms  CPU {self.cpu_seconds / self.rotations * 1000:6.2f} ms"
            " per rotation"
        )


@contextlib.contextmanager
def open_store(**extra: object) -> Iterator[Store]:
    data = Path(tempfile.mkdtemp(prefix="rotor-bench-")) / "data"
    settings = Settings.load({"data_dir": data, "database_url": "", **extra}, environ={})
    store = Store.open(settings)
    try:
        yield store
    finally:
        store.close()


def generated_secrets(
    engine: Engine, count: int, *, prefix: str = "bench", every: str | None = None
) -> list[str]:
    identity = admin_identity(engine.store)
    names = []
    for i in range(count):
        name = f"{prefix}/s{i}"
        value = json.dumps({"AccountName": f"a{i}", "AccountPassword": "initial"})
        secrets.create_secret(engine.store, name=name, value=value, version_id="v0")
        request = configuration.RotationRequest(
            function=GENERATED, parameters={}, every=every, rotate_now=False, dry_run=False
        )
        configuration.configure(engine, name, request, identity=identity)
        names.append(name)
    return names


def drive(engine: Engine, label: str, names: list[list[str]], rounds: int) -> Result:
    """Each client (one list of secret names) rotates its secrets in turn, ``rounds`` times
    in all; returns the figures."""

    def client(own: list[str]) -> list[float]:
        times = []
        for i in range(rounds):
            began = time.perf_counter()
            rotation, _ = engine.start(own[i % len(own)], started_by="bench")
            done = engine.run(rotation.id)
            times.append(time.perf_counter() - began)
            if done.status is not Status.SUCCEEDED:
                raise SystemExit(f"{label}: rotation {done.id} {done.status}: {done.error}")
        return times

    cpu, began = time.process_time(), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        times = [t for got in pool.map(client, names) for t in got]
    return Result(
        label=label,
        rotations=len(times),
        seconds=time.perf_counter() - began,
        cpu_seconds=time.process_time() - cpu,
        p50=statistics.median(times),
    )


def bench_generated(rotations: int, clients: list[int]) -> None:
    with open_store() as store:
        engine = Engine(store, store.settings, owner="bench")
        for n in clients:
            names = generated_secrets(engine, n, prefix=f"c{n}")
            drive(engine, "warm-up", [[name] for name in names], 2)
            print(
                drive(
                    engine, f"{GENERATED}, {n} client(s)", [[x] for x in names], rotations // n
                ).line(),
                flush=True,
            )


def bench_mysql(functions: list[str], rotations: int, clients: list[int]) -> None:
    with run_mariadb_server("bench") as server, open_store() as store:
        db = Database(server=server, parameters={}, ssl_field=False)
        engine = Engine(store, store.settings, owner="bench")
        for function in functions:
            for n in clients:
                apps = [make_app(engine, db, function=function).name for _ in range(n)]
                drive(engine, "warm-up", [[name] for name in apps], 2)
                label = f"{function}, {n} client(s)"
                print(drive(engine, label, [[x] for x in apps], rotations // n).line(), flush=True)


def bench_burst(count: int) -> None:
    with open_store(scheduler_interval_seconds=1.0) as store:
        engine = Engine(store, store.settings, owner="bench")
        generated_secrets(engine, count, prefix="burst", every="1d")
        # Written and configured two days ago: all due now.
        ago = utcnow() - dt.timedelta(days=2)
        with store.write() as conn:
            conn.execute(t.versions.update().values(created_at=ago))
            conn.execute(t.rotation_configs.update().values(enabled_at=ago, next_rotation_at=ago))
        scheduler = Scheduler(engine)
        cpu, began = time.process_time(), time.perf_counter()
        scheduler.start()
        try:
            while True:
                time.sleep(0.2)
                with store.read() as conn:
                    left = conn.exec_driver_sql(
                        "SELECT count(*) FROM rotation_configs WHERE last_rotated_at IS NULL"
                    ).scalar_one()
                if left == 0:
                    break
        finally:
            scheduler.stop()
        seconds = time.perf_counter() - began
        spent = time.process_time() - cpu
        print(
            f"burst of {count} {GENERATED} rotations due at once: {seconds:.1f} s, "
            f"{count / seconds:.1f}/s, CPU {spent / count * 1000:.2f} ms per rotation "
            f"({store.settings.rotation_workers} rotation workers)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=100, help="rotations per row")
    parser.add_argument("--clients", default="1,8", help="client counts, comma-separated")
    parser.add_argument("--functions", default=",".join((GENERATED, *MYSQL)))
    parser.add_argument("--burst", type=int, default=0, help="rotations due at once (0: none)")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    functions = args.functions.split(",")
    print("CPU per rotation is this process's (the server's); rates depend on machine load.")
    if GENERATED in functions:
        bench_generated(args.rotations, clients)
    mysql = [f for f in functions if f in MYSQL]
    if mysql:
        bench_mysql(mysql, args.rotations, clients)
    if args.burst:
        bench_burst(args.burst)


if __name__ == "__main__":
    main()
