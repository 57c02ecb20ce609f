"""``scripts/run`` (the README's first command) installs only when the dependencies changed.

The script runs for real, in a copy of the repository's layout whose ``.venv`` holds a
``pip`` that records its arguments and a ``rotor`` that prints its own: what is tested is
the script's decision to install, not pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def make_checkout(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "run", checkout / "scripts" / "run")
    shutil.copy2(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    shutil.copy2(ROOT / "constraints.txt", checkout / "constraints.txt")
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    _tool(bin_dir / "pip", 'echo "pip $*" >> "$PIP_LOG"; exit "${PIP_EXIT:-0}"')
    _tool(bin_dir / "rotor", 'echo "rotor $*"')
    return checkout


def run(checkout: Path, *args: str, pip_exit: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTOR_")}
    env.update(PIP_LOG=str(checkout / "pip.log"), PIP_EXIT=str(pip_exit))
    return subprocess.run(
        [str(checkout / "scripts" / "run"), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def pip_calls(checkout: Path) -> list[str]:
    log = checkout / "pip.log"
    return log.read_text().splitlines() if log.exists() else []


def test_installs_once_then_only_when_the_dependencies_change(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path)
    first = run(checkout, "--port", "0")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "rotor serve --data-dir ./rotor-data --port 0\n"
    assert pip_calls(checkout) == [
        "pip install --quiet --disable-pip-version-check -c constraints.txt -e ."
    ]

    again = run(checkout)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "rotor serve --data-dir ./rotor-data\n"
    assert len(pip_calls(checkout)) == 1  # nothing changed: no reinstall

    (checkout / "src.py").write_text("# a source change needs no install (editable)\n")
    assert run(checkout).returncode == 0
    assert len(pip_calls(checkout)) == 1

    for changed in ("constraints.txt", "pyproject.toml"):
        with (checkout / changed).open("a") as file:
            file.write("# a changed pin or dependency\n")
        installs = len(pip_calls(checkout))
        assert run(checkout).returncode == 0
        assert run(checkout).returncode == 0
        assert len(pip_calls(checkout)) == installs + 1, changed  # once, then no more


def test_a_failed_install_is_tried_again(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path)
    failed = run(checkout, pip_exit=1)
    assert failed.returncode == 1
    assert failed.stdout == ""  # rotor did not start
    assert run(checkout).returncode == 0
    assert len(pip_calls(checkout)) == 2  # the failure was not recorded as an install
