"""The cloud's official packages that cannot live in rotor's own environment (a plugin).

``aliyun-secret-manager-client==0.1.5`` pins ``cryptography<=38.0.3`` and
``typing-extensions<=4.1.1``, which rotor cannot run with. The ``cloud_python``
fixture (session) returns the interpreter of a virtual environment of its own,
``.venv-cloud`` at the top of the checkout, with ``tests/cloud/requirements.txt``
installed under ``tests/cloud/constraints.txt``. It is built on first use and
rebuilt when either file changes; code runs in it as a subprocess, exactly as
installed from the registry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / "tests" / "cloud"
VENV = ROOT / ".venv-cloud"
STAMP = VENV / "rotor-requirements.sha256"
INSTALL_TIMEOUT = 600.0


def _wanted_stamp() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "constraints.txt"):
        digest.update((CLOUD / name).read_bytes())
    return digest.hexdigest()


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_cloud_venv() -> Path:
    """The interpreter of ``.venv-cloud``, built or rebuilt as needed."""
    wanted = _wanted_stamp()
    if _python().exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return _python()
    shutil.rmtree(VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True, timeout=INSTALL_TIMEOUT)
    subprocess.run(
        [
            str(_python()),
            *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("-r", str(CLOUD / "requirements.txt"), "-c", str(CLOUD / "constraints.txt")),
        ],
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    STAMP.write_text(wanted)
    return _python()


@pytest.fixture(scope="session")
def cloud_python() -> Path:
    """The interpreter of the cloud packages' own virtual environment."""
    return ensure_cloud_venv()


def run_cloud_script(
    python: Path, script: str, *, env: dict[str, str] | None = None, timeout: float = 60.0
) -> Any:
    """Run ``script`` under ``python``; it prints one JSON document last, which is returned.

    A failing script fails the test with its output.
    """
    done = subprocess.run(
        [str(python), "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"cloud script exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])
