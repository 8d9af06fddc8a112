"""Sample source ``emoji`` (:mod:`smspark.sources.emoji`): Twemoji PNGs from npm in one folder per category."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from smspark.sources import emoji
from smspark.sources.common import SourceUnavailable
from smspark.sources.emoji import slugify


def test_fetch_emoji_class_per_folder(tmp_path: Path) -> None:
    try:
        entry = emoji.fetch_emoji(tmp_path)
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
    assert all(emoji._png_size(p.read_bytes()) == (64, 64) for p in pngs[:50])
    assert "CC-BY-4.0" in (root / "ATTRIBUTION.md").read_text(encoding="utf-8")
    with open(root / "index.csv", newline="", encoding="utf-8") as fh:
        index = list(csv.DictReader(fh))
    assert len(index) == 1911 and all((root / row["path"]).is_file() for row in index)
    assert entry["registry"] == "npm" and entry["version"] == "16.0.0"


def test_slugify() -> None:
    assert slugify("Smileys & Emotion") == "smileys_and_emotion"
    assert slugify("Travel & Places") == "travel_and_places"
