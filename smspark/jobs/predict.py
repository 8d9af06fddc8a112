"""Job ``predict``: ad-hoc scoring of a file with the champion, in this process (no cluster needed).

``smspark predict sentiment --input posts.jsonl --output out.parquet``: the input is JSON lines (``.jsonl``,
``.json``, ``.ndjson``) or CSV (``.csv``, with a header) with columns ``id`` and ``text``; the output is one Parquet
file with ``id``, ``label`` (negative/neutral/positive), ``prob_negative``, ``prob_neutral``, ``prob_positive``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from smspark.config import ConfigError, load_config
from smspark.jobs.common import setup_logging

REQUIRED = ("id", "text")


class PredictError(RuntimeError):
    """An input or registry problem, explained in one line."""


def read_input(path: Path) -> pd.DataFrame:
    """Read ``id``/``text`` from JSON lines or CSV (``id`` kept as text).

    Raises:
        PredictError: missing file, unknown extension, unparseable content or missing columns.
    """
    if not path.is_file():
        raise PredictError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in {".jsonl", ".json", ".ndjson"}:
            df = pd.read_json(path, lines=True, dtype={"id": str})
        elif suffix == ".csv":
            df = pd.read_csv(path, dtype={"id": str})
        else:
            raise PredictError(f"{path}: unknown format {suffix!r}; give a .jsonl/.json/.ndjson or .csv file")
    except ValueError as exc:
        raise PredictError(f"{path}: cannot parse as {suffix[1:]}: {exc}") from exc
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise PredictError(
            f"{path}: missing column(s) {', '.join(missing)}; the file needs 'id' and 'text' columns "
            f"(it has: {', '.join(map(str, df.columns)) or 'none'})"
        )
    out = df[list(REQUIRED)].copy()
    out["id"] = out["id"].astype(str)
    out["text"] = out["text"].where(out["text"].notna(), None)
    return out


def predict_sentiment(cfg, input_path: Path, output_path: Path) -> tuple[Path, int, str]:
    """Score ``input_path`` with the champion; returns (output path, rows, model version)."""
    from smspark.scoring.udfs import load_python_model
    from smspark.train.registry import NoChampionError, configure, get_champion

    df = read_input(input_path)
    try:
        champ = get_champion(configure(cfg), "sentiment")
    except NoChampionError as exc:
        raise PredictError(str(exc)) from exc
    model = load_python_model(champ.uri, cfg.tracking_uri(), cfg.mlflow.registry_uri)
    scored = model.to_frame(model.predict_proba(df["text"].tolist(), batch_size=cfg.scoring.batch_size))
    scored.insert(0, "id", df["id"].to_numpy())
    output_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(scored, preserve_index=False), output_path)
    return output_path, len(scored), champ.version


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="smspark predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", choices=["sentiment"], help="which registered model's champion to use")
    p.add_argument("--input", type=Path, required=True, help="JSON-lines or CSV file with columns id, text")
    p.add_argument("--output", type=Path, required=True, help="Parquet file to write")
    p.add_argument(
        "--conf", default=None, help="profile name (local, cluster, databricks) or YAML path (default: local)"
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    try:
        cfg = load_config(args.conf, args.overrides)
        path, n, version = predict_sentiment(cfg, args.input, args.output)
    except (PredictError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"scored {n} rows with smspark_sentiment v{version} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
