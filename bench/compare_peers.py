"""The processes bench/compare.py starts and measures: installing the peers, starting a
server on a free port and waiting for its first 200, stopping it by its PID, and reading
its memory from /proc."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


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


def bao_command(port: int, token: str) -> list[str]:
    return [
        str(BIN / "bao"),
        "server",
        "-dev",
        f"-dev-listen-address=127.0.0.1:{port}",
        f"-dev-root-token-id={token}",
    ]


def launch(
    stack: ExitStack, command: list[str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` (its output to ``log``, else nowhere); ``stack`` stops it by its PID."""
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(stop, process)
    return process


def call(
    url: str, body: dict[str, object] | None, headers: dict[str, str], method: str = "POST"
) -> Any:
    """One JSON request; its decoded answer (None when empty)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, method=method, data=data, headers=headers)  # noqa: S310
    with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310
        text = response.read()
    return json.loads(text) if text else None
