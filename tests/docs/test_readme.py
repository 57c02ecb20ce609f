"""The README documents every setting and starts with the two commands."""

from __future__ import annotations

from pathlib import Path

from rotor.settings import describe_settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [env for env, _, _ in describe_settings() if f"`{env}`" not in README]
    assert missing == []


def test_readme_starts_with_run_and_test_commands_that_exist() -> None:
    head = README[:1500]
    assert "./scripts/run" in head
    assert "./scripts/test" in head
    for script in ("scripts/run", "scripts/test"):
        assert (ROOT / script).stat().st_mode & 0o111


def test_ci_runs_the_readme_test_command() -> None:
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_linked_docs_exist() -> None:
    for doc in ("docs/glossary.md", "docs/reference/api.md", "docs/reference/kms-api.md"):
        assert doc in README
        assert (ROOT / doc).exists()
