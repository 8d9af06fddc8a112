"""Typed configuration: the packaged ``base.yaml`` merged with a profile and ``--set a.b=c`` overrides.

Resolution order (later wins): ``smspark/conf/base.yaml`` -> the profile -> ``--set`` overrides. A profile is
given by name (``local`` (default), ``cluster``, ``databricks``: YAML files shipped inside the package and read
with :mod:`importlib.resources`, so they work from an installed wheel) or as the path of your own YAML file.
Values given with ``--set`` are parsed as YAML scalars (``--set train.num_proc=1`` gives an int,
``--set models.sentiment.filter_sizes=[2,3]`` a list).

``data.root`` is a URI (see :mod:`smspark.storage`): a plain path (relative to the working directory),
``file://``, ``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``, ``dbfs:/`` or a Unity Catalog ``/Volumes/...`` path;
``Settings.layout`` gives every layer as a canonical URI string under it.

Raises :class:`ConfigError` for an unknown profile, a malformed override or a value that fails validation.
"""

from __future__ import annotations

import copy
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smspark import storage

log = logging.getLogger(__name__)

#: Checkout root of a source tree (tests find the sample data under it); meaningless for an installed wheel.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Profile used when none is given.
DEFAULT_PROFILE = "local"
#: Where the packaged profiles live: ``smspark/conf/<name>.yaml``.
PROFILES = resources.files("smspark") / "conf"


class ConfigError(ValueError):
    """A configuration file or override is missing, malformed or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """Where the data lives. ``root``: the URI every layer sits under; ``landing``: the raw exports, when they are
    somewhere else than ``<root>/landing`` (e.g. a shared drop folder). Both accept every form
    :func:`smspark.storage.resolve_root` does."""

    root: str = "data"
    landing: str | None = None

    @field_validator("root", "landing", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("root", "landing")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                storage.resolve_root(value)
            except storage.StorageError as exc:
                raise ValueError(str(exc)) from exc
        return value


class SparkConfig(_Strict):
    app_name: str = "smspark"
    master: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)


class PrivacyConfig(_Strict):
    """Pseudonymisation key (read from the environment variable ``key_env``; ``dev_key`` only for samples) and
    ``min_group_size``: released aggregate tables (``gold/profile_summaries``, the report's segment sizes) withhold
    every group of fewer people."""

    key_env: str = "SMSPARK_PSEUDONYM_KEY"
    dev_key: str | None = None
    min_group_size: int = Field(10, ge=1)


class MlflowConfig(_Strict):
    """Tracking and registry. Registered models are named ``<registered_model_prefix><model>``; with both
    ``registry_catalog`` and ``registry_schema`` set they get Unity Catalog's three-level names,
    ``<catalog>.<schema>.<prefix><model>`` (use them with ``registry_uri: databricks-uc``)."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str = "smspark"
    registered_model_prefix: str = "smspark_"
    registry_catalog: str | None = None
    registry_schema: str | None = None

    @model_validator(mode="after")
    def _catalog_and_schema(self) -> MlflowConfig:
        if (self.registry_catalog is None) != (self.registry_schema is None):
            raise ValueError("set both mlflow.registry_catalog and mlflow.registry_schema (Unity Catalog), or neither")
        return self

    def registered_model_name(self, model: str) -> str:
        """``sentiment`` -> ``smspark_sentiment``, or ``main.smspark.smspark_sentiment`` with a catalog and schema."""
        name = f"{self.registered_model_prefix}{model}"
        if self.registry_catalog and self.registry_schema:
            return f"{self.registry_catalog}.{self.registry_schema}.{name}"
        return name


#: A Keras model's training precision (:mod:`smspark.train.precision`): ``auto`` (bfloat16 compute on a CPU with
#: AMX, else float32), ``float32``, or ``mixed_bfloat16`` (float32 weights, bfloat16 compute).
Precision = Literal["auto", "float32", "mixed_bfloat16"]


class TrainConfig(_Strict):
    """How models train: the Horovod ``backend`` and workers (``num_proc``), the ``seed``, and
    ``grid_parallelism``, the grid points of an MLlib fit (a baseline's grid, the topics LDA's k's) fitted at once
    (small fits wait on Spark's job latency rather than the cores; the figures do not depend on it)."""

    backend: Literal["spark", "horovodrun"] = "spark"
    num_proc: int = Field(2, ge=1)
    seed: int = 42
    grid_parallelism: int = Field(4, ge=1)


class SentimentConfig(_Strict):
    """Kim (2014) CNN hyper-parameters and the TF-IDF + LogisticRegression baseline's.

    ``word_vectors``: the CNN's embedding starts from Spark MLlib Word2Vec vectors (``embed_dim`` wide) learnt on
    every silver post, labelled or not, with ``word2vec_*`` (Kim's CNN-non-static); off: random (CNN-rand).
    The baseline reads word 1..``baseline_ngram_max``-grams of the CNN's token ids; every point of
    ``baseline_min_df`` x ``baseline_reg_params`` x ``baseline_elastic_net`` is fitted and the best on validation
    macro-F1 is tested.
    """

    vocab_size: int = Field(20000, ge=10)
    seq_len: int = Field(64, ge=4)
    embed_dim: int = 128
    filter_sizes: list[int] = Field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    batch_size: int = 64
    epochs: int = Field(5, ge=1)
    min_train_steps: int = Field(0, ge=0)
    early_stopping_patience: int | None = Field(1, ge=0)
    learning_rate: float = 1e-3
    precision: Precision = "float32"
    word_vectors: bool = True
    word2vec_min_count: int = Field(2, ge=1)
    word2vec_window: int = Field(5, ge=1)
    word2vec_max_iter: int = Field(5, ge=1)
    baseline_max_iter: int = 100
    baseline_ngram_max: int = Field(2, ge=1)
    baseline_min_df: list[float] = Field(default_factory=lambda: [1.0, 2.0])
    baseline_reg_params: list[float] = Field(default_factory=lambda: [0.001, 0.003])
    baseline_elastic_net: list[float] = Field(default_factory=lambda: [0.0])
    baseline_standardization: bool = False


class SpamConfig(_Strict):
    """Spam model on ``silver/messages``: a Kim (2014) CNN (the sentiment model's builder with 2 classes) next to
    MLlib TF-IDF + LogisticRegression, both reading ``subject + body`` as ``seq_len`` token ids.

    The vocabulary holds the training split's ``vocab_size`` most frequent tokens; mails are split 80/10/10 by a
    keyed hash of ``message_id`` (the pseudonymisation key, so the split cannot be steered by choosing ids). The
    CNN embeds only the ``cnn_vocab_size`` most frequent of them (10,000: tokens seen at least 5 times in the
    training mails) and reads rarer ids as ``<oov>`` (:func:`smspark.models.spam.build_model`): a vector fitted to
    the 2-4 mails a rare token occurs in is memorised, not learnt; chosen on validation (3 seeds: lower validation
    loss on each, spam F1 0.9839 vs 0.9799 with all 20,000). The baseline still reads all ``vocab_size`` ids. The
    embedding starts random (Kim's CNN-rand). The class imbalance (about 28% spam) is handled by the decision
    threshold, not by class weights: the spam probability above which a mail is spam is the one with the highest
    spam F1 on validation, placed in the middle (in log-odds) of the gap between the validation scores it separates
    (:func:`smspark.metrics.best_threshold`; for the CNN and the baseline alike). The baseline reads word
    1..``baseline_ngram_max``-grams of the CNN's token ids; every point of ``baseline_min_df`` x
    ``baseline_reg_params`` is fitted and the best on validation spam F1 is tested (``regParam`` up to 1.0, a decade
    past 0.1, the best point of the earlier 0.001..0.1 grid, so the pick is not held at the grid's edge).

    The rest of the CNN's shape was checked on validation against alternatives (head + tail of long mails, 400
    tokens, max + mean pooling, a subject/body separator token, Word2Vec-initialised embeddings, early stopping on
    validation PR-AUC): none beat these defaults beyond seed-to-seed variation (docs/RESULTS.md, "Spam").
    """

    vocab_size: int = Field(20000, ge=10)
    cnn_vocab_size: int = Field(10000, ge=3)
    seq_len: int = Field(300, ge=4)
    embed_dim: int = 64
    filter_sizes: list[int] = Field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 64
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    batch_size: int = 32
    epochs: int = Field(8, ge=1)
    min_train_steps: int = Field(0, ge=0)
    early_stopping_patience: int | None = Field(2, ge=0)
    learning_rate: float = 1e-3
    precision: Precision = "float32"
    baseline_max_iter: int = Field(100, ge=1)
    baseline_ngram_max: int = Field(2, ge=1)
    baseline_min_df: list[float] = Field(default_factory=lambda: [2.0])
    baseline_reg_params: list[float] = Field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0])


class ImageConfig(_Strict):
    """Image CNN (conv-batchnorm-ReLU blocks, global pooling) and its pixel LogisticRegression baseline.

    ``dataset`` is the silver ``media.source`` trained on (a folder name under ``landing/images``). The CNN reads
    square ``image_size`` x ``image_size`` x ``channels`` uint8 images (as int32 arrays); ``None`` takes them from
    the dataset: its most common side (at most 64) and 1 channel when every image is grayscale, else 3.
    Architecture: ``convs_per_block`` 3x3 convolutions per entry of ``filters``, ``pooling`` (``max``/``avg``
    global pooling, or ``flatten``), optional training-time augmentation (``augment_flip``: random horizontal flips;
    ``augment_shift``: random translations up to that fraction of the side). See :mod:`smspark.models.image`.

    Budget (it follows the data): ``epochs`` is raised when needed so every worker runs at least ``min_train_steps``
    optimizer steps (1,400 emoji images: ~120 epochs of 5 steps; the full Fashion-MNIST keeps ``epochs``), and
    training stops after ``early_stopping_patience`` epochs without a lower validation loss, a patience that spans
    at least ``early_stopping_min_steps`` steps (:func:`smspark.models.image.early_stopping_patience`); the epoch
    with the lowest validation loss is kept. ``precision`` ``auto`` computes in bfloat16 (float32 weights) on a CPU
    with AMX, else in float32 (:mod:`smspark.train.precision`).
    """

    dataset: str = "fashion_mnist"
    image_size: int | None = Field(None, ge=8, le=256)
    channels: Literal[1, 3] | None = None
    filters: list[int] = Field(default_factory=lambda: [16, 32, 64])
    convs_per_block: int = Field(2, ge=1, le=4)
    pooling: Literal["max", "avg", "flatten"] = "max"
    augment_flip: bool = False
    augment_shift: float = Field(0.0, ge=0.0, lt=0.5)
    embedding_dim: int = Field(128, ge=2)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    batch_size: int = Field(128, ge=1)
    epochs: int = Field(10, ge=1)
    min_train_steps: int = Field(600, ge=0)
    learning_rate: float = 1e-3
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    precision: Precision = "auto"
    early_stopping_patience: int | None = Field(2, ge=0)
    early_stopping_min_steps: int = Field(100, ge=0)
    val_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    baseline_max_iter: int = Field(100, ge=1)
    baseline_reg_grid: list[float] = Field(default_factory=lambda: [0.001])
    neighbours: int = Field(5, ge=1)
    neighbour_block_rows: int = Field(512, ge=16)


class GanConfig(_Strict):
    """Class-conditional GAN on ``features/image`` (the image model's dataset and input size).

    Networks: see :mod:`smspark.models.gan`; ``conditioning`` is how the discriminator sees the class (``projection``,
    Miyato & Koyama 2018, or ``concat``: a label plane stacked on the image), ``aux_weight`` > 0 adds an AC-GAN
    classifier head and loss (Odena et al. 2017), ``spectral_norm`` wraps the discriminator's layers (Miyato et al.
    2018), ``loss`` is ``bce`` (non-saturating, one-sided smoothing ``real_label``) or ``hinge``.
    ``disc_learning_rate`` (None: ``learning_rate``) gives the discriminator its own rate (TTUR, Heusel et al.
    2017); ``ema_decay`` exports an exponential moving average of the generator's weights (Yazici et al. 2019)
    instead of its last weights.

    ``max_train_rows`` caps the rows seen per epoch (``None``: the whole training split); ``eval_rows`` caps the
    real images of a split used for the Frechet distance (``None``: all). ``epochs`` is raised when needed so every
    worker runs at least ``min_train_steps`` steps. The baseline is a class-conditional Gaussian on the top
    ``baseline_components`` principal components of the training pixels.
    """

    latent_dim: int = Field(64, ge=2)
    gen_filters: list[int] = Field(default_factory=lambda: [64, 32])
    disc_filters: list[int] = Field(default_factory=lambda: [32, 64])
    batch_size: int = Field(64, ge=2)
    epochs: int = Field(20, ge=1)
    min_train_steps: int = Field(600, ge=0)
    max_train_rows: int | None = Field(20000, ge=1)
    learning_rate: float = 2e-4
    disc_learning_rate: float | None = Field(None, gt=0.0)
    beta_1: float = Field(0.5, ge=0.0, lt=1.0)
    real_label: float = Field(0.9, gt=0.5, le=1.0)
    loss: Literal["bce", "hinge"] = "bce"
    conditioning: Literal["concat", "projection"] = "projection"
    aux_weight: float = Field(0.0, ge=0.0)
    spectral_norm: bool = False
    ema_decay: float | None = Field(None, gt=0.0, lt=1.0)
    samples_per_class: int = Field(8, ge=1)
    eval_rows: int | None = Field(None, ge=10)
    baseline_components: int = Field(32, ge=1)


class RecommenderConfig(_Strict):
    """NeuMF (He et al. 2017) hyper-parameters, its evaluation protocol, the ALS grid and two-stage scoring.

    Training: every interaction is an implicit positive; ``num_negatives`` unseen items are sampled per training
    positive in ``negative_rounds`` independent draws (an epoch reads one draw's worth of rows, so negatives are
    fresh from epoch to epoch, as in the paper), ``eval_negatives`` per validation/test user (the leave-last-out
    protocol of He et al.). With ``pretrain`` the GMF and MLP towers are trained alone first (Adam, at most
    ``pretrain_epochs``) and NeuMF starts from both, its output layer the ``alpha``-weighted concatenation of theirs,
    then trains ``neumf_epochs`` at most with ``neumf_optimizer`` at ``neumf_learning_rate`` (He et al. 2017,
    section 3.4.1); without it NeuMF trains from scratch with Adam at ``learning_rate`` for ``epochs``. Metrics are
    HR@``top_k`` and NDCG@``top_k``. ALS (MLlib, ``implicitPrefs``) is fitted for every point of the
    ``als_ranks`` x ``als_reg_params`` x ``als_alphas`` grid and the best on validation HR@``top_k`` is tested.
    Training stops after ``early_stopping_patience`` epochs without a lower validation loss (averaged over the
    Horovod workers) and keeps the best epoch's weights (None: all ``epochs``, last weights).
    Scoring: the NeuMF top ``candidate_pool`` unseen items per user, re-ranked by the behaviour model, keeping
    ``recommend_k``; users are scored ``score_user_batch`` at a time. User segments: KMeans on the NeuMF user
    embeddings with k in ``segment_k_min..segment_k_max`` picked by silhouette.
    """

    gmf_dim: int = Field(16, ge=1)
    mlp_embed_dim: int = Field(32, ge=1)
    mlp_layers: list[int] = Field(default_factory=lambda: [64, 32, 16])
    l2: float = Field(0.0, ge=0.0)
    num_negatives: int = Field(4, ge=1)
    eval_negatives: int = Field(100, ge=1)
    top_k: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1)
    epochs: int = Field(10, ge=1)
    min_train_steps: int = Field(0, ge=0)
    early_stopping_patience: int | None = Field(1, ge=0)
    learning_rate: float = 1e-3
    negative_rounds: int = Field(4, ge=1)
    pretrain: bool = True
    pretrain_epochs: int = Field(10, ge=1)
    neumf_optimizer: Literal["adam", "sgd"] = "adam"
    neumf_learning_rate: float = Field(1e-4, gt=0)
    neumf_epochs: int = Field(3, ge=1)
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    als_ranks: list[int] = Field(default_factory=lambda: [16, 32])
    als_reg_params: list[float] = Field(default_factory=lambda: [0.01, 0.1])
    als_alphas: list[float] = Field(default_factory=lambda: [10.0])
    als_max_iter: int = Field(10, ge=1)
    recommend_k: int = Field(20, ge=1)
    candidate_pool: int = Field(20, ge=1)
    score_user_batch: int = Field(64, ge=1)
    segment_k_min: int = Field(2, ge=2)
    segment_k_max: int = Field(8, ge=2)


class BehaviourConfig(_Strict):
    """Engagement model: a GRU/LSTM over the user's previous ``history_len`` events + the candidate item.

    An event is engaged when its rating is at least ``engagement_threshold``. The MLlib LogisticRegression
    baseline on aggregate features picks its ``regParam`` from ``baseline_reg_params`` on validation AUC.
    Early stopping as for the recommender.
    """

    history_len: int = Field(50, ge=1)
    engagement_threshold: float = 4.0
    item_dim: int = Field(32, ge=1)
    rnn: Literal["gru", "lstm"] = "gru"
    rnn_units: int = Field(64, ge=1)
    dense_units: int = Field(64, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    batch_size: int = Field(256, ge=1)
    epochs: int = Field(4, ge=1)
    min_train_steps: int = Field(0, ge=0)
    early_stopping_patience: int | None = Field(1, ge=0)
    learning_rate: float = 1e-3
    baseline_reg_params: list[float] = Field(default_factory=lambda: [0.0, 0.01])
    baseline_max_iter: int = Field(100, ge=1)
    baseline_items_from: Literal["earlier", "train_other_users"] = "train_other_users"


class TopicsConfig(_Strict):
    """Topic model: MLlib online LDA on pooled posts (Mehrotra et al. 2013), k chosen by NPMI coherence.

    Posts go to the first of ``pooling`` that applies (``author_day``, only in corpora with at least
    ``author_day_min_authors`` authors; ``hashtag``), else stay alone; terms shorter
    than ``min_term_len`` and English stop words plus ``extra_stop_words`` are removed. ``vocab_size``, ``min_df``
    and ``max_df`` bound the ``CountVectorizer`` vocabulary (document frequency: a count when >= 1, else a
    fraction). One LDA per ``k`` of ``k_values`` (``max_iter`` online iterations on a ``subsampling_rate`` fraction
    of the training documents each, at least ``min_batch_docs`` of them); the ``k`` with the highest mean NPMI of the
    topics' top ``top_n`` terms on the validation documents wins. Labels are the top ``label_terms`` terms.

    ``per_corpus``: one vocabulary and one LDA (and one choice of ``k``) per corpus, so that a small corpus with a
    vocabulary of its own (a politician's archive beside customer-service tweets) gets topics of its own instead of
    being absorbed by the large one's; a corpus with fewer than ``min_corpus_docs`` training documents joins the
    largest corpus's model. Topic ids are unique across corpora.
    """

    pooling: list[Literal["author_day", "hashtag"]] = Field(default_factory=lambda: ["author_day", "hashtag"])
    author_day_min_authors: int = Field(10, ge=1)
    min_term_len: int = Field(2, ge=1)
    extra_stop_words: list[str] = Field(default_factory=lambda: ["rt", "amp", "via"])
    vocab_size: int = Field(5000, ge=10)
    min_df: float = Field(5.0, gt=0.0)
    max_df: float = Field(0.5, gt=0.0)
    k_values: list[int] = Field(default_factory=lambda: [10, 15, 20, 25], min_length=1)
    max_iter: int = Field(40, ge=1)
    subsampling_rate: float = Field(0.05, gt=0.0, le=1.0)
    min_batch_docs: int = Field(512, ge=1)
    top_n: int = Field(10, ge=2)
    label_terms: int = Field(3, ge=1)
    per_corpus: bool = True
    min_corpus_docs: int = Field(200, ge=1)


class ProfilesConfig(_Strict):
    """Synthetic user profiles: a CTGAN (:mod:`smspark.synthetic.ctgan`) trained with Horovod on the profiles of
    ``source`` (``interactions``: one row per MovieLens user) in ``features/profiles``, next to a Gaussian-copula
    baseline, judged with SDMetrics' quality score on validation.

    Users are split by a keyed hash of their pseudonym: ``train_share`` train, the rest halved into val and test.
    ``epochs`` passes over the training rows in batches of ``batch_size`` rows per worker (rounded down to a multiple
    of ``pac``, the PacGAN group size), raised so that every worker runs at least ``min_train_steps`` steps;
    ``learning_rate`` for both Adam optimizers; ``max_modes`` Gaussian modes at most per continuous column;
    ``ema_decay``: the exported generator is an exponential moving average of the trained one's weights (Yazici et
    al. 2019; None exports the trained generator). ``atom_share``: a value held by at least this share of the
    training rows is a point-mass mode of its own (shares of exactly 0 or 1, a single active day); ``log_skew``:
    non-negative columns skewed beyond it (rating counts) are modelled as ``log1p``
    (:class:`smspark.synthetic.ctgan.DataTransformer`; None turns either off). ``eval_rows`` caps the real and
    synthetic rows compared per split
    (0: all). CTGAN's own defaults (pac 10, batch 500) are made for tables of thousands of rows; a few hundred users
    give a pac-10 critic a handful of packs per batch, and pac 1 measured better here (docs/RESULTS.md).
    """

    source: Literal["interactions", "posts"] = "interactions"
    train_share: float = Field(0.5, gt=0.0, lt=1.0)
    epochs: int = Field(300, ge=1)
    min_train_steps: int = Field(6000, ge=0)
    batch_size: int = Field(60, ge=2)
    pac: int = Field(1, ge=1)
    ema_decay: float | None = Field(0.999, gt=0.0, lt=1.0)
    noise_dim: int = Field(128, ge=1)
    learning_rate: float = Field(2e-4, gt=0.0)
    max_modes: int = Field(10, ge=1)
    atom_share: float | None = Field(0.05, gt=0.0, le=1.0)
    log_skew: float | None = Field(2.0, ge=0.0)
    eval_rows: int = Field(0, ge=0)


class BotsConfig(_Strict):
    """``smspark evaluate bots``: a labelled bot dataset (cresci-2017 folders or TwiBot-style JSON) -> per-account
    features -> a dense classifier beside MLlib baselines (:mod:`smspark.jobs.evaluation.bots`).

    Accounts are split by a keyed hash, stratified by class: ``test_fraction`` and ``val_fraction`` of each class's
    accounts. The MLP has ``hidden_units`` ReLU layers with ``dropout``, trained for ``epochs`` (Adam,
    ``learning_rate``, ``batch_size`` accounts) on the driver; the GBT baseline ``gbt_max_iter`` trees of depth
    ``gbt_max_depth``; the LogisticRegression baseline ``logreg_reg_param``. ``near_duplicates``: add each account's
    near-duplicate share (MinHashLSH, slower on millions of tweets)."""

    val_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    hidden_units: list[int] = Field(default_factory=lambda: [32, 16], min_length=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(3e-3, gt=0.0)
    gbt_max_iter: int = Field(30, ge=1)
    gbt_max_depth: int = Field(3, ge=1)
    logreg_reg_param: float = Field(0.01, ge=0.0)
    near_duplicates: bool = True


class AccountRiskConfig(_Strict):
    """Account risk (bot-like accounts): a dense autoencoder over per-account behaviour features
    (:mod:`smspark.features.accounts`) trained with Horovod, scored by reconstruction error, next to MLlib KMeans
    (distance to the nearest centroid).

    ``window``: ``all`` makes an account of each author's whole history (one row per author); ``month`` one of each
    author-month (the sample corpus has a single identified author, so its model learns from author-months).
    Accounts are split by a keyed hash of the account key: ``train_share`` train, the rest halved into val and test.
    Network ``d -> hidden -> code -> hidden -> d``; ``batch_size`` rows per worker and step, at most ``epochs``
    (raised to reach ``min_train_steps`` steps per worker; early stopping on validation loss after
    ``early_stopping_patience`` epochs, best weights kept); ``learning_rate`` per worker. KMeans: ``k`` picked on
    validation by silhouette among ``kmeans_k`` (values of at least the training accounts are skipped).
    ``near_duplicate_distance``: MinHash Jaccard distance of near-duplicate posts; ``top_features``: driving features
    kept per account; ``top_share``: the share of accounts compared as the top of both rankings (overlap figure);
    ``std_floor``: the smallest standard deviation a feature is divided by (standardisation of a nearly constant
    share would otherwise blow a tiny difference up).
    """

    window: Literal["all", "month"] = "month"
    train_share: float = Field(0.7, gt=0.0, lt=1.0)
    hidden: int = Field(8, ge=1)
    code: int = Field(4, ge=1)
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(300, ge=1)
    min_train_steps: int = Field(0, ge=0)
    early_stopping_patience: int | None = Field(30, ge=1)
    learning_rate: float = Field(0.003, gt=0.0)
    kmeans_k: list[int] = Field(default_factory=lambda: [2, 3, 4, 5, 6, 8], min_length=1)
    near_duplicate_distance: float = Field(0.3, gt=0.0, lt=1.0)
    top_features: int = Field(3, ge=1)
    top_share: float = Field(0.01, gt=0.0, le=1.0)
    std_floor: float = Field(0.05, ge=0.0)


class ModelsConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    spam: SpamConfig = Field(default_factory=SpamConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    gan: GanConfig = Field(default_factory=GanConfig)
    recommender: RecommenderConfig = Field(default_factory=RecommenderConfig)
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    profiles: ProfilesConfig = Field(default_factory=ProfilesConfig)
    bots: BotsConfig = Field(default_factory=BotsConfig)
    account_risk: AccountRiskConfig = Field(default_factory=AccountRiskConfig)


class ScoringConfig(_Strict):
    """How the scorers run: ``batch_size`` rows per Arrow batch of a scoring UDF; ``reuse``: a run date whose
    champions, scored input columns and output settings equal those of the latest earlier scored date copies that
    date's gold rows instead of running the models (:mod:`smspark.jobs.reuse`; ``smspark score|nightly --rescore``
    turns it off for a run)."""

    batch_size: int = Field(1024, ge=1)
    reuse: bool = True


class KeywordsConfig(_Strict):
    """``gold/keywords``: per time window (``windows``: ``day``, ``week``) and corpus, the ``top_n`` terms by TF-IDF
    (each window one document; MLlib ``CountVectorizer`` with ``vocab_size`` and ``min_df`` windows, then ``IDF``)
    and by YAKE (Campos et al. 2020; phrases of up to ``yake_ngram`` words). Windows with fewer than ``min_posts``
    posts are skipped; YAKE reads at most ``yake_max_chars`` characters of a window."""

    windows: list[Literal["day", "week"]] = Field(default_factory=lambda: ["day", "week"])
    top_n: int = Field(10, ge=1)
    vocab_size: int = Field(20000, ge=10)
    min_df: float = Field(2.0, gt=0.0)
    min_posts: int = Field(3, ge=1)
    yake_ngram: int = Field(2, ge=1, le=3)
    yake_max_chars: int = Field(20000, ge=100)


class TrendsConfig(_Strict):
    """``gold/trend_alerts``: a day whose topic volume or negative share is more than ``z_threshold`` standard
    deviations from its trailing ``window_days`` level (the days before it, not the day itself). The trailing window
    needs ``min_history_days`` observed days; a negative-share day needs ``min_posts`` posts of the topic."""

    window_days: int = Field(28, ge=2)
    z_threshold: float = Field(3.0, gt=0.0)
    min_history_days: int = Field(14, ge=2)
    min_posts: int = Field(5, ge=1)


class ReportConfig(_Strict):
    """``reports/<date>/report.html``: ``rolling_days`` for the sentiment share, the ``top_topics`` most frequent
    topics in the share chart, ``max_alerts`` rows of the alert table, ``max_generated`` generated images."""

    rolling_days: int = Field(7, ge=1)
    top_topics: int = Field(8, ge=1)
    max_alerts: int = Field(25, ge=1)
    max_generated: int = Field(40, ge=1)


class AnalyticsConfig(_Strict):
    keywords: KeywordsConfig = Field(default_factory=KeywordsConfig)
    trends: TrendsConfig = Field(default_factory=TrendsConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)


class NightlyConfig(_Strict):
    """What ``smspark nightly`` trains (when a model has no champion, or with ``--retrain``) and scores, in order."""

    train: list[str] = Field(default_factory=lambda: ["sentiment"])
    score: list[str] = Field(default_factory=lambda: ["sentiment"])


class RetentionConfig(_Strict):
    """How long raw records (bronze tables and quarantine, which hold platform handles and ids) are kept:
    partitions whose ``ingest_date`` is more than ``raw_days`` days before the run date are purged by
    ``smspark purge`` and the nightly; ``None`` keeps them."""

    raw_days: int | None = Field(default=None, ge=1)


class IngestConfig(_Strict):
    """What ingest keeps: a post whose ``text`` has more than ``max_post_chars`` characters and an image whose
    header declares more than ``max_image_pixels`` pixels (width x height, read before any pixel is decoded) go to
    quarantine with the reason. A tweet has at most 280 characters and a photo a few tens of megapixels; anything
    far beyond is a broken export or a decompression bomb.

    ``reuse``: a table whose landing files, parsing code and settings are those of its latest earlier ingest date
    copies that date's bronze partition and rejects instead of parsing the files again (:mod:`smspark.jobs.landing`);
    false parses them every time."""

    max_post_chars: int = Field(100_000, ge=1)
    max_image_pixels: int = Field(50_000_000, ge=1)
    reuse: bool = True


class EtlConfig(_Strict):
    """How etl writes silver. ``full``: recompute every table from all of bronze (``smspark etl --full``) instead of
    merging only the bronze partitions not merged yet. ``rows_per_file``: rows per Parquet file at most in a
    month partition of ``silver/posts`` (about 100 bytes a post row compressed: 1 M rows ~ 100 MB files). The
    incremental tables: ``silver/posts``, ``silver/interactions`` (and ``silver/items`` with it)."""

    full: bool = False
    rows_per_file: int = Field(1_000_000, ge=1000)


class Layout:
    """The medallion layout under the data root, as canonical URI strings (:func:`smspark.storage.resolve_root`).

    ``landing/`` raw exports, ``bronze/`` typed append-only, ``silver/`` curated, ``features/`` model inputs,
    ``gold/`` model outputs, ``quarantine/`` rejected records with reasons, ``runs/`` run manifests, ``reports/``
    the HTML reports by date, ``mlflow/`` the embedded tracking store. Join below a layer with
    :func:`smspark.storage.join` (``storage.join(layout.silver, "posts")``).
    """

    LAYERS = frozenset({"landing", "bronze", "silver", "features", "gold", "quarantine", "runs", "reports", "mlflow"})

    def __init__(self, root: str, landing: str | None = None) -> None:
        self.root = root
        self._landing = landing

    def __getattr__(self, layer: str) -> str:
        if layer == "landing" and self._landing is not None:
            return self._landing
        if layer in self.LAYERS:
            return storage.join(self.root, layer)
        raise AttributeError(layer)


class Settings(BaseModel):
    """The whole configuration of a run."""

    model_config = ConfigDict(extra="forbid")
    profile: str = "base"
    data: DataConfig = Field(default_factory=DataConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    nightly: NightlyConfig = Field(default_factory=NightlyConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    etl: EtlConfig = Field(default_factory=EtlConfig)

    @property
    def layout(self) -> Layout:
        """URIs of the data layers (a relative ``data.root`` is resolved against the working directory)."""
        landing = storage.resolve_root(self.data.landing) if self.data.landing else None
        return Layout(storage.resolve_root(self.data.root), landing)

    def pseudonym_key(self) -> bytes:
        """The HMAC key for pseudonymisation.

        Taken from the environment variable ``privacy.key_env``; only a profile that sets ``privacy.dev_key``
        (the local one) may fall back to its fixed development key. The key is never logged or written.

        Raises:
            ConfigError: no key in the environment and no development key in this profile.
        """
        key = os.environ.get(self.privacy.key_env)
        if key:
            return key.encode("utf-8")
        if self.privacy.dev_key:
            log.warning(
                "Pseudonymising with the %s profile's fixed development key (not secret); set %s for real data",
                self.profile,
                self.privacy.key_env,
            )
            return self.privacy.dev_key.encode("utf-8")
        raise ConfigError(
            f"No pseudonymisation key: set the environment variable {self.privacy.key_env} "
            f"(profile '{self.profile}' has no development key and refuses to run without one)"
        )

    def tracking_uri(self) -> str:
        """MLflow tracking URI: configured, or a sqlite store under ``<data.root>/mlflow``.

        Raises:
            ConfigError: no tracking URI is configured and the data root is not on a filesystem this host mounts
                (sqlite needs a local file).
        """
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        local = storage.local_path(self.layout.mlflow)
        if local is None:
            raise ConfigError(
                f"data.root {self.layout.root} is not a local path: set mlflow.tracking_uri (a tracking server, or "
                "'databricks'); the embedded sqlite store needs a local file"
            )
        return f"sqlite:///{local}/mlflow.db"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def profile_names() -> list[str]:
    """Names of the profiles shipped in the package (``cluster``, ``databricks``, ``local``)."""
    return sorted(
        p.name[: -len(".yaml")] for p in PROFILES.iterdir() if p.name.endswith(".yaml") and p.name != "base.yaml"
    )


def _parse_yaml(text: str, where: str) -> dict[str, Any]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    return data


def read_profile(profile: str | os.PathLike[str] | None) -> tuple[str, dict[str, Any]]:
    """``(where it came from, its mapping)`` for a profile name or a YAML file path.

    A name of a packaged profile (:func:`profile_names`) reads ``smspark/conf/<name>.yaml``; anything else must be
    an existing file.

    Raises:
        ConfigError: neither a packaged profile nor an existing file, or not a YAML mapping.
    """
    text = os.fspath(profile) if profile is not None else DEFAULT_PROFILE
    path = Path(text).expanduser()
    if path.is_file():
        return str(path), _parse_yaml(path.read_text(), str(path))
    names = profile_names()
    if text in names or text == "base":
        return f"profile {text}", _parse_yaml((PROFILES / f"{text}.yaml").read_text(), f"smspark/conf/{text}.yaml")
    raise ConfigError(
        f"Config profile not found: {text!r} is neither a packaged profile ({', '.join(names)}) nor a YAML file"
    )


#: Sections whose keys are free-form names that may hold dots (Spark options such as ``spark.driver.memory``): in an
#: override, everything after the section's path is one key.
DOTTED_KEY_SECTIONS: tuple[tuple[str, ...], ...] = (("spark", "conf"),)


def apply_override(tree: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` override in place; ``value`` is parsed as YAML.

    Under a section of :data:`DOTTED_KEY_SECTIONS` the rest of the key stays whole:
    ``spark.conf.spark.driver.memory=4g`` sets ``spark.conf["spark.driver.memory"]``.

    Raises:
        ConfigError: the assignment has no ``=``, an empty key or key part, or a part that is not a section.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"Bad override {assignment!r}: expected key.path=value")
    parts = key.strip().split(".")
    for section in DOTTED_KEY_SECTIONS:
        n = len(section)
        if tuple(parts[:n]) == section and len(parts) > n:
            parts = [*section, ".".join(parts[n:])]
            break
    if any(not p for p in parts):
        raise ConfigError(f"Bad override {assignment!r}: empty key part")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"Bad override {assignment!r}: {p} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None


def load_config(profile: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> Settings:
    """Load the packaged ``base.yaml``, the profile (a name or a YAML path, ``local`` when None), then the overrides.

    Args:
        profile: ``local`` / ``cluster`` / ``databricks``, or the path of your own profile YAML.
        overrides: ``key.path=value`` strings.

    Raises:
        ConfigError: see the module docstring.
    """
    where, over = read_profile(profile)
    tree = _deep_merge(_parse_yaml((PROFILES / "base.yaml").read_text(), "smspark/conf/base.yaml"), over)
    for ov in overrides or []:
        apply_override(tree, ov)
    spark_conf = tree.get("spark", {}).get("conf")
    if isinstance(spark_conf, dict):  # Spark options are strings; YAML may have typed them
        tree["spark"]["conf"] = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in spark_conf.items()}
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"Invalid configuration ({where}): {exc}") from exc
