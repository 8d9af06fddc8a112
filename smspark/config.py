"""Typed configuration: ``conf/base.yaml`` merged with a profile and ``--set a.b=c`` overrides.

Resolution order (later wins): ``conf/base.yaml`` -> the profile file (``conf/local.yaml`` by default) ->
``--set`` overrides. Values given with ``--set`` are parsed as YAML scalars (``--set train.num_proc=1``
gives an int, ``--set models.sentiment.filter_sizes=[2,3]`` a list).

Raises :class:`ConfigError` for an unknown profile file, a malformed override or a value that fails validation.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

#: Repository root (``conf/`` lives here); used to find the default profile files.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = PROJECT_ROOT / "conf" / "local.yaml"


class ConfigError(ValueError):
    """A configuration file or override is missing, malformed or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    root: Path = Path("data")


class SparkConfig(_Strict):
    app_name: str = "smspark"
    master: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)


class PrivacyConfig(_Strict):
    key_env: str = "SMSPARK_PSEUDONYM_KEY"
    dev_key: str | None = None


class MlflowConfig(_Strict):
    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str = "smspark"


class TrainConfig(_Strict):
    backend: Literal["spark", "horovodrun"] = "spark"
    num_proc: int = Field(2, ge=1)
    seed: int = 42


class SentimentConfig(_Strict):
    """Kim (2014) CNN hyper-parameters and the TF-IDF + LogisticRegression baseline's."""

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
    baseline_max_iter: int = 100
    baseline_reg: float = 0.01


class ImageConfig(_Strict):
    """Image CNN (conv-batchnorm-ReLU blocks, global average pooling) and its pixel LogisticRegression baseline.

    ``dataset`` is the silver ``media.source`` trained on (a folder name under ``landing/images``). The CNN reads
    square ``image_size`` x ``image_size`` x ``channels`` uint8 images (as int32 arrays); ``None`` takes them from
    the dataset: its most common side (at most 64) and 1 channel when every image is grayscale, else 3.
    ``epochs`` is raised when needed so every worker runs at least ``min_train_steps`` optimizer steps: a small
    dataset then trains for more epochs (1,400 emoji images: ~110) while the full Fashion-MNIST keeps ``epochs``.
    """

    dataset: str = "fashion_mnist"
    image_size: int | None = Field(None, ge=8, le=256)
    channels: Literal[1, 3] | None = None
    filters: list[int] = Field(default_factory=lambda: [32, 64, 128])
    pooling: Literal["max", "avg"] = "max"
    embedding_dim: int = Field(128, ge=2)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    batch_size: int = Field(128, ge=1)
    epochs: int = Field(3, ge=1)
    min_train_steps: int = Field(600, ge=0)
    learning_rate: float = 1e-3
    early_stopping_patience: int | None = Field(None, ge=0)
    val_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    baseline_max_iter: int = Field(100, ge=1)
    baseline_reg_grid: list[float] = Field(default_factory=lambda: [0.001])
    neighbours: int = Field(5, ge=1)
    neighbour_block_rows: int = Field(512, ge=16)


class GanConfig(_Strict):
    """Class-conditional DCGAN on ``features/image`` (the image model's dataset and input size).

    ``max_train_rows`` caps the rows seen per epoch (``None``: the whole training split); ``eval_rows`` caps the
    real images of a split used for the Frechet distance (``None``: all). ``epochs`` is raised when needed so every
    worker runs at least ``min_train_steps`` steps. The baseline is a class-conditional Gaussian on the top
    ``baseline_components`` principal components of the training pixels.
    """

    latent_dim: int = Field(64, ge=2)
    gen_filters: list[int] = Field(default_factory=lambda: [128, 64])
    disc_filters: list[int] = Field(default_factory=lambda: [64, 128])
    batch_size: int = Field(64, ge=2)
    epochs: int = Field(5, ge=1)
    min_train_steps: int = Field(600, ge=0)
    max_train_rows: int | None = Field(20000, ge=1)
    learning_rate: float = 2e-4
    beta_1: float = Field(0.5, ge=0.0, lt=1.0)
    real_label: float = Field(0.9, gt=0.5, le=1.0)
    samples_per_class: int = Field(8, ge=1)
    eval_rows: int | None = Field(None, ge=10)
    baseline_components: int = Field(32, ge=1)


class RecommenderConfig(_Strict):
    """NeuMF (He et al. 2017) hyper-parameters, its evaluation protocol, the ALS grid and two-stage scoring.

    Training: every interaction is an implicit positive; ``num_negatives`` unseen items are sampled per training
    positive, ``eval_negatives`` per validation/test user (the leave-last-out protocol of He et al.). Metrics are
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


class TopicsConfig(_Strict):
    """Topic model: MLlib online LDA on pooled posts (Mehrotra et al. 2013), k chosen by NPMI coherence.

    Posts go to the first of ``pooling`` that applies (``author_day``, ``hashtag``), else stay alone; terms shorter
    than ``min_term_len`` and English stop words plus ``extra_stop_words`` are removed. ``vocab_size``, ``min_df``
    and ``max_df`` bound the ``CountVectorizer`` vocabulary (document frequency: a count when >= 1, else a
    fraction). One LDA per ``k`` of ``k_values`` (``max_iter`` online iterations on a ``subsampling_rate`` fraction
    of the training documents each); the ``k`` with the highest mean NPMI of the topics' top ``top_n`` terms on the
    validation documents wins. Labels are the top ``label_terms`` terms.
    """

    pooling: list[Literal["author_day", "hashtag"]] = Field(default_factory=lambda: ["author_day", "hashtag"])
    min_term_len: int = Field(2, ge=1)
    extra_stop_words: list[str] = Field(default_factory=lambda: ["rt", "amp", "via"])
    vocab_size: int = Field(5000, ge=10)
    min_df: float = Field(5.0, gt=0.0)
    max_df: float = Field(0.5, gt=0.0)
    k_values: list[int] = Field(default_factory=lambda: [10, 15, 20, 25], min_length=1)
    max_iter: int = Field(40, ge=1)
    subsampling_rate: float = Field(0.05, gt=0.0, le=1.0)
    top_n: int = Field(10, ge=2)
    label_terms: int = Field(3, ge=1)


class ModelsConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    gan: GanConfig = Field(default_factory=GanConfig)
    recommender: RecommenderConfig = Field(default_factory=RecommenderConfig)
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)


class ScoringConfig(_Strict):
    batch_size: int = Field(1024, ge=1)


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


class Layout:
    """The medallion layout under the data root.

    ``landing/`` raw exports, ``bronze/`` typed append-only, ``silver/`` curated, ``features/`` model inputs,
    ``gold/`` model outputs, ``quarantine/`` rejected records with reasons, ``runs/`` run manifests,
    ``mlflow/`` the embedded tracking store.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def __getattr__(self, layer: str) -> Path:
        if layer in {"landing", "bronze", "silver", "features", "gold", "quarantine", "runs", "mlflow"}:
            return self.root / layer
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

    @property
    def layout(self) -> Layout:
        """Paths of the data layers, absolute (resolved against the working directory)."""
        return Layout(self.data.root.expanduser().resolve())

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
        """MLflow tracking URI: configured, or a sqlite store under ``<data.root>/mlflow``."""
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        return f"sqlite:///{self.layout.mlflow / 'mlflow.db'}"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    with path.open() as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def apply_override(tree: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` override in place; ``value`` is parsed as YAML.

    Raises:
        ConfigError: the assignment has no ``=`` or an empty key.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"Bad override {assignment!r}: expected key.path=value")
    parts = key.strip().split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"Bad override {assignment!r}: {p} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None


def load_config(profile: str | Path | None = None, overrides: list[str] | None = None) -> Settings:
    """Load ``conf/base.yaml`` (next to the profile file), the profile, then the overrides.

    Args:
        profile: path of a profile YAML (``conf/local.yaml`` when None).
        overrides: ``key.path=value`` strings.

    Raises:
        ConfigError: see the module docstring.
    """
    prof_path = Path(profile) if profile else DEFAULT_PROFILE
    base_path = prof_path.parent / "base.yaml"
    tree: dict[str, Any] = _read_yaml(base_path) if base_path.is_file() else {}
    if prof_path.resolve() != base_path.resolve():
        tree = _deep_merge(tree, _read_yaml(prof_path))
    for ov in overrides or []:
        apply_override(tree, ov)
    spark_conf = tree.get("spark", {}).get("conf")
    if isinstance(spark_conf, dict):  # Spark options are strings; YAML may have typed them
        tree["spark"]["conf"] = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in spark_conf.items()}
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"Invalid configuration ({prof_path}): {exc}") from exc
