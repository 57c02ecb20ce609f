"""Every fenced example of README.md, CONTRIBUTING.md and docs/**/*.md runs as written.

The documents are parsed by Sybil (https://sybil.readthedocs.io), with an evaluator per
language:

- ``sh`` blocks run through bash (``set -euo pipefail``) and ``python`` blocks through this
  interpreter, each in a process of its own, in the order they appear in their document.
  Each document runs in a working directory of its own next to a real ``rotor serve`` of
  its own, whose data dir is ``./rotor-data`` (as ``./scripts/run`` makes it), with
  ``rotor`` on PATH, ``.venv`` and ``scripts`` linked into it, and ``ROTOR_URL``,
  ``ROTOR_ACCESS_KEY_ID`` and ``ROTOR_ACCESS_KEY_SECRET`` naming that server and its admin:
  a page works from its own first block, as a reader who opens only that page runs it. A
  page that needs MariaDB or PostgreSQL starts it with ``./scripts/try-mariadb`` or
  ``./scripts/try-postgres``, as it says; it is stopped after the page.
- Blocks that are not commands (``json``, ``yaml``, ``text``, ``nginx``, ``toml``) are data
  or output; each document's are reported as one skip listing their lines.
- A block that cannot run here carries ``<!-- skip: next "reason" -->`` (Sybil's skip
  directive) on the line before its fence; it is reported as a skip with its reason. A skip
  without a reason, a range of skips (``skip: start``), and a block of any other language
  that is not marked fail.

A failure names the document and the line of the block's opening fence (and, for a shell
block, the line of the command that failed).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys
import unittest
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sybil import Document, Example, Region
from sybil.evaluators.skip import Skipper
from sybil.example import SybilFailure
from sybil.parsers.markdown import CodeBlockParser, SkipParser
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

from tests.services.server import RunningServer, server_env, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").rglob("*.md")),
]
RUN = {"sh", "python"}
NOT_COMMANDS = {"json", "yaml", "text", "nginx", "toml"}
BLOCK_TIMEOUT = 120.0
# One line, so that a block's line k is line k + 1 of its script.
SH_PREAMBLE = (
    "set -euo pipefail; shopt -s expand_aliases; "
    "trap 'echo \"example failed at {doc}:$(({first} + LINENO - 1)) (exit $?)\" >&2' ERR"
)


def relative(path: str | Path) -> str:
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def where(example: Example) -> str:
    return f"{relative(example.path)}:{example.line}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workspace:
    """A document's working directory, next to its own server."""

    path: Path
    server: RunningServer
    env: dict[str, str]


def _workspace(example: Example) -> Workspace:
    workspace = example.namespace["workspace"]
    assert isinstance(workspace, Workspace)
    return workspace


def _run(example: Example, command: list[str], workspace: Workspace) -> str | None:
    """Run one block's process; None when it succeeds, else what went wrong."""
    try:
        done = subprocess.run(
            command,
            cwd=workspace.path,
            env=workspace.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired as timeout:
        return f"still running after {BLOCK_TIMEOUT:.0f} s\n{timeout.stderr!r}"
    if done.returncode == 0:
        return None
    return (
        f"the {example.region.lexemes['arguments']} example exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-3000:]}--- stderr\n{done.stderr[-3000:]}"
    )


def run_sh(example: Example) -> str | None:
    """Evaluate a ``sh`` block: bash, stopping at the first failing command."""
    preamble = SH_PREAMBLE.format(doc=relative(example.path), first=example.line)
    command = ["bash", "-c", preamble + "\n" + str(example.parsed), "example"]
    return _run(example, command, _workspace(example))


def run_python(example: Example) -> str | None:
    """Evaluate a ``python`` block: a script of its own, run by this interpreter."""
    workspace = _workspace(example)
    script = workspace.path / f"example-{Path(example.path).stem}-{example.line}.py"
    script.write_text(str(example.parsed))
    failure = _run(example, [sys.executable, script.name], workspace)
    if failure is None:
        return None
    # Traceback lines name the script's line; say which line of the document it is.
    return re.sub(
        rf'File "[^"]*{re.escape(script.name)}", line (\d+)',
        lambda m: f"{Path(example.path).name} line {example.line + int(m[1])}",
        failure,
    )


def not_a_command(example: Example) -> None:
    """Data or output (json, yaml, text...): nothing to run."""


def unmarked(example: Example) -> str:
    language = example.region.lexemes["arguments"] or "plain"
    return f'a {language} block: run it (sh, python) or mark it with <!-- skip: next "why" -->'


class OtherFences:
    """A Sybil parser for the fenced blocks of every language but sh and python."""

    def __init__(self) -> None:
        self.lexer = RawFencedCodeBlockLexer(
            info_pattern=re.compile(r"(?P<arguments>[^\n]*)$\n", re.MULTILINE),
            mapping={"arguments": "arguments", "source": "source"},
        )

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexer(document):
            language = region.lexemes["arguments"].strip()
            if language in RUN:
                continue
            region.lexemes["arguments"] = language
            region.parsed = region.lexemes["source"]
            region.evaluator = not_a_command if language in NOT_COMMANDS else unmarked
            yield region


def parse(path: Path) -> Document:
    return Document.parse(
        str(path),
        SkipParser(),
        CodeBlockParser("sh", run_sh),
        CodeBlockParser("python", run_python),
        OtherFences(),
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Block:
    """A fenced block as the runner sees it: whether it runs, and why not."""

    example: Example
    language: str
    skip: str | None  # the reason of the skip mark before it

    @property
    def runs(self) -> bool:
        return self.skip is None and self.language in RUN


def blocks(document: Document) -> tuple[list[Block], list[str]]:
    """The document's fenced blocks, each with the reason of its skip mark; and what is
    wrong with its skip marks."""
    found: list[Block] = []
    problems: list[str] = []
    reason: str | None = None
    for example in document.examples():
        if not isinstance(example.region.evaluator, Skipper):
            found.append(
                Block(
                    example=example,
                    language=str(example.region.lexemes["arguments"]),
                    skip=reason,
                )
            )
            reason = None
            continue
        action, argument = example.parsed
        try:
            given = ast.literal_eval(argument) if argument else None
        except (ValueError, SyntaxError):
            given = None
        if action != "next":
            problems.append(f"{where(example)}: 'skip: {action}': mark each block itself")
        elif not isinstance(given, str) or not given.strip():
            problems.append(f"{where(example)}: a skip without a reason (a quoted string)")
        else:
            reason = given
    return found, problems


PARSED = {relative(path): parse(path) for path in DOCUMENTS}
BLOCKS = {doc: blocks(document)[0] for doc, document in PARSED.items()}
MARK_PROBLEMS = [problem for document in PARSED.values() for problem in blocks(document)[1]]
RUNNABLE = [doc for doc, found in BLOCKS.items() if any(block.runs for block in found)]
NOT_RUN = {
    where(block.example): f"({block.language}) {block.skip}"
    for found in BLOCKS.values()
    for block in found
    if block.skip is not None and block.language not in NOT_COMMANDS
} | {
    doc: "data or output, not commands, at lines "
    + ", ".join(f"{b.example.line} ({b.language})" for b in found)
    for doc, all_blocks in BLOCKS.items()
    if (found := [b for b in all_blocks if b.skip is None and b.language in NOT_COMMANDS])
}


def test_every_example_is_run_or_marked() -> None:
    problems = MARK_PROBLEMS + [
        f"{where(block.example)}: {unmarked(block.example)}"
        for found in BLOCKS.values()
        for block in found
        if block.skip is None and block.language not in RUN | NOT_COMMANDS
    ]
    assert problems == []
    # The old mark, which Sybil does not read: a block under it would run unannounced.
    assert [doc for doc in PARSED if "<!-- example: skip" in (ROOT / doc).read_text()] == []
    assert sum(block.runs for found in BLOCKS.values() for block in found) >= 25


def test_a_skip_mark_needs_a_reason_and_marks_one_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- skip: next -->\n```sh\ntrue\n```\n\n"
        '<!-- skip: start "a range" -->\n```sh\ntrue\n```\n<!-- skip: end -->\n\n'
        "```console\n$ true\n```\n\n"
        '<!-- skip: next "a reason" -->\n```console\n$ true\n```\n'
    )
    found, problems = blocks(parse(page))
    assert [(b.example.line, b.language, b.skip) for b in found] == [
        (2, "sh", None),
        (7, "sh", None),
        (12, "console", None),
        (17, "console", "a reason"),
    ]
    assert [problem.split(": ", 1)[0].rsplit(":", 1)[1] for problem in problems] == ["1", "6", "10"]


@pytest.mark.parametrize("where", NOT_RUN)
def test_example_not_run(where: str) -> None:
    """Each block that is not run, with its reason, in the skip summary."""
    pytest.skip(f"{where}: {NOT_RUN[where]}")


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A working directory next to a real server of its own whose data dir is ./rotor-data."""
    (tmp_path / ".venv").symlink_to(sys.prefix)
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    server = start_server(tmp_path / "rotor-data")
    env = server_env(
        {
            "ROTOR_URL": server.url,
            **server.credentials_env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(tmp_path),
        }
    )
    del env["ROTOR_AUTH_FAILURE_MAX_DELAY_SECONDS"]  # a server setting, not the client's
    try:
        yield Workspace(path=tmp_path, server=server, env=env)
    finally:
        for service in ("try-mariadb", "try-postgres"):
            if (tmp_path / "rotor-data" / service).exists():
                subprocess.run(
                    [f"./scripts/{service}", "stop"],
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    timeout=90,
                    check=False,
                )
        stop_server(server)


@pytest.mark.parametrize("doc", RUNNABLE)
def test_examples_run_in_order(doc: str, workspace: Workspace) -> None:
    """A document's examples, in its order (later ones build on earlier ones)."""
    document = parse(ROOT / doc)  # a fresh parse: Sybil keeps a document's skip state
    document.namespace["workspace"] = workspace
    failures: list[str] = []
    for example in document.examples():
        try:
            example.evaluate()
        except unittest.SkipTest:
            continue  # reported by test_example_not_run
        except SybilFailure as failure:
            failures.append(f"{where(example)}: {failure.result}")
    assert not failures, (
        f"{len(failures)} example(s) failed:\n\n"
        + "\n\n".join(failures)
        + f"\n\n--- server output\n{workspace.server.output()}"
    )
