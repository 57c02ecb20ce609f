"""docs/prometheus/rotor-alerts.yml is valid, its unit tests pass (promtool, from Debian's
prometheus package), and every rotor metric it names is one a real server exposes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.services.server import RunningServer

RULES_DIR = Path(__file__).resolve().parents[2] / "docs" / "prometheus"
RULES = RULES_DIR / "rotor-alerts.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail(
            "promtool not found: run `apt-get install prometheus` (or .ci/install-system-packages)",
            pytrace=False,
        )
    return subprocess.run(
        [tool, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_unit_tests_pass() -> None:
    tested = promtool("test", "rules", "rotor-alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_metric_the_rules_name_is_exposed(rotor_server: RunningServer) -> None:
    response = httpx.get(
        f"{rotor_server.url}/metrics",
        headers={
            "Authorization": f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    exposed = set(re.findall(r"^# HELP (\S+)", response.text, re.MULTILINE))
    named = set(re.findall(r"\b(rotor_[a-z_]+)", RULES.read_text()))
    assert named, "the rules name no rotor metric"
    assert named <= exposed, sorted(named - exposed)
