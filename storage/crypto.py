"""Secrets at rest: AES-256-GCM with a key ring, each ciphertext bound to its row.

Stored form: ``v1:<key id>:<base64(nonce || ciphertext+tag)>``. The key id is the first 8 hex
digits of SHA-256(key), so a ciphertext names the key that opened it without revealing it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID = re.compile(r"[0-9a-f]{8}")


class SecretError(Exception):
    """A ciphertext that no configured key opens, or that is malformed."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    """Encrypts with the first key; decrypts with whichever key wrote the ciphertext."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        for key in keys:
            if len(key) != 32:
                raise ValueError("encryption keys must be 32 bytes")
        self._primary_id = _key_id(keys[0])
        self._ciphers = {_key_id(key): AESGCM(key) for key in reversed(keys)}

    @property
    def primary_key_id(self) -> str:
        return self._primary_id

    @property
    def key_ids(self) -> frozenset[str]:
        """Ids of every configured key: the ciphertexts these can open."""
        return frozenset(self._ciphers)

    def encrypt(self, plaintext: str, *, bound_to: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._primary_id].encrypt(
            nonce, plaintext.encode(), bound_to.encode()
        )
        return f"{_VERSION}:{self._primary_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, *, bound_to: str) -> str:
        """The plaintext of ``stored``. Whatever its length or shape (empty, cut short, not
        base64, an unknown key, a broken tag, not text), a stored form this box cannot open is a
        SecretError and nothing else: every caller fails closed on that one exception."""
        key_id, raw = _parse(stored)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SecretError(f"no configured key opens this secret (key id {key_id})")
        try:
            return cipher.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode()
            ).decode()
        except InvalidTag:
            raise SecretError("secret failed authentication (wrong key or wrong row)") from None
        except (ValueError, OverflowError):  # UnicodeDecodeError is a ValueError
            raise SecretError("malformed ciphertext") from None

    def needs_rotation(self, stored: str) -> bool:
        """True when ``stored`` was not written with the current first key."""
        return not stored.startswith(f"{_VERSION}:{self._primary_id}:")


STORED_PREFIX_LENGTH = len(_VERSION) + 1 + 8 + 1  # "v1:" + 8 hex digits + ":"


def key_id_of(stored_prefix: str) -> str | None:
    """The key id a stored secret (or its first STORED_PREFIX_LENGTH characters) names; None
    when it names none. The id's shape is checked: it comes from storage and goes into
    messages and logs."""
    version, _, rest = stored_prefix.partition(":")
    key_id, colon, _ = rest.partition(":")
    if version != _VERSION or not colon or _KEY_ID.fullmatch(key_id) is None:
        return None
    return key_id


def _parse(stored: str) -> tuple[str, bytes]:
    """(key id, nonce || ciphertext+tag) of a stored secret. A payload too short to hold a
    nonce and a tag is refused here: AESGCM would raise ValueError on a short nonce."""
    key_id = key_id_of(stored)
    if key_id is None:
        raise SecretError("malformed ciphertext")
    try:
        raw = base64.b64decode(stored[STORED_PREFIX_LENGTH:], validate=True)
    except ValueError:  # binascii.Error, and text that is not ASCII, are ValueErrors
        raise SecretError("malformed ciphertext") from None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise SecretError("malformed ciphertext (shorter than a nonce and a tag)")
    return key_id, raw


def load_or_create_key_file(path: Path) -> tuple[bytes, bool]:
    """The embedded default's key: read ``path`` or create it, mode 0600. Returns (key, created)."""
    if path.exists():
        raw = base64.b64decode(path.read_text().strip(), validate=True)
        if len(raw) != 32:
            raise ValueError(f"key file {path} does not hold a 32-byte key")
        return raw, False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    return key, True
