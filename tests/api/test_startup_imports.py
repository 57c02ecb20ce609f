"""What a server loads to start: the modules only some rotations need wait until one does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOADED_ON_USE = ("yaml", "croniter")
"""PyYAML (flow definitions) and croniter (cron schedules) cost a fifth of the start-up."""

_CODE = """
import asyncio, json, sys
from pathlib import Path
from rotor.api.app import create_app
from rotor.settings import Settings

async def start() -> None:
    app = create_app(Settings.load({"data_dir": Path(sys.argv[1])}, environ={})).app
    async with app.router.lifespan_context(app):
        pass

asyncio.run(start())
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2:])))
"""


def test_a_started_server_has_not_loaded_yaml_or_croniter(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CODE, str(tmp_path / "data"), *LOADED_ON_USE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_they_load_when_a_rotation_needs_them() -> None:
    code = (
        "import sys\n"
        "from rotor import errors\n"
        "from rotor.rotation import flows, schedules\n"
        "schedules.cron_min_gap('*/5 * * * *')\n"
        "try:\n"
        "    flows.parse_flow('not: [a flow')\n"
        "except errors.InvalidParameter:\n"
        "    pass\n"
        f"print(all(name in sys.modules for name in {LOADED_ON_USE!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.strip() == "True", result.stderr
