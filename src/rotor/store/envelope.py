"""Envelope encryption: a fresh AES-256-GCM data key per value, wrapped by the master key.

The associated data names what the ciphertext belongs to (a secret id and version
id, or an access key id), for the value and for the wrapped data key alike, so a
row copied to another secret or version fails to decrypt instead of returning the
wrong value. Blobs are ``nonce (12 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rotor import errors
from rotor.store.master_key import Keyring, MasterKeyProvider

NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class Sealed:
    master_key_id: str
    data_key: bytes
    ciphertext: bytes


def version_context(secret_id: str, version_id: str) -> bytes:
    return f"rotor/version/{secret_id}/{version_id}".encode()


def access_key_context(access_key_id: str) -> bytes:
    return f"rotor/access-key/{access_key_id}".encode()


def notification_context(notification_id: str) -> bytes:
    return f"rotor/notification/{notification_id}".encode()


def _seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def _open(cipher: AESGCM, blob: bytes, aad: bytes) -> bytes:
    try:
        return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise errors.DecryptionFailed() from exc


class Envelope:
    """Seals and opens values with the provider's keyring (reloaded when a key is unknown)."""

    def __init__(self, provider: MasterKeyProvider) -> None:
        self.provider = provider
        self._keyring = provider.load()
        self._lock = threading.Lock()

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def reload(self) -> Keyring:
        with self._lock:
            self._keyring = self.provider.load()
            return self._keyring

    def _master(self, master_key_id: str) -> AESGCM:
        cipher = self._keyring.ciphers.get(master_key_id)
        if cipher is None:
            # Another process may have rotated the master key: look again once.
            cipher = self.reload().ciphers.get(master_key_id)
            if cipher is None:
                raise errors.DecryptionFailed(
                    "the value was encrypted under a master key this server does not have"
                )
        return cipher

    def seal(self, plaintext: bytes, context: bytes) -> Sealed:
        keyring = self._keyring
        data_key = AESGCM.generate_key(bit_length=256)
        return Sealed(
            master_key_id=keyring.active_id,
            data_key=_seal(keyring.ciphers[keyring.active_id], data_key, b"key|" + context),
            ciphertext=_seal(AESGCM(data_key), plaintext, b"value|" + context),
        )

    def open(self, sealed: Sealed, context: bytes) -> bytes:
        data_key = _open(self._master(sealed.master_key_id), sealed.data_key, b"key|" + context)
        return _open(AESGCM(data_key), sealed.ciphertext, b"value|" + context)

    def rewrap(self, sealed: Sealed, context: bytes) -> Sealed:
        """The same value, its data key wrapped by the active master key."""
        data_key = _open(self._master(sealed.master_key_id), sealed.data_key, b"key|" + context)
        keyring = self._keyring
        return Sealed(
            master_key_id=keyring.active_id,
            data_key=_seal(keyring.ciphers[keyring.active_id], data_key, b"key|" + context),
            ciphertext=sealed.ciphertext,
        )
