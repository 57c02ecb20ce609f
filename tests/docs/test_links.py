"""Every relative link of README.md, CONTRIBUTING.md and docs/ names a file that exists,
and every #anchor a heading of that file (GitHub's way of naming headings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchor(heading: str) -> str:
    """GitHub's id of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCED.sub("", path.read_text())
    return {anchor(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def test_anchor_is_githubs() -> None:
    assert anchor("Delegation: a rotation never gets more than its configurer holds") == (
        "delegation-a-rotation-never-gets-more-than-its-configurer-holds"
    )
    assert anchor("`rotor serve`") == "rotor-serve"
    assert anchor("Rotation functions, unchanged") == "rotation-functions-unchanged"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    broken = []
    for target in LINK.findall(FENCED.sub("", document.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, fragment = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{target}: no heading #{fragment} in {path.relative_to(ROOT)}")
    assert broken == []
