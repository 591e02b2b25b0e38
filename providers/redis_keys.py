"""Keys for what the service writes to Redis, which it never trusts: whoever reaches Redis could
read, forge or replay anything there.

Each use (the bus, the cache versions) has its own keys, derived with HKDF-SHA256 and a label of
its own from the server's secrets (``SMS_ENCRYPTION_KEYS``, or ``SMS_BUS_SECRET`` when set): a key
of one use opens nothing of another, nor a stored Auth Token.

Rotation: replicas mid-rotation hold different rings (``NEW,OLD`` beside ``OLD``, later ``NEW``
beside ``NEW,OLD``), and each must read the others. So a value is sealed or signed once per
configured key, and read with any key the reader holds. With one key (the usual state) that is
one copy; during a rotation the bus's messages are twice as long, for minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import struct
import time
from collections import Counter
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ID_BYTES = 4
NONCE_BYTES = 12
_COPY = struct.Struct(f">{KEY_ID_BYTES}s{NONCE_BYTES}sI")  # key id, nonce, ciphertext length
MAC_HEX_DIGITS = 32  # HMAC-SHA256 cut to 128 bits: forging it is 2^128 guesses
REPORT_INTERVAL_SECONDS = 60.0  # what was refused is logged at most this often, with a count

log = logging.getLogger(__name__)


class UntrustedError(Exception):
    """Sealed or signed data that no configured key authenticates (forged, altered, or from a
    deployment with other secrets)."""


class RedisKeys:
    """The keys of one use: every configured secret derived under ``purpose``."""

    def __init__(self, secrets: Sequence[bytes], purpose: str) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        label = f"sms-accounts {purpose} v1".encode()
        derived = [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)
            for secret in secrets
        ]
        # Ordered and without duplicates: the same secret twice must not double every message.
        self._keys = {hashlib.sha256(key).digest()[:KEY_ID_BYTES]: key for key in derived}
        self._ciphers = {key_id: AESGCM(key) for key_id, key in self._keys.items()}

    def seal(self, plaintext: bytes, *, header: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext`` (AES-256-GCM), and authenticate ``header``
        (sent in clear beside it), once per key."""
        copies = [bytes([len(self._ciphers)])]
        for key_id, cipher in self._ciphers.items():
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, plaintext, header)
            copies += [_COPY.pack(key_id, nonce, len(sealed)), sealed]
        return b"".join(copies)

    def open(self, data: bytes, *, header: bytes) -> bytes:
        """The plaintext of the first copy a configured key opens; ``UntrustedError`` if none."""
        view = memoryview(data)
        if not view:
            raise UntrustedError("empty")
        count, offset = view[0], 1
        for _ in range(count):
            if len(view) < offset + _COPY.size:
                raise UntrustedError("truncated")
            key_id, nonce, length = _COPY.unpack_from(view, offset)
            offset += _COPY.size
            sealed = view[offset : offset + length]
            offset += length
            cipher = self._ciphers.get(key_id)
            if cipher is None or len(sealed) != length:
                continue
            try:
                return cipher.decrypt(nonce, bytes(sealed), header)
            except InvalidTag:
                raise UntrustedError("failed authentication") from None
        raise UntrustedError("no configured key")

    def sign(self, data: bytes) -> str:
        """``<key id>:<mac>`` per key, comma-separated (ASCII, to sit in a Redis string)."""
        return ",".join(f"{key_id.hex()}:{_mac(key, data)}" for key_id, key in self._keys.items())

    def verify(self, data: bytes, signature: str) -> bool:
        """True when a configured key made one of ``signature``'s MACs over ``data``."""
        for part in signature.split(","):
            key_id, _, mac = part.partition(":")
            try:
                key = self._keys.get(bytes.fromhex(key_id))
            except ValueError:
                return False
            if key is not None:
                return hmac.compare_digest(mac, _mac(key, data))
        return False


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:MAC_HEX_DIGITS]


class Refusals:
    """What was refused from Redis, counted by reason and logged at most once a minute: a flood
    of forgeries must not flood the log, nor go unnoticed."""

    def __init__(
        self,
        sentence: str,
        *,
        interval: float = REPORT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counts: Counter[str] = Counter()
        self._sentence = sentence  # with {count}: how many since the last report
        self._interval = interval
        self._clock = clock
        self._unreported = 0
        self._reported_at = -math.inf

    def note(self, reason: str) -> None:
        self.counts[reason] += 1
        self._unreported += 1
        now = self._clock()
        if now - self._reported_at < self._interval:
            return
        # Reasons and counts only: what was refused may hold personal data, or be forged.
        log.warning(
            "%s since the last report (so far: %s); someone else may be writing to Redis "
            "(README: keep Redis private)",
            self._sentence.format(count=self._unreported),
            ", ".join(f"{reason}: {count}" for reason, count in sorted(self.counts.items())),
        )
        self._unreported = 0
        self._reported_at = now
