"""Join bundles: what a new node needs to serve a store another node made, sealed under a passphrase.

A node of a shared store needs the store's master key (or it can read nothing) and
an access key for the CLI on it. A bundle carries both from a machine that has
them to the new one, so neither has to be copied by hand or pasted into a shell:

- every master key of the keyring, the active one first, so a node joining in the
  middle of a master-key rotation reads the data keys wrapped under either key;
- a **new** access key of the ``admin`` user, made for this node alone, so it can be
  disabled or deleted without touching the keys of the other nodes;
- the format version and when it was made.

The bundle is a text file of two lines: a JSON header (format, version, the scrypt
parameters and salt, the cipher and nonce), then the base64 of the AES-256-GCM
ciphertext of the JSON payload. The key is scrypt (n=2**17, r=8, p=1) of the
passphrase; the header line, byte for byte, is the associated data, so a changed
parameter fails like a changed ciphertext byte or a wrong passphrase, and the
ciphertext's base64 must be canonical, so that no byte of the file can change
unnoticed. A header's scrypt cost is bounded before it is used: a forged bundle
cannot make ``rotor node join`` spend gigabytes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import os
import unicodedata
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from rotor import errors
from rotor.access import keys
from rotor.clock import utcnow
from rotor.private_files import write_private_file
from rotor.store import master_key, principals
from rotor.store.database import Store, ensure_data_dir

FORMAT = "rotor-join-bundle"
VERSION = 1
CIPHER = "AES-256-GCM"
KDF = "scrypt"
#: The cost a new bundle is sealed with: 128 MiB and about half a second per guess.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
#: The least and most a bundle may ask for (the most: 1 GiB of scrypt memory).
MIN_SCRYPT_N = 2**15
MAX_SCRYPT_MEMORY = 2**30
SALT_BYTES = 16
NONCE_BYTES = 12
MASTER_KEY_FILE = "master.key"


@dataclasses.dataclass(frozen=True, kw_only=True)
class JoinBundle:
    """What a joining node gets: the keyring and an admin key of its own."""

    master_keys: tuple[bytes, ...] = dataclasses.field(repr=False)
    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    created_at: dt.datetime

    @property
    def master_key_ids(self) -> list[str]:
        return [master_key.key_id(key) for key in self.master_keys]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Joined:
    """What :func:`install` did in the data dir."""

    master_key_file: Path
    master_key_written: bool
    credentials_file: Path
    credentials_replaced: bool


def make(store: Store) -> JoinBundle:
    """A bundle of the store's keyring and a new admin access key (made in the store now)."""
    admin = principals.get_principal(store, keys.ADMIN)
    if admin is None:
        raise errors.NotFound(
            f"the store has no {keys.ADMIN!r} user yet: start `rotor serve` on it once, "
            "then make the join bundle"
        )
    keyring = store.envelope.keyring
    active = keyring.keys[keyring.active_id]
    key_id, secret, _ = keys.create_access_key(store, admin)
    return JoinBundle(
        master_keys=(active, *(k for kid, k in keyring.keys.items() if kid != keyring.active_id)),
        access_key_id=key_id,
        access_key_secret=secret,
        created_at=utcnow(),
    )


def export(store: Store, path: Path, passphrase: str) -> JoinBundle:
    """Make a bundle and write it, sealed, to ``path`` (mode 0600, never over a file).

    The access key made for it is deleted again when the file cannot be written, so a
    failed export leaves no key that nobody holds.
    """
    if path.exists():
        raise errors.InvalidParameter(f"{path} exists: remove it, or give another --output")
    bundle = make(store)
    try:
        write_private_file(path, seal(bundle, passphrase), exclusive=True)
    except BaseException as exc:
        principals.delete_access_key(store, bundle.access_key_id)
        if isinstance(exc, FileExistsError):
            raise errors.InvalidParameter(
                f"{path} exists: remove it, or give another --output"
            ) from None
        if isinstance(exc, OSError):
            raise errors.InvalidParameter(
                f"cannot write {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        raise
    return bundle


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: object) -> bytes:
    """Canonical base64 only: another spelling of the same bytes would let a byte change."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    data = base64.b64decode(text, validate=True)
    if _b64(data) != text:
        raise ValueError("not canonical base64")
    return data


def _passphrase_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise errors.InvalidParameter("the passphrase is empty")
    # The same passphrase typed on two machines may differ in its Unicode form.
    secret = unicodedata.normalize("NFC", passphrase).encode()
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)


def seal(bundle: JoinBundle, passphrase: str) -> str:
    """The bundle as the text of a bundle file, encrypted under ``passphrase``."""
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "kdf": KDF,
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": _b64(salt),
            "cipher": CIPHER,
            "nonce": _b64(nonce),
        },
        separators=(",", ":"),
    )
    payload = json.dumps(
        {
            "version": VERSION,
            "master_keys": [_b64(key) for key in bundle.master_keys],
            "access_key_id": bundle.access_key_id,
            "access_key_secret": bundle.access_key_secret,
            "created_at": bundle.created_at.isoformat(),
        }
    ).encode()
    key = _passphrase_key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(key).encrypt(nonce, payload, header.encode())
    return f"{header}\n{_b64(ciphertext)}\n"


def unseal(text: str, passphrase: str, *, source: str) -> JoinBundle:
    """The bundle in ``text`` (read from ``source``), or one InvalidParameter saying why not."""
    not_a_bundle = errors.InvalidParameter(
        f"{source} is not a rotor join bundle (or it is damaged)"
    )
    lines = text.split("\n")
    if len(lines) != 3 or lines[2] != "":
        raise not_a_bundle
    header_line, body = lines[0], lines[1]
    try:
        header = json.loads(header_line)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError("not a bundle header")
        version = header.get("version")
        if version != VERSION:
            raise errors.InvalidParameter(
                f"{source} is a join bundle of format version {version!r}, which this rotor "
                f"cannot read (it reads version {VERSION}): make it with this rotor's version"
            )
        n, r, p = header["n"], header["r"], header["p"]
        salt, nonce = _unb64(header["salt"]), _unb64(header["nonce"])
        ciphertext = _unb64(body)
        if header.get("kdf") != KDF or header.get("cipher") != CIPHER:
            raise ValueError("unknown kdf or cipher")
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise not_a_bundle from None
    if not _acceptable_cost(n, r, p) or len(nonce) != NONCE_BYTES or len(salt) < SALT_BYTES:
        raise not_a_bundle
    key = _passphrase_key(passphrase, salt, n, r, p)
    try:
        payload = AESGCM(key).decrypt(nonce, ciphertext, header_line.encode())
    except (InvalidTag, ValueError):
        raise errors.InvalidParameter(
            f"cannot open the join bundle {source}: the passphrase is wrong, or the file was "
            "changed"
        ) from None
    try:
        return _bundle(json.loads(payload))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise not_a_bundle from None


def _acceptable_cost(n: Any, r: Any, p: Any) -> bool:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)):
        return False
    power_of_two = n >= MIN_SCRYPT_N and n & (n - 1) == 0
    return bool(power_of_two and 1 <= r <= 32 and 1 <= p <= 16 and 128 * n * r <= MAX_SCRYPT_MEMORY)


def _bundle(payload: Any) -> JoinBundle:
    if not isinstance(payload, dict) or payload.get("version") != VERSION:
        raise ValueError("not a bundle payload")
    master_keys = tuple(_unb64(k) for k in payload["master_keys"])
    if not master_keys or any(len(k) != master_key.KEY_BYTES for k in master_keys):
        raise ValueError("no master key, or one of the wrong size")
    key_id, secret = payload["access_key_id"], payload["access_key_secret"]
    if not isinstance(key_id, str) or not key_id or not isinstance(secret, str) or not secret:
        raise ValueError("no access key")
    return JoinBundle(
        master_keys=master_keys,
        access_key_id=key_id,
        access_key_secret=secret,
        created_at=dt.datetime.fromisoformat(payload["created_at"]),
    )


def install(bundle: JoinBundle, data_dir: Path) -> Joined:
    """Write the bundle's master keys and admin key into ``data_dir`` (each 0600, the dir 0700).

    An existing ``master.key`` holding other keys is never replaced: this data dir may
    be another store's node, whose values only that key can read. The same keys are
    left as they are. An existing admin key file is replaced (the bundle's key is as
    good, and the old one stays valid in the store until disabled).
    """
    key_file = data_dir / MASTER_KEY_FILE
    credentials = data_dir / keys.CREDENTIALS_FILE
    existing = _existing_keys(key_file)
    if existing is not None and existing != list(bundle.master_keys):
        theirs = ", ".join(master_key.key_id(k) for k in existing)
        raise errors.InvalidParameter(
            f"{key_file} exists and holds other master keys (ids {theirs}) than the bundle "
            f"(ids {', '.join(bundle.master_key_ids)}): this data dir may be another store's "
            "node; give `rotor node join` a new --data-dir, or move that file away if it is "
            "not needed"
        )
    ensure_data_dir(data_dir)
    if existing is None:
        write_private_file(key_file, master_key.format_keys(list(bundle.master_keys)))
    replaced = credentials.exists()
    write_private_file(
        credentials,
        json.dumps(
            {"access_key_id": bundle.access_key_id, "access_key_secret": bundle.access_key_secret},
            indent=2,
        )
        + "\n",
    )
    return Joined(
        master_key_file=key_file,
        master_key_written=existing is None,
        credentials_file=credentials,
        credentials_replaced=replaced,
    )


def _existing_keys(key_file: Path) -> list[bytes] | None:
    try:
        text = key_file.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise errors.InvalidParameter(
            f"cannot read {key_file}: {exc.strerror or type(exc).__name__}"
        ) from None
    return master_key.parse_keys(text, str(key_file))
