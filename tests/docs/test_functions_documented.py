"""Every installed rotation function has a row in the functions table of the rotation how-to."""

from __future__ import annotations

import re
from pathlib import Path

from rotor.rotation import functions

ROTATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "rotation.md"


def test_every_installed_function_is_in_the_table() -> None:
    table = ROTATION_DOC.read_text().split("## The rotation functions")[1]
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.MULTILINE))
    assert set(functions.available()) <= rows
    assert rows - set(functions.available()) == set()
