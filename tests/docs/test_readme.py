"""The README starts with the two commands, and links to every document."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_run_and_test_commands_that_exist() -> None:
    head = README[:1500]
    assert "./scripts/run" in head
    assert "./scripts/test" in head
    assert head.index("./scripts/run") < head.index("./scripts/test") < head.index("## ")
    for script in ("scripts/run", "scripts/test"):
        assert (ROOT / script).stat().st_mode & 0o111


def test_ci_runs_the_readme_test_command() -> None:
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_links_to_every_document() -> None:
    linked = set(re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", README))
    documents = {"CONTRIBUTING.md"} | {
        str(path.relative_to(ROOT)) for path in (ROOT / "docs").rglob("*.md")
    }
    assert documents - linked == set()


def test_the_readme_stays_a_first_visit() -> None:
    """The manual lives in docs/; the README is what a newcomer reads first."""
    assert len(README.splitlines()) <= 120
