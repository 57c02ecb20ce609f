"""A registered rotation function whose target is unreachable: every step fails with a
transient error (a refused connection), so a rotation of it keeps retrying until it runs
out of attempts or is cancelled. For tests of running, failing and cancelled rotations."""

from __future__ import annotations

import uuid
from pathlib import Path

import rotor.client

HANDLER = (
    "def handler(event, context):\n"
    "    raise ConnectionError('the target database is unreachable')\n"
)
#: What the failed steps' errors say.
MESSAGE = "the target database is unreachable"


def register_unreachable(client: rotor.client.Client, directory: Path) -> str:
    """Register the function (as an administrator) and return its name."""
    path = directory / f"unreachable_{uuid.uuid4().hex[:8]}.py"
    path.write_text(HANDLER)
    name = f"unreachable-{uuid.uuid4().hex[:8]}"
    client.register_function(name, kind="python-handler", handler=f"{path}:handler")
    return name
