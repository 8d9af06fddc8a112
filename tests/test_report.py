"""The report: its numbers (rolling shares, topic shares, scorecards) and its page rendered in headless Chromium."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from smspark.report import charts
from smspark.report import summaries as S
from smspark.report.html import Image, Missing, Section, Table, Text, images_in, render
from tests.chromium import blank_fraction, render_page


def test_rolling_sentiment_weights_by_posts_on_a_dense_calendar():
    d = [dt.date(2016, 1, 1), dt.date(2016, 1, 2), dt.date(2016, 1, 4)]
    daily = pd.DataFrame(
        {
            "dt": d,
            "posts": [10, 30, 5],
            "share_negative": [1.0, 0.0, 0.2],
            "share_neutral": [0.0, 0.5, 0.4],
            "share_positive": [0.0, 0.5, 0.4],
        }
    )
    out = S.rolling_sentiment(daily, 2)
    assert list(out.index.date) == [dt.date(2016, 1, i) for i in (1, 2, 3, 4)]  # Jan 3 has no post
    assert out.loc["2016-01-02", "negative"] == pytest.approx(10 / 40)
    assert out.loc["2016-01-03", "negative"] == pytest.approx(0.0)  # window Jan 2-3: 30 posts, none negative
    assert out.loc["2016-01-04", "negative"] == pytest.approx(1 / 5)  # window Jan 3-4: only Jan 4's 5 posts
    assert np.allclose(out.sum(axis=1), 1.0)


def test_topic_shares_keep_the_largest_topics_and_sum_to_one():
    per_topic = pd.DataFrame(
        {
            "dt": [dt.date(2016, 1, 1)] * 4 + [dt.date(2016, 1, 2)] * 3,
            "dominant_topic": [0, 1, 2, -1, 0, 2, 3],
            "posts": [5, 1, 4, 7, 2, 2, 1],
        }
    )
    shares = S.topic_shares(per_topic, {0: "a / b", 2: "c / d"}, top=2)
    assert list(shares.columns) == ["0: a / b", "2: c / d", "other"]
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert shares.iloc[0].tolist() == pytest.approx([0.5, 0.4, 0.1])  # topic -1 (no topic) is left out


def test_scorecard_and_latest_records():
    runs = [
        {"run_id": "new", "run_date": "2026-11-22", "models": {"gan": {"trained": False}}},
        {
            "run_id": "old",
            "run_date": "2026-11-21",
            "models": {
                "gan": {"test": {"dcgan": {"fd": 3.0, "by_class": {"0": 1.0}}, "pca": {"fd": 5.0}, "champion": None}},
                "sentiment": {"test": {"cnn": {"macro_f1": 0.7}}},
            },
        },
    ]
    rec = S.latest_model_records(runs)
    assert rec["gan"]["run_id"] == "old" and set(rec) == {"gan", "sentiment"}
    card = S.scorecard(rec["gan"])
    assert list(card.columns) == ["dcgan", "pca"] and card.loc["fd"].tolist() == [3.0, 5.0]


def _page(tmp_path, broken: bool = False):
    shares = S.rolling_sentiment(
        pd.DataFrame(
            {
                "dt": pd.date_range("2016-01-01", periods=30).date,
                "posts": np.arange(30) + 5,
                "share_negative": np.linspace(0.1, 0.5, 30),
                "share_neutral": np.full(30, 0.3),
                "share_positive": 1 - np.linspace(0.1, 0.5, 30) - 0.3,
            }
        ),
        7,
    )
    blocks = [
        Image(charts.sentiment_share_png(shares, "sentiment"), "sentiment"),
        Image(charts.k_selection_png([10, 15, 20], [0.05, 0.08, 0.06], [7.9, 7.8, 7.85], 15), "k"),
        Image(charts.bar_png(["ingest", "etl"], [12.5, 30.0], "timings", "seconds"), "timings"),
        Table(pd.DataFrame({"topic": ["hillary / crooked / clinton"], "share": [0.12]}), "topics"),
        Text("some text"),
        Missing("generated images", "no GAN yet"),
    ]
    if broken:
        blocks.append(Image(b"not a png", "broken"))
    sections = [Section("Charts", blocks)]
    html = tmp_path / "report.html"
    html.write_text(render("smspark report test", [("date", "2026-11-22")], sections))
    return html, images_in(sections)


def test_report_renders_in_chromium(tmp_path):
    html, n_images = _page(tmp_path)
    page = html.read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    shot = tmp_path / "report.png"
    probe = render_page(html, shot, tmp_path / "profile", height=1800)
    assert len(probe["images"]) == n_images == 3
    assert all(i["complete"] and i["width"] > 0 for i in probe["images"]), probe["images"]
    assert probe["text"] > 100
    assert blank_fraction(shot) < 0.97  # charts and text, not a white page


def test_chromium_check_sees_a_broken_image(tmp_path):
    html, _ = _page(tmp_path, broken=True)
    probe = render_page(html, tmp_path / "broken.png", tmp_path / "profile")
    widths = {i["alt"]: i["width"] for i in probe["images"]}
    assert widths["broken"] == 0 and widths["sentiment"] > 0
