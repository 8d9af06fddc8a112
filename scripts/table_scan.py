"""File count and full-scan time of a committed table (how its layout costs a reader).

    python scripts/table_scan.py URI [URI ...] [--repeat 3] [--set spark.master=local[2] ...]

For each table: the committed partitions and Parquet files (from the commit, :mod:`smspark.tables`), their bytes,
and the wall time of reading every column of every row through :func:`smspark.tables.read` into Spark's ``noop``
sink (file listing, footers and decoding included; no output written), the best of ``--repeat`` runs, on one
SparkSession built from the local profile. Prints one JSON line per table.
"""

from __future__ import annotations

import argparse
import json
import time

from smspark import storage, tables
from smspark.config import load_config
from smspark.session import get_session


def table_files(uri: str) -> tuple[int, int, int]:
    """``(partitions, Parquet files, bytes)`` of the committed version of the table at ``uri``."""
    dirs = tables.data_uris(uri)
    files = [f for d in dirs for f in storage.glob(d, "*.parquet")]
    return len(dirs), len(files), sum(fs.size(path) for fs, path in map(storage.filesystem, files))


def scan_seconds(spark, uri: str) -> tuple[float, int]:  # noqa: ANN001 (a SparkSession)
    """Seconds to read every row and column of the table at ``uri`` (noop sink), and the row count."""
    start = time.perf_counter()
    df = tables.read(spark, uri)
    df.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - start
    return seconds, tables.read(spark, uri).count()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uris", nargs="+", help="table locations (paths or URIs)")
    p.add_argument("--repeat", type=int, default=3, help="scans per table; the best is reported")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override key.path=value")
    args = p.parse_args(argv)
    spark = get_session(load_config(None, args.overrides))
    for raw in args.uris:
        uri = storage.resolve_root(raw)
        partitions, files, size = table_files(uri)
        runs = [scan_seconds(spark, uri) for _ in range(args.repeat)]
        print(
            json.dumps(
                {
                    "table": uri,
                    "partitions": partitions,
                    "files": files,
                    "mb": round(size / 1e6, 1),
                    "rows": runs[0][1],
                    "scan_seconds": round(min(s for s, _ in runs), 2),
                    "scan_seconds_all": [round(s, 2) for s, _ in runs],
                }
            )
        )
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
