"""Offline commands: they open the data dir's store directly instead of calling a server.

``rotor purge`` removes secrets whose recovery window has ended (the server also
does this periodically); ``rotor master-key rotate`` rewraps every data key under
a new master key. Both are safe while a server runs on the same store. Like
``rotor serve``, they refuse a master key that is not the store's
(:func:`open_store`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rotor import errors
from rotor import settings as rotor_settings
from rotor.cli import serve
from rotor.cli.render import JsonOption

if TYPE_CHECKING:
    from rotor.store.database import Store

master_key_app = typer.Typer(
    help="Manage the master key that wraps every data key.", no_args_is_help=True
)


@contextlib.contextmanager
def open_store(settings: rotor_settings.Settings) -> Iterator[Store]:
    """The store of ``settings``, initialised: a node whose master key cannot read it is
    refused here, before the command changes anything."""
    from rotor.store import database  # the store's dependencies load only here

    if not settings.database_url and not settings.sqlite_path.exists():
        raise errors.InvalidParameter(
            f"no rotor store in {settings.data_dir}: set --data-dir (or ROTOR_DATA_DIR) to the "
            "data dir `rotor serve` uses, or ROTOR_DATABASE_URL to its database"
        )
    store = database.Store.open(settings)
    try:
        yield store
    finally:
        store.close()


def purge(
    data_dir: serve.DataDirOption = None,
    database_url: serve.DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete, for good, the secrets whose recovery window has ended."""
    from rotor.store import deletion

    settings = serve.load_settings(data_dir=data_dir, database_url=database_url)
    with open_store(settings) as store:
        names = deletion.purge(store)
    if as_json:
        typer.echo(json.dumps({"purged": names}, indent=2))
        return
    console = Console(highlight=False)
    if not names:
        console.print("No secrets were due for purging.")
        return
    console.print(f"Purged {len(names)} secret{'s' if len(names) != 1 else ''}:", markup=False)
    for name in names:
        console.print(f"  {name}", markup=False)


@master_key_app.command("rotate")
def rotate_master_key(
    data_dir: serve.DataDirOption = None,
    database_url: serve.DatabaseUrlOption = None,
) -> None:
    """Make a new master key active and rewrap every data key under it, without downtime.

    With the key file (the default) the new key is generated and added to DATA_DIR/master.key;
    the old one is retired once every data key is rewrapped. With ROTOR_MASTER_KEY, first set
    it to NEW,OLD (new key first), run this, then drop OLD.
    """
    from rotor.store import rekey

    settings = serve.load_settings(data_dir=data_dir, database_url=database_url)
    progress = Progress(
        TextColumn("Rewrapping data keys"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("rewrap", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with open_store(settings) as store, progress:
        count = rekey.rotate_master_key(store, on_progress=on_progress)
    Console(highlight=False).print(
        f"Rewrapped {count} data key{'s' if count != 1 else ''} under the new master key."
    )
