"""Topic coherence: NPMI of a topic's top terms, from document co-occurrence counts computed in Spark.

For two terms of a topic, with ``D`` reference documents, ``D(w)`` documents containing ``w`` and ``D(wi, wj)``
documents containing both (Bouma 2009; the C_NPMI measure of Roeder, Both and Hinneburg, WSDM 2015, with the whole
document as the co-occurrence window)::

    P(w) = D(w) / D          P(wi, wj) = D(wi, wj) / D
    NPMI(wi, wj) = log(P(wi, wj) / (P(wi) P(wj))) / -log P(wi, wj)          in [-1, 1]

``NPMI = -1`` when the two terms never co-occur (including a term absent from the reference documents) and ``1``
when both occur in every document. A topic's coherence is the mean NPMI over the ``N (N - 1) / 2`` pairs of its
top ``N`` terms; a model's is the mean over its topics. Natural logarithms.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def npmi_coherence(docs: DataFrame, topics: DataFrame) -> DataFrame:
    """Coherence of every topic on the reference documents ``docs``.

    Args:
        docs: ``terms`` (``array<string>``), one row per reference document (other columns are ignored).
        topics: ``topic_id`` (int) and ``terms`` (``array<string>``, the topic's top terms, at least two distinct).

    Returns:
        ``(topic_id, npmi, pairs)``: ``npmi`` (double) the mean pair NPMI, ``pairs`` (int) how many pairs. A topic
        with fewer than two distinct terms is left out. With no reference documents every pair counts as ``-1``.
    """
    spark = docs.sparkSession
    pairs = (
        topics.select("topic_id", F.array_distinct("terms").alias("t"))
        .select("topic_id", F.posexplode("t").alias("i", "w1"), "t")
        .select("topic_id", "i", "w1", F.posexplode("t").alias("j", "w2"))
        .where(F.col("i") < F.col("j"))
        .select("topic_id", F.least("w1", "w2").alias("w1"), F.greatest("w1", "w2").alias("w2"))
    )
    top_terms = [r[0] for r in pairs.select(F.explode(F.array("w1", "w2"))).distinct().collect()]
    n_docs = docs.count()
    vocab = F.array(*[F.lit(t) for t in top_terms]) if top_terms else F.array().cast("array<string>")
    present = docs.select(
        F.monotonically_increasing_id().alias("d"),
        F.array_distinct(F.array_intersect("terms", vocab)).alias("ws"),
    ).where(F.size("ws") > 0)
    occ = present.select("d", F.explode("ws").alias("w")).persist()
    single = occ.groupBy("w").agg(F.count("*").alias("n"))
    a, b = occ.alias("a"), occ.alias("b")
    joint = (
        a.join(b, (F.col("a.d") == F.col("b.d")) & (F.col("a.w") < F.col("b.w")))
        .groupBy(F.col("a.w").alias("w1"), F.col("b.w").alias("w2"))
        .agg(F.count("*").alias("n12"))
    )
    s1 = single.select(F.col("w").alias("w1"), F.col("n").alias("n1"))
    s2 = single.select(F.col("w").alias("w2"), F.col("n").alias("n2"))
    d = F.lit(float(max(n_docs, 1)))
    p12, p1, p2 = F.col("n12") / d, F.col("n1") / d, F.col("n2") / d
    npmi = (
        F.when(F.coalesce(F.col("n12"), F.lit(0)) == 0, F.lit(-1.0))
        .when(F.col("n12") == d, F.lit(1.0))
        .otherwise(F.log(p12 / (p1 * p2)) / -F.log(p12))
    )
    scored = (
        pairs.join(joint, ["w1", "w2"], "left")
        .join(s1, "w1", "left")
        .join(s2, "w2", "left")
        .select("topic_id", npmi.alias("npmi"))
    )
    out = scored.groupBy("topic_id").agg(F.avg("npmi").alias("npmi"), F.count("*").cast("int").alias("pairs"))
    result = spark.createDataFrame(out.collect(), out.schema)  # k rows; computed before the cache is released
    occ.unpersist()
    return result.orderBy("topic_id")
