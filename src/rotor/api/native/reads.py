"""Reading a value: the hot path, shared by the route and the request-context fast path."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from rotor import protocol
from rotor.api.native import schemas
from rotor.store import versions
from rotor.store.database import Store

_READ_PATH = re.compile(rf"/v1/secrets/([{protocol.NAME_CHARACTERS}]+):value")
_READ_PARAMETERS = frozenset({"stage", "version_id"})


def parse_read(path: str, query_string: bytes) -> tuple[str, str | None, str | None] | None:
    """(name, stage, version_id) of a plain read request, or None for anything else."""
    match = _READ_PATH.fullmatch(path)
    if match is None:
        return None
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys) or not _READ_PARAMETERS.issuperset(keys):
        return None
    given = dict(pairs)
    return match.group(1), given.get("stage"), given.get("version_id")


def read_value(
    store: Store, name: str, stage: str | None, version_id: str | None
) -> tuple[bytes, str]:
    """The JSON body answering a read, and the version id it read."""
    value = versions.get_value(store, name, stage=stage, version_id=version_id)
    return json.dumps(schemas.value_json(value), separators=(",", ":")).encode(), value.version_id
