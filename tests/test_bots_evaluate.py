"""``smspark evaluate bots``: FORMAT tests of the cresci-2017 and TwiBot-style readers and the whole chain.

The folders are built from the project's real posts (the Trump archive sample) because no labelled bot dataset
ships with the samples. The archive has one author, so an "account" here is the archive's posts of one posting
client in one calendar quarter, and the label is a documented rule, not ground truth: posts published through a
scheduling, advertising or cross-posting client (:data:`AUTOMATED_CLIENTS`) make a ``social_spambots_1`` account,
the phone and web clients a ``genuine_accounts`` one. The figures these tests produce measure nothing about bot
detection; they only show that the layout is read, counted and carried through to valid metrics.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import pytest

from smspark.jobs import evaluate
from tests.conftest import require_landing

#: Clients that publish on a schedule or copy posts from another service: their accounts are labelled bots.
AUTOMATED_CLIENTS = {
    "TweetDeck",
    "Twitter Ads",
    "Media Studio",
    "Facebook",
    "Instagram",
    "TwitLonger Beta",
    "Twitlonger",
    "Periscope",
    "Vine - Make a Scene",
    "Twitter QandA",
}
#: cresci-2017's columns (the tests write them all; the reader uses a subset).
USERS_COLUMNS = [
    "id", "name", "screen_name", "statuses_count", "followers_count", "friends_count", "favourites_count",
    "listed_count", "url", "lang", "time_zone", "location", "default_profile", "default_profile_image",
    "geo_enabled", "verified", "description", "created_at", "timestamp", "crawled_at", "updated",
]  # fmt: skip
TWEETS_COLUMNS = [
    "id", "text", "source", "user_id", "truncated", "in_reply_to_status_id", "in_reply_to_user_id",
    "in_reply_to_screen_name", "retweeted_status_id", "geo", "place", "contributors", "retweet_count",
    "reply_count", "favorite_count", "favorited", "retweeted", "possibly_sensitive", "num_hashtags", "num_urls",
    "num_mentions", "created_at", "timestamp", "crawled_at", "updated",
]  # fmt: skip
FAST = [
    "models.bots.epochs=20",
    "models.bots.gbt_max_iter=5",
    "models.bots.near_duplicates=false",
    "spark.conf.spark.sql.shuffle.partitions=2",
]


def _twitter_time(t: dt.datetime) -> str:
    return t.strftime("%a %b %d %H:%M:%S +0000 %Y")


def trump_accounts(per_account: int = 25, min_posts: int = 5) -> dict[tuple[str, str], list[dict]]:
    """``{(client, "YYYYqN"): posts}`` of the Trump archive sample: the first ``per_account`` posts (by time) of
    every client-quarter with at least ``min_posts`` posts."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    with require_landing("posts", "trump_archive", "posts.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            try:
                post = json.loads(line)
                t = dt.datetime.fromisoformat(post["created_at"].replace("Z", "+00:00"))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
            if post.get("source") and post.get("text"):
                post["_t"] = t
                groups[(post["source"], f"{t.year}q{(t.month - 1) // 3 + 1}")].append(post)
    return {k: sorted(v, key=lambda p: p["_t"])[:per_account] for k, v in sorted(groups.items()) if len(v) >= min_posts}


def write_cresci_slice(root: Path) -> dict[str, int]:
    """A cresci-2017 layout under ``root`` from :func:`trump_accounts`: ``genuine_accounts.csv/`` and
    ``social_spambots_1/`` (one with cresci's ``.csv`` suffix, one without), each with ``users.csv`` and
    ``tweets.csv``; plus two bad tweet rows in the bot folder (an unparseable ``created_at``, a row with too few
    fields). Returns ``{"tweets": rows written, "users": rows written, "bad_date": 1, "short_row": 1}``."""
    folders = {"genuine_accounts": root / "genuine_accounts.csv", "social_spambots_1": root / "social_spambots_1"}
    users: dict[str, list[dict]] = defaultdict(list)
    tweets: dict[str, list[dict]] = defaultdict(list)
    for uid, ((client, quarter), posts) in enumerate(trump_accounts().items(), start=1000):
        cls = "social_spambots_1" if client in AUTOMATED_CLIENTS else "genuine_accounts"
        name = "".join(ch if ch.isalnum() else "_" for ch in client.lower())
        users[cls].append(
            {
                "id": str(uid),
                "name": f"{client} {quarter}",
                "screen_name": f"{name}_{quarter}",
                "statuses_count": str(len(posts)),
                "lang": "en",
                "created_at": _twitter_time(posts[0]["_t"]),
            }
        )
        for p in posts:
            tweets[cls].append(
                {
                    "id": p["id"],
                    "text": p["text"],
                    "source": f'<a rel="nofollow">{client}</a>',
                    "user_id": str(uid),
                    "retweet_count": str(p.get("retweet_count") or 0),
                    "favorite_count": str(p.get("favorite_count") or 0),
                    "created_at": _twitter_time(p["_t"]),
                }
            )
    bad = dict(tweets["social_spambots_1"][0], id="1", created_at="yesterday at noon")
    tweets["social_spambots_1"].append(bad)
    for cls, folder in folders.items():
        folder.mkdir(parents=True)
        for name, columns, rows in (
            ("users.csv", USERS_COLUMNS, users[cls]),
            ("tweets.csv", TWEETS_COLUMNS, tweets[cls]),
        ):
            with (folder / name).open("w", encoding="utf-8", newline="") as fh:
                w = csv.DictWriter(fh, columns, quoting=csv.QUOTE_ALL)
                w.writeheader()
                w.writerows(rows)
    with (folders["social_spambots_1"] / "tweets.csv").open("a", encoding="utf-8") as fh:
        fh.write('"2","a row cut short","web","1000"\n')
    n_tweets = sum(len(v) for v in tweets.values()) + 1
    return {"tweets": n_tweets, "users": sum(len(v) for v in users.values()), "bad_date": 1, "short_row": 1}


def _check_metrics(metrics: dict, models: tuple[str, ...]) -> None:
    for name in models:
        for key in ("precision", "recall", "f1", "auc", "pr_auc", "accuracy", "threshold"):
            value = metrics[name][key]
            assert value is not None and 0.0 <= value <= 1.0, (name, key, value)


@pytest.mark.slow
def test_evaluate_bots_reads_a_cresci_layout_format_test(tmp_path: Path, capsys):
    """FORMAT test, not a measure of bot detection: labels follow the posting-client rule of the module text."""
    data = tmp_path / "cresci"
    written = write_cresci_slice(data)
    out = tmp_path / "out" / "metrics.json"
    argv = ["bots", "--input", str(data), "--output", str(out)]
    assert evaluate.main(argv + [arg for s in FAST for arg in ("--set", s)]) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"mlp", "gbt", "logreg", "n_accounts", "counts"}
    _check_metrics(metrics, ("mlp", "gbt", "logreg"))
    counts = metrics["counts"]
    assert counts["layout"] == "cresci"
    tw = counts["tweets"]
    assert tw["rows_in"] == written["tweets"] and tw["reconciled"]
    assert tw["reasons"] == {"created_at is not a Twitter or ISO-8601 time": 1, "wrong number of fields": 1}
    assert tw["rows_out"] == written["tweets"] - 2
    assert counts["users"]["rows_in"] == counts["users"]["rows_out"] == written["users"] == counts["accounts"]
    n = metrics["n_accounts"]
    assert set(n) == {"genuine_accounts", "social_spambots_1"}
    assert sum(sum(v.values()) for v in n.values()) == written["users"]
    assert all(v[s] >= 1 for v in n.values() for s in ("train", "val", "test"))
    assert metrics["mlp"]["test_accounts"] == sum(v["test"] for v in n.values())
    # the profile counts the slice lacks are reported missing, not invented; cadence comes from the tweet times
    assert "log_followers" in counts["features_missing"] and "hour_entropy" in counts["features"]
    manifest = json.loads((out.parent / "metrics.manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["stages"]["etl.bots.tweets"]["counts"]["reconciled"]
    assert manifest["metrics"]["evaluate"] == metrics and manifest["metrics"]["bots_mlflow_run"]
    printed = capsys.readouterr().out
    assert "mlp" in printed and "gbt" in printed


def test_evaluate_bots_without_class_folders_is_one_line(tmp_path: Path, capsys):
    (tmp_path / "empty" / "genuine_accounts").mkdir(parents=True)
    out = tmp_path / "m.json"
    assert evaluate.main(["bots", "--input", str(tmp_path / "empty"), "--output", str(out)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and "no class folder with a users.csv" in last and not out.exists()


def write_twibot_slice(path: Path, accounts: int = 12) -> dict[str, int]:
    """A TwiBot-20-style JSON array at ``path`` from the first ``accounts`` accounts of :func:`trump_accounts` (label
    by the same client rule; profile fields as text with TwiBot's trailing space) and one record without a label,
    as in TwiBot's ``support.json``. Returns ``{"records", "labelled", "tweets", "bots"}``."""
    items = list(trump_accounts().items())
    picked = [i for i in items if i[0][0] in AUTOMATED_CLIENTS][: accounts // 2]
    picked += [i for i in items if i[0][0] not in AUTOMATED_CLIENTS][: accounts - len(picked)]
    records = []
    for uid, ((client, quarter), posts) in enumerate(picked, start=5000):
        profile = {"id": f"{uid} ", "screen_name": f"{quarter} ", "statuses_count": f"{len(posts)} "}
        profile["created_at"] = _twitter_time(posts[0]["_t"]) + " "
        label = "1" if client in AUTOMATED_CLIENTS else "0"
        tweets = [p["text"] for p in posts]
        records.append({"ID": str(uid), "profile": profile, "tweet": tweets, "neighbor": None, "label": label})
    records.append({"ID": "9999", "profile": None, "tweet": None, "neighbor": None, "domain": ["Politics"]})
    path.write_text(json.dumps(records))
    return {
        "records": len(records),
        "labelled": len(picked),
        "tweets": sum(len(p) for _, p in picked),
        "bots": sum(1 for (c, _), _ in picked if c in AUTOMATED_CLIENTS),
    }


def test_twibot_json_is_read_and_counted_format_test(spark, make_cfg, tmp_path: Path):
    """FORMAT test of the TwiBot-style reader (labels by the client rule of the module text): every record is
    counted, the unlabelled one with its reason, and the cadence features are null (TwiBot has no tweet times)."""
    from smspark.jobs.evaluation.bots import prepare
    from tests.test_media_ingest import make_context

    folder = tmp_path / "twibot"
    folder.mkdir()
    written = write_twibot_slice(folder / "train.json")
    cfg = make_cfg("models.bots.near_duplicates=false")
    accounts, counts = prepare(make_context(cfg, spark), folder)
    assert counts["layout"] == "twibot"
    users = counts["users"]
    assert users["rows_in"] == written["records"] and users["rows_out"] == written["labelled"] == len(accounts)
    assert users["reasons"] == {"label not 0 or 1": 1}
    assert counts["tweets"]["rows_in"] == counts["tweets"]["rows_out"] == written["tweets"]
    assert int(accounts["label"].sum()) == written["bots"]
    assert accounts["hour_entropy"].isna().all() and accounts["log_interval_mean_s"].isna().all()
    assert accounts["log_posts"].notna().all() and accounts["log_statuses"].notna().all()
    assert set(accounts["split"]) == {"train", "val", "test"}
