"""What the sample sources share (:mod:`smspark.sources.common`): provenance checks, JSON lines, apt-get failures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from smspark.sources.common import (
    Output,
    SourceUnavailable,
    apt_get_download,
    outputs_intact,
    read_sources,
    sha256_file,
    sha256_tree,
    source_entry,
    write_jsonl,
    write_sources,
)


def test_source_entry_and_outputs_intact(tmp_path: Path) -> None:
    (tmp_path / "tree/b").mkdir(parents=True)
    (tmp_path / "tree/a.txt").write_bytes(b"a\n")
    (tmp_path / "tree/b/c.txt").write_bytes(b"c\n")
    (tmp_path / "file.csv").write_text("x\n1\n", encoding="utf-8")
    entry = source_entry(
        registry="pypi",
        package="pkg",
        version="1.0",
        sources=[("pkg/file.csv", tmp_path / "file.csv")],
        outputs=[Output("file.csv", 1), Output("tree", 2, kind="tree")],
        landing=tmp_path,
    )
    digest_a, digest_c = hashlib.sha256(b"a\n").hexdigest(), hashlib.sha256(b"c\n").hexdigest()
    listing = f"{digest_a}  a.txt\n{digest_c}  b/c.txt\n"
    assert sha256_tree(tmp_path / "tree") == (hashlib.sha256(listing.encode()).hexdigest(), 2)
    assert entry["outputs"][1] == {
        "path": "tree",
        "kind": "tree",
        "sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "files": 2,
        "records": 2,
    }
    assert entry["sources"] == [{"path": "pkg/file.csv", "sha256": sha256_file(tmp_path / "file.csv")}]
    assert outputs_intact(tmp_path, entry)

    write_sources(tmp_path, {"datasets": {"x": entry}})
    assert read_sources(tmp_path)["datasets"]["x"] == entry
    (tmp_path / "tree/b/c.txt").write_bytes(b"changed\n")
    assert not outputs_intact(tmp_path, entry)
    assert not outputs_intact(tmp_path, {"status": "skipped", "reason": "no npm"})


def test_write_jsonl_keeps_unicode_and_escapes_line_separators(tmp_path: Path) -> None:
    out = tmp_path / "posts.jsonl"
    records = [{"id": "1", "text": "caf\u00e9 \u2028 next"}, {"id": "2", "text": None}]
    assert write_jsonl(records, out) == 2
    raw = out.read_text(encoding="utf-8")
    assert raw.splitlines() == ['{"id": "1", "text": "caf\u00e9 \\u2028 next"}', '{"id": "2", "text": null}']
    assert [json.loads(line) for line in raw.splitlines()] == records
    assert not list(tmp_path.glob("*.tmp"))


def test_apt_get_download_retries_after_update_then_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for tool in ("apt-get", "dpkg-deb"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\necho "E: no network" >&2\nexit 100\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(SourceUnavailable) as info:
        apt_get_download("some-package", workdir, "install it yourself", installed_dir=Path("/usr/share/x"))
    assert str(info.value) == "apt-get download some-package failed (E: no network): install it yourself"
    assert calls.read_text().splitlines() == [
        "apt-get download some-package",
        "apt-get update",
        "apt-get download some-package",
    ]

    (bin_dir / "dpkg-deb").unlink()
    with pytest.raises(SourceUnavailable, match=r"^dpkg-deb not found and /usr/share/x is absent: install it"):
        apt_get_download("some-package", workdir, "install it yourself", installed_dir=Path("/usr/share/x"))
