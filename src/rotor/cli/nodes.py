"""``rotor node``: the nodes that share one store.

``rotor node list`` shows the live nodes from the heartbeats each records in the
store (:mod:`rotor.store.nodes`), through the API of any of them.

Joining a node: ``rotor node join-bundle`` runs where the store and its master key
are reachable (an existing node's machine) and writes a passphrase-sealed bundle of
the master keys and a new admin access key; ``rotor node join`` on the new machine
opens it into the new node's data dir, which ``rotor serve`` (with the store's
``ROTOR_DATABASE_URL``) and the CLI then use (:mod:`rotor.access.join_bundle`).

The passphrase comes from ``--passphrase-file``, else ``ROTOR_JOIN_PASSPHRASE``,
else a prompt on a terminal: never from a flag, which every user of the machine sees.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

import rotor.client
from rotor import errors
from rotor.cli import offline, render, serve
from rotor.cli.connection import Connection, connected

ENV_PASSPHRASE = "ROTOR_JOIN_PASSPHRASE"

app = typer.Typer(
    help="The nodes sharing one store: list them, join a new one.", no_args_is_help=True
)

PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"A file holding the bundle's passphrase (its line end is not part of it). "
        f"Else {ENV_PASSPHRASE}, else asked on the terminal.",
        show_default=False,
    ),
]


def _passphrase(path: Path | None, *, confirm: bool) -> str:
    """The passphrase, from the file, the variable or the terminal; never empty."""
    if path is not None:
        try:
            value, source = path.read_text(encoding="utf-8").rstrip("\r\n"), str(path)
        except OSError as exc:
            raise errors.InvalidParameter(
                f"cannot read the passphrase file {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        except UnicodeDecodeError:
            raise errors.InvalidParameter(f"the passphrase file {path} is not UTF-8 text") from None
    elif ENV_PASSPHRASE in os.environ:
        value, source = os.environ[ENV_PASSPHRASE], ENV_PASSPHRASE
    elif sys.stdin.isatty():
        value = typer.prompt(
            "Passphrase of the join bundle", hide_input=True, confirmation_prompt=confirm
        )
        source = "the terminal"
    else:
        raise errors.InvalidParameter(
            f"no passphrase for the join bundle: give --passphrase-file, set {ENV_PASSPHRASE}, "
            "or run this on a terminal to be asked"
        )
    if not value:
        raise errors.InvalidParameter(f"the passphrase from {source} is empty: choose one")
    return value


@app.command("join-bundle")
def join_bundle(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The bundle file to write (mode 0600; never over a file)."
        ),
    ],
    passphrase_file: PassphraseFileOption = None,
    data_dir: serve.DataDirOption = None,
    database_url: serve.DatabaseUrlOption = None,
) -> None:
    """Write a join bundle: what another node needs to serve this store, sealed under a passphrase.

    Run it where the store and its master key are reachable, with the settings a node of
    the store has (ROTOR_DATABASE_URL, and ROTOR_MASTER_KEY or the data dir of master.key).
    The bundle holds every master key and a NEW access key of the admin user, made now for
    the joining node alone: disable or delete it to shut that node's CLI out without
    touching the others'. Its key is scrypt of the passphrase; the contents are
    AES-256-GCM encrypted. Carry the file and the passphrase to the new machine apart,
    then run `rotor node join FILE` there and delete the file.
    """
    from rotor.access import join_bundle as bundles

    settings = serve.load_settings(data_dir=data_dir, database_url=database_url)
    if output.exists():
        raise errors.InvalidParameter(f"{output} exists: remove it, or give another --output")
    passphrase = _passphrase(passphrase_file, confirm=True)
    with offline.open_store(settings) as store:
        bundle = bundles.export(store, output, passphrase)
    count = len(bundle.master_keys)
    render.console().print(
        Text(
            f"Wrote the join bundle {output} (mode 0600): {count} master "
            f"key{'s' if count != 1 else ''} and the new admin access key "
            f"{bundle.access_key_id}. On the new node: rotor node join {output} --data-dir "
            f"DATA_DIR. To shut that node's CLI out: rotor access-key disable "
            f"{bundle.access_key_id}."
        )
    )


@app.command("join")
def join(
    bundle_file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The bundle `rotor node join-bundle` wrote.")
    ],
    data_dir: serve.DataDirOption = None,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Make this machine's data dir a node of the bundle's store: write its master key and
    an admin key.

    Writes DATA_DIR/master.key and DATA_DIR/admin-credentials.json (mode 0600, the data dir
    0700); an existing master.key is kept when it holds the same keys and refused when it
    holds others. Nothing is written when the passphrase is wrong or the file was changed.
    Then `ROTOR_DATABASE_URL=... rotor serve --data-dir DATA_DIR` serves the store, and
    `ROTOR_DATA_DIR=DATA_DIR rotor ...` uses the admin key.
    """
    from rotor.access import join_bundle as bundles

    settings = serve.load_settings(data_dir=data_dir)
    try:
        text = bundle_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise errors.InvalidParameter(f"{bundle_file} does not exist") from None
    except OSError as exc:
        raise errors.InvalidParameter(
            f"cannot read {bundle_file}: {exc.strerror or type(exc).__name__}"
        ) from None
    except UnicodeDecodeError:
        raise errors.InvalidParameter(f"{bundle_file} is not a rotor join bundle") from None
    passphrase = _passphrase(passphrase_file, confirm=False)
    bundle = bundles.unseal(text, passphrase, source=str(bundle_file))
    joined = bundles.install(bundle, settings.data_dir)
    out = render.console()
    key_file = "kept" if not joined.master_key_written else "wrote"
    credentials = "replaced" if joined.credentials_replaced else "wrote"
    out.print(
        Text(
            f"Joined: {key_file} {joined.master_key_file} and {credentials} "
            f"{joined.credentials_file} (access key {bundle.access_key_id}), mode 0600. "
            f"Start the node with its store: ROTOR_DATABASE_URL=... rotor serve --data-dir "
            f"{settings.data_dir}"
        )
    )
    if settings.master_key:
        typer.echo(
            "Warning: ROTOR_MASTER_KEY is set here, and `rotor serve` uses it rather than "
            f"{joined.master_key_file}: unset it, or set it to the store's key",
            err=True,
        )


@app.command("list")
@connected
def list_nodes(
    connection: Connection,
    all_nodes: Annotated[
        bool,
        typer.Option(
            "--all", help="Also the nodes that stopped or fell silent within the last day."
        ),
    ] = False,
    as_json: render.JsonOption = False,
) -> None:
    """Show the live nodes serving the store: their version and last heartbeat, from the
    heartbeats each records in the store (ROTOR_HEARTBEAT_SECONDS). Needs rotor:ListNodes."""
    with connection.client() as client:
        found = client.list_nodes(all=all_nodes)
    if as_json:
        render.echo_json([_node_json(node) for node in found])
        return
    if not found:
        render.console().print("No live nodes." if not all_nodes else "No nodes.")
        return
    table = Table("Node", "Status", "Version", "Last heartbeat", "Started", "URL")
    for node in found:
        status = "live" if node.live else ("stopped" if node.stopped_at else "silent")
        name = f"{node.node} (this node)" if node.this_node else node.node
        table.add_row(
            Text(name),
            Text(status, style="green" if node.live else "yellow"),
            Text(node.version),
            render.when(node.last_heartbeat_at),
            render.when(node.started_at),
            Text(node.url),
        )
    render.console().print(table)


def _node_json(node: rotor.client.Node) -> dict[str, object]:
    return {
        "node": node.node,
        "instance": node.instance,
        "version": node.version,
        "url": node.url,
        "started_at": render.iso_time(node.started_at),
        "last_heartbeat_at": render.iso_time(node.last_heartbeat_at),
        "stopped_at": render.iso_time(node.stopped_at),
        "live": node.live,
        "this_node": node.this_node,
    }
