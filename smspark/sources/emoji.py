"""Sample source ``emoji``: Twemoji 64x64 PNGs from npm, one folder per emoji category.

Source: npm ``emoji-datasource-twitter@16.0.0`` (the emoji-data project), fetched with ``npm pack`` into a temporary
directory (:func:`~smspark.sources.common.npm_pack`, nothing installed): ``package/emoji.json`` and
``package/img/twitter/64/<code points>.png``. The images are Twitter's Twemoji, CC-BY-4.0.

Output: ``images/emoji/<category>/<code points>.png`` under the landing root (1,911 base emoji in 10 category
folders, :func:`slugify` names), ``images/emoji/index.csv`` (one row per image) and ``images/emoji/ATTRIBUTION.md``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from smspark.sources.common import Output, check_count, npm_pack, replace_dir, sha256_file, source_entry

log = logging.getLogger(__name__)

EMOJI_NPM = "emoji-datasource-twitter"
EMOJI_PIN = "16.0.0"
EMOJI_IMG_DIR = "package/img/twitter/64/"
#: Base emoji with a Twitter image in the pinned package; a different count is logged as a warning.
EXPECTED_BASE_EMOJI = 1_911


def slugify(name: str) -> str:
    """Folder name for a category: ``"Smileys & Emotion"`` -> ``"smileys_and_emotion"``."""
    slug = name.lower().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "_", slug).strip("_")


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return width, height


def _emoji_rows(emoji: list[dict[str, Any]], skin_tones: bool) -> list[dict[str, Any]]:
    """One row per image to place: base emoji with a Twitter image, plus skin-tone variants if asked."""
    rows = []
    for item in emoji:
        if not item.get("has_img_twitter"):
            continue
        base = {
            "image": item["image"],
            "category": item["category"],
            "subcategory": item.get("subcategory") or "",
            "name": item.get("name") or "",
            "short_name": item.get("short_name") or "",
            "unified": item["unified"],
            "base_image": item["image"],
            "skin_tone": "",
        }
        rows.append(base)
        if skin_tones:
            for tone, variant in sorted((item.get("skin_variations") or {}).items()):
                if variant.get("has_img_twitter"):
                    rows.append(base | {"image": variant["image"], "unified": variant["unified"], "skin_tone": tone})
    return rows


def fetch_emoji(landing: Path, skin_tones: bool = False) -> dict[str, Any]:
    """Write Twemoji 64x64 PNGs to ``images/emoji/<category_slug>/<image>.png``, one folder per category.

    Source: npm ``emoji-datasource-twitter@16.0.0`` fetched with ``npm pack`` into a temporary directory (no
    install): ``package/emoji.json`` (fields ``image``, ``category``, ``subcategory``, ``has_img_twitter``,
    ``skin_variations``) and ``package/img/twitter/64/<image>.png``. Twitter's images are CC-BY-4.0.

    Layout: the 1,911 base emoji go to the folder of their ``category`` slug (:func:`slugify`): 10 folders
    including ``component`` (5 skin-tone swatches). With ``skin_tones=True`` the 1,875 skin-tone variants are
    added to their base emoji's folder too (people_and_body then holds most images); by default they are left
    out, so no class holds near-duplicates of one drawing. ``images/emoji/index.csv`` lists every placed image
    (``path, category, subcategory, name, short_name, unified, base_image, skin_tone``) and
    ``images/emoji/ATTRIBUTION.md`` names source, version and licence. The tree is built beside
    ``images/emoji`` and swapped in.

    Returns:
        The dataset's ``_SOURCES.json`` entry.

    Raises:
        SourceUnavailable: when npm is missing or ``npm pack`` fails.
        ValueError: when the tarball lacks ``package/emoji.json`` or a listed image is not a 64x64 PNG.
    """
    spec = f"{EMOJI_NPM}@{EMOJI_PIN}"
    dst = landing / "images/emoji"
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smspark-emoji-") as tmp:
        tarball, npm_info = npm_pack(spec, Path(tmp))
        staging = Path(tempfile.mkdtemp(prefix=".emoji.tmp-", dir=dst.parent))
        try:
            with tarfile.open(tarball, mode="r:gz") as tar:
                # One pass over the tarball: emoji.json comes before the images, but do not rely on it.
                images: dict[str, bytes] = {}
                meta_bytes: dict[str, bytes] = {}
                for member in tar:
                    handle = tar.extractfile(member) if member.isfile() else None
                    if handle is None:
                        continue
                    if member.name in ("package/emoji.json", "package/package.json"):
                        meta_bytes[member.name] = handle.read()
                    elif member.name.startswith(EMOJI_IMG_DIR) and member.name.endswith(".png"):
                        images[member.name[len(EMOJI_IMG_DIR) :]] = handle.read()
            if "package/emoji.json" not in meta_bytes:
                raise ValueError(f"{tarball.name} has no package/emoji.json")
            emoji = json.loads(meta_bytes["package/emoji.json"])
            version = json.loads(meta_bytes.get("package/package.json", b"{}")).get("version", EMOJI_PIN)
            rows = _emoji_rows(emoji, skin_tones)
            placed: list[dict[str, Any]] = []
            missing = []
            for row in rows:
                data = images.get(row["image"])
                if data is None:
                    missing.append(row["image"])
                    continue
                size = _png_size(data)
                if size != (64, 64):
                    raise ValueError(f"{row['image']}: expected a 64x64 PNG, got {size}")
                folder = slugify(row["category"])
                target = staging / folder / row["image"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                placed.append({"path": f"{folder}/{row['image']}", **row})
            if missing:
                log.warning("emoji: %d images listed in emoji.json are not in the tarball: %s", len(missing), missing)
            base_count = sum(1 for row in placed if not row["skin_tone"])
            check_count("emoji_base", base_count, EXPECTED_BASE_EMOJI)
            fields = ["path", "category", "subcategory", "name", "short_name", "unified", "base_image", "skin_tone"]
            with open(staging / "index.csv", "w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
                writer.writeheader()
                writer.writerows(placed)
            (staging / "ATTRIBUTION.md").write_text(_emoji_attribution(version, skin_tones), encoding="utf-8")
            per_category = Counter(row["category"] for row in placed)
            os.chmod(staging, 0o755)
            replace_dir(staging, dst)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        tar_sha = sha256_file(tarball)
        json_sha = hashlib.sha256(meta_bytes["package/emoji.json"]).hexdigest()
        img_lines = "".join(
            f"{hashlib.sha256(images[name]).hexdigest()}  {name}\n" for name in sorted({r["image"] for r in placed})
        )
    outputs = [Output("images/emoji/index.csv", len(placed)), Output("images/emoji/ATTRIBUTION.md", 1)]
    for category in sorted(per_category, key=slugify):
        outputs.append(Output(f"images/emoji/{slugify(category)}", per_category[category], kind="tree"))
    log.info(
        "emoji: %d images (%d base, %d skin-tone) in %d category folders -> %s",
        len(placed),
        base_count,
        len(placed) - base_count,
        len(per_category),
        dst,
    )
    entry = source_entry(
        registry="npm",
        package=EMOJI_NPM,
        version=version,
        sources=[],
        outputs=outputs,
        landing=landing,
        details={
            "archive": tarball.name,
            "archive_sha256": tar_sha,
            **npm_info,
            "base_images": base_count,
            "skin_tone_images": len(placed) - base_count,
            "categories": {slugify(c): n for c, n in sorted(per_category.items(), key=lambda kv: slugify(kv[0]))},
        },
        notes="Twemoji graphics (c) Twitter, Inc and other contributors, CC-BY-4.0; emoji-data by Cal Henderson (MIT).",
        options={"skin_tones": skin_tones},
    )
    entry["sources"] = [
        {"path": "package/emoji.json", "sha256": json_sha},
        {
            "path": EMOJI_IMG_DIR,
            "sha256": hashlib.sha256(img_lines.encode()).hexdigest(),
            "files": img_lines.count("\n"),
            "digest": "sha256 of the sha256sum-style listing of the images used",
        },
    ]
    return entry


def _emoji_attribution(version: str, skin_tones: bool) -> str:
    variants = (
        "Skin-tone variants are included, each in its base emoji's category folder."
        if skin_tones
        else "Only base emoji are included (no skin-tone variants)."
    )
    return f"""# Emoji images: attribution

The PNG files under this directory are **Twemoji** graphics, copyright Twitter, Inc and other contributors,
licensed under the Creative Commons Attribution 4.0 International licence (CC-BY-4.0,
https://creativecommons.org/licenses/by/4.0/; see https://github.com/jdecked/twemoji/blob/v15.0.2/LICENSE-GRAPHICS).

They were taken unmodified, 64x64 pixels, from the npm package `{EMOJI_NPM}` version {version}
(`package/img/twitter/64/`), part of the emoji-data project by Cal Henderson (https://github.com/iamcal/emoji-data,
MIT licence), and sorted into one folder per emoji category from the package's `emoji.json`. {variants}
`index.csv` maps every file to its category, subcategory, Unicode name and code points.
"""
