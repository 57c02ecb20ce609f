"""The cloud SDK is imported by the rds-alternating function's module only (STYLE rule 18)."""

from __future__ import annotations

import json
import subprocess
import sys

SDK_PREFIXES = ("alibabacloud", "darabonba", "Tea")


def _sdk_modules_after(*modules: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({SDK_PREFIXES!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_server_cli_and_stand_in_do_not_load_the_sdk() -> None:
    assert (
        _sdk_modules_after(
            "rotor.api.app",
            "rotor.cli.main",
            "rotor.rotation.engine",
            "rotor.rotation.functions.rds_options",
            "rotor.access.aliyun_signature",
            "rotor.rds_standin.server",
        )
        == []
    )


def test_the_function_module_does() -> None:
    assert "alibabacloud_rds20140815.client" in _sdk_modules_after("rotor.rotation.functions.rds")
