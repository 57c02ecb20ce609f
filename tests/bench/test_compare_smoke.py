"""bench/compare.py --smoke runs end to end, so the benchmark cannot rot.

It needs the peers (the `bench` extra: OpenBao's bao, moto's server, matplotlib; and wrk
from apt), which `.[dev]` does not install: without them this test skips, saying which is
missing. It checks what the run shows and writes, never the figures.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def missing_peers() -> list[str]:
    missing = [m for m in ("moto", "matplotlib") if importlib.util.find_spec(m) is None]
    missing += [b for b in ("bao", "moto_server") if not (BIN / b).exists()]
    return missing


@pytest.mark.timeout(600)
def test_smoke_run_prints_the_table_and_writes_json_and_png(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    if missing := missing_peers():
        pytest.skip(
            f"the bench extra is not installed ({', '.join(missing)} missing): "
            "pip install -c constraints.txt -e '.[bench]'"
        )
    done = subprocess.run(
        [sys.executable, "bench/compare.py", "--smoke", "--no-install", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    stores = (
        ["rotor", "rotor-pg"]
        if any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        else ["rotor"]
    )
    rows = [("read", "OpenBao"), ("read", "moto"), ("read", "hello"), ("write", "OpenBao")]
    rows += [("write", "moto")] + [(path, "hello") for path in ("hmac", "kms", "aws")]
    for store in stores:
        rows += [(path, store) for path in ("read", "hmac", "kms", "aws", "write")]
    for path, target in rows:
        assert re.search(rf"^{path}\s+{target}\s+\d", out, re.M), (path, target, out)
    verdicts = re.findall(r"^(PASS|FAIL)  (.+): (.+)$", out, re.M)
    labels = {label for _, label, _ in verdicts}
    for store in stores:
        for label in (
            f"{store} read",
            f"{store} hmac",
            f"{store} kms",
            f"{store} aws",
            f"{store} write",
            f"{store} mysql-single-user, 1 client(s)",
            f"{store} mysql-single-user, 8 client(s)",
            f"{store} mysql-alternating",
            f"{store} burst of 20",
            f"{store} read p99 during the burst",
        ):
            assert any(found.startswith(label) for found in labels), (label, out)
    for label in ("SecretCache get_value", "SecretCache get_json", "Client.get_value"):
        assert any(found.startswith(label) for found in labels), (label, out)
    assert re.search(r"^rotor \(1 worker\)\s+\d+ MiB\s+[\d.]+ s$", out, re.M), out
    assert re.search(r"^OpenBao \(dev\)\s+\d+ MiB\s+[\d.]+ s$", out, re.M), out
    assert "load average" in out

    report = json.loads((tmp_path / "compare-smoke.json").read_text())
    assert report["smoke"] is True
    assert set(report["medians"]) == {"read", "hmac", "kms", "aws", "write"}
    assert set(report["medians"]["read"]) == {*stores, "OpenBao", "moto", "hello"}
    assert set(report["targets"]) == labels == set(report["judged_on"])
    assert set(report["rotations"]["burst"]) == set(stores)
    assert "scale" not in report  # off in --smoke
    assert set(report["footprint"]) == {"rotor", "OpenBao"}
    assert "before" in report["load_average"]
    assert (tmp_path / "compare-smoke.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
