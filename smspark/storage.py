"""Storage by URI: where tables live (for Spark) and how small side files are read and written (fsspec).

Every location in smspark is a URI string under ``data.root``. Tables are read and written by Spark with
:func:`spark_path`; side files (vocabularies, ``meta.json``, id maps, manifests, reports, exported models) and
existence checks go through this module, which is built on `fsspec <https://filesystem-spec.readthedocs.io>`_:
the same code works on a local disk and on the object stores and HDFS that Spark reads.

Accepted roots and what they become (:func:`resolve_root`):

==========================  =========================================  ============================================
given                       canonical URI (what Spark gets)            side files (fsspec)
==========================  =========================================  ============================================
``data``, ``/tmp/d x``      ``file:///abs/path/d x`` (not %-encoded)   the local disk
``file:///tmp/d%20x``       ``file:///tmp/d x`` (decoded once)         the local disk
``/dbfs/smspark``           ``dbfs:/smspark``                          the ``/dbfs`` FUSE mount when present
``dbfs:/smspark``           ``dbfs:/smspark``                          idem
``/Volumes/c/s/v/smspark``  ``/Volumes/c/s/v/smspark`` (Unity Catalog)  the local FUSE path
``s3a://``, ``s3://``,      unchanged                                  ``s3fs`` / ``adlfs`` / ``gcsfs`` / pyarrow's
``abfss://``, ``gs://``,                                               HDFS client, whichever is installed
``hdfs://``
==========================  =========================================  ============================================

URIs are kept *unencoded* (a space stays a space) because that is how Hadoop's ``Path`` parses them; this module
encodes nothing and decodes a ``file:`` URI only once, on the way in.

Errors: :class:`StorageError` (a ``ValueError``) for an unsupported scheme or a missing optional filesystem
package; ``FileNotFoundError`` from the read functions for a missing file.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

#: Schemes Spark and this module understand, with the fsspec protocol that serves each.
FSSPEC_PROTOCOL: dict[str, str] = {
    "file": "file",
    "s3": "s3",
    "s3a": "s3",
    "s3n": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "abfs": "abfs",
    "abfss": "abfs",
    "wasb": "abfs",
    "wasbs": "abfs",
    "hdfs": "hdfs",
    "viewfs": "hdfs",
    "dbfs": "dbfs",
}

#: Where Databricks mounts DBFS and Unity Catalog volumes on the driver and on every executor.
DBFS_FUSE = "/dbfs"
VOLUMES_PREFIX = "/Volumes/"


class StorageError(ValueError):
    """A URI this module cannot serve: unknown scheme, or its filesystem package is not installed."""


def scheme(uri: str) -> str:
    """The URI scheme (``file`` for a plain path; ``volumes`` for a Unity Catalog ``/Volumes/...`` path)."""
    uri = str(uri)
    if uri.startswith(VOLUMES_PREFIX):
        return "volumes"
    parts = urlsplit(uri)
    if len(parts.scheme) <= 1:  # no scheme, or a Windows drive letter
        return "file"
    return parts.scheme.lower()


def is_local(uri: str) -> bool:
    """Whether ``uri`` names this host's filesystem (a plain path or ``file:``)."""
    return scheme(uri) == "file"


def resolve_root(root: str | os.PathLike[str], base: str | os.PathLike[str] | None = None) -> str:
    """Canonical URI of a data root or table location.

    Args:
        root: a plain path (relative paths resolve against ``base``, default the working directory), a
            ``file:`` URI, ``/dbfs/...``, ``dbfs:/...``, ``/Volumes/...``, or a URI with a scheme from
            :data:`FSSPEC_PROTOCOL`.
        base: directory a relative plain path is resolved against.

    Returns:
        ``file:///abs/path`` (unencoded) for local paths, ``dbfs:/path`` for DBFS, the ``/Volumes/...`` path as
        given, other URIs unchanged; never with a trailing slash (except the filesystem root).

    Raises:
        StorageError: an unknown scheme.
    """
    text = os.fspath(root)
    if not text:
        raise StorageError("empty storage location")
    if text.startswith(VOLUMES_PREFIX):
        return _strip(text)
    if text == DBFS_FUSE or text.startswith(DBFS_FUSE + "/"):
        return "dbfs:/" + text[len(DBFS_FUSE) :].lstrip("/")
    s = scheme(text)
    if s == "file":
        parts = urlsplit(text)
        if parts.scheme.lower() == "file":
            if parts.netloc not in ("", "localhost"):
                raise StorageError(f"file URI with a host is not supported: {text!r}")
            path = Path(unquote(parts.path))
        else:
            path = Path(text).expanduser()
            if not path.is_absolute():
                path = Path(base or os.getcwd()) / path
        return "file://" + os.path.normpath(str(path))
    if s == "dbfs":
        parts = urlsplit(text)
        return "dbfs:/" + _strip((parts.netloc + parts.path).lstrip("/"))
    if s not in FSSPEC_PROTOCOL:
        raise StorageError(f"unsupported storage scheme {s!r} in {text!r}; supported: {sorted(FSSPEC_PROTOCOL)}")
    return _strip(text)


def _strip(uri: str) -> str:
    """``uri`` without trailing slashes, unless that would leave only a scheme (``s3a://``)."""
    stripped = uri.rstrip("/")
    return stripped if stripped and not stripped.endswith(":") else uri


def join(base: str, *parts: str) -> str:
    """``base`` with ``parts`` appended by ``/`` (no normalisation of ``..``; parts must be plain names)."""
    out = str(base).rstrip("/")
    for p in parts:
        p = str(p).strip("/")
        if p:
            out = f"{out}/{p}"
    return out


def name(uri: str) -> str:
    """Last component of ``uri`` (``.../features/sentiment`` -> ``sentiment``)."""
    return posixpath.basename(str(uri).rstrip("/"))


def parent(uri: str) -> str:
    """``uri`` without its last component."""
    head, _, _ = str(uri).rstrip("/").rpartition("/")
    return head


def spark_path(uri: str) -> str:
    """The string Spark's readers and writers take for ``uri`` (local paths become ``file:///...`` URIs, so a
    cluster's default filesystem never captures them)."""
    return resolve_root(uri)


def local_path(uri: str) -> str | None:
    """A path on this host for ``uri``: the path of a ``file:`` URI, the ``/dbfs`` FUSE path of ``dbfs:/x``
    and the ``/Volumes/...`` path itself (Databricks mounts both on every node); None for object stores."""
    uri = resolve_root(uri)
    s = scheme(uri)
    if s == "file":
        return uri[len("file://") :]
    if s == "volumes":
        return uri
    if s == "dbfs" and os.path.isdir(DBFS_FUSE):
        return DBFS_FUSE + "/" + uri[len("dbfs:/") :]
    return None


def filesystem(uri: str) -> tuple[Any, str]:
    """``(fsspec filesystem, path inside it)`` for ``uri``.

    Local, ``/Volumes`` and (on Databricks) ``dbfs:`` URIs use fsspec's local filesystem; other schemes use the
    fsspec implementation registered for their protocol (``s3fs``, ``adlfs``, ``gcsfs``, pyarrow HDFS), which must
    be installed on the cluster.

    Raises:
        StorageError: the scheme is unknown or its fsspec implementation is not installed.
    """
    import fsspec

    uri = resolve_root(uri)
    local = local_path(uri)
    if local is not None:
        return fsspec.filesystem("file"), local
    s = scheme(uri)
    protocol = FSSPEC_PROTOCOL[s]
    try:
        fs = fsspec.filesystem(protocol)
    except (ImportError, ValueError) as exc:
        raise StorageError(
            f"no filesystem for {s}:// URIs here ({exc}); install the fsspec package for it (s3fs, adlfs, gcsfs)"
        ) from exc
    if protocol == "s3":
        path = uri.split("://", 1)[1]
    elif protocol == "dbfs":
        path = "/" + uri[len("dbfs:/") :]
    else:
        path = fs._strip_protocol(uri)
    return fs, path


def arrow_filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow.fs.FileSystem, path)`` for reading Parquet with pyarrow (``pq.read_table(path, filesystem=fs)``)."""
    import pyarrow.fs as pafs

    local = local_path(uri)
    if local is not None:
        return pafs.LocalFileSystem(), local
    fs, path = filesystem(uri)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def read_parquet(uri: str, columns: list[str] | None = None) -> Any:
    """The Parquet file or directory (Spark's output, hive partitions discovered) at ``uri`` as a
    ``pyarrow.Table``, read on this process with :func:`arrow_filesystem`. A table with an atomic commit
    (:mod:`smspark.tables`) is read at its committed data directories (:func:`smspark.tables.read_arrow`).

    Raises:
        FileNotFoundError: nothing at ``uri``.
    """
    from smspark import tables

    return tables.read_arrow(uri, columns=columns)


def exists(uri: str) -> bool:
    """Whether a file or directory exists at ``uri``."""
    fs, path = filesystem(uri)
    return bool(fs.exists(path))


def is_dir(uri: str) -> bool:
    """Whether ``uri`` is a directory (object stores: a prefix with objects under it)."""
    fs, path = filesystem(uri)
    return bool(fs.isdir(path))


def makedirs(uri: str) -> str:
    """Create ``uri`` as a directory (with parents; no-op when it exists); returns ``uri``."""
    fs, path = filesystem(uri)
    fs.makedirs(path, exist_ok=True)
    return uri


def listdir(uri: str) -> list[str]:
    """Names of the entries directly under ``uri`` (sorted); ``[]`` when it does not exist."""
    fs, path = filesystem(uri)
    if not fs.exists(path):
        return []
    return sorted(posixpath.basename(str(p).rstrip("/")) for p in fs.ls(path, detail=False))


def glob(uri: str, pattern: str) -> list[str]:
    """URIs of the files under ``uri`` matching ``pattern`` (fsspec glob, ``**`` recursive), sorted."""
    fs, path = filesystem(uri)
    base = str(uri).rstrip("/")
    found = fs.glob(path.rstrip("/") + "/" + pattern)
    return sorted(join(base, str(p)[len(path.rstrip("/")) :].lstrip("/")) for p in found)


def read_bytes(uri: str) -> bytes:
    """The bytes of the file at ``uri``.

    Raises:
        FileNotFoundError: nothing at ``uri``.
    """
    fs, path = filesystem(uri)
    with fs.open(path, "rb") as fh:
        return fh.read()


def read_text(uri: str, encoding: str = "utf-8") -> str:
    """The text of the file at ``uri`` (see :func:`read_bytes`)."""
    return read_bytes(uri).decode(encoding)


def read_json(uri: str) -> Any:
    """The JSON document at ``uri`` (see :func:`read_bytes`)."""
    return json.loads(read_bytes(uri))


def write_bytes(uri: str, data: bytes) -> str:
    """Write ``data`` to ``uri`` atomically: readers see the old file or the new one, never a part.

    Local files are written next to the target and renamed over it; object stores publish a single ``put``
    atomically on their own. Parent directories are created. Returns ``uri``.
    """
    fs, path = filesystem(uri)
    parent_path = posixpath.dirname(path)
    if parent_path:
        fs.makedirs(parent_path, exist_ok=True)
    if local_path(uri) is not None:
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)
    return uri


def write_text(uri: str, text: str, encoding: str = "utf-8") -> str:
    """Write ``text`` to ``uri`` atomically (see :func:`write_bytes`)."""
    return write_bytes(uri, text.encode(encoding))


def write_json(uri: str, data: Any) -> str:
    """Write ``data`` as indented JSON to ``uri`` atomically (non-JSON values through ``str``)."""
    return write_text(uri, json.dumps(data, indent=2, default=str) + "\n")


def upload(local: str | os.PathLike[str], uri: str) -> str:
    """Copy a local file or directory tree to ``uri`` (replacing what is there). Returns ``uri``."""
    fs, path = filesystem(uri)
    src = os.fspath(local)
    if os.path.isdir(src):
        if fs.exists(path):
            fs.rm(path, recursive=True)
        fs.makedirs(posixpath.dirname(path) or "/", exist_ok=True)
        fs.put(src.rstrip("/") + "/", path, recursive=True)
    else:
        parent_path = posixpath.dirname(path)
        if parent_path:
            fs.makedirs(parent_path, exist_ok=True)
        fs.put_file(src, path)
    return uri


def download(uri: str, local: str | os.PathLike[str]) -> Path:
    """Copy the file or directory tree at ``uri`` to the local path ``local``. Returns ``Path(local)``.

    Raises:
        FileNotFoundError: nothing at ``uri``.
    """
    fs, path = filesystem(uri)
    dst = Path(local)
    if not fs.exists(path):
        raise FileNotFoundError(uri)
    if fs.isdir(path):
        if dst.exists():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        fs.get(path.rstrip("/") + "/", str(dst), recursive=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(dst))
    return dst


def remove(uri: str) -> None:
    """Delete the file or directory tree at ``uri`` (no error when it is absent)."""
    fs, path = filesystem(uri)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def move(src: str, dst: str) -> str:
    """Move the file or directory tree at ``src`` to ``dst`` (parents created); returns ``dst``.

    On a local disk, HDFS and the ``/dbfs`` mount this is a rename (one atomic step); object stores copy and delete.
    Both URIs must be on the same filesystem.

    Raises:
        FileNotFoundError: nothing at ``src``.
    """
    fs, src_path = filesystem(src)
    _, dst_path = filesystem(dst)
    if not fs.exists(src_path):
        raise FileNotFoundError(src)
    parent_path = posixpath.dirname(dst_path.rstrip("/"))
    if parent_path:
        fs.makedirs(parent_path, exist_ok=True)
    if local_path(src) is not None:
        os.replace(src_path, dst_path)
    else:
        fs.mv(src_path, dst_path, recursive=True)
    return dst
