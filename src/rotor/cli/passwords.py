"""``rotor password``: a random password from the server's CSPRNG.

A thin client like :mod:`rotor.cli.secrets`: the flags become
:class:`rotor.client.PasswordOptions`, and options not given take the server's
defaults.
"""

from __future__ import annotations

from typing import Annotated

import typer

import rotor.client
from rotor.cli import render
from rotor.cli.connection import Connection, connected
from rotor.cli.render import JsonOption


@connected
def password(
    connection: Connection,
    length: Annotated[
        int | None, typer.Option(help="Length, 8-128 (default: 32).", show_default=False)
    ] = None,
    exclude_characters: Annotated[
        str | None,
        typer.Option(help="Characters the password must not contain.", show_default=False),
    ] = None,
    exclude_uppercase: Annotated[
        bool, typer.Option("--exclude-uppercase", help="No upper-case letters.")
    ] = False,
    exclude_lowercase: Annotated[
        bool, typer.Option("--exclude-lowercase", help="No lower-case letters.")
    ] = False,
    exclude_numbers: Annotated[bool, typer.Option("--exclude-numbers", help="No digits.")] = False,
    exclude_punctuation: Annotated[
        bool, typer.Option("--exclude-punctuation", help="No punctuation.")
    ] = False,
    include_space: Annotated[
        bool, typer.Option("--include-space", help="Allow the space character.")
    ] = False,
    require_each_included_type: Annotated[
        bool | None,
        typer.Option(
            "--require-each-included-type/--no-require-each-included-type",
            help="At least one character of every kind not excluded (default: yes).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Generate a random password on the server (from the OS CSPRNG) and print it."""
    options: rotor.client.PasswordOptions = {}
    if length is not None:
        options["length"] = length
    if exclude_characters is not None:
        options["exclude_characters"] = exclude_characters
    if exclude_uppercase:
        options["exclude_uppercase"] = True
    if exclude_lowercase:
        options["exclude_lowercase"] = True
    if exclude_numbers:
        options["exclude_numbers"] = True
    if exclude_punctuation:
        options["exclude_punctuation"] = True
    if include_space:
        options["include_space"] = True
    if require_each_included_type is not None:
        options["require_each_included_type"] = require_each_included_type
    with connection.client() as client:
        generated = client.generate_password(**options)
    if as_json:
        render.echo_json({"password": generated})
    else:
        typer.echo(generated)
