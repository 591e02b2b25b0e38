"""AES-GCM secrets: key ring, row binding, key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from storage.crypto import SecretBox, SecretError, load_or_create_key_file

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
