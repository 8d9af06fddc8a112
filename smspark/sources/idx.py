"""Reader for IDX files, the format of MNIST and Fashion-MNIST.

Format (Y. LeCun, "THE MNIST DATABASE of handwritten digits", http://yann.lecun.com/exdb/mnist/):

- a 4-byte magic number: two zero bytes, one byte giving the element type, one byte giving the number of
  dimensions ``n``;
- ``n`` dimension sizes, each a 4-byte big-endian unsigned integer;
- the data, C order (last index changes fastest), every element big-endian.

Element type codes: ``0x08`` unsigned byte, ``0x09`` signed byte, ``0x0B`` short (2 bytes), ``0x0C`` int
(4 bytes), ``0x0D`` float (4 bytes), ``0x0E`` double (8 bytes).

Files may be gzip-compressed (``*-ubyte.gz`` as distributed); compression is detected from the gzip magic
bytes, not from the file name. Fashion-MNIST, for example, ships ``train-images-idx3-ubyte.gz`` (magic
``0x00000803``, dims 60000 x 28 x 28, unsigned bytes) and ``train-labels-idx1-ubyte.gz`` (magic
``0x00000801``, 60000 labels 0..9).
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: IDX element type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read()
        return fh.read()


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one (uncompressed) IDX file.

    Args:
        data: the whole file content, header included.
        name: used in error messages only.

    Returns:
        An array of the file's shape, in native byte order (``uint8`` for ``0x08`` files, ``int16``,
        ``int32``, ``float32``, ``float64`` ... for the others).

    Raises:
        ValueError: when the magic number is wrong (first two bytes not zero, unknown type code), the header is
            truncated, or the data size does not equal the product of the dimensions times the element size.
    """
    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero1, zero2, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0:
        raise ValueError(f"{name}: not an IDX file (magic number {data[:4].hex()} does not start with two zero bytes)")
    if type_code not in IDX_DTYPES:
        raise ValueError(f"{name}: unknown IDX element type code 0x{type_code:02X}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header_len})")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[type_code]
    count = 1
    for dim in shape:
        count *= dim
    expected = count * dtype.itemsize
    payload = len(data) - header_len
    if payload != expected:
        raise ValueError(
            f"{name}: IDX data size {payload} bytes does not match dims {shape} of {dtype.itemsize}-byte elements "
            f"({expected} bytes expected)"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header_len).reshape(shape)
    native = dtype.newbyteorder("=")
    # astype copies: the result is writable and independent of ``data``.
    return array.astype(native)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, into a numpy array.

    Args:
        path: the file, e.g. ``t10k-images-idx3-ubyte.gz`` (gzip detected from content, not from the name).

    Returns:
        The array with the shape of the file's dimensions, native byte order. For Fashion-MNIST:
        ``t10k-images-idx3-ubyte.gz`` -> ``uint8`` of shape ``(10000, 28, 28)``; ``t10k-labels-idx1-ubyte.gz``
        -> ``uint8`` of shape ``(10000,)`` with values 0..9.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when the content is not a well-formed IDX file (see :func:`parse_idx`).
        OSError: when a gzip stream is corrupt (``gzip.BadGzipFile``) or truncated (``EOFError`` is re-raised as
            ``ValueError``).
    """
    path = Path(path)
    try:
        data = _read_bytes(path)
    except EOFError as exc:
        raise ValueError(f"{path}: truncated gzip stream") from exc
    array = parse_idx(data, name=str(path))
    log.debug("read %s: %s %s", path, array.dtype, array.shape)
    return array
