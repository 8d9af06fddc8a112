"""Media (images): the ingest, etl, features and score steps of the image classifier and the GAN.

- ingest: ``landing/images/<source>/`` -> ``bronze/media`` (partition ``ingest_date``). A source folder holding
  IDX files (``*-images-idx3-ubyte[.gz]`` + ``*-labels-idx1-ubyte[.gz]``) is read with
  :func:`smspark.sources.idx.read_idx`; any other is read as class-per-folder images with Spark's ``binaryFile``
  source (``recursiveFileLookup``, ``pathGlobFilter`` png/jpg/jpeg). Unreadable files and records go to
  ``quarantine/media`` with the reason; ``records in = bronze rows + quarantined``.
- etl: ``bronze/media`` -> ``silver/media`` (partition ``dt``): decoded uint8 pixels, duplicates dropped; skipped
  when bronze brought nothing new (no new date, or one re-delivering the latest).
- features (model ``image``): the ``models.image.dataset`` source of ``silver/media`` ->
  ``features/image/{train,val,test}`` + ``meta.json`` (the GAN reads the same features).
- (training: :mod:`smspark.train.image` and :mod:`smspark.train.gan` through the lifecycle)
- score: every ``silver/media`` image -> ``gold/media_labels`` and ``gold/media_similar`` (partition ``dt`` = run
  date) with the ``smspark_image`` champion.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark import storage
from smspark.etl.media import (
    IMAGE_GLOB,
    curate_media,
    decode_media,
    file_quarantine_row,
    idx_frame,
    idx_split,
    latest_by_id,
    probe_files,
    split_probed,
)
from smspark.features.media import SPLITS, choose_input_shape, image_features
from smspark.jobs import landing
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import (
    local_view,
    read_parquet,
    read_table,
    write_json,
    write_partitions,
    write_quarantine,
    write_table,
)
from smspark.jobs.recompute import build_meta, skip_recompute
from smspark.manifest import reconcile
from smspark.schemas import BRONZE_MEDIA, QUARANTINE
from smspark.sources.idx import read_idx

log = logging.getLogger(__name__)

LANDING_FOLDER = "images"


# --- ingest ---------------------------------------------------------------------------------------------------


def idx_pairs(folder: Path) -> list[tuple[Path, Path | None]]:
    """``(images file, labels file or None)`` for every ``*-images-idx3-ubyte[.gz]`` in ``folder``, by name."""
    pairs = []
    for images in sorted(folder.glob("*-images-idx3-ubyte*")):
        prefix = images.name.split("-images-")[0]
        labels = sorted(folder.glob(f"{prefix}-labels-idx1-ubyte*"))
        pairs.append((images, labels[0] if labels else None))
    return pairs


def discover_sources(images_root: Path) -> dict[str, Path]:
    """Source name -> folder for every sub-folder of ``landing/images`` (hidden folders skipped)."""
    if not images_root.is_dir():
        return {}
    return {p.name: p for p in sorted(images_root.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))}


def list_image_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` whose name matches :data:`IMAGE_GLOB` (``.png``/``.jpg``/``.jpeg`` in lower or
    upper case), as the landing holds them: the records an ingest of the folder must account for."""
    suffixes = {".png", ".PNG", ".jpg", ".JPG", ".jpeg", ".JPEG"}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in suffixes)


def _read_classes(folder: Path) -> list[str] | None:
    path = folder / "classes.json"
    if not path.exists():
        return None
    classes = json.loads(path.read_text())
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise UserError(f"{path} must be a JSON list of class names (index = label)")
    return classes


def _local_uri(path: Path) -> str:
    return storage.resolve_root(path)


def _ingest_idx(
    ctx: JobContext, source: str, folder: Path, to_uri: Callable[[Path], str] = _local_uri
) -> tuple[DataFrame | None, list[pd.DataFrame], int]:
    """IDX pairs of one source -> (bronze rows as Spark, quarantine frames, records read). The files are read on
    the driver from ``folder``; ``to_uri`` names them in the records."""
    classes = _read_classes(folder)
    frames, quarantined = [], []
    n_in = 0
    for images_path, labels_path in idx_pairs(folder):
        split = idx_split(images_path.name)
        try:
            if labels_path is None:
                raise ValueError(f"no labels file {images_path.name.split('-images-')[0]}-labels-idx1-ubyte[.gz]")
            images = read_idx(images_path)
            labels = read_idx(labels_path)
            bronze, q = idx_frame(images, labels, classes, source, split, to_uri(images_path), ctx.run_date)
        except (OSError, ValueError) as exc:  # a wrong magic number, a cut file, labels that do not match ...
            n_in += 1  # the file itself is the record we could not read
            log.warning("media ingest: %s quarantined: %s", images_path, exc)
            quarantined.append(
                pd.DataFrame([file_quarantine_row(to_uri(images_path), f"unreadable IDX file: {exc}", ctx.run_date)])
            )
            continue
        n_in += len(images)
        log.info("media ingest: %s %s: %d records from %s", source, split, len(images), images_path.name)
        frames.append(bronze)
        quarantined.append(q)
    if not frames:
        return None, quarantined, n_in
    pdf = pd.concat(frames, ignore_index=True)
    chunks = max(1, len(pdf) // 10_000)
    sdf = ctx.spark.createDataFrame(pdf, schema=BRONZE_MEDIA).repartition(max(chunks, 2))
    return sdf, quarantined, n_in


def _ingest_folder(ctx: JobContext, source: str, folder_uri: str) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Class-per-folder images of one source (read by Spark at ``folder_uri``) -> (probed files, persisted; bronze;
    quarantine).

    ``binaryFile`` makes a partition per few small files; they are coalesced to a few tasks per core so the probe
    UDF does not pay a Python round trip per handful of images.
    """
    files = (
        ctx.spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", IMAGE_GLOB)
        .load(storage.spark_path(folder_uri))
    )
    files = files.coalesce(max(2, 2 * ctx.spark.sparkContext.defaultParallelism))
    # binaryFile paths are URIs (file:/..., s3a://bucket/..., dbfs:/...): compare their path parts
    root = urlsplit(storage.spark_path(folder_uri)).path or folder_uri
    probed = probe_files(files, root, ctx.cfg.ingest.max_image_pixels).persist()
    bronze, quarantine = split_probed(probed, source, ctx.run_date)
    return probed, bronze, quarantine


def ingest_sources(
    ctx: JobContext, sources: dict[str, Path], to_uri: Callable[[Path], str] = _local_uri
) -> dict[str, Any]:
    """Ingest the given ``{source name: folder}`` into ``bronze/media``; returns the stage record.

    The folders are on this host (listed and, for IDX, read by the driver); ``to_uri`` gives the storage URI of a
    path in them, which is what Spark reads (see :func:`smspark.jobs.io.local_view`).

    Raises:
        UserError: no source, or a folder with neither IDX files nor images.
    """
    if not sources:
        raise UserError(
            f"no image sources under {storage.join(ctx.layout.landing, LANDING_FOLDER)}: run `smspark fetch-samples` "
            "or copy an IDX set or a class-per-folder image tree to landing/images/<name>/"
        )
    out = storage.join(ctx.layout.bronze, "media")
    paths = {to_uri(f): f for folder in sources.values() for f in sorted(folder.rglob("*")) if f.is_file()}
    settings = {**ctx.cfg.ingest.model_dump(exclude={"reuse"}), "sources": sorted(sources)}
    fp = landing.fingerprint(list(paths), settings, [__name__], digest=lambda uri: landing.local_sha256(paths[uri]))
    same = landing.unchanged_since(out, fp, ctx.run_date, ctx.cfg.ingest.reuse)
    if same is not None:
        return _copy_ingest(ctx, sources, to_uri, fp, same)
    bronze_parts: list[DataFrame] = []
    quarantine_parts: list[DataFrame] = []
    pandas_quarantine: list[pd.DataFrame] = []
    n_in = 0
    per_source: dict[str, dict[str, Any]] = {}
    persisted: list[DataFrame] = []
    for source, folder in sources.items():
        if idx_pairs(folder):
            sdf, q, n = _ingest_idx(ctx, source, folder, to_uri)
            n_in += n
            pandas_quarantine += q
            if sdf is not None:
                bronze_parts.append(sdf)
            per_source[source] = {"layout": "idx", "folder": to_uri(folder), "records": n}
        else:
            listed = list_image_files(folder)
            if not listed:
                raise UserError(f"{folder} holds neither IDX files nor png/jpg/jpeg images in class folders")
            files, bronze, quarantine = _ingest_folder(ctx, source, to_uri(folder))
            persisted.append(files)
            read = {r["rel"] for r in files.select("rel").collect()}
            # Spark's file sources skip empty files and names starting with '_' or '.': account for them here
            unread = [f for f in listed if f.relative_to(folder).as_posix() not in read]
            pandas_quarantine.append(
                pd.DataFrame(
                    [
                        file_quarantine_row(
                            to_uri(f),
                            "empty file" if f.stat().st_size == 0 else "not read by the file source (hidden name)",
                            ctx.run_date,
                        )
                        for f in unread
                    ]
                )
            )
            n_in += len(listed)
            bronze_parts.append(bronze)
            quarantine_parts.append(quarantine)
            per_source[source] = {"layout": "class folders", "folder": to_uri(folder), "records": len(listed)}
    n_out = 0
    if bronze_parts:
        bronze_all = bronze_parts[0]
        for part in bronze_parts[1:]:
            bronze_all = bronze_all.unionByName(part)
        write_partitions(bronze_all, out, "ingest_date", meta=landing.meta_with(out, fp, ctx.run_date, n_in))
        written = read_parquet(ctx.spark, out).where(F.col("ingest_date") == F.lit(ctx.run_date))
        n_out = written.count()
        for r in written.groupBy("source").count().collect():
            per_source.setdefault(r["source"], {})["bronze_rows"] = r["count"]
    pdq = [q for q in pandas_quarantine if len(q)]
    if pdq:
        quarantine_parts.append(ctx.spark.createDataFrame(pd.concat(pdq, ignore_index=True), schema=QUARANTINE))
    n_q = 0
    if quarantine_parts:
        q_all = quarantine_parts[0]
        for part in quarantine_parts[1:]:
            q_all = q_all.unionByName(part)
        n_q = write_quarantine(q_all, ctx.layout, "media", "ingest", ctx.run_date)
    for df in persisted:
        df.unpersist()
    ctx.output("bronze/media", out)
    return {
        "inputs": {"landing": {s: to_uri(p) for s, p in sources.items()}, "sources": per_source},
        "outputs": {"bronze": out, "quarantine": storage.join(ctx.layout.quarantine, "media")},
        "counts": reconcile(n_in, n_out, quarantined=n_q),
    }


def _copy_ingest(
    ctx: JobContext,
    sources: dict[str, Path],
    to_uri: Callable[[Path], str],
    fp: dict[str, Any],
    same: dict[str, Any],
) -> dict[str, Any]:
    """The ingest record of a run date that copies the earlier date ``same`` (:func:`smspark.jobs.landing.copy_ingest`:
    the same image files, ingest code and settings)."""
    n_out, n_q = landing.copy_ingest(ctx, "media", fp, same)
    out = storage.join(ctx.layout.bronze, "media")
    written = read_parquet(ctx.spark, out).where(F.col("ingest_date") == F.lit(ctx.run_date))
    per_source = {r["source"]: {"bronze_rows": r["count"]} for r in written.groupBy("source").count().collect()}
    ctx.output("bronze/media", out)
    return {
        "inputs": {"landing": {s: to_uri(p) for s, p in sources.items()}, "sources": per_source},
        "outputs": {"bronze": out, "quarantine": storage.join(ctx.layout.quarantine, "media")},
        "reuse": f"landing files, ingest code and settings unchanged since {same['date']}",
        "counts": {**reconcile(same["lines"], n_out, quarantined=n_q), "reused_from": same["date"]},
    }


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Every source folder under ``landing/images`` -> ``bronze/media`` (see :func:`ingest_sources`)."""
    with local_view(storage.join(ctx.layout.landing, LANDING_FOLDER)) as (images_root, to_uri):
        return ingest_sources(ctx, discover_sources(images_root), to_uri)


# --- etl ------------------------------------------------------------------------------------------------------


def etl(ctx: JobContext) -> dict[str, Any]:
    """``bronze/media`` -> ``silver/media``, recomputed from every ingest so de-duplication spans them all;
    reconciles ``bronze rows = silver + quarantined + duplicates`` (see :func:`smspark.etl.media.clean_media`).

    The recompute is skipped (:func:`smspark.jobs.recompute.skip_recompute`, record ``mode`` ``unchanged`` or
    ``redelivery``) when no bronze date was added since silver was built, or when the one added date delivers again
    the latest built date's rows (silver keeps the first ingest's date of an image, so it would not change; that
    date's etl rejects are quarantined again under the new date) and ``ingest.max_image_pixels`` is unchanged.
    Otherwise ``mode`` is ``full`` with ``full_reason``.
    """
    src = storage.join(ctx.layout.bronze, "media")
    out = storage.join(ctx.layout.silver, "media")
    bronze = read_table(ctx.spark, src, BRONZE_MEDIA, "run `smspark ingest` first")
    ctx.output("silver/media", out)
    settings = {"max_image_pixels": ctx.cfg.ingest.max_image_pixels}
    record, reason, parts = skip_recompute(ctx, "media", src, BRONZE_MEDIA, out, settings)
    if record is not None:
        return record
    log.info("silver/media: full recompute (%s)", reason)
    n_in = bronze.count()
    latest, older = latest_by_id(bronze)
    decoded = decode_media(latest, max_pixels=settings["max_image_pixels"]).persist()
    silver, quarantine, dups = curate_media(decoded, older)
    files = max(4, 2 * ctx.spark.sparkContext.defaultParallelism)
    write_table(silver.repartition(files), out, "dt", meta=build_meta(parts, settings))
    n_q = write_quarantine(quarantine, ctx.layout, "media", "etl")
    dup_counts = {r["reason"]: r["count"] for r in dups.groupBy("reason").count().collect()}
    decoded.unpersist()
    written = read_parquet(ctx.spark, out)
    n_out = written.count()
    by_source = {r["source"]: r["count"] for r in written.groupBy("source").count().collect()}
    return {
        "inputs": {"bronze": src, "ingest_dates": sorted(parts)},
        "outputs": {"silver": out, "rows_by_source": by_source},
        "mode": "full",
        "full_reason": reason,
        "counts": {**reconcile(n_in, n_out, n_q, sum(dup_counts.values())), "duplicates_by_reason": dup_counts},
    }


# --- features -------------------------------------------------------------------------------------------------


def split_files(ctx: JobContext) -> int:
    """Files per features split: enough row groups for every Horovod worker's Petastorm shard (2 per worker)."""
    return max(4, 2 * ctx.cfg.train.num_proc)


def features_image(ctx: JobContext) -> dict[str, Any]:
    """The ``models.image.dataset`` images of ``silver/media`` -> ``features/image/{train,val,test}`` + ``meta.json``.

    Raises:
        UserError: the dataset is not in silver, has no labelled images, or fewer than 2 classes.
    """
    mcfg = ctx.cfg.models.image
    media = read_table(ctx.spark, storage.join(ctx.layout.silver, "media"), what="run `smspark etl` first")
    data = media.where(F.col("source") == mcfg.dataset).persist()
    n_source = data.count()
    if n_source == 0:
        known = sorted(r["source"] for r in media.select("source").distinct().collect())
        raise UserError(
            f"no images of dataset {mcfg.dataset!r} in silver/media (sources: {', '.join(known) or 'none'}); "
            "set models.image.dataset to one of them"
        )
    labelled = data.where(F.col("label").isNotNull())
    class_rows = labelled.groupBy("label", "label_name").count().orderBy("label").collect()
    if len(class_rows) < 2:
        raise UserError(f"dataset {mcfg.dataset!r} has {len(class_rows)} labelled class(es); a classifier needs 2+")
    labels = [r["label"] for r in class_rows]
    if labels != list(range(len(labels))):
        raise UserError(f"dataset {mcfg.dataset!r} has class indices {labels}; expected 0..{len(labels) - 1}")
    classes = [r["label_name"] for r in class_rows]
    shapes = [
        (r["height"], r["width"], r["channels"], r["count"])
        for r in labelled.groupBy("height", "width", "channels").count().collect()
    ]
    size, channels = choose_input_shape(shapes, mcfg.image_size, mcfg.channels)
    official_test = labelled.where(F.col("split") == "test").limit(1).count() > 0
    feats = image_features(data, size, channels, mcfg.val_fraction, mcfg.test_fraction, official_test).persist()
    out = storage.join(ctx.layout.features, "image")
    counts: dict[str, int] = {}
    for split in SPLITS:
        part = feats.where(F.col("split") == split).drop("split")
        # The split window leaves rows grouped by class; a file read in that order would feed Petastorm (whose
        # shuffle buffer is smaller than a file) long runs of one class. Spread them: a fixed pseudo-random order.
        part = part.repartition(split_files(ctx)).sortWithinPartitions(F.xxhash64(F.col("media_id"), F.lit(17)))
        write_table(part, storage.join(out, split))
        counts[split] = read_parquet(ctx.spark, storage.join(out, split)).count()
    n_in = sum(r["count"] for r in class_rows)
    class_counts = {classes[r["label"]]: {s: 0 for s in SPLITS} for r in class_rows}
    for r in feats.groupBy("label", "split").count().collect():
        class_counts[classes[r["label"]]][r["split"]] = r["count"]
    meta = {
        "dataset": mcfg.dataset,
        "classes": classes,
        "input_shape": [size, size, channels],
        "source_shapes": sorted([list(s) for s in shapes], key=lambda s: -s[3])[:10],
        "official_test": official_test,
        "rows": counts,
        "class_counts": class_counts,
        "run_date": ctx.run_date.isoformat(),
    }
    write_json(storage.join(out, "meta.json"), meta)
    feats.unpersist()
    data.unpersist()
    ctx.output("features/image", out)
    return {
        "inputs": {
            "silver": storage.join(ctx.layout.silver, "media"),
            "dataset": mcfg.dataset,
            "unlabelled_images_not_used": n_source - n_in,
        },
        "outputs": {"features": out, "input_shape": [size, size, channels], "classes": len(classes)},
        "counts": {**reconcile(n_in, sum(counts.values())), "splits": counts, "official_test": official_test},
    }


# --- score ----------------------------------------------------------------------------------------------------


def score(ctx: JobContext) -> dict[str, Any]:
    """Every ``silver/media`` image -> ``gold/media_labels`` (label, confidence, embedding) and
    ``gold/media_similar`` (top-k neighbours within its source) with the ``smspark_image`` champion.

    Images of a source the champion was not trained on are written without label, confidence or embedding and with
    the reason (:func:`smspark.scoring.media.score_media`), and get no neighbours. Reconciles, on the written rows,
    ``silver images = labelled + not labelled (other source)`` and ``neighbour rows = sum over the labelled sources
    of n * min(k, n - 1)``.
    """
    from smspark.jobs import reuse
    from smspark.jobs.steps import champion, merge_record, write_scores
    from smspark.scoring.media import gold_similar, score_media, similar_media

    mcfg = ctx.cfg.models.image
    champ = champion(ctx, "image")
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ctx.cfg.scoring.batch_size))
    silver = storage.join(ctx.layout.silver, "media")
    media = read_table(ctx.spark, silver, what="run `smspark etl` first")
    media = media.select("media_id", "source", "pixels", "height", "width", "channels")
    media = media.repartition(max(2, ctx.spark.sparkContext.defaultParallelism)).persist()
    state = reuse.input_state(silver, media, media.columns)
    n_in = state["rows"]
    by_source = {r["source"]: r["count"] for r in media.groupBy("source").count().collect()}
    out, sim_out = storage.join(ctx.layout.gold, "media_labels"), storage.join(ctx.layout.gold, "media_similar")
    decision = reuse.decide(ctx, [out, sim_out], [champ], {"silver/media": state}, {"neighbours": mcfg.neighbours})
    if decision.source:
        model_dataset = decision.extra.get("model_dataset")
        gold = reuse.copy_rows(ctx, out, decision.source)
    else:
        model_dataset = _champion_dataset(ctx, champ)
        tracking, registry = ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri
        gold = score_media(media, champ, tracking, registry, ctx.run_date, ctx.cfg.scoring.batch_size, model_dataset)
    extra = {"model_dataset": model_dataset}
    start = time.perf_counter()
    _, _, committed = write_scores(ctx, gold, "media_labels", "image", champ, decision, extra)
    seconds = committed - start
    media.unpersist()
    written = read_parquet(ctx.spark, out).where(F.col("dt") == F.lit(ctx.run_date))
    kinds = {
        (r["source"], r["labelled"]): r["count"]
        for r in written.groupBy("source", F.col("label").isNotNull().alias("labelled")).count().collect()
    }
    n_labelled = sum(n for (_, labelled), n in kinds.items() if labelled)
    unlabelled = {s: n for (s, labelled), n in kinds.items() if not labelled}
    if unlabelled:
        log.warning(
            "media scoring: the image champion was trained on %s; %s written without labels or embeddings",
            model_dataset,
            ", ".join(f"{n} images of {s}" for s, n in sorted(unlabelled.items())),
        )
    labelled_by_source = {s: n for (s, labelled), n in kinds.items() if labelled}

    start = time.perf_counter()
    if decision.source:
        similar = reuse.copy_rows(ctx, sim_out, decision.source)
    else:
        neighbours = similar_media(
            written.where(F.col("embedding").isNotNull()).select("media_id", "source", "embedding"),
            mcfg.neighbours,
            mcfg.neighbour_block_rows,
        )
        similar = gold_similar(neighbours, champ, ctx.run_date)
    _, n_sim, committed = write_scores(ctx, similar, "media_similar", "image", champ, decision, extra)
    sim_seconds = committed - start
    expected_sim = sum(n * min(mcfg.neighbours, n - 1) for n in labelled_by_source.values())
    if n_sim != expected_sim:
        from smspark.manifest import ReconciliationError

        raise ReconciliationError(f"media_similar has {n_sim} rows, expected {expected_sim}")
    ctx.manifest.data["models"].setdefault("image", {})["scored_with"] = {
        "name": champ.name,
        "version": champ.version,
        "dataset": model_dataset,
    }
    n_unlabelled = sum(unlabelled.values())
    record = {
        "inputs": {
            "silver": silver,
            "model": champ.uri,
            "model_dataset": model_dataset,
        },
        "outputs": {"gold": out, "similar": sim_out, "dt": ctx.run_date.isoformat()},
        "counts": {
            **reconcile(n_in, n_labelled + n_unlabelled),
            "scored": n_labelled,
            "not_labelled_other_source": n_unlabelled,
            "not_labelled_by_source": unlabelled,
            "by_source": by_source,
            "score_seconds": round(seconds, 2),
            "images_per_second": round(n_labelled / seconds, 1) if seconds > 0 and not decision.source else None,
            "neighbour_rows": n_sim,
            "neighbour_seconds": round(sim_seconds, 2),
        },
    }
    return merge_record(record, decision)


def _champion_dataset(ctx: JobContext, champ: Any) -> str | None:
    from smspark.scoring.udfs import load_python_model

    model = load_python_model(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri)
    return model.meta.get("dataset")
