"""What ``rotor secret ...`` shows: secrets, versions and values as tables or JSON.

Metadata only, except :func:`value_json` (for ``rotor secret get --json``), which
holds the value it is given.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

import rotor.client
from rotor.cli.render import iso_time, when


def secret_json(info: rotor.client.SecretInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "type": info.type,
        "description": info.description,
        "tags": dict(info.tags),
        "created_at": iso_time(info.created_at),
        "updated_at": iso_time(info.updated_at),
        "delete_after": iso_time(info.delete_after),
        "stages": dict(info.stages),
    }


def version_json(version: rotor.client.VersionInfo) -> dict[str, Any]:
    return {
        "name": version.name,
        "version_id": version.version_id,
        "stages": list(version.stages),
        "created_at": iso_time(version.created_at),
        "type": version.type,
    }


def value_json(secret: rotor.client.SecretValue) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": secret.name,
        "version_id": secret.version_id,
        "stages": list(secret.stages),
        "created_at": iso_time(secret.created_at),
    }
    if isinstance(secret.value, bytes):
        data["binary"] = base64.b64encode(secret.value).decode("ascii")
    else:
        data["value"] = secret.value
    return data


def pairs(mapping: Mapping[str, str]) -> str:
    """``a=1, b=2`` (sorted by key), or ``-``."""
    return ", ".join(f"{key}={value}" for key, value in sorted(mapping.items())) or "-"


def stages_table(stages: Mapping[str, str]) -> Table:
    table = Table("Stage")
    table.add_column("Version", overflow="fold")
    for stage, version_id in sorted(stages.items()):
        table.add_row(Text(stage), Text(version_id))
    return table


def describe_table(info: rotor.client.SecretInfo) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    rows = [
        ("Name", info.name),
        ("Type", info.type),
        ("Description", info.description or "-"),
        ("Tags", pairs(info.tags)),
        ("Created", when(info.created_at)),
        ("Updated", when(info.updated_at)),
    ]
    if info.delete_after is not None:
        rows.append(("Deletion on", when(info.delete_after)))
    rows.extend((f"Stage {stage}", version) for stage, version in sorted(info.stages.items()))
    for key, value in rows:
        table.add_row(Text(key, style="bold"), Text(value))
    return table


def secrets_table(found: Sequence[rotor.client.SecretInfo]) -> Table:
    """A row per secret; a "Deletion on" column when any is scheduled for deletion."""
    deleting = any(info.delete_after is not None for info in found)
    table = Table()
    table.add_column("Name", overflow="fold")
    table.add_column("Type")
    table.add_column("Current", overflow="fold")
    table.add_column("Tags")
    table.add_column("Updated", no_wrap=True)
    if deleting:
        table.add_column("Deletion on", no_wrap=True)
    for info in found:
        row = [
            Text(info.name),
            Text(info.type),
            Text(info.stages.get("Current", "-")),
            Text(pairs(info.tags)),
            Text(when(info.updated_at)),
        ]
        if deleting:
            row.append(Text(when(info.delete_after)))
        table.add_row(*row)
    return table


def versions_table(found: Sequence[rotor.client.VersionInfo]) -> Table:
    table = Table()
    table.add_column("Version", overflow="fold")
    table.add_column("Stages")
    table.add_column("Type")
    table.add_column("Created", no_wrap=True)
    for version in found:
        table.add_row(
            Text(version.version_id),
            Text(", ".join(version.stages) or "-"),
            Text(version.type),
            Text(when(version.created_at)),
        )
    return table
