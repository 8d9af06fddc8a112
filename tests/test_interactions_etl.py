"""MovieLens ingest and ETL on real slices of the sample ratings, in both GroupLens formats (ml-latest CSV and the
100K ``u.data``/``u.item``/``u.genre`` files written from the same rows)."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from smspark import storage, tables
from smspark.config import load_config
from smspark.etl.interactions import (
    DUPLICATE,
    IN_SILVER,
    clean_interactions,
    drop_header,
    merge_interactions,
    parse_items,
    parse_ratings,
    pseudonymise_interactions,
)
from smspark.etl.pseudonymise import pseudonym
from smspark.jobs import etl as etl_job
from smspark.jobs import ingest as ingest_job
from smspark.jobs.common import JobContext
from smspark.jobs.merge_state import MERGED
from smspark.jobs.steps import interactions as steps
from smspark.manifest import RunManifest
from smspark.sources.movielens import ML100K_GENRES, ML_100K, ML_LATEST, detect_export
from tests.conftest import local, require_landing

DAY = dt.date(2026, 11, 21)
USERS = {1, 2, 3, 4}  # 351 real ratings of 319 movies

#: ml-latest genre names that the 100K list spells differently
_TO_100K = {"Children": "Children's"}


def real_slice(users: set[int]) -> tuple[list[list[str]], dict[int, list[str]]]:
    """Real ``ratings.csv`` rows of ``users`` (as text) and ``movies.csv`` rows by movie id (title, genres)."""
    ratings_path = require_landing("movielens", "ratings.csv")
    movies_path = require_landing("movielens", "movies.csv")
    with ratings_path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh)][1:]
    rows = [r for r in rows if int(r[0]) in users]
    with movies_path.open(newline="", encoding="utf-8") as fh:
        movies = {int(r[0]): r[1:] for r in list(csv.reader(fh))[1:]}
    return rows, movies


def make_ctx(cfg, spark) -> JobContext:
    return JobContext(
        cfg=cfg, run_date=DAY, manifest=RunManifest("test", cfg.layout.runs, DAY, cfg.profile), _spark=spark
    )


def write_ml_latest(folder: Path, rows: list[list[str]], movies: dict[int, list[str]], extra: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "ratings.csv").open("w", newline="") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        fh.writelines(",".join(r) + "\n" for r in rows)
        fh.writelines(line + "\n" for line in extra)
    used = {int(r[1]) for r in rows}
    with (folder / "movies.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["movieId", "title", "genres"])
        for mid in sorted(used):
            w.writerow([mid, *movies[mid]])
        fh.write("notanid,Some Title (1999),Drama\n")


def write_ml_100k(folder: Path, rows: list[list[str]], movies: dict[int, list[str]]) -> None:
    """``u.data`` (tab-separated) from the real rows; ``u.item`` (latin-1, 19 flags) for their movies plus movie 29
    (a non-ASCII title); ``u.genre``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join("\t".join(r) + "\n" for r in rows))
    lines = []
    for mid in sorted({int(r[1]) for r in rows} | {29}):
        title, genres = movies[mid]
        names = {_TO_100K.get(g, g) for g in genres.split("|")}
        flags = "|".join("1" if g in names else "0" for g in ML100K_GENRES)
        year = title.rstrip()[-5:-1]
        lines.append(f"{mid}|{title}|01-Jan-{year}||http://us.imdb.com/M/title-exact?{mid}|{flags}")
    lines.append("99999|Untitled|01-Jan-1997||http://x|" + "|".join(["0"] * 19))  # year from the release date
    lines.append("99998|Bad Flags (1998)|01-Jan-1998||http://x|" + "|".join(["2"] * 19))
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)) + "\n")


BAD_LINES = [
    "1,31,2.5",  # wrong number of fields
    "x,31,2.5,1260759144",  # user id
    "2,abc,3.0,1260759144",  # item id
    "2,31,seven,1260759144",  # rating
    "2,31,3.0,yesterday",  # timestamp
    "3,31,7.0,1260759144",  # out of range
    "",  # empty line
    "4,999999,4.0,1260759144",  # unknown item: passes ingest, quarantined by etl
]


def test_detect_export_formats(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    assert detect_export(tmp_path / "a").format == ML_LATEST
    nested = tmp_path / "b" / "ml-100k"
    nested.mkdir(parents=True)
    (nested / "u.data").write_text("")
    found = detect_export(tmp_path / "b")
    assert found.format == ML_100K and found.items is None and found.genres == ML100K_GENRES
    (tmp_path / "a" / "u.data").write_text("")
    with pytest.raises(ValueError, match="both"):
        detect_export(tmp_path / "a")
    empty = tmp_path / "c"
    empty.mkdir()
    with pytest.raises(ValueError, match="no MovieLens export"):
        detect_export(empty)


def test_parse_ratings_reasons(spark):
    lines = spark.createDataFrame(
        [(v, "f.csv") for v in ["userId,movieId,rating,timestamp", "1,31,2.5,1260759144", *BAD_LINES]],
        "value string, source_file string",
    )
    bronze, quarantine, checked = parse_ratings(drop_header(lines, "userId"), ML_LATEST, DAY)
    checked.persist()  # as the ingest step does: both outputs then read the parsed lines, none parses again
    for out in (bronze, quarantine):
        plan = out._jdf.queryExecution().optimizedPlan().toString()
        assert "InMemoryRelation" in plan and plan.count("from_csv") == 1
    assertDataFrameEqual(
        bronze.select("user_id", "item_id", "rating", F.unix_timestamp("event_time").alias("ts")),
        [
            Row(user_id="1", item_id=31, rating=2.5, ts=1260759144),
            Row(user_id="4", item_id=999999, rating=4.0, ts=1260759144),
        ],
    )
    assertDataFrameEqual(
        quarantine.select("reason"),
        [
            Row(reason="wrong number of fields (expected 4)"),
            Row(reason="user id is not an integer"),
            Row(reason="item id is not an integer"),
            Row(reason="rating is not a number"),
            Row(reason="timestamp is not unix seconds"),
            Row(reason="rating out of range [0.5, 5]"),
            Row(reason="empty line"),
        ],
    )
    checked.unpersist()
    hundred_k = spark.createDataFrame([("1\t31\t0.5\t1260759144", "u.data")], "value string, source_file string")
    _, q, _ = parse_ratings(hundred_k, ML_100K, DAY)
    assert [r["reason"] for r in q.collect()] == ["rating out of range [1, 5]"]


def test_parse_movies_csv_titles_years_genres(spark):
    lines = spark.createDataFrame(
        [
            ('11,"American President, The (1995)",Comedy|Drama|Romance', "m"),
            ("2,Untitled,(no genres listed)", "m"),
        ],
        "value string, source_file string",
    )
    bronze, quarantine, _ = parse_items(lines, ML_LATEST, DAY)
    assertDataFrameEqual(
        bronze.select("item_id", "title", "year", "genres"),
        [
            Row(item_id=11, title="American President, The", year=1995, genres=["Comedy", "Drama", "Romance"]),
            Row(item_id=2, title="Untitled", year=None, genres=[]),
        ],
    )
    assert quarantine.count() == 0


def test_ml_latest_ingest_and_etl(spark, make_cfg):
    rows, movies = real_slice(USERS)
    cfg = make_cfg()
    dup = ",".join(rows[5])
    write_ml_latest(local(cfg.layout.landing) / "movielens", rows, movies, [*BAD_LINES, dup])
    ctx = make_ctx(cfg, spark)
    rec = steps.ingest(ctx)
    counts = rec["counts"]["tables"]
    assert counts["interactions"]["rows_in"] == len(rows) + len(BAD_LINES) + 1
    assert counts["interactions"]["quarantined"] == 7 and counts["interactions"]["reconciled"]
    assert counts["interactions"]["quarantined_by_reason"]["rating out of range [0.5, 5]"] == 1
    assert counts["items"]["quarantined"] == 1 and counts["items"]["rows_out"] == len({r[1] for r in rows})

    rec = steps.etl(ctx)
    c = rec["counts"]
    assert c["reconciled"] and c["quarantined"] == 1 and c["duplicates_dropped"] == 1
    assert c["rows_out"] == len(rows) and c["users"] == len(USERS)
    silver = tables.read(spark, storage.join(cfg.layout.silver, "interactions"))
    key = cfg.pseudonym_key()
    assert {r[0] for r in silver.select("user_id").distinct().collect()} == {pseudonym(str(u), key) for u in USERS}
    first = rows[0]  # 1,31,2.5,1260759144
    assertDataFrameEqual(
        silver.where((F.col("user_id") == pseudonym(first[0], key)) & (F.col("item_id") == int(first[1]))).select(
            "rating", F.unix_timestamp("event_time").alias("ts"), F.col("dt").cast("string").alias("dt")
        ),
        [Row(rating=2.5, ts=1260759144, dt="2009-12-14")],
    )
    q = tables.read(spark, storage.join(cfg.layout.quarantine, "interactions")).where(F.col("stage") == "etl")
    assert [r["reason"] for r in q.collect()] == ["unknown item (not in the catalogue)"]
    items = tables.read(spark, storage.join(cfg.layout.silver, "items"))
    assertDataFrameEqual(
        items.where(F.col("item_id").isin(31, 1029)),
        [
            Row(item_id=31, title="Dangerous Minds", year=1995, genres=["Drama"]),
            Row(item_id=1029, title="Dumbo", year=1941, genres=["Animation", "Children", "Drama", "Musical"]),
        ],
    )


def test_ml_100k_ingest_and_etl(spark, make_cfg):
    rows, movies = real_slice(USERS)
    cfg = make_cfg()
    write_ml_100k(local(cfg.layout.landing) / "movielens" / "ml-100k", rows, movies)
    ctx = make_ctx(cfg, spark)
    rec = steps.ingest(ctx)
    assert rec["inputs"]["format"] == ML_100K and rec["inputs"]["items"] == "u.item"
    per_table = rec["counts"]["tables"]
    assert per_table["interactions"]["rows_in"] == len(rows) and per_table["interactions"]["reconciled"]
    low = sum(float(r[2]) < 1 for r in rows)
    assert per_table["interactions"]["quarantined"] == low
    assert per_table["items"]["quarantined_by_reason"] == {"genre flags are not 0/1": 1}
    bronze = tables.read(spark, storage.join(cfg.layout.bronze, "interactions"))
    assert {r[0] for r in bronze.select("source_format").distinct().collect()} == {ML_100K}

    rec = steps.etl(ctx)
    assert rec["counts"]["reconciled"] and rec["counts"]["rows_out"] == len(rows) - low
    items = tables.read(spark, storage.join(cfg.layout.silver, "items"))
    assertDataFrameEqual(
        items.where(F.col("item_id").isin(1029, 29, 99999)),
        [
            Row(item_id=1029, title="Dumbo", year=1941, genres=["Animation", "Children's", "Drama", "Musical"]),
            Row(
                item_id=29,
                title="City of Lost Children, The (Cité des enfants perdus, La)",
                year=1995,
                genres=["Adventure", "Drama", "Fantasy", "Mystery", "Sci-Fi"],
            ),
            Row(item_id=99999, title="Untitled", year=1997, genres=[]),
        ],
    )


def _reconciles(c: dict) -> bool:
    return c["reconciled"] and c["rows_in"] == c["rows_out"] + c["quarantined"] + c["duplicates_dropped"]


def test_truncated_and_malformed_lines_in_both_formats_are_quarantined_and_counted(spark, make_cfg, tmp_path):
    """Bad lines the other tests do not cover: a line cut inside a quoted field, a file whose last line is cut
    short (no newline), extra fields, and the 100K format's own bad lines (tab-separated) including an item missing
    from ``u.item``. Every line is kept, quarantined with its reason or counted as a duplicate."""
    rows, movies = real_slice({1, 2})
    # ml-latest: a quote never closed, then the file ends in the middle of a line
    cfg = make_cfg()
    folder = local(cfg.layout.landing) / "movielens"
    write_ml_latest(folder, rows, movies, ['2,"31,3.0,1260759144', "1,31,2.5,1260759144,extra"])
    with (folder / "ratings.csv").open("a") as fh:
        fh.write("2,10,4.")  # cut short, no newline
    ctx = make_ctx(cfg, spark)
    ing = steps.ingest(ctx)["counts"]["tables"]["interactions"]
    assert ing["rows_in"] == len(rows) + 3 and _reconciles(ing)
    assert ing["quarantined_by_reason"] == {"wrong number of fields (expected 4)": 3}
    etl = steps.etl(ctx)["counts"]
    assert _reconciles(etl) and etl["rows_out"] == len(rows)

    # ml-100k: tab-separated bad lines, an unknown item, a duplicate, a cut last line
    cfg = make_cfg(f"data.root={tmp_path / 'hundred'}")
    folder = local(cfg.layout.landing) / "movielens"
    write_ml_100k(folder, rows, movies)
    good = [r for r in rows if float(r[2]) >= 1]
    bad = {
        "1\t31\t2.5": "wrong number of fields (expected 4)",
        "1\t31\t2.5\t1260759144\t7": "wrong number of fields (expected 4)",
        "u1\t31\t3\t1260759144": "user id is not an integer",
        "1\t3x1\t3\t1260759144": "item id is not an integer",
        "1\t31\tfour\t1260759144": "rating is not a number",
        "1\t31\t3\t2009-12-14": "timestamp is not unix seconds",
        "1\t31\t6\t1260759144": "rating out of range [1, 5]",
    }
    unknown = "2\t999999\t4\t1260759144"  # not in u.item: passes ingest, quarantined by etl
    with (folder / "u.data").open("a") as fh:
        fh.writelines(line + "\n" for line in [*bad, unknown, "\t".join(good[0])])  # + one exact duplicate
        fh.write("2\t10")  # cut short, no newline
    ctx = make_ctx(cfg, spark)
    ing = steps.ingest(ctx)["counts"]["tables"]["interactions"]
    low = len(rows) - len(good)  # half-star 0.5 ratings of the real slice: out of the 100K range
    assert ing["rows_in"] == len(rows) + len(bad) + 3 and _reconciles(ing)
    expected: dict[str, int] = {}
    for reason in [*bad.values(), "wrong number of fields (expected 4)"] + ["rating out of range [1, 5]"] * low:
        expected[reason] = expected.get(reason, 0) + 1
    assert ing["quarantined_by_reason"] == expected
    etl = steps.etl(ctx)["counts"]
    assert _reconciles(etl) and etl["quarantined"] == 1 and etl["duplicates_dropped"] == 1
    assert etl["rows_out"] == len(good)
    q = tables.read(spark, storage.join(cfg.layout.quarantine, "interactions")).toPandas()
    assert len(q) == ing["quarantined"] + etl["quarantined"]
    assert set(q.loc[q["stage"] == "etl", "reason"]) == {"unknown item (not in the catalogue)"}
    assert (q.loc[q["stage"] == "ingest", "raw"] == "2\t10").sum() == 1  # the raw line is kept


# --- incremental etl ----------------------------------------------------------------------------------------------

#: Real users who rated on one day each (3,614 ratings on 7 days): few ``dt`` partitions, so the writes stay small.
MERGE_USERS = {213, 232, 605, 19, 268, 242, 17}
DAY1, DAY2, DAY3 = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)


def _day_ctx(spark, root: Path, landing: Path, day: dt.date) -> JobContext:
    cfg = load_config(None, [f"data.root={root}", f"data.landing={landing}", "spark.master=local[2]"])
    return JobContext(
        cfg=cfg, run_date=day, manifest=RunManifest("test", cfg.layout.runs, day, cfg.profile), _spark=spark
    )


def _etl_day(spark, root: Path, landing: Path | None, day: dt.date, full: bool = False) -> dict:
    """Ingest ``landing`` as ``day`` (unless None), then etl interactions; returns the etl stage record (with the
    ingest's under ``_ingest``)."""
    ctx = _day_ctx(spark, root, landing or root, day)
    if landing is not None:
        ingest_job.run(ctx, ["interactions"])
    etl_job.run(ctx, ["interactions"], full=full)
    stages = ctx.manifest.data["stages"]
    return {**stages["etl.interactions"], "_ingest": stages.get("ingest.interactions")}


def _table_rows(root: Path, *path: str, drop: tuple[str, ...] = ()) -> list[dict]:
    rows = tables.read_arrow(storage.join(storage.resolve_root(str(root)), *path)).to_pylist()
    rows = [{k: v for k, v in r.items() if k not in drop} for r in rows]
    return sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))


def _files(uri: str) -> dict[str, float]:
    """The committed data files of a table, with their modification times."""
    return {str(p): p.stat().st_mtime for d in tables.data_uris(uri) for p in local(d).glob("*.parquet")}


def _months(rows: list[list[str]]) -> set[str]:
    """The ``month`` partitions (first day, ISO) of ratings ``[user, item, rating, epoch seconds]``."""
    return {dt.datetime.fromtimestamp(int(r[3]), dt.UTC).date().replace(day=1).isoformat() for r in rows}


def _etl_reject_of(row: dict, day: dt.date) -> bool:
    return row["stage"] == "etl" and str(row["ingest_date"]) == day.isoformat()


def test_incremental_etl_equals_full_rebuild_and_nothing_new_rewrites_nothing(spark, tmp_path):
    """Day 1: the real ratings of four users and half of a fifth's, and an unknown item. Day 2: the other half, two
    more users, 300 day-1 ratings delivered again, one day-2 rating twice and the unknown item again. The day-2 merge
    rewrites only the months that get ratings and equals ``etl --full`` on a copy; day 3 delivers day 2
    again: nothing new, so no data file of silver/interactions or silver/items changes."""
    rows, movies = real_slice(MERGE_USERS)
    half = [r for r in rows if r[0] == "268"]
    day1 = [r for r in rows if r[0] in {"213", "232", "605", "19"}] + half[: len(half) // 2]
    again = day1[::7][:300]
    day2 = half[len(half) // 2 :] + [r for r in rows if r[0] in {"242", "17"}]
    unknown = "4,999999,4.0,1260759144"
    write_ml_latest(tmp_path / "day1" / "movielens", day1, movies, [unknown])
    write_ml_latest(tmp_path / "day2" / "movielens", day2 + again, movies, [unknown, ",".join(day2[0])])
    root = tmp_path / "data"
    silver_uri = storage.join(storage.resolve_root(str(root)), "silver", "interactions")

    first = _etl_day(spark, root, tmp_path / "day1", DAY1)
    assert first["mode"] == "full" and "no merge state" in first["full_reason"] and first["counts"]["reconciled"]
    before = tables.current(silver_uri).partitions
    assert set(before) == {f"month={m}" for m in _months(day1)}

    merged = _etl_day(spark, root, tmp_path / "day2", DAY2)
    c = merged["counts"]
    assert merged["mode"] == "incremental" and merged["inputs"]["ingest_dates"] == [DAY2.isoformat()]
    assert _reconciles(c) and c["rows_in"] == len(day2) + len(again) + 2
    assert c["rows_out"] == len(day2) and c["quarantined"] == 1
    assert c["duplicates_by_reason"] == {IN_SILVER: len(again), DUPLICATE: 1}
    assert c["items"]["rewritten"] and c["items"]["reconciled"]  # day 2 rates movies day 1 did not list
    after = tables.current(silver_uri).partitions
    written = {f"month={m}" for m in _months(day2)}  # the months of user 268's second half and the two new users
    assert merged["outputs"]["months_written"] == len(written) and set(after) == set(before) | written
    unchanged = set(before) - written
    assert unchanged and all(after[p] == before[p] for p in unchanged)  # the other months are not rewritten
    incremental = _table_rows(root, "silver", "interactions")
    assert len(incremental) == len(day1) + len(day2)
    q_drop = ("quarantined_at",)
    q_incremental = _table_rows(root, "quarantine", "interactions", drop=q_drop)
    assert [r["ingest_date"] for r in q_incremental if r["stage"] == "etl"] == [DAY1.isoformat(), DAY2.isoformat()]

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    full = _etl_day(spark, copy, None, DAY2, full=True)
    assert full["mode"] == "full" and full["full_reason"] == "--full" and full["counts"]["reconciled"]
    assert _table_rows(copy, "silver", "interactions") == incremental
    assert _table_rows(copy, "silver", "items") == _table_rows(root, "silver", "items")
    assert _table_rows(copy, "quarantine", "interactions", drop=q_drop) == q_incremental

    items_uri = storage.join(storage.resolve_root(str(root)), "silver", "items")
    items_version = tables.current(items_uri).version
    files = {**_files(silver_uri), **_files(items_uri)}
    again_day = _etl_day(spark, root, tmp_path / "day2", DAY3)
    # the same export files: ingest copied day 2's bronze partitions (ratings and items) and rejects
    ingested = again_day["_ingest"]["counts"]
    assert {t: r["reused_from"] for t, r in ingested["tables"].items()} == {
        "interactions": DAY2.isoformat(),
        "items": DAY2.isoformat(),
    }
    assert ingested["reconciled"] and ingested["rows_in"] == merged["_ingest"]["counts"]["rows_in"]
    assert "reused_from" not in merged["_ingest"]["counts"]
    c = again_day["counts"]
    assert again_day["mode"] == "incremental" and _reconciles(c) and c["rows_out"] == 0 and c["quarantined"] == 1
    # day 3 holds day 2's rows and catalogue: recognised by their digests, merged without pseudonymising or reading
    # silver; day 2's reject is quarantined again under day 3, the rest are duplicates
    assert again_day["redelivery_of"] == DAY2.isoformat() and c["rows_in"] == len(day2) + len(again) + 2
    assert c["duplicates_by_reason"] == {f"re-delivery of ingest_date={DAY2.isoformat()}": c["rows_in"] - 1}
    q_rows = _table_rows(root, "quarantine", "interactions", drop=q_drop)
    q_day3, q_day2 = ([{**r, "ingest_date": None} for r in q_rows if _etl_reject_of(r, d)] for d in (DAY3, DAY2))
    assert len(q_day3) == 1 and q_day3 == q_day2
    assert not c["items"]["rewritten"] and tables.current(items_uri).version == items_version
    assert tables.current(silver_uri).partitions == after and {**_files(silver_uri), **_files(items_uri)} == files
    assert sorted(tables.current(silver_uri).meta[MERGED]) == [d.isoformat() for d in (DAY1, DAY2, DAY3)]
    assert _table_rows(root, "silver", "interactions") == incremental  # a full rebuild keeps the first ingest too


def test_merge_flags_a_redelivered_rating_whose_value_changed(spark):
    """A re-delivered rating with another value is ``changed`` (the etl then rebuilds in full); the same value is a
    duplicate of silver, and the full rule keeps the first ingest of the kept rating."""
    rows, _ = real_slice({1})  # user 1's 20 real ratings
    lines = [",".join(r) for r in rows]
    edited = rows[0][:2] + ["5.0" if rows[0][2] != "5.0" else "1.0"] + rows[0][3:]

    def bronze(values: list[str], day: dt.date):
        df = spark.createDataFrame([(v, f"{day}.csv") for v in values], "value string, source_file string")
        return pseudonymise_interactions(parse_ratings(df, ML_LATEST, day)[0], b"k" * 32)

    day1, day2 = bronze(lines, DAY1), bronze([",".join(edited), *lines[1:]], DAY2)
    silver = clean_interactions(day1)[0]
    merge = merge_interactions(silver, day2)
    assert merge.changed.count() == 1 and merge.added.count() == 0
    dups = {r["reason"]: r["count"] for r in merge.duplicates.groupBy("reason").count().collect()}
    assert dups == {IN_SILVER: len(rows) - 1}
    both = clean_interactions(day1.unionByName(day2))[0]
    by_date = {r["ingest_date"]: r["count"] for r in both.groupBy("ingest_date").count().collect()}
    assert by_date == {DAY1: len(rows) - 1, DAY2: 1}  # unchanged ratings keep their first ingest, not the edited one
