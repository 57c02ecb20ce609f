"""``rotor secret ...``: thin clients of a server's native API.

Each command parses its flags, makes one :class:`rotor.client.Client` call (or
iterates pages) and renders the result: a table or a sentence for people,
``--json`` for scripts. Errors are left to :mod:`rotor.cli.main`.

Secrets stay off the command line: the access key secret comes only from
``ROTOR_ACCESS_KEY_SECRET`` or a credentials file, and values are best given
with ``--file`` or on stdin.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from rotor import errors, protocol
from rotor.cli import render, render_secrets
from rotor.cli.connection import Connection, connected
from rotor.cli.render import JsonOption

app = typer.Typer(help="Create, read and manage secrets on a rotor server.", no_args_is_help=True)

NameArgument = Annotated[
    str,
    typer.Argument(help=f"Secret name: {protocol.NAME_RULE}", show_default=False),
]
ValueOption = Annotated[
    str | None,
    typer.Option(
        "--value",
        help="The value, as text. Other users can see it in the process list and it stays in "
        "shell history: prefer --file or stdin.",
        show_default=False,
    ),
]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        help="Read the value from FILE ('-' for stdin). Without --value or --file, a value "
        "piped on stdin is used. Bytes are taken as they are (no newline is stripped).",
        show_default=False,
    ),
]
BinaryOption = Annotated[
    bool,
    typer.Option("--binary", help="Store the bytes read as a binary value (default: UTF-8 text)."),
]
VersionIdOption = Annotated[
    str | None,
    typer.Option(
        "--version-id",
        help="Version id (1-64 characters of A-Za-z0-9_.-); default: a new UUID.",
        show_default=False,
    ),
]
TagOption = Annotated[
    list[str] | None,
    typer.Option("--tag", help="A tag, key=value (repeatable).", show_default=False),
]


# -- input ---------------------------------------------------------------------------------------


def _parse_tags(items: Iterable[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidParameter(f"--tag {item!r} must be key=value")
        tags[key] = value
    return tags


def _stdin_is_piped() -> bool:
    return sys.stdin is not None and not sys.stdin.isatty()


def _read_value(
    value: str | None, file: Path | None, binary: bool, *, required: bool
) -> str | bytes | None:
    """The value from --value, --file or piped stdin (None when none was given)."""
    if value is not None and file is not None:
        raise errors.InvalidParameter("give --value or --file, not both")
    if value is not None:
        if binary:
            raise errors.InvalidParameter("--binary takes the value from --file or stdin")
        return value
    data: bytes | None = None
    source = "stdin"
    if file is not None and str(file) != "-":
        source = str(file)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise errors.InvalidParameter(f"cannot read {file}: {exc.strerror}") from None
    elif file is not None or _stdin_is_piped():
        data = typer.get_binary_stream("stdin").read()
        if not data and file is None:
            data = None  # nothing was piped in
    if data is None:
        if required or binary:
            raise errors.InvalidParameter(
                "no value given: use --value, --file PATH, or pipe it on stdin"
            )
        return None
    if binary:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidParameter(
            f"the value from {source} is not UTF-8 text; add --binary to store it as binary"
        ) from None


# -- writing values ------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``; a new file is created readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise errors.InvalidParameter(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    stream = typer.get_binary_stream("stdout")
    stream.write(data)
    stream.flush()


# -- commands ------------------------------------------------------------------------------------


@app.command("create")
@connected
def create(
    connection: Connection,
    name: NameArgument,
    description: Annotated[
        str | None, typer.Option(help="What the secret is for.", show_default=False)
    ] = None,
    secret_type: Annotated[
        str | None,
        typer.Option("--type", help="Secret type (default: Generic).", show_default=False),
    ] = None,
    tag: TagOption = None,
    value: ValueOption = None,
    file: FileOption = None,
    binary: BinaryOption = False,
    version_id: VersionIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a secret, optionally with a first value (staged Current)."""
    secret_value = _read_value(value, file, binary, required=False)
    with connection.client() as client:
        info = client.create_secret(
            name,
            value=secret_value,
            description=description,
            secret_type=secret_type,
            tags=_parse_tags(tag),
            version_id=version_id if secret_value is not None else None,
        )
    if as_json:
        render.echo_json(render_secrets.secret_json(info))
        return
    current = info.stages.get("Current")
    suffix = f" with version {current} staged Current" if current else " (no value yet)"
    render.console().print(Text(f"Created secret {info.name}{suffix}."))


@app.command("get")
@connected
def get(
    connection: Connection,
    name: NameArgument,
    stage: Annotated[
        str | None,
        typer.Option(
            help="Read the version with this stage (default: Current).", show_default=False
        ),
    ] = None,
    version_id: Annotated[
        str | None, typer.Option("--version-id", help="Read this version.", show_default=False)
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to FILE instead of stdout (a new file is created mode 0600).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help='Print the version as JSON (binary values in base64 as "binary").'
        ),
    ] = False,
) -> None:
    """Print a secret's value: just the value, text as it is, binary as raw bytes.

    A newline is added only when stdout is a terminal; binary values are not written to a
    terminal (use --output or redirect).
    """
    with connection.client() as client:
        secret = client.get_value(name, stage=stage, version_id=version_id)
    if as_json:
        data = (render.json_text(render_secrets.value_json(secret)) + "\n").encode()
    elif isinstance(secret.value, bytes):
        data = secret.value
    else:
        data = secret.value.encode("utf-8")
    if output is not None:
        _write_private(output, data)
        return
    if sys.stdout.isatty():
        if isinstance(secret.value, bytes) and not as_json:
            raise errors.InvalidParameter(
                f"{name} holds a binary value: write it with --output FILE or redirect stdout"
            )
        if not data.endswith(b"\n"):
            data += b"\n"
    _write_stdout(data)


@app.command("put")
@connected
def put(
    connection: Connection,
    name: NameArgument,
    value: ValueOption = None,
    file: FileOption = None,
    binary: BinaryOption = False,
    version_id: VersionIdOption = None,
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage",
            help="Stage to attach to the new version (repeatable; default: Current).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Put a new value: a new version of the secret, staged Current unless --stage says otherwise.

    Putting the same version id with the same value again changes nothing.
    """
    secret_value = _read_value(value, file, binary, required=True)
    assert secret_value is not None
    with connection.client() as client:
        version = client.put_value(name, secret_value, version_id=version_id, stages=stage)
    if as_json:
        render.echo_json(render_secrets.version_json(version))
        return
    staged = ", ".join(version.stages) or "no stage"
    render.console().print(Text(f"Put version {version.version_id} of {version.name} ({staged})."))


@app.command("list")
@connected
def list_(
    connection: Connection,
    prefix: Annotated[
        str | None, typer.Option(help="Only names starting with PREFIX.", show_default=False)
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            help="Only secrets with this tag, key=value (repeatable; all must match).",
            show_default=False,
        ),
    ] = None,
    include_pending_deletion: Annotated[
        bool,
        typer.Option("--include-pending-deletion", help="Include secrets scheduled for deletion."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List secrets by name (all pages)."""
    with connection.client() as client:
        found = list(
            client.iter_secrets(
                prefix=prefix,
                tags=_parse_tags(tag),
                include_pending_deletion=include_pending_deletion,
            )
        )
    if as_json:
        render.echo_json([render_secrets.secret_json(info) for info in found])
        return
    if not found:
        render.console().print("No secrets.")
        return
    render.console().print(render_secrets.secrets_table(found))


@app.command("describe")
@connected
def describe(
    connection: Connection,
    name: NameArgument,
    as_json: JsonOption = False,
) -> None:
    """Show a secret's metadata and stages (never its value)."""
    with connection.client() as client:
        info = client.describe_secret(name)
    if as_json:
        render.echo_json(render_secrets.secret_json(info))
    else:
        render.console().print(render_secrets.describe_table(info))


@app.command("versions")
@connected
def versions(
    connection: Connection,
    name: NameArgument,
    as_json: JsonOption = False,
) -> None:
    """List a secret's versions, newest first, with their stages (all pages)."""
    with connection.client() as client:
        found = list(client.iter_versions(name))
    if as_json:
        render.echo_json([render_secrets.version_json(version) for version in found])
        return
    render.console().print(render_secrets.versions_table(found))


@app.command("stage")
@connected
def stage(
    connection: Connection,
    name: NameArgument,
    stage_name: Annotated[
        str,
        typer.Argument(
            metavar="STAGE", help="Stage to change: Current, Pending, Previous or a custom one."
        ),
    ],
    move_to: Annotated[
        str | None,
        typer.Option(
            "--move-to",
            help="Version to put the stage on (moving Current moves Previous to the old Current).",
            show_default=False,
        ),
    ] = None,
    remove_from: Annotated[
        str | None,
        typer.Option(
            "--remove-from",
            help="Version to take the stage off (it must be there now).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Move a stage to a version and/or remove it from one."""
    with connection.client() as client:
        result = client.update_stage(
            name, stage_name, move_to_version=move_to, remove_from_version=remove_from
        )
    if as_json:
        render.echo_json({"name": result.name, "stages": dict(result.stages)})
        return
    console = render.console()
    console.print(Text(f"Stages of {result.name}:"))
    console.print(render_secrets.stages_table(result.stages))


@app.command("delete")
@connected
def delete(
    connection: Connection,
    name: NameArgument,
    recovery_days: Annotated[
        int | None,
        typer.Option(
            help="Days (7-30) during which `rotor secret restore` can undo the deletion "
            "(default: 30).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete at once, with no way to restore.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Schedule a secret for deletion, or delete it at once with --force."""
    with connection.client() as client:
        info = client.delete_secret(name, recovery_days=recovery_days, force=force)
    if as_json:
        render.echo_json(render_secrets.secret_json(info))
    elif force:
        render.console().print(Text(f"Deleted secret {info.name}."))
    else:
        render.console().print(
            Text(
                f"Secret {info.name} will be deleted on {render.when(info.delete_after)}; "
                f"`rotor secret restore {info.name}` cancels this."
            )
        )


@app.command("restore")
@connected
def restore(
    connection: Connection,
    name: NameArgument,
    as_json: JsonOption = False,
) -> None:
    """Cancel a secret's scheduled deletion."""
    with connection.client() as client:
        info = client.restore_secret(name)
    if as_json:
        render.echo_json(render_secrets.secret_json(info))
    else:
        render.console().print(Text(f"Restored secret {info.name}."))
