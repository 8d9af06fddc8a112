"""Comparable snapshots of a data root's committed tables, for tests that re-run stages and expect identical output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from smspark import storage, tables

#: Columns a re-run changes by design: when a row was quarantined, scored or generated.
VOLATILE = frozenset({"quarantined_at", "scored_at", "generated_at"})
LAYERS = ("bronze", "silver", "features", "quarantine")


def snapshot(root: Path, layers: Sequence[str] = LAYERS, drop: frozenset[str] = VOLATILE) -> dict[str, object]:
    """Every committed table under ``layers`` of a local data root as its sorted rows (the ``drop`` columns left out),
    and every side file of the features (vocabularies, id maps, meta) as bytes; keyed by path under the root."""
    out: dict[str, object] = {}
    for layer in layers:
        for commit in sorted((root / layer).rglob(tables.COMMIT_FILE)):
            uri = storage.resolve_root(commit.parent)
            try:
                t = tables.read_arrow(uri)
            except tables.TableNotFound:  # committed empty (a quarantine with nothing in it)
                out[str(commit.parent.relative_to(root))] = []
                continue
            t = t.drop([c for c in t.column_names if c in drop])
            out[str(commit.parent.relative_to(root))] = sorted(repr(sorted(r.items())) for r in t.to_pylist())
    if "features" in layers:
        for side in sorted((root / "features").rglob("*")):
            if side.is_file() and not any(p.startswith((".", "_")) for p in side.relative_to(root).parts):
                if "/.v-" not in str(side) and side.suffix in (".json", ".npz", ".txt"):
                    out[str(side.relative_to(root))] = side.read_bytes()
    return out


def layer_bytes(root: Path, layers: Sequence[str] = LAYERS) -> dict[str, int]:
    """Bytes on disk per layer of a local data root."""
    return {layer: sum(f.stat().st_size for f in (root / layer).rglob("*") if f.is_file()) for layer in layers}


def assert_versions_bounded(root: Path, keep: int = 2) -> None:
    """No staging left anywhere under the root, and no table (or partition) holding more than ``keep`` versions:
    the current one and the one kept for readers still on it."""
    assert not list(root.rglob(tables.STAGING))
    for commit in root.rglob(tables.COMMIT_FILE):
        for folder in [commit.parent, *(d for d in commit.parent.rglob("*") if d.is_dir())]:
            versions = [d for d in folder.iterdir() if d.is_dir() and d.name.startswith(tables.VERSION_PREFIX)]
            assert len(versions) <= keep, folder
