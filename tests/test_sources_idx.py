"""The IDX reader (:mod:`smspark.sources.idx`) on hand-written files of every element type."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from smspark.sources.idx import parse_idx, read_idx


def _idx_bytes(type_code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_read_idx_handwritten_ubyte_plain_and_gzip(tmp_path: Path) -> None:
    payload = bytes(range(24))
    data = _idx_bytes(0x08, (2, 3, 4), payload)
    plain = tmp_path / "tiny-idx3-ubyte"
    plain.write_bytes(data)
    packed = tmp_path / "tiny-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(data))
    # gzip is detected from content, not from the name
    renamed = tmp_path / "tiny-no-suffix"
    renamed.write_bytes(gzip.compress(data))
    for path in (plain, packed, renamed):
        array = read_idx(path)
        assert array.dtype == np.uint8
        assert array.shape == (2, 3, 4)
        assert array[1, 2, 3] == 23
        assert array[0, 1, 0] == 4


def test_read_idx_big_endian_types(tmp_path: Path) -> None:
    shorts = _idx_bytes(0x0B, (3,), struct.pack(">3h", -2, 300, 32767))
    np.testing.assert_array_equal(parse_idx(shorts), np.array([-2, 300, 32767], dtype=np.int16))
    ints = _idx_bytes(0x0C, (2, 1), struct.pack(">2i", -70000, 1 << 30))
    assert parse_idx(ints).tolist() == [[-70000], [1 << 30]]
    floats = _idx_bytes(0x0D, (2,), struct.pack(">2f", 1.5, -0.25))
    result = parse_idx(floats)
    assert result.dtype == np.float32 and result.dtype.isnative
    assert result.tolist() == [1.5, -0.25]
    doubles = _idx_bytes(0x0E, (1,), struct.pack(">d", 2.0**-30))
    assert parse_idx(doubles).tolist() == [2.0**-30]
    sbytes = _idx_bytes(0x09, (2,), bytes([0xFF, 0x01]))
    assert parse_idx(sbytes).tolist() == [-1, 1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x00", "two zero bytes"),
        (_idx_bytes(0x0A, (1,), b"\x00"), "type code"),
        (_idx_bytes(0x08, (2, 2), b"\x00" * 3), "does not match"),
        (_idx_bytes(0x08, (2,), b"\x00" * 3), "does not match"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (b"\x00\x00", "not an IDX"),
    ],
)
def test_parse_idx_rejects_malformed(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_idx(data)
