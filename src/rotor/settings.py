"""Settings: one typed object, each entry with a name, default, help text and env var.

Environment variables are read here and nowhere else (``ROTOR_`` + the upper-case
field name). The CLI turns flags into ``overrides``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "ROTOR_"
#: What a node id may hold: it appears in logs, rotation records and audit events.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "secret": secret})


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rotor"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Server-side settings. Each field is settable as ``ROTOR_<FIELD>``."""

    data_dir: Path = dataclasses.field(
        default_factory=default_data_dir,
        metadata={
            "help": "Directory holding the SQLite store, the master key file and the admin "
            "credentials (default: $XDG_DATA_HOME/rotor or ~/.local/share/rotor).",
            "secret": False,
        },
    )
    database_url: str = _setting(
        "",
        "SQLAlchemy URL of the store; empty means SQLite in the data dir. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
        secret=True,
    )
    database_pool_size: int = _setting(
        20,
        "Connections each server process keeps open to a PostgreSQL store; as many more are "
        "opened under load and closed after.",
    )
    master_key: str = _setting(
        "",
        "Master key(s), base64 of 32 bytes, comma separated, the first one active; empty "
        "means the file master.key in the data dir (created 0600 on first start).",
        secret=True,
    )
    node_id: str = _setting(
        "",
        "This node's name in rotation records and events, audit events, logs and `rotor node "
        "list` (letters, digits and . _ : / -, at most 64); empty means host:pid.",
    )
    heartbeat_seconds: float = _setting(
        5.0,
        "How often a node records that it is alive (`rotor node list`); a node silent for "
        "three times as long is shown as not live.",
    )
    workers: int = _setting(
        1,
        "Worker processes `rotor serve` runs on its one listening socket; each is a node of "
        "its own to the store (id NODE/1, NODE/2, ...), so they share rotations, nonces and "
        "revocations as several nodes do.",
    )
    host: str = _setting("127.0.0.1", "Address `rotor serve` listens on.")
    port: int = _setting(8750, "Port `rotor serve` listens on (0 picks a free port).")
    tls_cert: str = _setting(
        "",
        "PEM certificate (chain) file: with tls_key, `rotor serve` serves HTTPS; "
        "empty serves plain HTTP.",
    )
    tls_key: str = _setting(
        "", "PEM private key file of tls_cert (unencrypted; keep it readable by rotor only)."
    )
    forwarded_allow_ips: str = _setting(
        "",
        "Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are trusted ('*' for any); empty trusts none, so the "
        "audit log and the throttle see the connecting address.",
    )
    max_unstaged_versions: int = _setting(
        100, "Versions without a stage kept per secret; older ones are pruned."
    )
    purge_interval_seconds: int = _setting(
        3600, "How often the server purges secrets whose recovery window has ended."
    )
    auth_failure_max_delay_seconds: float = _setting(
        5.0,
        "Longest delay before answering a failed authentication from a source that keeps "
        "failing (0 turns the back-off off).",
    )
    credential_cache_seconds: float = _setting(
        5.0, "How long the server trusts an access key it has verified before re-reading it."
    )
    max_request_bytes: int = _setting(1024 * 1024, "Largest request body the API accepts.")
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")
    log_format: str = _setting(
        "text",
        "Format of the server's log lines on stderr: text (for a terminal) or json (one object "
        "per line, for a log collector).",
    )
    region: str = _setting(
        "local", "Region in the resource names policies match (acs:kms:REGION:ACCOUNT:secret/NAME)."
    )
    account_id: str = _setting(
        "rotor",
        "Account in the resource names policies match (acs:kms:REGION:ACCOUNT:secret/NAME).",
    )
    public_url: str = _setting(
        "", "URL custom rotation functions use to call this server (default: the bound address)."
    )
    allow_plaintext_fallback: bool = _setting(
        True,
        "Whether database rotation functions may fall back to plaintext when a secret does not "
        "say whether to use TLS and TLS fails; false forbids it for every secret.",
    )
    rotation_attempts: int = _setting(3, "Attempts per rotation step before the rotation fails.")
    rotation_retry_seconds: float = _setting(
        5.0, "Delay before the first retry of a failed step; doubles on every retry."
    )
    rotation_retry_max_seconds: float = _setting(300.0, "Longest delay between step retries.")
    rotation_lease_seconds: float = _setting(
        30.0,
        "How long a runner's claim on a rotation lasts without renewal; a rotation whose "
        "runner died is resumed after it.",
    )
    rotation_workers: int = _setting(4, "Rotations run at once by one server.")
    shutdown_grace_seconds: float = _setting(
        10.0,
        "On SIGTERM, how long running rotation steps may take to finish; then they are "
        "abandoned and resume on the next start.",
    )
    rotation_min_interval_seconds: int = _setting(
        3600, "Shortest rotation interval (or cron period) a schedule may have."
    )
    rotation_function_timeout_seconds: float = _setting(
        300.0, "Time limit of one call of a custom rotation function."
    )
    scheduler_interval_seconds: float = _setting(
        1.0, "How often the scheduler looks for due and orphaned rotations."
    )
    overdue_grace_seconds: float = _setting(
        300.0,
        "How long past its due time an enabled rotation that has not started counts as overdue "
        "(rotor status, the rotor_rotations_overdue metric).",
    )
    metrics_per_secret: bool = _setting(
        False,
        "Whether GET /metrics also has one series per secret (the time of its last successful "
        "rotation); off keeps the number of series independent of the number of secrets.",
    )
    notification_allowed_targets: str = _setting(
        "",
        "Comma-separated hosts, host:port pairs and CIDR networks notifications may also be "
        "delivered to: over plain http, or at a loopback, private or link-local address. By "
        "default a notification URL must be https and resolve to public addresses only.",
    )
    notification_ca_file: str = _setting(
        "",
        "PEM file of the CAs that notification targets' https certificates are checked "
        "against; empty means the system's trust store.",
    )
    notification_attempts: int = _setting(
        8, "Attempts to deliver a notification before it is listed as failed."
    )
    notification_retry_seconds: float = _setting(
        5.0, "Delay before the first retry of a failed delivery; doubles on every retry."
    )
    notification_retry_max_seconds: float = _setting(
        3600.0, "Longest delay between delivery retries."
    )
    notification_timeout_seconds: float = _setting(
        10.0, "Time limit of one delivery (connecting, sending and the receiver's answer)."
    )
    event_retention_days: int = _setting(
        7,
        "Days the event log (GET /v1/events) keeps an event; one a delivery still waits on "
        "is kept until it is delivered or its subscription deleted.",
    )

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"{ENV_PREFIX}WORKERS must be at least 1, got {self.workers}")
        if self.node_id and not NODE_ID_PATTERN.fullmatch(self.node_id):
            raise ValueError(
                f"{ENV_PREFIX}NODE_ID must be 1 to 64 letters, digits and . _ : / - "
                f"(starting with a letter or digit), got {self.node_id!r}"
            )

    @property
    def node(self) -> str:
        """This node's id: ``node_id``, or host:pid."""
        return self.node_id or f"{socket.gethostname()}:{os.getpid()}"

    @property
    def overdue_grace_timedelta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.overdue_grace_seconds)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "rotor.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then ``ROTOR_*`` variables, then ``overrides`` (from flags; None is skipped)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _convert(field, raw)
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"]).expanduser()
        return cls(**values)

    def redacted(self) -> dict[str, str]:
        """The settings as text, with secret entries masked."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = "***" if field.metadata["secret"] and value else str(value)
        return out


def _convert(field: dataclasses.Field[Any], raw: str) -> Any:
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    if kind == "bool":
        if raw.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(
                f"{ENV_PREFIX + field.name.upper()} must be true or false, got {raw!r}"
            )
        return raw.strip().lower() in ("true", "1", "yes")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        name = ENV_PREFIX + field.name.upper()
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if kind == "Path":
        return Path(raw)
    return raw


def describe_settings() -> list[tuple[str, str, str]]:
    """(env var, default, help) of every setting, for docs and ``--help``."""
    rows = []
    for field in dataclasses.fields(Settings):
        default = "(see help)" if field.name == "data_dir" else repr(field.default)
        rows.append((ENV_PREFIX + field.name.upper(), default, field.metadata["help"]))
    return rows
