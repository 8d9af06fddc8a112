"""The recommender in the lifecycle: NeuMF (He et al. 2017) next to MLlib ALS (implicit) and item popularity.

Reads ``features/recommender/{train,val,test}`` (``user_idx``, ``item_idx``, ``label``: training positives with
sampled negatives; per val/test user its held-out item and 100 sampled unseen items), ``id_maps.npz`` and
``meta.json``. Every model -- the candidate, an older champion with its own id maps, ALS and popularity -- is
measured by the same functions on the same users (:mod:`smspark.ranking_metrics`): HR@K and NDCG@K of the held-out
item among its sampled negatives, and among every item the user has not interacted with before it (``_full``: on
val, items seen in train are excluded; on test, items seen in train or val). An older champion scores the current
items through its own id maps (items it never saw score ``-inf``).

Selection metric: full-ranking NDCG@K on validation. Sampled and full rankings can disagree (Krichene & Rendle,
"On Sampled Metrics for Item Recommendation", KDD 2020), and full ranking is what scoring serves. ``beats_baseline``
asks NeuMF to be at or above both ALS and popularity on all four test figures.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage
from smspark.features.interactions import IdMaps
from smspark.ranking_metrics import full_ranked_lists, mean_metrics, sampled_ranked_lists
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package, pip_requirements

log = logging.getLogger(__name__)

PairScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
UserScorer = Callable[[np.ndarray], np.ndarray]


class RankingData:
    """A recommender features folder read for evaluation (pyarrow, on the driver).

    Attributes:
        n_items: items are ``1..n_items``.
        train_pos: training positives ``(user_idx, item_idx)`` int64 arrays.
        splits: ``{"val"|"test": (user_idx, item_idx, label)}`` arrays of the sampled splits.
        targets: ``{"val"|"test": (users int64 [n] sorted, held-out item_idx int64 [n])}``.
        seen: ``{"val"|"test": per target user, the item_idx interacted with before (excluded in full ranking)}``.
    """

    def __init__(self, features_uri: str, n_items: int) -> None:
        self.n_items = n_items
        u, i, lab = self._read(storage.join(features_uri, "train"))
        pos = np.unique(np.stack([u[lab > 0.5], i[lab > 0.5]], axis=1), axis=0)  # once per pair, whatever the rounds
        self.train_pos = (pos[:, 0], pos[:, 1])
        self.splits = {s: self._read(storage.join(features_uri, s)) for s in ("val", "test")}
        self.targets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for s, (u, i, lab) in self.splits.items():
            pos = lab > 0.5
            order = np.argsort(u[pos], kind="stable")
            self.targets[s] = (u[pos][order], i[pos][order])
        vu, vi = self.targets["val"]
        before = {
            "val": pd.DataFrame({"u": self.train_pos[0], "i": self.train_pos[1]}),
            "test": pd.DataFrame(
                {"u": np.concatenate([self.train_pos[0], vu]), "i": np.concatenate([self.train_pos[1], vi])}
            ),
        }
        self.seen = {}
        for s, df in before.items():
            groups = df.groupby("u")["i"].apply(np.asarray)
            self.seen[s] = [groups.get(u, np.zeros(0, dtype=np.int64)) for u in self.targets[s][0]]

    @staticmethod
    def _read(uri: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:

        t = storage.read_parquet(uri, columns=["user_idx", "item_idx", "label"])
        return (
            t.column("user_idx").to_numpy().astype(np.int64),
            t.column("item_idx").to_numpy().astype(np.int64),
            t.column("label").to_numpy().astype(np.float32),
        )


def ranking_metrics(
    data: RankingData, split: str, score_pairs: PairScorer, score_users: UserScorer, k: int, chunk: int = 256
) -> dict[str, float]:
    """``HR@k``, ``NDCG@k`` (held-out item among its sampled negatives) and ``HR@k_full``, ``NDCG@k_full`` (among
    every item not seen before it) on ``split`` (``val`` or ``test``)."""
    users, items, labels = data.splits[split]
    ranked, targets = sampled_ranked_lists(users, items, labels, score_pairs(users, items))
    out = mean_metrics(ranked, targets, k)
    t_users, t_items = data.targets[split]
    full: list[np.ndarray] = []
    for start in range(0, len(t_users), chunk):
        part = slice(start, start + chunk)
        full += full_ranked_lists(score_users(t_users[part]), data.seen[split][part], t_items[part], k)
    full_m = mean_metrics(full, list(t_items), k)
    out[f"HR@{k}_full"] = full_m[f"HR@{k}"]
    out[f"NDCG@{k}_full"] = full_m[f"NDCG@{k}"]
    return out


def pyfunc_scorers(model: Any, maps: IdMaps) -> tuple[PairScorer, UserScorer]:
    """Scorers over the *current* ``user_idx``/``item_idx`` for a :class:`~smspark.models.recommender.RecommenderPyfunc`
    (its own id maps may differ: users or items it does not know score ``-inf``)."""
    from smspark.models.recommender import predict_pairs

    own_users = model.user_index(pd.Series(maps.users.astype(object)))  # current user_idx -> model's, -1 unknown
    own_items = np.concatenate([[0], model.item_index(maps.items.astype(np.int64))])  # current item_idx -> model's

    def pairs(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        mu, mi = own_users[u], own_items[i]
        ok = (mu >= 0) & (mi > 0)
        out = np.full(len(u), -np.inf, dtype=np.float32)
        out[ok] = predict_pairs(model.keras_model, mu[ok], mi[ok])
        return out

    known_items = np.flatnonzero(own_items[1:] > 0)  # columns j (item_idx j + 1) the model can score

    def users(u: np.ndarray) -> np.ndarray:
        out = np.full((len(u), maps.n_items), -np.inf, dtype=np.float32)
        mu = own_users[u]
        rows = np.flatnonzero(mu >= 0)
        if len(rows) and len(known_items):
            uu = np.repeat(mu[rows], len(known_items))
            ii = np.tile(own_items[1:][known_items], len(rows))
            out[np.ix_(rows, known_items)] = predict_pairs(model.keras_model, uu, ii).reshape(len(rows), -1)
        return out

    return pairs, users


def popularity_scorers(data: RankingData) -> tuple[PairScorer, UserScorer]:
    """Item popularity = training interactions per item (the same score for every user)."""
    counts = np.bincount(data.train_pos[1], minlength=data.n_items + 1).astype(np.float32)
    return (lambda u, i: counts[i]), (lambda users: np.tile(counts[1:], (len(users), 1)))


def als_training_frame(spark: Any, data: RankingData) -> Any:  # DataFrame
    """The training positives as MLlib ALS input: ``user_idx`` int, ``item_idx`` int, ``rating`` float (a preference
    of 1 per interaction, Hu, Koren, Volinsky 2008)."""
    pdf = pd.DataFrame(
        {
            "user_idx": data.train_pos[0].astype(np.int32),
            "item_idx": data.train_pos[1].astype(np.int32),
            "rating": np.ones(len(data.train_pos[0]), dtype=np.float32),
        }
    )
    return spark.createDataFrame(pdf)


def als_estimator(max_iter: int, seed: int) -> Any:  # pyspark.ml.recommendation.ALS
    """MLlib ALS with ``implicitPrefs=True`` over :func:`als_training_frame`'s columns; ``rank``, ``regParam`` and
    ``alpha`` come from the grid's param maps."""
    from pyspark.ml.recommendation import ALS

    return ALS(
        maxIter=max_iter,
        implicitPrefs=True,
        userCol="user_idx",
        itemCol="item_idx",
        ratingCol="rating",
        seed=seed,
        nonnegative=False,
    )


def als_factors(model: Any, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted ``ALSModel``'s user and item factors, float32 ``[n_users, rank]`` and ``[n_items + 1, rank]`` (row
    ``i`` = ``item_idx`` ``i``; zeros for an id the fit never saw)."""
    from smspark.models.recommender import factor_matrix

    rank = model.rank
    users = factor_matrix([(r["id"], r["features"]) for r in model.userFactors.collect()], n_users, rank)
    items = factor_matrix([(r["id"], r["features"]) for r in model.itemFactors.collect()], n_items + 1, rank)
    return users, items


def als_scorers(uf: np.ndarray, itf: np.ndarray) -> tuple[PairScorer, UserScorer]:
    from smspark.models.recommender import als_scores

    return (lambda u, i: als_scores(uf, itf, u, i)), (lambda users: uf[users] @ itf[1:].T)


def build_pretrained_neumf(
    cfg: Any, n_users: int, n_items: int, gmf_uri: str, mlp_uri: str, alpha: float
) -> Any:  # tf_keras.Model
    """NeuMF started from a trained GMF and a trained MLP (read from the work area on the worker that builds it),
    its output layer the ``alpha``-weighted concatenation of theirs
    (:func:`smspark.models.recommender.neumf_initial_weights`)."""
    from smspark.models.recommender import build_model, neumf_initial_weights
    from smspark.train.lifecycle import load_keras

    weights = neumf_initial_weights(load_keras(gmf_uri), load_keras(mlp_uri), alpha)
    return build_model(cfg, n_users, n_items, weights)


class RecommenderAdapter(ModelAdapter):
    """NeuMF (``smspark_recommender``): see :mod:`smspark.models.recommender`."""

    name = "recommender"
    features = "recommender"
    candidate_name = "neumf"
    selection_metric = "NDCG@10_full"
    resumable = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.mcfg = self.cfg.models.recommender
        self.k = self.mcfg.top_k
        self.selection_metric = f"NDCG@{self.k}_full"
        self.maps_file = ctx.local(ctx.features("id_maps.npz"))
        self.maps = IdMaps.load(self.maps_file)
        self.feat_meta = storage.read_json(ctx.features("meta.json"))
        self._data: RankingData | None = None
        self._scorers: dict[str, tuple[PairScorer, UserScorer]] = {}

    @property
    def data(self) -> RankingData:
        if self._data is None:
            self._data = RankingData(self.ctx.features_uri, self.maps.n_items)
        return self._data

    def params(self) -> dict[str, Any]:
        return {**super().params(), "n_users": self.maps.n_users, "n_items": self.maps.n_items}

    def train(self) -> Candidate:
        """NeuMF, pre-trained as in He et al. (2017) section 3.4.1 when ``pretrain`` is on: GMF and MLP trained
        alone (Adam), NeuMF started from both and trained on (``neumf_optimizer`` at ``neumf_learning_rate``);
        otherwise from scratch. Every stage: Horovod workers through Petastorm, early stopping on validation loss,
        an epoch = one of the ``negative_rounds`` independent negative draws."""
        from smspark.models.recommender import RecommenderPyfunc, build_model, build_tower_model

        mcfg, n_users, n_items = self.mcfg, self.maps.n_users, self.maps.n_items
        rounds = int(self.feat_meta.get("negative_rounds", 1))
        common = dict(loss="binary_crossentropy", metrics=["accuracy"], epoch_rows=self.split_rows()["train"] // rounds)
        stages: dict[str, Any] = {}
        if mcfg.pretrain:
            towers = {}
            for kind in ("gmf", "mlp"):
                run = self.train_keras(
                    kind,
                    functools.partial(build_tower_model, mcfg, n_users, n_items, kind),
                    ["user_idx", "item_idx"],
                    "label",
                    mcfg,
                    epochs=mcfg.pretrain_epochs,
                    early_stopping_patience=max(2, mcfg.early_stopping_patience or 0),
                    **common,
                )
                towers[kind] = storage.join(run.out_uri, "model.h5")
                stages[kind] = run
            model_fn = functools.partial(
                build_pretrained_neumf, mcfg, n_users, n_items, towers["gmf"], towers["mlp"], mcfg.alpha
            )
            run = self.train_keras(
                "neumf",
                model_fn,
                ["user_idx", "item_idx"],
                "label",
                mcfg,
                epochs=mcfg.neumf_epochs,
                learning_rate=mcfg.neumf_learning_rate,
                optimizer=mcfg.neumf_optimizer,
                **common,
            )
        else:
            run = self.train_keras(
                "neumf",
                functools.partial(build_model, mcfg, n_users, n_items),
                ["user_idx", "item_idx"],
                "label",
                mcfg,
                **common,
            )
        stages["neumf"] = run
        meta = {
            "model": "neumf",
            "n_users": self.maps.n_users,
            "n_items": self.maps.n_items,
            "config": mcfg.model_dump(),
            "features": self.feat_meta,
        }
        meta_uri = storage.write_json(self.ctx.work("neumf", "meta.json"), meta)
        model = RecommenderPyfunc()
        model.keras_model, model.maps, model.meta = run.model, self.maps, meta
        artifacts = {
            "keras_model": self.ctx.local(storage.join(run.out_uri, "model.h5")),
            "meta": self.ctx.local(meta_uri),
            "id_maps": self.maps_file,
        }
        training = {name: r.summary() for name, r in stages.items()}
        seconds = sum(r.seconds for r in stages.values())
        return Candidate(model, artifacts, run.history, run.ranks, seconds, {"training": training})

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        pairs, users = pyfunc_scorers(model, self.maps)
        return ranking_metrics(self.data, split, pairs, users, self.k)

    def baselines(self) -> list[Baseline]:
        """ALS over the configured grid (the best on the validation selection metric) and popularity. The grid's
        points are fitted ``train.grid_parallelism`` at a time (:func:`smspark.models.baselines.fit_grid`)."""
        from smspark.models.baselines import fit_grid

        mcfg, k, data = self.mcfg, self.k, self.data
        points = list(itertools.product(mcfg.als_ranks, mcfg.als_reg_params, mcfg.als_alphas))
        estimator = als_estimator(mcfg.als_max_iter, self.cfg.train.seed)
        train = als_training_frame(self.spark, data).persist()

        def measure(model: Any) -> tuple[tuple[PairScorer, UserScorer], dict[str, float]]:
            scorers = als_scorers(*als_factors(model, self.maps.n_users, data.n_items))
            return scorers, ranking_metrics(data, "val", *scorers, k)

        fits = fit_grid(
            estimator,
            train,
            [{estimator.rank: r, estimator.regParam: reg, estimator.alpha: a} for r, reg, a in points],
            measure,
            self.cfg.train.grid_parallelism,
        )
        train.unpersist()
        best: tuple[float, dict[str, Any], tuple[PairScorer, UserScorer]] | None = None
        grid = []
        for (rank, reg, alpha), (_, (scorers, val), _) in zip(points, fits, strict=True):
            point = {"rank": rank, "reg_param": reg, "alpha": alpha, **{f"val_{m}": v for m, v in val.items()}}
            grid.append(point)
            log.info(
                "ALS rank=%d regParam=%g alpha=%g: val %s %.4f",
                rank,
                reg,
                alpha,
                self.selection_metric,
                val[self.selection_metric],
            )
            if best is None or val[self.selection_metric] > best[0]:
                best = (
                    val[self.selection_metric],
                    {"rank": rank, "reg_param": reg, "alpha": alpha, "val": val},
                    scorers,
                )
        assert best is not None
        als = Baseline(
            "als",
            best[1]["val"],
            ranking_metrics(data, "test", *best[2], k),
            {key: best[1][key] for key in ("rank", "reg_param", "alpha")},
            extra={"grid": grid},
        )
        pop = popularity_scorers(data)
        self._scorers = {"ALS": best[2], "popularity": pop}
        popularity = Baseline(
            "popularity", ranking_metrics(data, "val", *pop, k), ranking_metrics(data, "test", *pop, k)
        )
        return [als, popularity]

    def beats(self, candidate: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict[str, bool]:
        keys = [f"HR@{self.k}", f"NDCG@{self.k}", f"HR@{self.k}_full", f"NDCG@{self.k}_full"]
        return {f"{name} {key}": candidate[key] >= b[key] for name, b in baselines.items() for key in keys}

    def package(self, candidate: Candidate) -> Package:
        from smspark.models.recommender import RecommenderPyfunc

        sample = pd.DataFrame(
            {"user_id": self.maps.users[:2].astype(object), "item_id": self.maps.items[:2].astype(np.int64)}
        )
        return Package(RecommenderPyfunc(), sample, pip_requirements())

    def plots(self, candidate: Candidate, baselines: list[Baseline], out_dir: Path) -> list[Path]:
        """HR@n for n = 1..50 of every model on the test split (held-out item among its sampled negatives)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        curves = {"NeuMF": hit_curve(self.data, "test", pyfunc_scorers(candidate.model, self.maps)[0])}
        for name, (pairs, _) in self._scorers.items():
            curves[name] = hit_curve(self.data, "test", pairs)
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, hr in curves.items():
            ax.plot(np.arange(1, len(hr) + 1), hr, label=name)
        ax.axvline(self.k, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("n (of 1 held-out item + sampled negatives)")
        ax.set_ylabel("HR@n (test)")
        ax.set_title("Recommender: hit rate by list length")
        ax.legend()
        fig.tight_layout()
        path = out_dir / "hit_rate_curve.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return [path]


def hit_curve(data: RankingData, split: str, score_pairs: PairScorer, n_max: int = 50) -> np.ndarray:
    """HR@n for n = 1..``n_max`` on a sampled split: float64 ``[n_max]``."""
    users, items, labels = data.splits[split]
    ranked, targets = sampled_ranked_lists(users, items, labels, score_pairs(users, items))
    pos = np.array(
        [np.flatnonzero(r == t)[0] if np.any(r == t) else n_max for r, t in zip(ranked, targets, strict=True)]
    )
    return np.array([(pos < n).mean() for n in range(1, n_max + 1)])
