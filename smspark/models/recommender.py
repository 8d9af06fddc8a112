"""NeuMF, the neural recommender of He, Liao, Zhang, Nie, Hu and Chua (2017), "Neural Collaborative Filtering"
(WWW 2017, section 3), in tf_keras; its MLflow pyfunc; the ALS and popularity baselines' scores.

Three models over user/item index pairs, each ending in one sigmoid unit ``prediction``, ``P(user interacts with
item)``, trained with binary cross-entropy on observed pairs and sampled unseen ones:

* GMF (section 3.2): the element-wise product of a ``gmf_dim`` user and item embedding;
* MLP (section 3.3): concatenated ``mlp_embed_dim`` user and item embeddings through ReLU layers ``mlp_layers``;
* NeuMF (section 3.4): both towers on separate embeddings, their last vectors concatenated into ``prediction``.

Pre-training (section 3.4.1): GMF and MLP are trained alone, then NeuMF starts from both models' weights
(:func:`neumf_initial_weights`): embeddings and hidden layers copied, and the output layer's weights the
concatenation ``[alpha * h_GMF, (1 - alpha) * h_MLP]`` with bias ``alpha * b_GMF + (1 - alpha) * b_MLP``
(alpha = 0.5 in the paper). The paper then trains NeuMF with plain SGD, since Adam's moment estimates are not
carried over. Embeddings start from N(0, 0.01) as in the paper. Layer names are shared by the three models, so
weights move between them by name.

Inputs: ``user_idx`` int32 ``[B]`` (0..U-1) and ``item_idx`` int32 ``[B]`` (1..I; 0 is padding and never
scored). Output: float32 ``[B, 1]`` in (0, 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.config import RecommenderConfig
from smspark.models.packaging import KerasPyfunc

#: Layer names the pyfunc and the user segments read (user embedding tables).
GMF_USER, MLP_USER = "gmf_user_embedding", "mlp_user_embedding"
GMF_ITEM, MLP_ITEM = "gmf_item_embedding", "mlp_item_embedding"
#: The output unit of GMF, MLP and NeuMF.
PREDICTION = "prediction"

Tower = Literal["gmf", "mlp", "neumf"]


def build_tower_model(cfg: RecommenderConfig, n_users: int, n_items: int, kind: Tower = "neumf"):  # -> tf_keras.Model
    """The uncompiled GMF, MLP or NeuMF model for ``n_users`` users and ``n_items`` items (item rows ``n_items + 1``).

    Raises:
        ValueError: an unknown ``kind``.
    """
    import tf_keras
    from tf_keras import layers

    if kind not in ("gmf", "mlp", "neumf"):
        raise ValueError(f"kind must be gmf, mlp or neumf, got {kind!r}")
    reg = tf_keras.regularizers.l2(cfg.l2) if cfg.l2 > 0 else None
    user = tf_keras.Input(shape=(), dtype="int32", name="user_idx")
    item = tf_keras.Input(shape=(), dtype="int32", name="item_idx")

    def emb(rows: int, dim: int, name: str):
        init = tf_keras.initializers.RandomNormal(stddev=0.01)  # one instance per table: distinct draws
        return layers.Embedding(rows, dim, embeddings_initializer=init, embeddings_regularizer=reg, name=name)

    towers = []
    if kind in ("gmf", "neumf"):
        towers.append(
            layers.Multiply(name="gmf")(
                [emb(n_users, cfg.gmf_dim, GMF_USER)(user), emb(n_items + 1, cfg.gmf_dim, GMF_ITEM)(item)]
            )
        )
    if kind in ("mlp", "neumf"):
        mlp = layers.Concatenate(name="mlp_input")(
            [emb(n_users, cfg.mlp_embed_dim, MLP_USER)(user), emb(n_items + 1, cfg.mlp_embed_dim, MLP_ITEM)(item)]
        )
        for i, units in enumerate(cfg.mlp_layers):
            mlp = layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"mlp_{i}")(mlp)
        towers.append(mlp)
    fused = layers.Concatenate(name="neumf")(towers) if len(towers) > 1 else towers[0]
    out = layers.Dense(1, activation="sigmoid", kernel_initializer="lecun_uniform", name=PREDICTION)(fused)
    return tf_keras.Model(inputs={"user_idx": user, "item_idx": item}, outputs=out, name=kind)


def build_model(
    cfg: RecommenderConfig,
    n_users: int,
    n_items: int,
    initial_weights: Mapping[str, list[np.ndarray]] | None = None,
):  # -> tf_keras.Model
    """The uncompiled NeuMF model; with ``initial_weights`` (layer name -> weights, e.g. from
    :func:`neumf_initial_weights`) those layers start from the given values (set after building, so the saved
    model's config does not carry them).

    Raises:
        ValueError: a named layer that NeuMF does not have, or weights of the wrong shape (from Keras).
    """
    model = build_tower_model(cfg, n_users, n_items, "neumf")
    for name, weights in (initial_weights or {}).items():
        try:
            layer = model.get_layer(name)
        except ValueError as exc:
            raise ValueError(f"NeuMF has no layer {name!r} to initialise") from exc
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def neumf_initial_weights(gmf: Any, mlp: Any, alpha: float = 0.5) -> dict[str, list[np.ndarray]]:
    """NeuMF's starting weights from a trained GMF and a trained MLP model (He et al. 2017, section 3.4.1).

    Args:
        gmf: a GMF model of :func:`build_tower_model` (``kind="gmf"``), trained.
        mlp: an MLP model of :func:`build_tower_model` (``kind="mlp"``), trained, same users/items.
        alpha: the trade-off between the two towers in the output layer, in [0, 1].

    Returns:
        Layer name -> weight list for NeuMF: both towers' embeddings and the MLP's hidden layers as trained, and
        ``prediction`` = ``[concat(alpha * W_gmf, (1 - alpha) * W_mlp) [gmf_dim + last_layer, 1],
        alpha * b_gmf + (1 - alpha) * b_mlp [1]]``, float32.

    Raises:
        ValueError: ``alpha`` outside [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out: dict[str, list[np.ndarray]] = {}
    for name in (GMF_USER, GMF_ITEM):
        out[name] = [w.astype(np.float32) for w in gmf.get_layer(name).get_weights()]
    mlp_names = [layer.name for layer in mlp.layers if layer.name.startswith("mlp_") and layer.weights]
    for name in mlp_names:
        out[name] = [w.astype(np.float32) for w in mlp.get_layer(name).get_weights()]
    w_g, b_g = gmf.get_layer(PREDICTION).get_weights()
    w_m, b_m = mlp.get_layer(PREDICTION).get_weights()
    out[PREDICTION] = [
        np.concatenate([alpha * w_g, (1.0 - alpha) * w_m], axis=0).astype(np.float32),
        (alpha * b_g + (1.0 - alpha) * b_m).astype(np.float32),
    ]
    return out


def predict_pairs(model: Any, user_idx: np.ndarray, item_idx: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """NeuMF scores of aligned ``user_idx``/``item_idx`` arrays (``[n]`` each) -> float32 ``[n]``."""
    if not len(user_idx):
        return np.zeros(0, dtype=np.float32)
    x = {"user_idx": np.asarray(user_idx, dtype=np.int32), "item_idx": np.asarray(item_idx, dtype=np.int32)}
    return model.predict(x, batch_size=batch_size, verbose=0).reshape(-1).astype(np.float32)


def score_all_items(model: Any, user_idx: np.ndarray, n_items: int, batch_size: int = 65536) -> np.ndarray:
    """Scores of every item for each user: float32 ``[len(user_idx), n_items]``, column ``j`` is item_idx ``j + 1``."""
    users = np.repeat(np.asarray(user_idx, dtype=np.int32), n_items)
    items = np.tile(np.arange(1, n_items + 1, dtype=np.int32), len(user_idx))
    return predict_pairs(model, users, items, batch_size).reshape(len(user_idx), n_items)


def user_embeddings(model: Any) -> np.ndarray:
    """Every user's GMF and MLP embeddings side by side: float32 ``[U, gmf_dim + mlp_embed_dim]``."""
    gmf = model.get_layer(GMF_USER).get_weights()[0]
    mlp = model.get_layer(MLP_USER).get_weights()[0]
    return np.concatenate([gmf, mlp], axis=1).astype(np.float32)


def top_unseen(scores: np.ndarray, seen: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` columns of each row of ``scores`` (``[B, I]``, column ``j`` = item_idx ``j + 1``) skipping the
    item_idx in ``seen[b]``. Ties go to the smaller item_idx.

    Returns:
        ``(item_idx int32 [B, k'], scores float32 [B, k'])`` with ``k' = min(k, fewest unseen items of a row)``;
        rows sorted by descending score.
    """
    s = scores.astype(np.float64, copy=True)
    for b, items in enumerate(seen):
        items = np.asarray(items, dtype=np.int64)
        items = items[(items >= 1) & (items <= s.shape[1])]
        s[b, items - 1] = -np.inf
    unseen_min = int(np.isfinite(s).sum(axis=1).min()) if len(s) else k
    k = min(k, unseen_min)
    part = (
        np.argpartition(-s, kth=k - 1, axis=1)[:, :k] if k < s.shape[1] else np.tile(np.arange(s.shape[1]), (len(s), 1))
    )
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    cols = np.take_along_axis(part, order, axis=1)
    return (cols + 1).astype(np.int32), np.take_along_axis(scores, cols, axis=1).astype(np.float32)


class RecommenderPyfunc(KerasPyfunc):
    """NeuMF with its id maps. ``predict``: a DataFrame with ``user_id`` (pseudonymised) and ``item_id`` -> column
    ``score`` (float32; NaN where the user or item is unknown to the model).

    Artifacts: ``keras_model`` (HDF5), ``meta`` (JSON: config, sizes) and ``id_maps``
    (:class:`smspark.features.interactions.IdMaps` ``.npz``).
    """

    maps: Any = None

    def load_context(self, context: Any) -> None:
        from smspark.features.interactions import IdMaps

        super().load_context(context)
        self.maps = IdMaps.load(context.artifacts["id_maps"])

    def _lookups(self) -> tuple[pd.Series, pd.Series]:
        cached = getattr(self, "_lk", None)
        if cached is None:
            users = pd.Series(np.arange(self.maps.n_users, dtype=np.int64), index=self.maps.users.astype(object))
            cached = self._lk = (users, self.maps.item_lookup())
        return cached

    def user_index(self, user_ids: pd.Series) -> np.ndarray:
        """``user_id`` -> user_idx (int64, -1 when unknown)."""
        users, _ = self._lookups()
        return pd.Series(user_ids, dtype=object).map(users).fillna(-1).to_numpy(dtype=np.int64)

    def item_index(self, item_ids: pd.Series | np.ndarray) -> np.ndarray:
        """``item_id`` -> item_idx (int64, 0 when unknown)."""
        _, items = self._lookups()
        return pd.Series(np.asarray(item_ids, dtype=np.int64)).map(items).fillna(0).to_numpy(dtype=np.int64)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        u = self.user_index(model_input["user_id"])
        i = self.item_index(model_input["item_id"])
        ok = (u >= 0) & (i > 0)
        out = np.full(len(model_input), np.nan, dtype=np.float32)
        out[ok] = predict_pairs(self.keras_model, u[ok], i[ok])
        return pd.DataFrame({"score": out})

    def recommend(
        self, user_ids: pd.Series, seen_item_ids: list[Any], k: int, batch_size: int = 65536
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-``k`` unseen items for each known user, scoring every item with NeuMF.

        Args:
            user_ids: pseudonymised user ids ``[B]``.
            seen_item_ids: per user, the item ids already interacted with (masked out).
            k: items per user.

        Returns:
            ``(known bool [B], item_ids int32 [B_known, k'], scores float32 [B_known, k'])`` with the unknown users
            left out and ``k' <= k`` only when a user has fewer than ``k`` unseen items.
        """
        u = self.user_index(user_ids)
        known = u >= 0
        if not known.any():
            return known, np.zeros((0, k), dtype=np.int32), np.zeros((0, k), dtype=np.float32)
        scores = score_all_items(self.keras_model, u[known], self.maps.n_items, batch_size)
        seen = [self.item_index(np.asarray(s)) for s, ok in zip(seen_item_ids, known, strict=True) if ok]
        idx, top = top_unseen(scores, seen, k)
        return known, self.maps.items[idx - 1].astype(np.int32), top

    def user_embeddings(self) -> np.ndarray:
        """float32 ``[U, gmf_dim + mlp_embed_dim]``, row = user_idx (see :func:`user_embeddings`)."""
        return user_embeddings(self.keras_model)


def als_scores(
    user_factors: np.ndarray, item_factors: np.ndarray, user_idx: np.ndarray, item_idx: np.ndarray
) -> np.ndarray:
    """ALS preference ``<x_u, y_i>`` for aligned index arrays (float32 ``[n]``); factor rows are indexed by idx."""
    return np.einsum("ij,ij->i", user_factors[user_idx], item_factors[item_idx]).astype(np.float32)


def factor_matrix(rows: list[tuple[int, list[float]]], size: int, rank: int) -> np.ndarray:
    """ALS ``userFactors``/``itemFactors`` rows ``(id, features)`` -> float32 ``[size, rank]`` (zeros where absent:
    an item never seen in training scores 0)."""
    m = np.zeros((size, rank), dtype=np.float32)
    for i, f in rows:
        m[int(i)] = f
    return m
