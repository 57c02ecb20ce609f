"""How fast rotor starts, and how much memory an idle server holds.

For each of ``--runs`` rounds, on a fresh data dir each time (SQLite):

- ``rotor serve``: wall time from starting the process to the first 200 from
  ``/healthz`` (the data dir initialised, the server bound), then the server's RSS
  once idle (``/proc/PID/status`` VmRSS, after ``--idle`` seconds);
- the import time of what ``rotor serve`` loads before it binds, and of the CLI alone
  (``python -X importtime``'s cumulative figure for the top-level module);
- the wall and CPU time of ``rotor --help`` and of ``rotor secret get --help``.

Prints best-of-N and median of wall and CPU seconds: on a loaded machine the
best, and CPU time, are the figures that depend least on what else runs.

    .venv/bin/python bench/startup.py [--runs 7] [--idle 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from read_path import cpu_seconds


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ROTOR_")}


def first_200(data_dir: Path) -> tuple[float, float, subprocess.Popen[bytes]]:
    """Seconds from spawning ``rotor serve`` to its first 200, and its CPU seconds by then."""
    command = [sys.executable, "-m", "rotor", "serve", "--data-dir", str(data_dir), "--port", "0"]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = start + 60
    while time.perf_counter() < deadline:
        try:
            url = json.loads((data_dir / "server.json").read_text())["url"]
            host, port = url.split("//", 1)[1].rsplit(":", 1)
            connection = http.client.HTTPConnection(host, int(port), timeout=5)
            connection.request("GET", "/healthz")
            status = connection.getresponse().status
            connection.close()
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            time.sleep(0.005)
            continue
        if status == 200:
            return time.perf_counter() - start, cpu_seconds(process.pid), process
    process.kill()
    raise SystemExit("rotor serve did not answer")


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def import_ms(module: str) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter, in ms."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(result.stderr.splitlines()):
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise SystemExit(f"no importtime line for {module}")


def wall_and_cpu_s(*args: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``python -m rotor ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rotor", *args],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def line(label: str, values: list[float], unit: str) -> str:
    return (
        f"{label:<40} best {min(values):>8.3f} {unit}   "
        f"median {statistics.median(values):>8.3f} {unit}   (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before RSS")
    args = parser.parse_args()

    figures: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    for _ in range(args.runs):
        root = Path(tempfile.mkdtemp(prefix="rotor-startup-"))
        try:
            seconds, cpu, process = first_200(root / "data")
            add("serve: spawn to first 200", seconds)
            add("serve: CPU to first 200", cpu)
            time.sleep(args.idle)
            add("serve: idle RSS", rss_mib(process.pid))
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        add("import rotor.api.server (serve)", import_ms("rotor.api.server"))
        add("import rotor.cli.main (CLI)", import_ms("rotor.cli.main"))
        for command in (("--help",), ("secret", "get", "--help")):
            wall, cpu = wall_and_cpu_s(*command)
            add(f"rotor {' '.join(command)}", wall)
            add(f"rotor {' '.join(command)} (CPU)", cpu)

    load = os.getloadavg()[0]
    print(
        f"rotor start-up, Python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load:.1f}"
    )
    units = {"serve: idle RSS": "MiB"}
    for key, values in figures.items():
        unit = units.get(key, "ms" if key.startswith("import") else "s")
        print(line(key, values, unit))


if __name__ == "__main__":
    main()
