"""docs/reference/settings.md has a row for every setting, and none for a setting that is gone."""

from __future__ import annotations

import re
from pathlib import Path

from rotor.settings import describe_settings

SETTINGS_DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "settings.md"


def documented() -> list[str]:
    """The variables of the table between the settings-table marks, in order."""
    text = SETTINGS_DOC.read_text()
    table = text.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    return re.findall(r"^\| `(ROTOR_[A-Z_]+)` \|", table, re.MULTILINE)


def test_every_setting_has_a_row() -> None:
    settings = [env for env, _, _ in describe_settings()]
    rows = documented()
    assert sorted(rows) == sorted(settings)
    assert len(rows) == len(set(rows))
