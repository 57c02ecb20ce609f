"""The connection options every client command takes, and the client they open.

``--url``, ``--data-dir``, ``--access-key-id``, ``--credentials-file``, ``--sign``
and ``--ca-bundle`` are listed under one "Connection" panel of each command's
``--help``; what is not given comes from the environment, the client config file or
the data dir, as :func:`rotor.client.resolve_config` says. The access key secret is
never a flag.

A command declares them once, by taking a ``connection: Connection`` parameter and
wearing :func:`connected`::

    @app.command("get")
    @connected
    def get(connection: Connection, name: NameArgument) -> None:
        with connection.client() as client:
            ...
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

import rotor.client

CONNECTION = "Connection"

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="ROTOR_URL",
        help="URL of the rotor server, e.g. http://127.0.0.1:8750.",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="ROTOR_DATA_DIR",
        help="Data dir of a `rotor serve` on this machine: its server.json gives the URL and "
        "its admin-credentials.json the access key, when they are not set otherwise.",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
AccessKeyIdOption = Annotated[
    str | None,
    typer.Option(
        "--access-key-id",
        envvar="ROTOR_ACCESS_KEY_ID",
        help="Access key id. Its secret is never a flag: set ROTOR_ACCESS_KEY_SECRET "
        "or use --credentials-file.",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
CredentialsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--credentials-file",
        help='JSON file {"access_key_id": ..., "access_key_secret": ...}, like the '
        "admin-credentials.json a server writes to its data dir.",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]

SignOption = Annotated[
    bool,
    typer.Option(
        "--sign",
        help="Sign each request with the access key (ROTOR-HMAC-SHA256) instead of sending "
        "its secret as a bearer key. Default from ROTOR_AUTH (bearer or hmac).",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        envvar="ROTOR_CA_BUNDLE",
        help="PEM file of the CA certificates that verify an https:// server "
        "(default: certifi's public CAs, or SSL_CERT_FILE).",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]


R = TypeVar("R")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Connection:
    """The connection options as given on the command line."""

    url: str | None = None
    data_dir: Path | None = None
    access_key_id: str | None = None
    credentials_file: Path | None = None
    sign: bool = False
    ca_bundle: Path | None = None

    def client(self) -> rotor.client.Client:
        """A client for the server the options (or the environment) name."""
        return rotor.client.Client(
            self.url,
            access_key_id=self.access_key_id,
            data_dir=self.data_dir,
            credentials_file=self.credentials_file,
            signing="hmac" if self.sign else None,
            ca_bundle=self.ca_bundle,
        )


#: The options, as the parameters Typer reads from a command's signature.
_OPTIONS = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
    for name, annotation, default in (
        ("url", UrlOption, None),
        ("data_dir", DataDirOption, None),
        ("access_key_id", AccessKeyIdOption, None),
        ("credentials_file", CredentialsFileOption, None),
        ("sign", SignOption, False),
        ("ca_bundle", CaBundleOption, None),
    )
)


def connected(command: Callable[..., R]) -> Callable[..., R]:
    """Give ``command`` the connection options in place of its ``connection`` parameter."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "connection"]
    names = [p.name for p in _OPTIONS]

    @functools.wraps(command)
    def with_options(**kwargs: Any) -> R:
        connection = Connection(**{name: kwargs.pop(name) for name in names})
        return command(connection=connection, **kwargs)

    parameters = [*own, *_OPTIONS]
    with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_options
