"""The connection options every client command takes, and the client they open.

``--url``, ``--data-dir``, ``--access-key-id``, ``--credentials-file``, ``--sign``
and ``--ca-bundle`` are listed under one "Connection" panel of each command's
``--help``; what is not given comes from the environment or the data dir, as
:func:`rotor.client.resolve_config` says. The access key secret is never a flag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


def connect(
    url: str | None,
    data_dir: Path | None,
    access_key_id: str | None,
    credentials_file: Path | None,
    *,
    sign: bool = False,
    ca_bundle: Path | None = None,
) -> rotor.client.Client:
    """A client for the server the connection options (or the environment) name."""
    return rotor.client.Client(
        url,
        access_key_id=access_key_id,
        data_dir=data_dir,
        credentials_file=credentials_file,
        signing="hmac" if sign else None,
        ca_bundle=ca_bundle,
    )
