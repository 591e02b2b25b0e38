"""AES-GCM secrets: key ring, row binding, key file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.crypto import (
    STORED_PREFIX_LENGTH,
    SecretBox,
    SecretError,
    key_id_of,
    load_or_create_key_file,
)

OLD, NEW = os.urandom(32), os.urandom(32)


def test_a_secret_round_trips_and_is_not_stored_in_clear() -> None:
    box = SecretBox([NEW])
    stored = box.encrypt("token-123", bound_to="row-1")
    assert "token-123" not in stored
    assert box.decrypt(stored, bound_to="row-1") == "token-123"


def test_the_same_secret_encrypts_differently_each_time() -> None:
    box = SecretBox([NEW])
    assert box.encrypt("t", bound_to="r") != box.encrypt("t", bound_to="r")


def test_a_secret_bound_to_one_row_does_not_open_for_another() -> None:
    box = SecretBox([NEW])
    with pytest.raises(SecretError):
        box.decrypt(box.encrypt("t", bound_to="row-1"), bound_to="row-2")


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old_box = SecretBox([OLD])
    ring = SecretBox([NEW, OLD])
    written_before = old_box.encrypt("t", bound_to="r")
    assert ring.decrypt(written_before, bound_to="r") == "t"
    assert ring.needs_rotation(written_before)
    assert not ring.needs_rotation(ring.encrypt("t", bound_to="r"))
    with pytest.raises(SecretError):
        SecretBox([NEW]).decrypt(written_before, bound_to="r")


@pytest.mark.parametrize("stored", ["", "v1", "v1:abc", "v1:abc:!!!", "v2:00000000:AAAA"])
def test_a_malformed_ciphertext_is_a_secret_error(stored: str) -> None:
    with pytest.raises(SecretError):
        SecretBox([NEW]).decrypt(stored, bound_to="r")


def _shapes() -> dict[str, str]:
    """Stored forms no box opens, of every length and shape, beside a good one's parts."""
    box = SecretBox([NEW])
    good = box.encrypt("token", bound_to="r")
    prefix = good[:STORED_PREFIX_LENGTH]
    raw = base64.b64decode(good[STORED_PREFIX_LENGTH:])
    nonce = os.urandom(12)
    not_utf8 = nonce + AESGCM(NEW).encrypt(nonce, b"\xff\xfe", b"r")
    return {
        "nothing after the key id": prefix,
        "shorter than a nonce": prefix + base64.b64encode(raw[:5]).decode(),
        "a nonce and no tag": prefix + base64.b64encode(raw[:12]).decode(),
        "truncated tag": prefix + base64.b64encode(raw[:-1]).decode(),
        "not base64": prefix + "****",
        "not ASCII": prefix + "ÄÖÜ=",
        "unknown key id": "v1:00000000:" + good[STORED_PREFIX_LENGTH:],
        "key id not hex": "v1:ZZZZZZZZ:" + good[STORED_PREFIX_LENGTH:],
        "key id too long": "v1:" + "0" * 5000 + ":" + good[STORED_PREFIX_LENGTH:],
        "not text": prefix + base64.b64encode(not_utf8).decode(),
        "huge": prefix + "A" * 4_000_000,
    }


@pytest.mark.parametrize("shape", list(_shapes()))
def test_every_shape_a_box_cannot_open_is_a_secret_error(shape: str) -> None:
    with pytest.raises(SecretError) as refused:
        SecretBox([NEW]).decrypt(_shapes()[shape], bound_to="r")
    assert len(str(refused.value)) < 100  # nothing read from storage is echoed at length


def test_a_stored_form_naming_no_key_counts_as_malformed() -> None:
    assert key_id_of("v1:ZZZZZZZZ:") is None
    assert key_id_of("v1:0123abcd:") == "0123abcd"


def test_a_tampered_ciphertext_is_refused() -> None:
    box = SecretBox([NEW])
    stored = box.encrypt("token", bound_to="r")
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    with pytest.raises(SecretError):
        box.decrypt(flipped, bound_to="r")


def test_keys_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox([b"short"])
    with pytest.raises(ValueError, match="at least one"):
        SecretBox([])


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sms.key"
    key, created = load_or_create_key_file(path)
    again, created_again = load_or_create_key_file(path)
    assert created
    assert not created_again
    assert key == again
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
