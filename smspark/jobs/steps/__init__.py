"""Job steps by data domain: each module holds the I/O-doing step functions of one domain
(``posts``, ``interactions``, ``media``, ``messages``) that the stage jobs (``ingest``, ``etl``, ``features``,
``train``, ``score``) look up by name. A step takes a :class:`smspark.jobs.common.JobContext` and returns the fields
of its stage record in the run manifest (``inputs``, ``outputs``, ``counts``, ...).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark import storage
from smspark.etl.parsed import ParsedLines
from smspark.jobs.common import UserError


def resolve(ref: str) -> Callable[..., Any]:
    """``"smspark.jobs.steps.posts:ingest"`` -> the function.

    Raises:
        UserError: the module or function is not available in this installation.
    """
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"step {ref} is not available: {exc}") from exc


def run_steps(
    ctx: Any, stage: str, registry: dict[str, tuple[str, str]], names: list[str] | None, default_root: Any
) -> list[str]:
    """Run ``registry`` steps as manifest stages ``<stage>.<name>``.

    ``registry`` maps a name to ``(input folder under the default_root URI, step reference)``; with no ``names``
    every step whose input folder exists runs. Each stage record names the processes that ran it. Returns the names
    run.

    Raises:
        UserError: an unknown name, or nothing to run.
    """
    chosen = names or [n for n, (folder, _) in registry.items() if storage.exists(storage.join(default_root, folder))]
    if not chosen:
        raise UserError(f"nothing to {stage}: no input under {default_root}")
    for name in chosen:
        if name not in registry:
            raise UserError(f"unknown {stage} step {name!r}; known: {', '.join(registry)}")
        with ctx.manifest.stage(f"{stage}.{name}") as rec:
            rec.update(resolve(registry[name][1])(ctx))
            ctx.record_processes(rec)
    return chosen


def names_arg(value: str) -> list[str]:
    """Comma-separated names (``--tables posts,interactions``)."""
    return [v for v in value.split(",") if v]


def ingest_json_lines(ctx: Any, table: str, parse: Callable[[DataFrame, dt.date], ParsedLines]) -> dict[str, Any]:
    """The ingest of a JSON-lines table: ``landing/<table>/**/*.jsonl`` (and ``*.json``) -> ``bronze/<table>``
    (partition ``ingest_date`` = the run date, replaced on a re-run) and ``quarantine/<table>``; reconciles
    ``lines read = bronze rows + quarantined``.

    Args:
        ctx: the job context.
        table: the landing folder and the table name.
        parse: ``(lines, ingest_date) -> ParsedLines`` (:class:`smspark.etl.parsed.ParsedLines`); ``lines``
            has ``value`` (the raw line) and ``source_file``. Its ``checked`` lines are persisted while both outputs
            are written, so every line is parsed once.

    When the landing files, the parsing code and the settings are those of the latest earlier ingest date
    (:mod:`smspark.jobs.landing`), that date's bronze rows and ingest rejects are copied instead of parsing again
    (the record says ``reused_from``).

    Returns:
        The stage record (``inputs``, ``outputs``, ``counts``).

    Raises:
        UserError: no JSON-lines file under the landing folder.
    """
    from smspark.jobs import landing
    from smspark.manifest import reconcile

    src = storage.join(ctx.layout.landing, table)
    files = storage.glob(src, "**/*.jsonl") + storage.glob(src, "**/*.json")
    if not files:
        raise UserError(f"no JSON-lines {table} under {src}: run `smspark fetch-samples` or copy an export there")
    out = storage.join(ctx.layout.bronze, table)
    fp = landing.fingerprint(files, ctx.cfg.ingest.model_dump(exclude={"reuse"}), [__name__])
    same = landing.unchanged_since(out, fp, ctx.run_date, ctx.cfg.ingest.reuse)
    if same is not None:
        n_in = same["lines"]
        n_out, n_q = landing.copy_ingest(ctx, table, fp, same)
    else:
        lines = ctx.spark.read.text([storage.spark_path(f) for f in files]).select(
            "value", F.col("_metadata.file_path").alias("source_file")
        )
        n_in, n_out, n_q, _ = write_parsed(ctx, parse(lines, ctx.run_date), table, fp)
    ctx.output(f"bronze/{table}", out)
    record = {
        "inputs": {"landing": src, "files": len(files)},
        "outputs": {"bronze": out, "quarantine": storage.join(ctx.layout.quarantine, table)},
        "counts": reconcile(n_in, n_out, quarantined=n_q),
    }
    if same is not None:
        record["reuse"] = f"landing files, parsing code and settings unchanged since {same['date']}"
        record["counts"]["reused_from"] = same["date"]
    return record


def write_parsed(
    ctx: Any, parsed: ParsedLines, table: str, fp: dict[str, Any], by_reason: bool = False
) -> tuple[int, int, int, dict[str, int]]:
    """Write parsed landing lines to ``bronze/<table>`` (partition ``ingest_date`` = the run date, its commit
    recording the landing fingerprint ``fp`` and the lines read) and their rejects to ``quarantine/<table>``, with
    ``parsed.checked`` cached meanwhile, so every line is parsed once for both.

    Returns:
        ``(lines read, bronze rows committed for the run date, quarantined, {reason: rows})``; the reasons are
        counted only with ``by_reason`` and some line quarantined (else ``{}``).
    """
    from smspark.jobs import landing
    from smspark.jobs.io import read_parquet, write_partitions, write_quarantine

    out = storage.join(ctx.layout.bronze, table)
    checked = parsed.checked.persist()
    n_in = checked.count()
    write_partitions(parsed.bronze, out, "ingest_date", meta=landing.meta_with(out, fp, ctx.run_date, n_in))
    n_q = write_quarantine(parsed.quarantine, ctx.layout, table, "ingest", ctx.run_date)
    n_out = read_parquet(ctx.spark, out).where(F.col("ingest_date") == F.lit(ctx.run_date)).count()
    reasons: dict[str, int] = {}
    if by_reason and n_q:
        reasons = {r["reason"]: r["count"] for r in parsed.quarantine.groupBy("reason").count().collect()}
    checked.unpersist()
    return n_in, n_out, n_q, reasons


def write_scores(
    ctx: Any,
    gold: DataFrame,
    table: str,
    model: str,
    champ: Any,
    decision: Any = None,
    extra: dict[str, Any] | None = None,
) -> tuple[str, int, float]:
    """Write a scorer's rows to ``gold/<table>`` partitioned by ``dt`` (the run date's partition replaced, the others
    kept), name that partition among the run's outputs and ``champ`` (a registry champion: ``name``, ``version``) as
    ``models.<model>.scored_with`` in the manifest. With ``decision`` (a :class:`smspark.jobs.reuse.Decision`) the
    commit also records the date's fingerprint and ``extra`` (:func:`smspark.jobs.reuse.table_meta`).

    Returns:
        ``(table URI, rows committed for the run date counted from the written table, time.perf_counter() at the
        commit)``: a caller times its scoring up to the commit, without the read-back count.
    """
    import time

    from smspark.jobs.io import read_parquet, write_partitions
    from smspark.jobs.reuse import table_meta

    out = storage.join(ctx.layout.gold, table)
    meta = table_meta(ctx, out, decision, extra) if decision is not None else None
    write_partitions(gold, out, "dt", meta=meta)
    committed = time.perf_counter()
    n_out = read_parquet(ctx.spark, out).where(F.col("dt") == F.lit(ctx.run_date)).count()
    ctx.output(f"gold/{table}", storage.join(out, f"dt={ctx.run_date.isoformat()}"))
    ctx.manifest.data["models"].setdefault(model, {})["scored_with"] = {"name": champ.name, "version": champ.version}
    return out, n_out, committed


def champion(ctx: Any, model: str) -> Any:
    """The registry champion of ``model`` (:class:`smspark.train.registry.Champion`).

    Raises:
        UserError: the model has no champion.
    """
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        return get_champion(configure(ctx.cfg), model)
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc


def merge_record(record: dict[str, Any], decision: Any) -> dict[str, Any]:
    """A stage record with the reuse decision's fields (:meth:`smspark.jobs.reuse.Decision.record`) merged in."""
    fields = decision.record()
    record["counts"] = {**record.get("counts", {}), **fields.pop("counts", {})}
    return {**record, **fields}


def score_posts_step(
    ctx: Any, model: str, table: str, score_fn: Callable[..., DataFrame], batch_rows: int | None = None
) -> dict[str, Any]:
    """Score every ``silver/posts`` row with ``model``'s champion into ``gold/<table>`` (partition ``dt`` = the run
    date, replaced on a re-run); reconciles ``posts = rows written for the date``.

    When the champion and the scored columns of ``silver/posts`` (``post_id``, ``text``) are those of the latest
    earlier date, that date's rows are copied instead (:mod:`smspark.jobs.reuse`; ``counts.reused_from``).

    Args:
        ctx: the job context.
        model: the model name (``spam``: the registered ``smspark_spam``).
        table: the gold table.
        score_fn: ``(posts[post_id, text], champion, tracking_uri, registry_uri, run_date, batch_size) -> gold rows``
            (e.g. :func:`smspark.scoring.spam.score_posts`).
        batch_rows: Arrow batch rows per UDF call (default ``scoring.batch_size``).

    Returns:
        The stage record (``inputs``, ``outputs``, ``reuse``, ``counts`` with ``score_seconds`` and
        ``rows_per_second``, and ``reused_from`` on a copy); the manifest's ``models.<model>.scored_with`` names the
        version used.

    Raises:
        UserError: the model has no champion, or there is no ``silver/posts``.
    """
    import time

    from smspark.jobs import reuse
    from smspark.jobs.io import read_table
    from smspark.manifest import reconcile

    champ = champion(ctx, model)
    batch = batch_rows or ctx.cfg.scoring.batch_size
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch))
    silver = storage.join(ctx.layout.silver, "posts")
    posts = read_table(ctx.spark, silver, what="run `smspark etl` first").select("post_id", "text")
    posts = posts.repartition(ctx.spark.sparkContext.defaultParallelism).persist()
    state = reuse.input_state(silver, posts, ["post_id", "text"])
    n_in = state["rows"]
    uri = storage.join(ctx.layout.gold, table)
    decision = reuse.decide(ctx, [uri], [champ], {"silver/posts": state}, {})
    if decision.source:
        gold = reuse.copy_rows(ctx, uri, decision.source)
    else:
        gold = score_fn(posts, champ, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri, ctx.run_date, batch)
    start = time.perf_counter()
    out, n_out, committed = write_scores(ctx, gold, table, model, champ, decision)
    seconds = committed - start
    posts.unpersist()
    record = {
        "inputs": {"silver": silver, "model": champ.uri},
        "outputs": {"gold": out, "dt": ctx.run_date.isoformat()},
        "counts": {
            **reconcile(n_in, n_out),
            "scored": n_out,
            "score_seconds": round(seconds, 2),
            "rows_per_second": round(n_out / seconds, 1) if seconds > 0 and not decision.source else None,
        },
    }
    return merge_record(record, decision)


def score_counts(ctx: Any, result: dict[str, Any], column: str) -> dict[str, int]:
    """Rows of the run date's partition of the gold table ``result["outputs"]["gold"]`` per value of ``column``
    (as strings: a JSON object's keys)."""
    from smspark.jobs.io import read_parquet

    written = read_parquet(ctx.spark, result["outputs"]["gold"]).where(F.col("dt") == F.lit(ctx.run_date))
    return {str(r[column]).lower(): r["count"] for r in written.groupBy(column).count().collect()}
