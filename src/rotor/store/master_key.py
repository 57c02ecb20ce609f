"""Master keys: where they come from, and how a new one is added for rotation.

A keyring holds one or more 256-bit keys; the first is *active* (wraps new data
keys), the others can still unwrap. Each key has a short id derived from it,
stored next to every wrapped data key, so rotation knows what to rewrap and a
reader knows which key to use.

Providers:
- :class:`FileKeyProvider`: ``master.key`` in the data dir, created with mode
  0600 at first start; one base64 key per line, active first.
- :class:`EnvKeyProvider`: ``ROTOR_MASTER_KEY``, base64 keys separated by commas.

A node whose keyring lacks a key id the store's data keys are wrapped under could
read nothing (not even an access key) and would answer ``DecryptionFailed`` to every
request; :func:`check_matches_store` refuses it at start instead, comparing key ids
(never keys). The master-key rotation rounds keep passing it: each round's keyring
holds every id still in use (``OLD,NEW``, ``NEW,OLD``, then ``NEW`` once all is
rewrapped).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rotor import errors
from rotor.private_files import write_private_file
from rotor.store import tables as t

KEY_BYTES = 32


def key_id(key: bytes) -> str:
    """A public, stable id for a key (reveals nothing about the key)."""
    return hashlib.sha256(b"rotor master key id\x00" + key).hexdigest()[:16]


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


@dataclass(frozen=True)
class Keyring:
    """Keys by id; ``active_id`` wraps new data keys."""

    active_id: str
    keys: dict[str, bytes]
    ciphers: dict[str, AESGCM] = field(repr=False, compare=False)

    @classmethod
    def from_keys(cls, keys: list[bytes]) -> Keyring:
        if not keys:
            raise errors.InvalidParameter("no master key configured")
        by_id = {key_id(k): k for k in keys}
        return cls(
            active_id=key_id(keys[0]),
            keys=by_id,
            ciphers={kid: AESGCM(k) for kid, k in by_id.items()},
        )


class MasterKeyProvider(Protocol):
    """Where the master keys live."""

    @property
    def source(self) -> str:
        """Where the keys come from, for messages (a variable's name or a path)."""

    def load(self) -> Keyring: ...

    def add_active_key(self, key: bytes) -> None:
        """Make ``key`` the active key, keeping the others for reading."""

    def retire_inactive_keys(self) -> None:
        """Forget every key but the active one (after all data keys were rewrapped)."""


def parse_keys(text: str, source: str) -> list[bytes]:
    keys = []
    for part in text.replace(",", "\n").split():
        try:
            key = base64.b64decode(part, validate=True)
        except binascii.Error as exc:
            raise errors.InvalidParameter(f"{source}: a master key is not valid base64") from exc
        if len(key) != KEY_BYTES:
            raise errors.InvalidParameter(f"{source}: a master key must be {KEY_BYTES} bytes")
        keys.append(key)
    if not keys:
        raise errors.InvalidParameter(f"{source}: no master key found")
    return keys


def format_keys(keys: list[bytes]) -> str:
    return "".join(base64.b64encode(k).decode() + "\n" for k in keys)


class FileKeyProvider:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def source(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def ensure(self) -> bool:
        """Create the key file with a fresh key if it does not exist. True if created."""
        try:
            write_private_file(self.path, format_keys([generate_key()]), exclusive=True)
        except FileExistsError:
            return False
        return True

    def _read(self) -> list[bytes]:
        try:
            text = self.path.read_text()
        except FileNotFoundError as exc:
            raise errors.InvalidParameter(f"master key file {self.path} does not exist") from exc
        return parse_keys(text, str(self.path))

    def load(self) -> Keyring:
        return Keyring.from_keys(self._read())

    def add_active_key(self, key: bytes) -> None:
        write_private_file(self.path, format_keys([key, *self._read()]))

    def retire_inactive_keys(self) -> None:
        write_private_file(self.path, format_keys(self._read()[:1]))


class EnvKeyProvider:
    """Keys from ROTOR_MASTER_KEY. Rotation: put the new key first, rewrap, then drop the old."""

    def __init__(self, value: str) -> None:
        self.value = value

    @property
    def source(self) -> str:
        return "ROTOR_MASTER_KEY"

    def load(self) -> Keyring:
        return Keyring.from_keys(parse_keys(self.value, "ROTOR_MASTER_KEY"))

    def add_active_key(self, key: bytes) -> None:
        raise errors.InvalidParameter(
            "the master key comes from ROTOR_MASTER_KEY: put the new key first in it (NEW,OLD)"
        )

    def retire_inactive_keys(self) -> None:
        # The operator owns the variable; nothing to write.
        return None


def wrapping_key_ids(conn: sa.Connection) -> set[str]:
    """The ids of the master keys the store's data keys are wrapped under (none when the
    store is empty or not made yet).

    Cheap on any size of store: a DISTINCT over the indexed ``master_key_id`` columns,
    which hold one id, or two during a master-key rotation.
    """
    inspector = sa.inspect(conn)
    ids: set[str] = set()
    for table in (t.versions, t.access_keys, t.notifications):
        if inspector.has_table(table.name):
            ids.update(conn.execute(sa.select(table.c.master_key_id).distinct()).scalars())
    return ids


def check_matches_store(
    wrapped_ids: set[str], keyring: Keyring | None, *, source: str, key_file: Path
) -> None:
    """Raise InvalidParameter unless ``keyring`` holds every key id of ``wrapped_ids``.

    ``keyring`` is None for a node that has no key yet (its key file would be made now):
    it matches an empty store only. The message names ids and where the node's keys come
    from, and says where to put the store's key; it never shows a key.
    """
    have = set(keyring.keys) if keyring is not None else set()
    missing = sorted(wrapped_ids - have)
    if not missing:
        return
    ids = "id " + missing[0] if len(missing) == 1 else "ids " + ", ".join(missing)
    if keyring is None:
        own = f"it has none: no ROTOR_MASTER_KEY and no {key_file}"
    else:
        own = f"its keys, from {source}: {', '.join(keyring.keys)}"
    raise errors.InvalidParameter(
        f"this node's master key does not match the store: its data keys are wrapped under "
        f"master key {ids}, which this node does not have ({own}); give it the store's master "
        f"key (ROTOR_MASTER_KEY or {key_file}), e.g. with `rotor node join`"
    )
