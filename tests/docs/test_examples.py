"""Every fenced example of README.md and docs/**/*.md runs as written against a real server.

``sh`` blocks run through bash (``set -euo pipefail``) and ``python`` blocks through this
interpreter, in the order they appear, in one shared working directory next to one real
``rotor serve`` whose data dir is ``./rotor-data`` (as ``./scripts/run`` makes it), with
``rotor`` on PATH, ``.venv`` and ``scripts`` linked into it, and ``ROTOR_URL``,
``ROTOR_ACCESS_KEY_ID`` and ``ROTOR_ACCESS_KEY_SECRET`` naming that server and its admin.
The MySQL walkthrough starts its MariaDB with ``./scripts/try-mariadb``, as it says.

A block that cannot run here carries ``<!-- example: skip (reason) -->`` on the line
before its fence, and blocks that are not commands (``json``, ``yaml``, ``text``,
``nginx``) are data or output; each of them is reported as a skip with its reason, and a
block of any other language fails until it is run or marked.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.server import RunningServer, server_env, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN = {"sh", "python"}
NOT_COMMANDS = {"json", "yaml", "text", "nginx"}
SKIP_MARK = re.compile(r"<!-- example: skip \((?P<reason>.+)\) -->")
FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")
BLOCK_TIMEOUT = 120.0
# One line, so that a block's line k is line k + 1 of its script.
SH_PREAMBLE = (
    "set -euo pipefail; shopt -s expand_aliases; "
    "trap 'echo \"example failed at {doc}:$(({first} + LINENO - 1)) (exit $?)\" >&2' ERR"
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Block:
    """One fenced code block: where it is, its language, its text, and why it is not run."""

    path: Path
    line: int  # of the opening fence
    lang: str
    code: str
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def first_code_line(self) -> int:
        return self.line + 1


def extract(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file (fences at the start of a line)."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        assert end < len(lines), f"{path.relative_to(ROOT)}:{index + 1}: unclosed fence"
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        mark = SKIP_MARK.search(previous)
        lang = opening["lang"]
        skip = mark["reason"] if mark else None
        if skip is None and lang in NOT_COMMANDS:
            skip = f"not a command: a {lang} block"
        blocks.append(
            Block(
                path=path,
                line=index + 1,
                lang=lang,
                code="\n".join(lines[index + 1 : end]) + "\n",
                skip=skip,
            )
        )
        index = end + 1
    return blocks


BLOCKS = [block for document in DOCUMENTS for block in extract(document)]
MARKED = [block for block in BLOCKS if block.skip is not None and block.lang not in NOT_COMMANDS]


def _not_commands() -> dict[str, str]:
    """Per document, the data and output blocks, which are not run: one entry each."""
    lines: dict[str, list[str]] = {}
    for block in BLOCKS:
        if block.skip is not None and block.lang in NOT_COMMANDS:
            lines.setdefault(str(block.path.relative_to(ROOT)), []).append(
                f"{block.line} ({block.lang})"
            )
    return {doc: ", ".join(at) for doc, at in lines.items()}


NOT_RUN = {block.where: f"({block.lang}) {block.skip}" for block in MARKED} | {
    doc: f"data or output, not commands, at lines {at}" for doc, at in _not_commands().items()
}


def test_every_example_is_run_or_marked() -> None:
    unknown = [
        f"{block.where}: a {block.lang or 'plain'} block; run it (sh, python) or mark it"
        for block in BLOCKS
        if block.skip is None and block.lang not in RUN
    ]
    assert unknown == []
    assert sum(block.skip is None for block in BLOCKS) >= 10


@pytest.mark.parametrize("where", NOT_RUN)
def test_example_not_run(where: str) -> None:
    """Each block that is not run, with its reason, in the skip summary."""
    pytest.skip(f"{where}: {NOT_RUN[where]}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workspace:
    path: Path
    server: RunningServer
    env: dict[str, str]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A working directory next to a real server whose data dir is ./rotor-data."""
    path = tmp_path_factory.mktemp("examples")
    (path / ".venv").symlink_to(sys.prefix)
    (path / "scripts").symlink_to(ROOT / "scripts")
    server = start_server(path / "rotor-data")
    env = server_env(
        {
            "ROTOR_URL": server.url,
            **server.credentials_env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(path),
        }
    )
    del env["ROTOR_AUTH_FAILURE_MAX_DELAY_SECONDS"]  # a server setting, not the client's
    try:
        yield Workspace(path=path, server=server, env=env)
    finally:
        if (path / "rotor-data" / "try-mariadb").exists():
            subprocess.run(
                ["./scripts/try-mariadb", "stop"],
                cwd=path,
                env=env,
                capture_output=True,
                timeout=90,
                check=False,
            )
        stop_server(server)


def run_block(block: Block, workspace: Workspace) -> str | None:
    """Run one block; None when it succeeds, else what went wrong, naming its line."""
    if block.lang == "sh":
        preamble = SH_PREAMBLE.format(doc=block.path.relative_to(ROOT), first=block.line)
        command = ["bash", "-c", preamble + "\n" + block.code, "example"]
    else:
        script = workspace.path / f"example-{block.line}.py"
        script.write_text(block.code)
        command = [sys.executable, script.name]
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
        return f"{block.where}: still running after {BLOCK_TIMEOUT:.0f} s\n{timeout.stderr!r}"
    if done.returncode == 0:
        return None
    detail = done.stderr
    if block.lang == "python":
        # Traceback lines name the script's line; say which line of the document it is.
        detail = re.sub(
            rf'File "[^"]*{re.escape(command[1])}", line (\d+)',
            lambda m: f"{block.path.name} line {block.line + int(m[1])}",
            detail,
        )
    return (
        f"{block.where}: the {block.lang} example exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-3000:]}--- stderr\n{detail[-3000:]}"
    )


def test_examples_run_in_order(workspace: Workspace) -> None:
    """The runnable examples, in document order (later ones build on earlier ones)."""
    failures = [
        failure
        for block in BLOCKS
        if block.skip is None
        if (failure := run_block(block, workspace)) is not None
    ]
    assert not failures, (
        f"{len(failures)} example(s) failed:\n\n"
        + "\n\n".join(failures)
        + f"\n\n--- server output\n{workspace.server.output()}"
    )
