"""The data root of the posts pipeline, built once per test session and shared: one nightly run (ingest -> etl ->
features -> 2 Horovod workers -> score) on ~3,500 real posts plus malformed landing lines, under a ``file://`` root
whose path holds a space. Tests that only read a root with a sentiment champion reuse it."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

from smspark.jobs import nightly
from tests.conftest import require_landing

DAY = "2026-11-21"
BAD_LINES = {
    "{this is not json": "malformed JSON",
    json.dumps({"text": "a post without an id"}): "missing id",
    json.dumps({"id": "bad-ts", "text": "x", "created_at": "last tuesday"}): "created_at is not an ISO-8601 timestamp",
}
UNDECODABLE = b'{"id": "latin1", "text": "caf\xe9 au lait"}\n'  # latin-1 bytes: not valid UTF-8


#: Handles planted in every form a post can hold one (checked by plain substring search, not the production pattern).
PLANTED_HANDLES = ("qzplantone", "qzplanttwo", "qzplantthree", "qzplantfour", "qzplantfive")
PLANTED = [
    {"id": "9000000001", "author": "qzplantone", "created_at": "2017-01-02T10:00:00Z", "text": "hi @QzPlantTwo!"},
    {"id": "9000000002", "text": "see twitter.com/qzplantthree today", "in_reply_to": "qzplantone"},
    {"id": "9000000003", "text": "thanks@qzplantfour and https://mobile.x.com/qzplantfive/status/1"},
]


def _slice(src: Path, dst: Path, step: int, limit: int) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open() as fh, dst.open("w") as out:
        lines = list(islice((ln for i, ln in enumerate(fh) if i % step == 0), limit))
        out.writelines(lines)
    return len(lines)


def build_posts_nightly(tmp_path_factory) -> tuple[Path, list[str], dict, int]:
    """One nightly run on ~3,500 real posts plus a file of malformed lines, on the data root
    ``file:///<tmp>/e2e data/data``; returns (root as a local path, args, manifest, lines)."""
    root = tmp_path_factory.mktemp("e2e") / "e2e data" / "data"
    landing = root / "landing" / "posts"
    n = _slice(
        require_landing("posts", "labelled_tweets", "posts.jsonl"), landing / "labelled_tweets" / "p.jsonl", 11, 2600
    )
    n += _slice(
        require_landing("posts", "trump_archive", "posts.jsonl"), landing / "trump_archive" / "p.jsonl", 20, 900
    )
    planted = landing / "planted_handles" / "p.jsonl"
    planted.parent.mkdir(parents=True)
    planted.write_text("".join(json.dumps(r) + "\n" for r in PLANTED))
    n += len(PLANTED)
    bad = landing / "broken_export" / "p.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_bytes("\n".join(BAD_LINES).encode() + b"\n" + UNDECODABLE)
    sets = [
        f"data.root=file://{root}",
        "models.sentiment.epochs=2",
        "models.sentiment.vocab_size=5000",
        "train.num_proc=2",
        "nightly.train=[sentiment]",
        "nightly.score=[sentiment]",
    ]
    args = ["--date", DAY] + [a for s in sets for a in ("--set", s)]
    assert nightly.main(args) == 0
    manifest = json.loads(max((root / "runs").glob("*nightly*/manifest.json")).read_text())
    return root, args, manifest, n + len(BAD_LINES) + 1
