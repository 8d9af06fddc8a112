"""Cleaning, pseudonymisation, parsing/quarantine, de-duplication, schemas and the split, on small inputs."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from smspark.config import ConfigError, load_config
from smspark.etl.posts import clean_posts, parse_posts
from smspark.etl.pseudonymise import post_pseudonym, pseudonym, pseudonymise_mentions
from smspark.etl.text import normalise_text, tokenize
from smspark.features.text import encode, split_col
from smspark.schemas import BRONZE_POSTS, QUARANTINE, SILVER_POSTS
from tests.conftest import require_landing

DAY = dt.date(2026, 11, 21)


def test_normalise_text_entities_urls_whitespace():
    raw = "Fish &amp; chips &amp;amp; more\n\tsee https://t.co/AbC123  and www.example.org/x?y=1 &lt;3"
    assert normalise_text(raw) == "Fish & chips & more see <url> and <url> <3"
    assert normalise_text(None) is None
    assert normalise_text("  \u00a0 ") == ""


def test_tokenize_maps_mentions_and_urls():
    assert tokenize("@u_0123456789abcdef I LOVE it!! <url> #Happy don't") == [
        "<user>",
        "i",
        "love",
        "it",
        "!",
        "!",
        "<url>",
        "#happy",
        "don't",
    ]
    assert tokenize("@VirginAmerica ok") == ["<user>", "ok"]
    assert tokenize(None) == []


def test_pseudonym_stable_per_key_and_differs_across_keys():
    a1, a2 = pseudonym("VirginAmerica", b"k1"), pseudonym("@virginamerica", b"k1")
    assert a1 == a2 and a1.startswith("u_") and len(a1) == 18
    assert pseudonym("VirginAmerica", b"k2") != a1
    assert pseudonym("united", b"k1") != a1
    assert pseudonym(None, b"k1") is None and pseudonym("  ", b"k1") is None


def test_mentions_pseudonymised_no_raw_handle_left():
    text = "@united thanks! cc @JetBlue, @@Apple @americanairlines_help mail me at bob@example.com"
    out = pseudonymise_mentions(text, b"k")
    for handle in ("united", "JetBlue", "Apple", "americanairlines"):
        assert handle not in out
    assert out.count("@u_") == 4 and "@@" not in out
    assert "bob@example.com" in out  # e-mail addresses are not handles


def _lines(spark, *values: str):
    return spark.createDataFrame(
        [(v, "file:/x/posts/demo/p.jsonl") for v in values], "value string, source_file string"
    )


def test_parse_posts_quarantines_each_kind_of_bad_line(spark):
    good = json.dumps(
        {
            "id": "1",
            "author": "Bob",
            "created_at": "2017-01-20T17:00:00Z",
            "text": "hi @Al",
            "source": "web",
            "retweet_count": 2,
            "favorite_count": 3,
            "in_reply_to": None,
        }
    )
    bad = {
        "not json at all": "malformed JSON",
        "[1, 2]": "malformed JSON",
        json.dumps({"id": "2", "text": "x", "retweet_count": "many"}): "malformed JSON",
        json.dumps({"text": "no id"}): "missing id",
        json.dumps({"id": "3", "text": "  "}): "missing text",
        json.dumps({"id": "4", "text": "x", "created_at": "yesterday"}): "created_at is not an ISO-8601 timestamp",
        json.dumps({"id": "5", "text": "x", "label": "angry"}): "label not one of negative/neutral/positive",
        json.dumps({"id": "6", "text": "x", "favorite_count": -1}): "negative count",
        "": "empty line",
    }
    latin1 = '{"id": "7", "text": "caf\xe9"}'.encode("latin-1").hex()  # a byte 0xE9 alone: invalid UTF-8
    lines = _lines(spark, good, *bad).unionByName(
        spark.range(1).select(
            F.unhex(F.lit(latin1)).cast("string").alias("value"),
            F.lit("file:/x/posts/demo/p.jsonl").alias("source_file"),
        )
    )
    bronze, quarantine, checked = parse_posts(lines, DAY)
    assertSchemaEqual(bronze.schema, BRONZE_POSTS, ignoreNullable=True)
    assertSchemaEqual(quarantine.schema, QUARANTINE, ignoreNullable=True)
    expected = [Row(raw=k, reason=v) for k, v in bad.items()] + [
        Row(raw='{"id": "7", "text": "caf\ufffd"}', reason="not valid UTF-8")
    ]
    uncached = parse_posts(lines, DAY).bronze._jdf.queryExecution().optimizedPlan().toString()
    assert uncached.count("from_json") > 1  # the reason filter pushed below the parse, from_json inlined into it
    checked.persist()
    try:
        assert checked.count() == lines.count()  # every line once, the valid ones with a null reason
        assert checked.where(F.col("reason").isNull()).count() == 1
        # with the checked lines cached, neither output parses a line again (Spark would otherwise inline from_json
        # into the pushed-down reason filter once per checked field)
        for out in (bronze, quarantine):
            plan = out._jdf.queryExecution().optimizedPlan().toString()
            assert "InMemoryRelation" in plan and plan.count("from_json") == 1  # once, in the cached relation
        assertDataFrameEqual(quarantine.select("raw", "reason"), expected)
        row = bronze.collect()
    finally:
        checked.unpersist()
    assert len(row) == 1 and row[0]["post_id"] == "1" and row[0]["corpus"] == "demo"
    assert row[0]["created_at"] == dt.datetime(2017, 1, 20, 17, 0)


def test_clean_posts_dedupes_and_pseudonymises(spark):
    rows = [
        {"id": "1", "author": "Bob", "created_at": "2017-01-02T10:00:00Z", "text": "Hello @Alice &amp; https://t.co/x"},
        {"id": "1", "author": "Bob", "created_at": "2017-01-02T10:00:00Z", "text": "Hello @Alice &amp; https://t.co/x"},
        {"id": "2", "author": "Carl", "created_at": "2017-01-03T10:00:00Z", "text": "Hello  @alice & https://t.co/y"},
        {"id": "3", "text": "positive vibes", "label": "Positive"},
        {"id": "4", "text": "&nbsp;"},
    ]
    bronze, quarantine, _ = parse_posts(_lines(spark, *[json.dumps(r) for r in rows]), DAY)
    assert quarantine.count() == 0
    silver, q2, dups = clean_posts(bronze, b"test-key")
    assertSchemaEqual(silver.schema, SILVER_POSTS, ignoreNullable=True)
    p = {i: post_pseudonym(i, b"test-key") for i in ("1", "2", "3")}
    got = {r["post_id"]: r for r in silver.collect()}
    assert set(got) == {p["1"], p["3"]}  # keyed pseudonyms: the platform id stays in bronze
    got = {i: got[p[i]] for i in ("1", "3")}
    assert got["1"]["text"] == f"Hello @{pseudonym('alice', b'test-key')} & <url>"
    assert got["1"]["author_id"] == pseudonym("bob", b"test-key")
    assert got["1"]["dt"] == dt.date(2017, 1, 2) and got["3"]["dt"] == DAY  # no timestamp: the ingest date
    assert got["3"]["label"] == "positive"
    expected_dups = [Row(post_id=p["1"], reason="duplicate id"), Row(post_id=p["2"], reason="duplicate text")]
    assertDataFrameEqual(dups, expected_dups)
    assert [r["reason"] for r in q2.collect()] == ["text empty after normalisation"]
    assert bronze.count() == silver.count() + q2.count() + dups.count()


def test_split_is_deterministic_and_roughly_80_10_10(spark):
    df = spark.range(20000).selectExpr("cast(id as string) as post_id")
    a = df.select("post_id", split_col(df.post_id).alias("s"))
    b = spark.range(20000).selectExpr("cast(id as string) as post_id").repartition(7)
    b = b.select("post_id", split_col(b.post_id).alias("s"))
    assertDataFrameEqual(a, b)
    share = {r["s"]: r["count"] / 20000 for r in a.groupBy("s").count().collect()}
    assert share["train"] == pytest.approx(0.8, abs=0.02)
    assert share["val"] == pytest.approx(0.1, abs=0.02) and share["test"] == pytest.approx(0.1, abs=0.02)


def test_encode_pads_truncates_and_marks_oov():
    index = {"<pad>": 0, "<oov>": 1, "good": 2, "day": 3}
    assert encode(["good", "day", "zzz"], index, 5).tolist() == [2, 3, 1, 0, 0]
    assert encode(["good"] * 9, index, 4).tolist() == [2, 2, 2, 2]
    assert encode([], index, 3).dtype.name == "int32"


def test_config_overrides_and_key_policy(monkeypatch, tmp_path):
    cfg = load_config(None, ["train.num_proc=1", "models.sentiment.filter_sizes=[2,3]", f"data.root={tmp_path}"])
    assert cfg.train.num_proc == 1 and cfg.models.sentiment.filter_sizes == [2, 3]
    assert cfg.layout.silver == f"file://{tmp_path}/silver"
    monkeypatch.delenv("SMSPARK_PSEUDONYM_KEY", raising=False)
    assert cfg.pseudonym_key()  # local profile: development key
    strict = load_config("cluster")
    with pytest.raises(ConfigError, match="SMSPARK_PSEUDONYM_KEY"):
        strict.pseudonym_key()
    monkeypatch.setenv("SMSPARK_PSEUDONYM_KEY", "s3cret")
    assert strict.pseudonym_key() == b"s3cret"
    with pytest.raises(ConfigError):
        load_config(None, ["train.num_proc=0"])
    with pytest.raises(ConfigError):
        load_config(None, ["no_equals_sign"])


def test_handles_in_every_form_are_pseudonymised():
    """Planted handles in each form; the check is a plain substring search, independent of the production pattern."""
    cases = {
        "qzhandleone": "see twitter.com/qzhandleone for more",
        "qzhandletwo": "profile: https://mobile.twitter.com/QzHandleTwo/status/1",
        "qzhandlethree": "new home x.com/qzhandlethree!",
        "qzhandlefour": "thanks@qzhandlefour for the help",
        "qzhandlefive": "(www.twitter.com/qzhandlefive)",
        "qzhandlesix": "RT:@qzhandlesix hello",
    }
    for handle, text in cases.items():
        out = pseudonymise_mentions(text, b"k")
        assert handle not in out.lower(), (text, out)
        assert pseudonym(handle, b"k") in out, (text, out)
    kept = "mail bob@example.com or visit fox.com/news"
    assert pseudonymise_mentions(kept, b"k") == kept


def test_post_pseudonym_is_keyed_and_separate_from_user_pseudonyms():
    a = post_pseudonym("12345", b"k1")
    assert a.startswith("p_") and len(a) == 18 and "12345" not in a
    assert a == post_pseudonym(" 12345 ", b"k1") != post_pseudonym("12345", b"k2")
    assert a[2:] != pseudonym("12345", b"k1")[2:]
    assert post_pseudonym(None, b"k1") is None and post_pseudonym("", b"k1") is None


def test_the_mention_prescan_skips_no_real_handle():
    """A post the cheap scan (``@`` or ``.com/``) passes over has no match of the full handle pattern: checked on
    every real sample post, normalised as silver does."""
    from smspark.etl.pseudonymise import _MAY_MENTION, MENTION

    texts = []
    for corpus in ("labelled_tweets", "trump_archive"):
        with require_landing("posts", corpus, "posts.jsonl").open(encoding="utf-8") as fh:
            texts += [normalise_text(json.loads(line).get("text")) or "" for line in fh if line.strip()]
    skipped = [t for t in texts if not _MAY_MENTION.search(t)]
    assert len(texts) > 50_000 and 0 < len(skipped) < len(texts)
    assert not [t for t in skipped if MENTION.search(t)]
    assert all(pseudonymise_mentions(t, b"k") == t for t in skipped[:1000])
