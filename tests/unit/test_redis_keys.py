"""The keys of what the service writes to Redis: derived per use, one seal or MAC per configured
key so that replicas mid-rotation read each other, and refusals reported at most once a minute."""

from __future__ import annotations

import logging

import pytest

from providers.redis_keys import RedisKeys, Refusals, UntrustedError

NEW, OLD, OTHER = b"n" * 32, b"o" * 32, b"x" * 32
HEADER = b"header sent in clear"


@pytest.mark.parametrize(
    ("writer", "reader"),
    [([NEW, OLD], [OLD]), ([OLD], [NEW, OLD]), ([NEW], [NEW, OLD]), ([NEW, OLD], [NEW])],
)
def test_rings_that_share_a_key_read_each_other(writer: list[bytes], reader: list[bytes]) -> None:
    sealed = RedisKeys(writer, "bus").seal(b"Your code is 480213", header=HEADER)
    signature = RedisKeys(writer, "versions").sign(b"w1\n3.00")

    assert RedisKeys(reader, "bus").open(sealed, header=HEADER) == b"Your code is 480213"
    assert RedisKeys(reader, "versions").verify(b"w1\n3.00", signature)


def test_what_another_ring_or_another_use_wrote_is_not_trusted() -> None:
    ours = RedisKeys([NEW], "bus")
    sealed = ours.seal(b"body", header=HEADER)
    signature = RedisKeys([NEW], "bus").sign(b"data")

    for reader in (RedisKeys([OTHER], "bus"), RedisKeys([NEW], "versions")):
        with pytest.raises(UntrustedError):
            reader.open(sealed, header=HEADER)
        assert not reader.verify(b"data", signature)


def test_an_altered_header_body_or_signed_value_is_not_trusted() -> None:
    keys = RedisKeys([NEW], "bus")
    sealed = bytearray(keys.seal(b"body", header=HEADER))
    signature = keys.sign(b"w1\n3.00")
    with pytest.raises(UntrustedError):
        keys.open(bytes(sealed), header=b"another header")
    sealed[-1] ^= 1
    with pytest.raises(UntrustedError):
        keys.open(bytes(sealed), header=HEADER)
    for garbage in (b"", b"\x05", b"\x01" + b"\x00" * 10):
        with pytest.raises(UntrustedError):
            keys.open(garbage, header=HEADER)
    assert not keys.verify(b"w1\n2.00", signature)
    assert not keys.verify(b"w1\n3.00", "")
    assert not keys.verify(b"w1\n3.00", "zz:" + signature.partition(":")[2])


def test_the_same_secret_twice_seals_one_copy() -> None:
    once = RedisKeys([NEW], "bus").seal(b"body", header=HEADER)
    twice = RedisKeys([NEW, NEW], "bus").seal(b"body", header=HEADER)
    assert len(once) == len(twice)


def test_refusals_are_counted_each_time_and_reported_at_most_once_an_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    refusals = Refusals("refused {count} message(s)", interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for reason in ("bad MAC", "bad MAC", "stale"):
            refusals.note(reason)
        now[0] += 59
        refusals.note("bad MAC")
        now[0] += 1
        refusals.note("replayed")

    assert refusals.counts == {"bad MAC": 3, "stale": 1, "replayed": 1}
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("refused 1 message(s)")
    assert lines[1].startswith("refused 4 message(s)")
    assert "bad MAC: 3, replayed: 1, stale: 1" in lines[1]
