"""Job ``report``: one self-contained HTML page for ``--date`` at ``<data.root>/reports/<date>/report.html``.

It shows what the corpus talks about and how it feels (sentiment share over time, rolling; topic shares over time;
the week's top keywords; trend alerts; the topics), how the models do (per model: test figures of the candidate
beside its baselines and the re-measured champion, whether it beats its baseline, why the champion alias moved or
not, its plots and training curves, from the run manifests and the MLflow registry; recommender figures and user
segment sizes; generated images) and the data quality of the run (rows per stage, quarantine by reason, timings).
A part whose input is absent says so instead of a chart. Charts are matplotlib PNGs embedded as base64; the page
loads nothing from the network. It is also the last step of ``nightly``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.jobs.common import JobContext, run_job
from smspark.jobs.steps.analytics import scoring_date
from smspark.report import charts
from smspark.report import summaries as S
from smspark.report.html import Image, Missing, Section, Table, Text, images_in, render

log = logging.getLogger(__name__)

#: models shown in the scorecard, in order
MODELS = ("sentiment", "recommender", "behaviour", "image", "gan", "topics")


def report_uri(ctx: JobContext) -> str:
    """``<data.root>/reports/<date>/report.html``."""
    return storage.join(ctx.layout.reports, ctx.run_date.isoformat(), "report.html")


def _gold(ctx: JobContext, table: str) -> str:
    return storage.join(ctx.layout.gold, table)


def _read(ctx: JobContext, table: str) -> Any:
    """The committed gold ``table``, or None when it was never written."""
    uri = _gold(ctx, table)
    return tables.read(ctx.spark, uri) if tables.exists(uri) else None


def manifests(ctx: JobContext) -> list[dict[str, Any]]:
    """Run manifests under ``runs/``, newest first, the running job's own first (it is not written yet)."""
    found = [ctx.manifest.data]
    runs = ctx.layout.runs
    for uri in sorted(storage.glob(runs, "*/manifest.json") if storage.exists(runs) else [], reverse=True):
        if storage.name(storage.parent(uri)) == ctx.manifest.run_id:
            continue
        try:
            found.append(storage.read_json(uri))
        except (OSError, ValueError) as exc:
            log.warning("report: skipping unreadable manifest %s (%s)", uri, exc)
    return found


def topic_labels(ctx: JobContext) -> dict[int, str]:
    """Topic id -> label of the newest ``gold/topics`` partition on or before the date."""
    day = scoring_date(_gold(ctx, "topics"), ctx.run_date)
    if day is None:
        return {}
    rows = _read(ctx, "topics").where(F.col("dt") == F.lit(day)).select("topic_id", "label").collect()
    return {int(r["topic_id"]): r["label"] for r in rows}


# --- sections --------------------------------------------------------------------------------------------------


def sentiment_section(ctx: JobContext, labels: dict[int, str]) -> Section:
    rcfg = ctx.cfg.analytics.report
    sec = Section("Sentiment and topics over time", anchor="trends")
    daily = _read(ctx, "sentiment_daily")
    if daily is None:
        sec.blocks.append(
            Missing(
                "sentiment over time",
                "no gold/sentiment_daily: `smspark score --model sentiment`, then `smspark analytics`",
            )
        )
    else:
        cols = ["posts", *[f"share_{c}" for c in S.LABELS]]
        weighted = [F.sum(F.col(c) * F.col("posts")).alias(c) for c in cols[1:]]
        per_day = daily.groupBy("corpus", "dt").agg(F.sum("posts").alias("posts"), *weighted).toPandas()
        for c in cols[1:]:
            per_day[c] = per_day[c] / per_day["posts"]
        for corpus, part in per_day.groupby("corpus"):
            days = part["dt"].nunique()
            if days < 2:
                totals = {c: float((part[f"share_{c}"] * part["posts"]).sum() / part["posts"].sum()) for c in S.LABELS}
                sec.blocks.append(
                    Text(
                        f"{corpus}: all {int(part['posts'].sum()):,} posts on one day ({part['dt'].iloc[0]}); shares "
                        + ", ".join(f"{c} {v:.1%}" for c, v in totals.items())
                    )
                )
            else:
                shares = S.rolling_sentiment(part, rcfg.rolling_days)
                title = (
                    f"{corpus}: predicted sentiment, rolling {rcfg.rolling_days}-day share ({days:,} days with posts)"
                )
                sec.blocks.append(Image(charts.sentiment_share_png(shares, title), f"sentiment share {corpus}"))
    sec.blocks.extend(topic_share_blocks(ctx, labels))
    return sec


def posts_per_topic(ctx: JobContext) -> tuple[Any, Any]:
    """``(scoring date, pandas corpus/dt/dominant_topic/posts)`` from the newest ``gold/post_topics`` partition on
    or before the date, each post counted on its own day (``silver/posts.dt``; -1 = no topic); ``(None, None)`` when
    there is no such partition."""
    uri = _gold(ctx, "post_topics")
    day = scoring_date(uri, ctx.run_date)
    if day is None:
        return None, None
    scored = tables.read(ctx.spark, uri).where(F.col("dt") == F.lit(day)).select("post_id", "dominant_topic")
    posts = tables.read(ctx.spark, storage.join(ctx.layout.silver, "posts")).select("post_id", "corpus", "dt")
    per_topic = (
        posts.join(scored, "post_id")
        .withColumn("dominant_topic", F.coalesce("dominant_topic", F.lit(-1)))
        .groupBy("corpus", "dt", "dominant_topic")
        .agg(F.count("*").alias("posts"))
        .toPandas()
    )
    return day, per_topic


def topic_share_blocks(ctx: JobContext, labels: dict[int, str]) -> list[Any]:
    """Per corpus, the topic shares over time from ``gold/post_topics`` (a chart, or a table for a single period)."""
    day, per_topic = posts_per_topic(ctx)
    if day is None:
        return [Missing("topic shares", "no gold/post_topics: run `smspark score --model topics`")]
    blocks: list[Any] = []
    for corpus, part in per_topic.groupby("corpus"):
        tshares = S.topic_shares(part, labels, ctx.cfg.analytics.report.top_topics)
        what = f"{corpus}: topic shares (gold/post_topics scored {day})"
        if tshares.empty:
            blocks.append(Missing(what, "no post has a topic"))
        elif len(tshares) < 2:
            row = tshares.iloc[0].sort_values(ascending=False)
            blocks.append(Table(row.rename("share").reset_index().rename(columns={"index": "topic"}), what))
        else:
            blocks.append(Image(charts.topic_share_png(tshares, what), f"topic shares {corpus}"))
    return blocks


def topics_section(ctx: JobContext) -> Section:
    sec = Section("Topics", anchor="topics")
    day = scoring_date(_gold(ctx, "topics"), ctx.run_date)
    if day is None:
        sec.blocks.append(Missing("topics", "no gold/topics: train and score the topic model"))
        return sec
    t = _read(ctx, "topics").where(F.col("dt") == F.lit(day)).orderBy(F.desc("posts")).toPandas()
    t["terms"] = t["terms"].map(lambda x: ", ".join(x))
    cols = ["topic_id", "label", "posts", "share", "coherence", "terms"]
    version = t["model_version"].iloc[0] if len(t) else "?"
    for corpus, part in t.groupby("corpus", sort=True):
        caption = (
            f"smspark_topics v{version} (scored {day}), {corpus}: k = {len(part)}, "
            "coherence = NPMI of the top terms on validation"
        )
        sec.blocks.append(Table(part[cols], caption, digits=3))
    return sec


def keywords_section(ctx: JobContext) -> Section:
    sec = Section("This week's keywords", anchor="keywords")
    kw = _read(ctx, "keywords")
    if kw is None:
        sec.blocks.append(Missing("keywords", "no gold/keywords: run `smspark analytics`"))
        return sec
    weeks = kw.where((F.col("window") == "week") & (F.col("window_start") <= F.lit(ctx.run_date)))
    latest = weeks.groupBy("corpus").agg(F.max("window_start").alias("window_start"))
    rows = weeks.join(latest, ["corpus", "window_start"]).orderBy("corpus", "method", "rank").toPandas()
    if rows.empty:
        sec.blocks.append(Missing("keywords", f"no weekly window on or before {ctx.run_date}"))
    for (corpus, start), part in rows.groupby(["corpus", "window_start"]):
        terms = {m: part[part["method"] == m]["term"].tolist() for m in ("tfidf", "yake")}
        n = max(len(v) for v in terms.values())
        table = pd.DataFrame(
            {"rank": range(1, n + 1), **{m.upper(): v + [""] * (n - len(v)) for m, v in terms.items()}}
        ).rename(columns={"TFIDF": "TF-IDF"})
        posts = int(part["posts"].iloc[0])
        sec.blocks.append(
            Table(table, f"{corpus}: week of {start} ({posts:,} posts; the latest week on or before {ctx.run_date})")
        )
    return sec


def alerts_section(ctx: JobContext, labels: dict[int, str]) -> Section:
    t = ctx.cfg.analytics.trends
    sec = Section("Trend alerts", anchor="alerts")
    alerts = _read(ctx, "trend_alerts")
    if alerts is None:
        sec.blocks.append(
            Missing(
                "trend alerts",
                "no gold/trend_alerts: it follows gold/sentiment_daily (sentiment scored, then `smspark analytics`)",
            )
        )
        return sec
    n = alerts.count()
    top = alerts.where(F.col("dt") <= F.lit(ctx.run_date)).orderBy(F.desc("dt"), F.desc(F.abs("z")))
    df = top.limit(ctx.cfg.analytics.report.max_alerts).toPandas()
    df.insert(3, "topic", df["dominant_topic"].map(lambda x: labels.get(int(x), "?")))
    sec.blocks.append(
        Text(
            f"{n:,} alerts: days when a topic's volume or negative share was more than {t.z_threshold:g} standard "
            f"deviations from its trailing {t.window_days}-day level. The newest {len(df)}:"
        )
    )
    if len(df):
        cols = [
            "dt",
            "corpus",
            "dominant_topic",
            "topic",
            "metric",
            "value",
            "trailing_mean",
            "z",
            "direction",
            "posts",
        ]
        sec.blocks.append(Table(df[cols], digits=3))
    return sec


def model_section(ctx: JobContext, records: dict[str, dict[str, Any]], champions: dict[str, str]) -> Section:
    sec = Section("Models", anchor="models")
    summary = []
    for name in MODELS:
        rec = records.get(name)
        if rec is None:
            summary.append(
                {
                    "model": name,
                    "champion": champions.get(name, "none"),
                    "trained in": "",
                    "metric": "",
                    "candidate (val)": None,
                    "beats baseline": "",
                    "champion decision": "not trained yet",
                }
            )
            continue
        sel = rec.get("selection") or {}
        bb = rec.get("beats_baseline")
        summary.append(
            {
                "model": name,
                "champion": champions.get(name, "none"),
                "trained in": f"{rec.get('registered_model')} v{rec.get('version')} ({rec.get('run_date')})",
                "metric": sel.get("metric", ""),
                "candidate (val)": sel.get("candidate"),
                "beats baseline": "n/a (no baseline)" if bb is None else ("yes" if bb else "NO"),
                "champion decision": (rec.get("champion") or {}).get("reason", ""),
            }
        )
    sec.blocks.append(Table(pd.DataFrame(summary), "Scorecard (test figures per model below)"))
    for name in MODELS:
        rec = records.get(name)
        if rec is None:
            sec.blocks.append(Missing(f"{name}", "no training record in the run manifests"))
            continue
        card = S.scorecard(rec)
        if not card.empty:
            card = card.reset_index().rename(columns={"index": "test metric"})
            sec.blocks.append(Table(card, f"{name}: test split, candidate beside baseline(s) and the champion"))
        for uri in rec.get("plots") or []:
            try:
                sec.blocks.append(Image(storage.read_bytes(uri), f"{name} plot", storage.name(uri)))
            except FileNotFoundError:
                sec.blocks.append(Missing(f"{name} plot", f"{uri} is gone"))
        history = {k: v for k, v in (rec.get("history") or {}).items() if isinstance(v, list) and len(v) > 1}
        if history and name != "topics":
            sec.blocks.append(Image(charts.history_png(history, f"{name}: training curves"), f"{name} curves"))
    return sec


def recommender_section(ctx: JobContext, records: dict[str, dict[str, Any]]) -> Section:
    sec = Section("Recommendations and segments", anchor="recommender")
    rec = records.get("recommender")
    if rec and rec.get("test"):
        card = S.scorecard(rec)
        keep = [i for i in card.index if "hr" in i.lower() or "ndcg" in i.lower()]
        if keep:
            sec.blocks.append(
                Table(card.loc[keep].reset_index().rename(columns={"index": "test metric"}), "Ranking figures")
            )
    else:
        sec.blocks.append(Missing("recommender figures", "no recommender training record"))
    day = scoring_date(_gold(ctx, "user_segments"), ctx.run_date)
    if day is None:
        sec.blocks.append(
            Missing("user segments", "no gold/user_segments: run `smspark score --model recommendations`")
        )
        return sec
    from smspark.analytics.suppression import suppress_small_groups

    seg = _read(ctx, "user_segments").where(F.col("dt") == F.lit(day))
    min_group = ctx.cfg.privacy.min_group_size
    sizes = suppress_small_groups(seg.groupBy("segment").count(), "count", min_group).orderBy("segment").toPandas()
    shown = sizes[~sizes["suppressed"]]
    k_sil = seg.select("k", "silhouette").first()
    title = f"User segments ({day}): KMeans k = {k_sil['k']}, silhouette {k_sil['silhouette']:.3f}"
    sec.blocks.append(
        Image(
            charts.bar_png([f"segment {s}" for s in shown["segment"]], shown["count"].tolist(), title, "users"),
            "segment sizes",
        )
    )
    if len(shown) < len(sizes):
        withheld = ", ".join(str(s) for s in sizes.loc[sizes["suppressed"], "segment"])
        sec.blocks.append(Text(f"Segments of fewer than {min_group} users are not shown: segment {withheld}."))
    recs = _read(ctx, "user_recommendations")
    if recs is not None:
        n = recs.where(F.col("dt") == F.lit(day)).select("user_id").distinct().count()
        sec.blocks.append(Text(f"gold/user_recommendations ({day}): {n:,} users with recommendations."))
    return sec


def generated_section(ctx: JobContext, records: dict[str, dict[str, Any]]) -> Section:
    sec = Section("Generated images", anchor="generated")
    day = scoring_date(_gold(ctx, "synthetic_media"), ctx.run_date)
    if day is not None:
        rows = (
            _read(ctx, "synthetic_media")
            .where(F.col("dt") == F.lit(day))
            .orderBy("label", "seed")
            .limit(ctx.cfg.analytics.report.max_generated)
            .collect()
        )
        imgs = [np.frombuffer(r["pixels"], np.uint8).reshape(r["height"], r["width"], r["channels"]) for r in rows]
        title = f"gold/synthetic_media ({day}), generator {rows[0]['generator_name']} v{rows[0]['generator_version']}"
        sec.blocks.append(
            Image(charts.image_grid_png(imgs, [r["label_name"] for r in rows], title), "generated images")
        )
        return sec
    gan = records.get("gan")
    grids = [u for u in (gan or {}).get("plots", []) if "sample" in storage.name(u) or "grid" in storage.name(u)]
    for uri in grids:
        sec.blocks.append(
            Image(storage.read_bytes(uri), "GAN samples", f"the GAN's samples at training ({storage.name(uri)})")
        )
    if not grids:
        sec.blocks.append(
            Missing(
                "generated images", "no gold/synthetic_media (`smspark generate --model gan`) and no GAN sample grid"
            )
        )
    return sec


def quality_section(ctx: JobContext, runs: list[dict[str, Any]]) -> Section:
    sec = Section("Data quality and run", anchor="quality")
    same_day = [m for m in runs if m.get("run_date") == ctx.run_date.isoformat()]
    stages: dict[str, dict[str, Any]] = {}
    for m in reversed(same_day):  # oldest first, newer runs of a stage replace older ones
        stages.update(m.get("stages") or {})
    if stages:
        table = S.stage_table(stages)
        sec.blocks.append(Table(table, f"Rows per stage ({len(same_day)} run(s) on {ctx.run_date})", digits=6))
        timed = table.dropna(subset=["seconds"])
        sec.blocks.append(
            Image(
                charts.bar_png(
                    timed["stage"].tolist(), timed["seconds"].astype(float).tolist(), "Stage timings", "seconds"
                ),
                "stage timings",
            )
        )
    else:
        sec.blocks.append(Missing("rows per stage", f"no run manifest for {ctx.run_date}"))
    qroot = ctx.layout.quarantine
    quarantined = [storage.join(qroot, n) for n in storage.listdir(qroot) if not n.startswith(("_", "."))]
    frames = []
    for uri in quarantined:
        if tables.exists(uri):
            q = tables.read(ctx.spark, uri)
            frames.append(q.groupBy("table", "stage", "reason").count().toPandas())
    frames = [f for f in frames if len(f)]
    if frames:
        q = pd.concat(frames).sort_values("count", ascending=False)
        sec.blocks.append(Table(q, "Quarantine by reason (all ingest dates)"))
        labels = [f"{r.table}/{r.stage}: {r.reason}" for r in q.itertuples()]
        sec.blocks.append(
            Image(charts.bar_png(labels, q["count"].tolist(), "Quarantined records", "records"), "quarantine")
        )
    else:
        sec.blocks.append(Text("Nothing quarantined."))
    return sec


def champions(ctx: JobContext) -> dict[str, str]:
    """Model -> ``v<version>`` of its current champion in the MLflow registry."""
    from smspark.train.registry import NoChampionError, configure, get_champion

    client = configure(ctx.cfg)
    out = {}
    for name in MODELS:
        try:
            out[name] = f"v{get_champion(client, name).version}"
        except NoChampionError:
            pass
    return out


def run(ctx: JobContext) -> str:
    """Write the report for ``ctx.run_date``; returns its URI."""
    with ctx.manifest.stage("report") as rec:
        runs = manifests(ctx)
        records = S.latest_model_records(runs)
        labels = topic_labels(ctx)
        sections = [
            sentiment_section(ctx, labels),
            topics_section(ctx),
            keywords_section(ctx),
            alerts_section(ctx, labels),
            model_section(ctx, records, champions(ctx)),
            recommender_section(ctx, records),
            generated_section(ctx, records),
            quality_section(ctx, runs),
        ]
        facts = [
            ("date", ctx.run_date.isoformat()),
            ("data root", ctx.layout.root),
            ("run", ctx.manifest.run_id),
            ("profile", ctx.cfg.profile),
        ]
        page = render(f"smspark report {ctx.run_date.isoformat()}", facts, sections)
        uri = storage.write_text(report_uri(ctx), page)
        missing = [b.what for s in sections for b in s.blocks if isinstance(b, Missing)]
        rec["outputs"] = {"report": uri, "images": images_in(sections), "bytes": len(page.encode()), "missing": missing}
        ctx.record_processes(rec)
    ctx.output("report", uri)
    return uri


def main(argv: list[str] | None = None) -> int:
    return run_job("report", argv, __doc__, lambda ctx, a: run(ctx))


if __name__ == "__main__":
    raise SystemExit(main())
