"""The report's numbers: small pandas transformations of aggregated gold tables and run manifests (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

LABELS = ("negative", "neutral", "positive")


def rolling_sentiment(daily: pd.DataFrame, days: int) -> pd.DataFrame:
    """Rolling ``days``-day share of each predicted label, weighted by posts, on a dense calendar.

    Args:
        daily: one corpus' rows with ``dt``, ``posts`` and ``share_<label>`` (any further grouping is summed).
        days: window length (7).

    Returns:
        Index ``dt`` (every day from the first to the last), columns ``negative``, ``neutral``, ``positive``: posts
        of that label in the ``days`` days ending on ``dt`` over all posts of those days (NaN when there were none).
    """
    df = daily.assign(**{c: daily[f"share_{c}"] * daily["posts"] for c in LABELS})
    per_day = df.groupby(pd.to_datetime(df["dt"]))[["posts", *LABELS]].sum().asfreq("D", fill_value=0)
    rolled = per_day.rolling(days, min_periods=1).sum()
    out = rolled[list(LABELS)].div(rolled["posts"].where(rolled["posts"] > 0), axis=0)
    out.index.name = "dt"
    return out


def period_for(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """A readable period for a time axis: month over more than two years, week over more than 60 days, else day."""
    span = (last - first).days
    return "MS" if span > 730 else "W-MON" if span > 60 else "D"


def topic_shares(per_topic: pd.DataFrame, labels: dict[int, str], top: int) -> pd.DataFrame:
    """Share of each topic among a corpus' posts with a topic, per period, the ``top`` largest topics by posts and
    the rest as ``other``.

    Args:
        per_topic: ``dt``, ``dominant_topic`` (int, -1 = none, left out) and ``posts``.
        labels: topic id -> label.
        top: topics shown on their own.

    Returns:
        Index period start (month, week or day, :func:`period_for`), one column per topic label (``"<id>: label"``)
        and ``other``; rows sum to 1.
    """
    df = per_topic[per_topic["dominant_topic"] >= 0].copy()
    if df.empty:
        return pd.DataFrame()
    df["dt"] = pd.to_datetime(df["dt"])
    biggest = df.groupby("dominant_topic")["posts"].sum().nlargest(top).index.tolist()
    name = {t: f"{t}: {labels.get(int(t), '?')}" for t in biggest}
    df["topic"] = df["dominant_topic"].map(name).fillna("other")
    freq = period_for(df["dt"].min(), df["dt"].max())
    table = df.pivot_table(index="dt", columns="topic", values="posts", aggfunc="sum", fill_value=0)
    table = table.resample(freq).sum()
    table = table[table.sum(axis=1) > 0]
    cols = [name[t] for t in biggest] + (["other"] if "other" in table.columns else [])
    return table[cols].div(table.sum(axis=1), axis=0)


def scalar_metrics(record: dict[str, Any] | None) -> dict[str, float]:
    """The numeric top-level figures of one model's metrics dict (nested per-class dicts left out)."""
    out: dict[str, float] = {}
    for k, v in (record or {}).items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if math.isfinite(float(v)):
            out[k] = float(v)
    return out


def scorecard(model: dict[str, Any]) -> pd.DataFrame:
    """One model's test figures side by side: rows = metrics, columns = the candidate, each baseline and the
    re-measured champion (as the lifecycle records them in ``models.<m>.test``); absent figures are NaN."""
    test = model.get("test") or {}
    cols = {name: scalar_metrics(figures) for name, figures in test.items() if figures}
    if not cols:
        return pd.DataFrame()
    return pd.DataFrame(cols)


def latest_model_records(manifests: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model, the newest training record (one with ``test`` figures) among run manifests given newest first,
    with the run it came from as ``run_id`` and ``run_date``."""
    found: dict[str, dict[str, Any]] = {}
    for m in manifests:
        for name, rec in (m.get("models") or {}).items():
            if name not in found and isinstance(rec, dict) and rec.get("test"):
                found[name] = {**rec, "run_id": m.get("run_id"), "run_date": m.get("run_date")}
    return found


def stage_table(stages: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Run manifest stages -> one row per stage: status, seconds, rows in/out, quarantined, duplicates dropped."""
    rows = []
    for name, rec in stages.items():
        counts = rec.get("counts") or {}
        rows.append(
            {
                "stage": name,
                "status": rec.get("status", ""),
                "seconds": rec.get("seconds"),
                "rows_in": counts.get("rows_in"),
                "rows_out": counts.get("rows_out"),
                "quarantined": counts.get("quarantined"),
                "duplicates_dropped": counts.get("duplicates_dropped"),
            }
        )
    return pd.DataFrame(
        rows, columns=["stage", "status", "seconds", "rows_in", "rows_out", "quarantined", "duplicates_dropped"]
    )
