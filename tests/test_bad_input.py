"""Bad input everywhere: one landing folder, built from small slices of the real samples plus corrupted variants of
real records (one of every kind of bad line, file and image in :data:`KINDS`), runs through the real ``ingest`` and
``etl`` jobs. Each kind is kept in silver or quarantined with its reason; every landing record is accounted for
(``records = silver + quarantined + duplicates dropped``, per table) and every good record is kept."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.config import load_config
from smspark.etl.pseudonymise import post_pseudonym, pseudonym
from smspark.jobs import etl as etl_job
from smspark.jobs import ingest as ingest_job
from smspark.jobs.common import JobContext
from smspark.manifest import RunManifest
from smspark.sources.idx import read_idx
from tests.conftest import require_landing

DAY = dt.date(2026, 11, 21)
MAX_POST_CHARS = 100_000  # the base profile's ingest.max_post_chars
MAX_PIXELS = 50_000_000  # ... and ingest.max_image_pixels
N_POSTS, N_RATING_USERS, N_EMOJI, N_IDX = 40, (1, 2), 8, 12


@dataclass(frozen=True)
class Kind:
    """One kind of bad input: the table it lands in, and where it must end up (``reason`` None: kept in silver,
    else a quarantine row of ``stage`` whose reason starts with ``reason`` and contains ``detail``)."""

    table: str
    name: str
    reason: str | None
    stage: str = "ingest"
    detail: str = ""


KINDS = [
    # posts: a landing file of its own per kind (landing/posts/odd/<kind>.jsonl), made from real posts
    Kind("posts", "utf8_bom", None),  # a file starting with a byte-order mark
    Kind("posts", "crlf_endings", None),  # Windows line ends: no line merged or split
    Kind("posts", "cr_endings", None),  # classic Mac line ends
    Kind("posts", "nul_escaped", None),  # "\u0000" inside the text: stripped from the silver text
    Kind("posts", "nul_raw", None),  # a raw NUL byte inside the JSON string: stripped from the silver text
    Kind("posts", "text_1mb", f"text too long (more than {MAX_POST_CHARS} characters)"),
    Kind("posts", "nul_outside_string", "malformed JSON"),
    Kind("posts", "truncated_last_line", "malformed JSON"),
    Kind("posts", "not_utf8", "not valid UTF-8"),
    # interactions: lines of the ml-latest ratings.csv made from real ratings
    Kind("interactions", "bom_and_crlf_file", None),  # every real rating of a file with a BOM and CR/LF ends
    Kind("interactions", "rating_above_range", "rating out of range [0.5, 5]"),
    Kind("interactions", "rating_below_range", "rating out of range [0.5, 5]"),
    Kind("interactions", "unknown_item", "unknown item (not in the catalogue)", "etl"),
    Kind("interactions", "new_user", None),  # MovieLens has no user file: an unseen user id is a valid record
    Kind("interactions", "user_not_numeric", "user id is not an integer"),
    Kind("interactions", "item_not_numeric", "item id is not an integer"),
    Kind("interactions", "rating_not_numeric", "rating is not a number"),
    Kind("interactions", "timestamp_not_numeric", "timestamp is not unix seconds"),
    Kind("interactions", "too_few_columns", "wrong number of fields (expected 4)"),
    Kind("interactions", "too_many_columns", "wrong number of fields (expected 4)"),
    Kind("interactions", "truncated_last_line", "wrong number of fields (expected 4)"),
    # media: files in a class folder of the emoji source made from real emoji, and an IDX source
    Kind("media", "jpeg", None),
    Kind("media", "zero_byte_png", "empty file"),
    Kind("media", "zero_byte_jpeg", "empty file"),
    Kind("media", "truncated_png", "undecodable image"),
    Kind("media", "truncated_jpeg", "undecodable image"),
    Kind("media", "png_1x1", "image too small (1x1, shortest side < 8)"),
    Kind("media", "png_10000x10000", f"image too large (10000x10000 = 100000000 pixels > {MAX_PIXELS})"),
    Kind("media", "jpeg_10000x10000", f"image too large (10000x10000 = 100000000 pixels > {MAX_PIXELS})"),
    Kind("media", "idx_wrong_magic", "unreadable IDX file: ", detail="magic number 12340803"),
    Kind("media", "idx_truncated", "unreadable IDX file: ", detail="does not match dims (12, 28, 28)"),
    Kind("media", "idx_label_count", "unreadable IDX file: ", detail="12 images but labels of shape (10,)"),
]


# --- corrupted variants of real records ------------------------------------------------------------------------


def resize_png_header(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` (CRC recomputed); the pixel data stays as it was."""
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + png[24:29]
    return png[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + png[33:]


def resize_jpeg_header(jpeg: bytes, width: int, height: int) -> bytes:
    """A baseline JPEG whose SOF0 segment declares ``width`` x ``height``; the scan data stays as it was."""
    at = jpeg.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]


def _jpeg(png: Path) -> bytes:
    from PIL import Image

    with Image.open(png) as img:
        rgb = img.convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png(png: Path, size: tuple[int, int]) -> bytes:
    from PIL import Image

    with Image.open(png) as img:
        small = img.resize(size)
    buf = io.BytesIO()
    small.save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Landing:
    """What was written: per table the number of landing records, the good ones (ids) and, per kind, its records."""

    records: dict[str, int]
    good: dict[str, set]
    by_kind: dict[str, list]


def _posts(landing: Path, out: Landing) -> None:
    src = require_landing("posts", "labelled_tweets", "posts.jsonl")
    with src.open(encoding="utf-8") as fh:
        lines = [next(fh).rstrip("\n") for _ in range(N_POSTS + 20)]
    posts = [json.loads(x) for x in lines]
    good, spare = lines[:N_POSTS], iter(range(N_POSTS, len(lines)))
    folder = landing / "posts"
    (folder / "labelled_tweets").mkdir(parents=True)
    (folder / "labelled_tweets" / "p.jsonl").write_text("".join(x + "\n" for x in good), encoding="utf-8")
    out.good["posts"] = {p["id"] for p in posts[:N_POSTS]}

    def take(n: int = 1) -> list[int]:
        return [next(spare) for _ in range(n)]

    def with_text(i: int, text: str) -> str:
        return json.dumps({**posts[i], "text": text}, ensure_ascii=False)

    files: dict[str, tuple[list[int], bytes]] = {}
    i, j = take(2)
    files["utf8_bom"] = ([i, j], ("\ufeff" + lines[i] + "\n" + lines[j] + "\n").encode())
    ids = take(3)
    files["crlf_endings"] = (ids, "".join(lines[k] + "\r\n" for k in ids).encode())
    ids = take(3)
    files["cr_endings"] = (ids, "".join(lines[k] + "\r" for k in ids).encode())
    (i,) = take()
    files["nul_escaped"] = ([i], (with_text(i, posts[i]["text"].replace(" ", " \x00", 1)) + "\n").encode())
    (i,) = take()
    raw = with_text(i, posts[i]["text"].replace(" ", " \x01\x01", 1)).replace("\\u0001\\u0001", "\x00")
    assert "\x00" in raw
    files["nul_raw"] = ([i], (raw + "\n").encode())
    (i,) = take()
    long_text = (posts[i]["text"] + " ") * (1_000_000 // (len(posts[i]["text"]) + 1) + 1)
    files["text_1mb"] = ([i], (with_text(i, long_text) + "\n").encode())
    (i,) = take()
    files["nul_outside_string"] = ([i], (lines[i].replace(", ", ",\x00 ", 1) + "\n").encode())
    i, j = take(2)
    files["truncated_last_line"] = ([i, j], (lines[i] + "\n" + lines[j][: len(lines[j]) // 2]).encode())
    (i,) = take()
    files["not_utf8"] = ([i], with_text(i, posts[i]["text"] + " caf\xe9").encode("latin-1", "replace") + b"\n")
    (folder / "odd").mkdir()
    for kind, (idx, data) in files.items():
        (folder / "odd" / f"{kind}.jsonl").write_bytes(data)
        out.by_kind[f"posts/{kind}"] = [posts[k]["id"] for k in idx]
    # the truncated file holds a good line before its cut one
    first, cut = out.by_kind["posts/truncated_last_line"]
    out.good["posts"].add(first)
    out.by_kind["posts/truncated_last_line"] = [cut]
    out.records["posts"] = len(good) + sum(len(idx) for idx, _ in files.values())


def _interactions(landing: Path, out: Landing) -> None:
    with require_landing("movielens", "ratings.csv").open(newline="") as fh:
        rows = [r for r in list(csv.reader(fh))[1:] if int(r[0]) in N_RATING_USERS]
    with require_landing("movielens", "movies.csv").open(newline="", encoding="utf-8") as fh:
        movies = {r[0]: r for r in list(csv.reader(fh))[1:]}
    u, m, r, t = rows[0]
    t = str(int(t) + 1)  # a second later than the real rating: a kept bad line would show in silver as its own row
    bad = {
        "rating_above_range": f"{u},{m},7.5,{t}",
        "rating_below_range": f"{u},{m},0,{t}",
        "unknown_item": f"{u},999999,{r},{t}",
        "new_user": f"99999,{m},{r},{t}",
        "user_not_numeric": f"user{u},{m},{r},{t}",
        "item_not_numeric": f"{u},#{m},{r},{t}",
        "rating_not_numeric": f"{u},{m},four,{t}",
        "timestamp_not_numeric": f"{u},{m},{r},2009-12-14",
        "too_few_columns": f"{u},{m},{r}",
        "too_many_columns": f"{u},{m},{r},{t},{t}",
    }
    folder = landing / "movielens"
    folder.mkdir(parents=True)
    line = ",".join(rows[1])
    cut = line[: line.index(",", line.index(",") + 1) + 2]  # the file ends in the middle of a real line's rating
    # saved by a Windows tool: a byte-order mark before the header, CR/LF line ends
    lines = ["userId,movieId,rating,timestamp", *(",".join(x) for x in rows), *bad.values()]
    (folder / "ratings.csv").write_bytes(("\ufeff" + "".join(x + "\r\n" for x in lines) + cut).encode())
    with (folder / "movies.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["movieId", "title", "genres"])
        w.writerows(movies[mid] for mid in sorted({x[1] for x in rows}, key=int))
    out.good["interactions"] = {(x[0], int(x[1]), int(x[3])) for x in rows}
    for kind, line in bad.items():
        out.by_kind[f"interactions/{kind}"] = [line]
    out.by_kind["interactions/truncated_last_line"] = [cut]
    out.by_kind["interactions/bom_and_crlf_file"] = [",".join(x) for x in rows]
    out.records["interactions"] = len(rows) + len(bad) + 1


def _media(landing: Path, out: Landing) -> None:
    emoji_src = require_landing("images", "emoji", "index.csv").parent
    pngs = sorted((emoji_src / "flags").glob("*.png"))[: N_EMOJI + 4]
    folder = landing / "images" / "emoji" / "flags"
    folder.mkdir(parents=True)
    for png in pngs[:N_EMOJI]:
        shutil.copy(png, folder / png.name)
    out.good["media"] = {f"emoji/flags/{p.name}" for p in pngs[:N_EMOJI]}
    a, b, c, d = pngs[N_EMOJI:]
    jpeg = _jpeg(a)
    files = {
        "jpeg": ("jpeg.jpg", _jpeg(b)),
        "zero_byte_png": ("zero_byte.png", b""),
        "zero_byte_jpeg": ("zero_byte.jpg", b""),
        "truncated_png": ("truncated.png", c.read_bytes()[: c.stat().st_size // 2]),
        "truncated_jpeg": ("truncated.jpg", jpeg[: len(jpeg) // 2]),
        "png_1x1": ("pixel.png", _png(d, (1, 1))),
        "png_10000x10000": ("huge.png", resize_png_header(a.read_bytes(), 10_000, 10_000)),
        "jpeg_10000x10000": ("huge.jpg", resize_jpeg_header(jpeg, 10_000, 10_000)),
    }
    for kind, (name, data) in files.items():
        (folder / name).write_bytes(data)
        out.by_kind[f"media/{kind}"] = [f"emoji/flags/{name}"]
    # IDX: a good slice of the real Fashion-MNIST test set, and sources whose files are broken (one record each)
    fm = require_landing("images", "fashion_mnist", "t10k-images-idx3-ubyte.gz").parent

    def idx_bytes(part: str, n: int) -> bytes:
        arr = read_idx(fm / f"t10k-{part}-ubyte.gz")[:n]
        return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()

    sources = {
        "fashion_mnist": (idx_bytes("images-idx3", N_IDX), idx_bytes("labels-idx1", N_IDX)),
        "wrong_magic": (b"\x12\x34\x08\x03" + idx_bytes("images-idx3", N_IDX)[4:], idx_bytes("labels-idx1", N_IDX)),
        "truncated": (idx_bytes("images-idx3", N_IDX)[:-100], idx_bytes("labels-idx1", N_IDX)),
        "label_count": (idx_bytes("images-idx3", N_IDX), idx_bytes("labels-idx1", N_IDX - 2)),
    }
    for source, (images, labels) in sources.items():
        dst = landing / "images" / source
        dst.mkdir(parents=True)
        (dst / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
        (dst / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
        shutil.copy(fm / "classes.json", dst / "classes.json")
        out.by_kind[f"media/idx_{source}"] = [f"{source}/t10k-images-idx3-ubyte.gz"]
    out.good["media"] |= {f"fashion_mnist/test:{i:05d}" for i in range(N_IDX)}
    out.records["media"] = N_EMOJI + len(files) + N_IDX + len(sources) - 1  # a broken IDX file is one record


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory):
    """The landing folder above through ``smspark ingest`` and ``smspark etl`` (the job entry points, every table);
    returns the landing record, the stage records, silver and quarantine collected, and the config."""
    root = tmp_path_factory.mktemp("bad_input") / "data"
    written = Landing({}, {}, {})
    for build in (_posts, _interactions, _media):
        build(root / "landing", written)
    cfg = load_config(None, [f"data.root={root}", "spark.master=local[2]"])
    ctx = JobContext(
        cfg=cfg, run_date=DAY, manifest=RunManifest("test", cfg.layout.runs, DAY, cfg.profile), _spark=spark
    )
    assert sorted(ingest_job.run(ctx)) == ["interactions", "media", "posts"]
    assert sorted(etl_job.run(ctx)) == ["interactions", "media", "posts"]
    key = cfg.pseudonym_key()
    silver = {
        "posts": {r[0]: r[1] for r in _read(spark, cfg.layout.silver, "posts").select("post_id", "text").collect()},
        "interactions": {
            (r[0], r[1], r[2])
            for r in _read(spark, cfg.layout.silver, "interactions")
            .select("user_id", "item_id", F.unix_timestamp("event_time"))
            .collect()
        },
        "media": {r[0] for r in _read(spark, cfg.layout.silver, "media").select("media_id").collect()},
    }
    quarantine = {
        t: _read(spark, cfg.layout.quarantine, t).select("stage", "source_file", "reason", "raw").toPandas()
        for t in ("posts", "interactions", "media")
    }
    return written, ctx.manifest.data["stages"], silver, quarantine, key


def _read(spark, layer: str, table: str):
    return tables.read(spark, storage.join(layer, table))


def _silver_key(table: str, record, key: bytes):
    if table == "posts":
        return post_pseudonym(record, key)
    if table == "interactions":
        fields = record.split(",")
        if len(fields) != 4 or not all(f.isdigit() for f in (fields[0], fields[1], fields[3])):
            return None  # no silver row can have it
        return pseudonym(fields[0], key), int(fields[1]), int(fields[3])
    return record.replace("/", ":", 1)  # media: emoji/flags/x.png -> emoji:flags/x.png


def _quarantined(q, kind: Kind, record) -> list[str]:
    """Reasons of ``kind``'s quarantine rows for one of its records."""
    rows = q[q["stage"] == kind.stage]
    if kind.table == "posts":  # each kind has its own landing file; the raw line holds the post
        hit = rows["source_file"].str.endswith(f"/odd/{kind.name}.jsonl") & rows["raw"].str.contains(
            record, regex=False
        )
    elif kind.table == "interactions":
        if kind.stage == "etl":  # raw: the pseudonymised row as JSON
            hit = rows["raw"].map(lambda r: json.loads(r)["item_id"] == int(record.split(",")[1]))
        else:
            hit = rows["raw"] == record
    else:  # media: the landing file
        hit = rows["source_file"].str.endswith("/" + record)
    return list(rows.loc[hit, "reason"])


@pytest.mark.parametrize("kind", KINDS, ids=[f"{k.table}-{k.name}" for k in KINDS])
def test_each_kind_is_kept_or_quarantined_with_its_reason(run, kind):
    written, _, silver, quarantine, key = run
    records = written.by_kind[f"{kind.table}/{kind.name}"]
    assert records
    for record in records:
        in_silver = _silver_key(kind.table, record, key) in silver[kind.table]
        reasons = _quarantined(quarantine[kind.table], kind, record)
        if kind.reason is None:
            assert in_silver and not reasons, (record, reasons)
        else:
            assert not in_silver and len(reasons) == 1, (record, reasons)
            assert reasons[0].startswith(kind.reason) and kind.detail in reasons[0], (record, reasons)


def test_posts_lose_nul_bytes_in_silver_and_no_line_is_merged_or_split(run):
    written, _, silver, _, key = run
    for kind in ("nul_escaped", "nul_raw", "crlf_endings", "cr_endings", "utf8_bom"):
        for post_id in written.by_kind[f"posts/{kind}"]:
            text = silver["posts"][post_pseudonym(post_id, key)]
            assert not any(c in text for c in "\x00\r\ufeff"), (kind, text)


@pytest.mark.parametrize("table", ["posts", "interactions", "media"])
def test_every_record_is_accounted_for_and_every_good_record_kept(run, table):
    written, stages, silver, quarantine, key = run
    ing, etl = stages[f"ingest.{table}"]["counts"], stages[f"etl.{table}"]["counts"]
    assert ing["reconciled"] and etl["reconciled"] and ing["rows_out"] == etl["rows_in"]
    assert ing["rows_in"] == written.records[table]
    assert len(quarantine[table]) == ing["quarantined"] + etl["quarantined"]
    assert len(silver[table]) == etl["rows_out"]
    assert written.records[table] == len(silver[table]) + len(quarantine[table]) + etl["duplicates_dropped"]
    if table == "interactions":
        good = {(pseudonym(u, key), m, t) for u, m, t in written.good[table]}
    else:
        good = {_silver_key(table, g, key) for g in written.good[table]}
    assert good <= set(silver[table])
    assert etl["duplicates_dropped"] == 0  # the slices hold no duplicates: nothing good was dropped as one


# --- the pure functions -------------------------------------------------------------------------------------------


def test_an_image_too_large_is_refused_from_its_header_before_decoding():
    from smspark.etl.media import ImageTooLarge, decode_image, probe_image

    png = sorted(require_landing("images", "emoji", "flags").glob("*.png"))[0].read_bytes()
    huge = resize_png_header(png, 10_000, 10_000)  # the pixel data is a 72x72 image's: decoding would fail
    assert probe_image(huge)["error"] == f"image too large (10000x10000 = 100000000 pixels > {MAX_PIXELS})"
    with pytest.raises(ImageTooLarge, match="10000x10000"):
        decode_image(huge)
    good = probe_image(png)
    assert good["error"] is None and good["width"] * good["height"] > 1000
    small_limit = probe_image(png, max_pixels=1000)["error"]  # past twice the limit Pillow's own guard answers first
    assert small_limit.startswith("image too large (more than 1000 pixels; Pillow: ")
    assert probe_image(png, max_pixels=good["width"] * good["height"])["error"] is None  # the limit is inclusive


def test_normalise_text_strips_nul_and_control_characters_but_keeps_the_words():
    from smspark.etl.text import normalise_text

    assert normalise_text("caf\x00e au\x07 lait\x7f\r\n\tok") == "cafe au lait ok"
    assert normalise_text("\x00") == ""  # nothing left: quarantined by etl as "text empty after normalisation"
