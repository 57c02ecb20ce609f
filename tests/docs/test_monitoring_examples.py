"""The monitoring examples work: docs/prometheus/rotor-alerts.yml is valid and its unit
tests pass (promtool, from Debian's prometheus package); it and the Grafana dashboard
docs/grafana/rotor-dashboard.json name only metrics a real server exposes, and every
expression of the dashboard parses (promtool promql)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.services.server import RunningServer

RULES_DIR = Path(__file__).resolve().parents[2] / "docs" / "prometheus"
RULES = RULES_DIR / "rotor-alerts.yml"
DASHBOARD = RULES_DIR.parent / "grafana" / "rotor-dashboard.json"


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


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    """Each expression as a recording rule, which promtool parses."""
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expression_{i}", "expr": expr}
                    for i, expr in enumerate(expressions)
                ],
            }
        ]
    }
    # JSON is YAML: promtool reads it as a rule file.
    (tmp_path / "dashboard-rules.yml").write_text(json.dumps(rules))
    checked = promtool("check", "rules", str(tmp_path / "dashboard-rules.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in checked.stdout, checked.stdout


def test_a_real_scrape_passes_promtools_lint(rotor_server: RunningServer) -> None:
    response = httpx.get(
        f"{rotor_server.url}/metrics",
        headers={
            "Authorization": f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    tool = shutil.which("promtool")
    assert tool is not None, "promtool not found: apt-get install prometheus"
    linted = subprocess.run(
        [tool, "check", "metrics"],
        input=response.text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_every_metric_the_rules_and_the_dashboard_name_is_exposed(
    rotor_server: RunningServer,
) -> None:
    response = httpx.get(
        f"{rotor_server.url}/metrics",
        headers={
            "Authorization": f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    exposed = set(re.findall(r"^# HELP (\S+)", response.text, re.MULTILINE))
    # A histogram's series are its name plus _bucket, _count, _sum.
    exposed |= {f"{name}{suffix}" for name in exposed for suffix in ("_bucket", "_count", "_sum")}
    for source in (RULES.read_text(), "\n".join(dashboard_expressions())):
        named = set(re.findall(r"\b(rotor_[a-z_]+)", source))
        assert named, "no rotor metric named"
        assert named <= exposed, sorted(named - exposed)
