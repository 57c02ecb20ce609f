"""``rotor serve``, and the flags that become server :class:`rotor.settings.Settings`.

Flags override the ``ROTOR_*`` environment variables, which override the
defaults. Settings that may hold a secret (the database URL, the master key)
are best given through the environment: flags are visible to every user of
the machine.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from rotor import errors
from rotor import settings as rotor_settings

_SETTINGS = {field.name: field for field in dataclasses.fields(rotor_settings.Settings)}
_FLAGS = (
    "data_dir",
    "host",
    "port",
    "database_url",
    "log_level",
    "log_format",
    "tls_cert",
    "tls_key",
    "forwarded_allow_ips",
    "workers",
)


def _help(name: str, extra: str = "") -> str:
    return " ".join(part for part in (_SETTINGS[name].metadata["help"], extra) if part)


def _env(name: str) -> str:
    return rotor_settings.ENV_PREFIX + name.upper()


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar=_env("data_dir"), help=_help("data_dir"), show_default=False),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=_env("database_url"),
        help=_help(
            "database_url",
            f"Prefer the {_env('database_url')} variable: the URL may hold a password.",
        ),
        show_default=False,
    ),
]


def load_settings(**overrides: Any) -> rotor_settings.Settings:
    """Settings from the environment and ``overrides`` (None means not given)."""
    try:
        return rotor_settings.Settings.load(overrides)
    except ValueError as exc:  # a non-numeric ROTOR_* number; the message names the variable
        raise errors.InvalidParameter(str(exc)) from None


def _other_settings() -> str:
    rows = [
        f"{env}: {help_text}"
        for env, _default, help_text in rotor_settings.describe_settings()
        if env not in {_env(name) for name in _FLAGS}
    ]
    return "Other settings (environment only):\n\n" + "\n\n".join(rows)


EPILOG = _other_settings()
"""The settings `rotor serve` has no flag for, shown under its --help."""


def run(
    data_dir: DataDirOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            envvar=_env("host"),
            help=_help("host", f"(default: {_SETTINGS['host'].default})"),
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            envvar=_env("port"),
            help=_help("port", f"(default: {_SETTINGS['port'].default})"),
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrlOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            envvar=_env("workers"),
            help=_help("workers", f"(default: {_SETTINGS['workers'].default})"),
            min=1,
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            envvar=_env("log_level"),
            help=f"Log level (default: {_SETTINGS['log_level'].default}).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            envvar=_env("log_format"),
            help=_help("log_format", f"(default: {_SETTINGS['log_format'].default})"),
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            envvar=_env("tls_cert"),
            help=_help("tls_cert").replace("tls_key", "--tls-key"),
            rich_help_panel="TLS and proxies",
            show_default=False,
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            "--tls-key",
            envvar=_env("tls_key"),
            help=_help("tls_key").replace("tls_cert", "--tls-cert"),
            rich_help_panel="TLS and proxies",
            show_default=False,
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            envvar=_env("forwarded_allow_ips"),
            help=_help("forwarded_allow_ips"),
            rich_help_panel="TLS and proxies",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the rotor server until SIGTERM or Ctrl-C.

    The first start initialises the data dir (store, master key) and writes the admin
    credentials there (mode 0600). The server records its URL in DATA_DIR/server.json,
    so `ROTOR_DATA_DIR=DATA_DIR rotor secret ...` finds it on this machine.

    With --tls-cert and --tls-key it serves HTTPS (and records an https:// URL).

    It exits 2, saying which, when another rotor serves the data dir (its server.json
    names a live process) or the port is in use.
    """
    settings = load_settings(
        data_dir=data_dir,
        host=host,
        port=port,
        database_url=database_url,
        workers=workers,
        log_level=log_level.value if log_level else None,
        log_format=log_format.value if log_format else None,
        tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    from rotor.api import server  # the server's dependencies load only for this command

    try:
        server.serve(settings)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise errors.InvalidParameter(
            f"cannot start the server on {settings.host}:{settings.port}: "
            f"{exc.strerror or type(exc).__name__}{where}"
        ) from exc
