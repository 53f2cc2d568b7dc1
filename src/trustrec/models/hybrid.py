"""``hybrid``: collaborative item-item weights fused with item features, warm and cold.

Item features ``T`` (n_items × f, :mod:`trustrec.models.item_features`): language-model
vectors of the item text, multi-hot categorical attributes (genres), tags and a constant.
``X`` is the user × item training matrix (binarised when ``implicit``). Two closed-form
parts, both learned from ``X`` and ``T``:

* **collective EASE** (CEASE; Jeunen, Van Balen & Goethals 2020, "Closed-form models for
  collaborative filtering with side-information"): the item-item matrix ``B`` minimising
  ``‖X − XB‖² + feature_weight·‖Tᵀ − TᵀB‖² + Σ_j Λ_jj ‖B_j‖²`` with ``diag(B) = 0`` and
  EDLAE's penalty ``Λ = l2 + dropout/(1−dropout)·diag(XᵀX + feature_weight·TTᵀ)``, i.e.
  EASE on ``X`` stacked over the weighted feature rows: items with similar features share
  weight. ``P = (XᵀX + feature_weight·TTᵀ + Λ)⁻¹`` comes from the Woodbury identity when
  users + features are fewer than items, else from an item-space Cholesky inverse.
  Columns of items without training interactions are set to zero: fitting ``X``'s zero
  columns teaches B nothing useful about them (on held-out ml-latest-small items they
  rank at about half the content regression's NDCG).
* **content regression**: each user's interactions regressed on the features of the items
  that have training interactions, ``w_u = W T_wᵀ X_uᵀ`` with
  ``W = (T_wᵀT_w + content_l2·I)⁻¹``; its prediction ``tⱼ · w_u`` covers every item with
  features, including items nobody has interacted with.

Scores: ``s_uj = (1 − content_blend)·(X_u B)_j + content_blend·(X_u T W) tⱼ``. Both parts
estimate ``X_uj``; a cold item gets only the content share, so among warm items it must
earn its place through its features. The saved state holds ``B``, ``T`` and ``W``: a
loaded model scores cold items without re-encoding any text.

The text features are the encoder's own unit vectors (``item_vectors_``, centred for
search, ranked validation cold items worse). The defaults scored best on average over
validation splits carved from the training parts of ml-latest-small and ML-100K (warm:
per-user 80/20; cold: 20 % of the items held out). On the test parts
(``benchmarks/coldstart.py``) hybrid reaches NDCG@10 0.373 on held-out ml-latest-small
items (LightFM WARP with genres, title and tags: 0.273 as reported in issue #3, 0.125 as
tuned in that benchmark) and 0.382 / 0.463 on warm
ml-latest-small / ML-100K (EASE 0.368 / 0.452, ALS 0.349 / 0.453; LightFM WARP 0.282 /
0.433 in ``benchmarks/topn.py``): hence closed forms rather than a sampled ranking loss.
Everything is closed form, so fitting is deterministic.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from threadpoolctl import threadpool_limits

from trustrec.data.dataset import Dataset
from trustrec.errors import ModelError
from trustrec.models import item_features
from trustrec.models.base import SCORE_BLOCK
from trustrec.models.config import require
from trustrec.models.content import TextConfig, TextVectorModel
from trustrec.models.ease import gram, spd_inverse_inplace
from trustrec.models.itemitem import ItemItemConfig, ItemItemRecommender
from trustrec.models.registry import register

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HybridConfig(TextConfig, ItemItemConfig):
    """``l2``, ``dropout``: CEASE's ridge and emphasised-dropout penalties (as in ``ease``);
    ``feature_weight`` (≥ 0): weight of the feature reconstruction in B (0: plain EASE);
    ``content_l2`` (> 0): ridge penalty of the content regression; ``content_blend`` in
    [0, 1]: the content score's share (0: CEASE alone, which cannot rank cold items);
    ``text_weight``, ``attribute_weight``, ``tag_weight`` (≥ 0; 0 drops the block, the text
    is encoded all the same, for search): row norms of the text, attribute and tag feature
    blocks; ``attributes``: comma-separated item-table columns of ``|``-separated labels;
    ``threads``: BLAS threads during fit (0: the library's default); ``implicit``: binarise
    the interactions; ``encoder``, ``text_fields``, ``cache_dir``: the text encoding (see
    :class:`~trustrec.models.content.TextConfig`)."""

    l2: float = 300.0
    dropout: float = 0.2
    feature_weight: float = 10.0
    content_l2: float = 30.0
    content_blend: float = 0.5
    text_weight: float = 1.0
    attribute_weight: float = 0.5
    tag_weight: float = 0.3
    attributes: str = "genres"
    threads: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        super().check()
        for key in ("l2", "content_l2"):
            value = getattr(self, key)
            require(math.isfinite(value) and value > 0, "hybrid", key, "a finite number > 0",
                    value)
        for key in ("feature_weight", "text_weight", "attribute_weight", "tag_weight"):
            value = getattr(self, key)
            require(math.isfinite(value) and value >= 0, "hybrid", key, "a finite number ≥ 0",
                    value)
        require(0.0 <= self.dropout < 1.0, "hybrid", "dropout", "in [0, 1)", self.dropout)
        require(0.0 <= self.content_blend <= 1.0, "hybrid", "content_blend", "in [0, 1]",
                self.content_blend)
        require(self.threads >= 0, "hybrid", "threads", "≥ 0 (0: BLAS default)", self.threads)

    def feature_weights(self) -> item_features.FeatureWeights:
        """The feature-matrix recipe these parameters describe."""
        names = tuple(part.strip() for part in self.attributes.split(",") if part.strip())
        return item_features.FeatureWeights(text=self.text_weight, attribute=self.attribute_weight,
                                            tag=self.tag_weight, attributes=names)


@dataclass(frozen=True)
class CeaseParts:
    """What B is made of: ``inv_diag = 1/diag(P)`` (float32) and either the Woodbury factor
    ``z`` (m × n_items float32, ``−P = zᵀz`` off the diagonal) or ``neg_p`` (−P itself,
    n_items², when there are more stacked rows m than items)."""

    inv_diag: np.ndarray
    z: np.ndarray | None = None
    neg_p: np.ndarray | None = None

    def weights(self) -> np.ndarray:
        """B (n_items², float32, zero diagonal): the same float32 operations at fit and at
        load, so a model rebuilt from ``z`` scores bit for bit as the fitted one (with the
        same BLAS threads)."""
        b = self.z.T @ self.z if self.z is not None else self.neg_p
        b *= self.inv_diag
        np.fill_diagonal(b, 0.0)
        return b.astype(np.float32, copy=False)


def _stacked_inverse_parts(x: sp.csr_matrix, rows: np.ndarray, lam: np.ndarray) -> CeaseParts:
    """The parts of ``P = (XᵀX + RᵀR + Λ)⁻¹``, ``R`` dense rows.

    With fewer stacked rows ``m`` than items: Woodbury, ``P = Λ⁻¹ − ZᵀZ`` with ``U = [X; R]``,
    ``L Lᵀ = I + UΛ⁻¹Uᵀ`` (m², float64) and ``Z = L⁻¹UΛ⁻¹``. Otherwise the item-space
    Cholesky inverse of the float32 Gram matrix, redone in float64 if float32 fails.
    """
    n = x.shape[1]
    if x.shape[0] + rows.shape[0] < n:
        u = np.vstack([x.toarray().astype(np.float64), rows])
        y = u / lam
        k = y @ u.T
        del u
        k[np.diag_indices_from(k)] += 1.0
        chol = linalg.cholesky(k, lower=True, overwrite_a=True, check_finite=False)
        z = linalg.solve_triangular(chol, y, lower=True, overwrite_b=True, check_finite=False)
        p_diag = 1.0 / lam - np.einsum("ij,ij->j", z, z)
        return CeaseParts((1.0 / p_diag).astype(np.float32), z=z.astype(np.float32))
    for dtype in (np.float32, np.float64):
        g = gram(x, dtype)
        r = rows.astype(dtype)
        step = max(1, SCORE_BLOCK // max(1, n))
        for start in range(0, n, step):
            g[start:start + step] += r[:, start:start + step].T @ r
        np.einsum("ii->i", g)[:] += lam
        if spd_inverse_inplace(g):
            p_diag = np.diagonal(g).astype(np.float64)
            np.negative(g, out=g)
            return CeaseParts((1.0 / p_diag).astype(g.dtype), neg_p=g)
        log.warning("hybrid: %s Cholesky failed", np.dtype(dtype).name)
    raise ModelError(f"hybrid: XᵀX + feature_weight·TTᵀ + Λ is not positive definite; "
                     f"increase l2 (smallest penalty {lam.min()})")


def cease_parts(x: sp.csr_matrix, features: np.ndarray, feature_weight: float, l2: float,
                dropout: float = 0.0) -> CeaseParts:
    """Collective EASE on ``x`` stacked over ``sqrt(feature_weight)·featuresᵀ`` (features:
    n_items × f): the parts its zero-diagonal item-item matrix B is made of."""
    rows = math.sqrt(feature_weight) * features.T.astype(np.float64)
    col_sq = (np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel()
              + np.einsum("ij,ij->j", rows, rows))
    lam = l2 + dropout / (1.0 - dropout) * col_sq
    return _stacked_inverse_parts(x, rows if feature_weight > 0 else rows[:0], lam)


def cease_weights(x: sp.csr_matrix, features: np.ndarray, feature_weight: float, l2: float,
                  dropout: float = 0.0) -> np.ndarray:
    """Collective EASE's B (n_items², float32, zero diagonal); see :func:`cease_parts`."""
    return cease_parts(x, features, feature_weight, l2, dropout).weights()


def content_weights(x: sp.csr_matrix, features: np.ndarray, l2: float) -> np.ndarray:
    """``(T_wᵀT_w + l2·I)⁻¹`` (f × f) over the items with interactions in ``x``: with it,
    ``(X_u T) W tⱼ`` is user u's ridge regression of its interactions on item features."""
    warm = features[np.diff(x.tocsc().indptr) > 0].astype(np.float64)
    a = warm.T @ warm
    a[np.diag_indices_from(a)] += l2
    return linalg.inv(a, overwrite_a=True, check_finite=False)


@register
class Hybrid(TextVectorModel, ItemItemRecommender):
    """CEASE item-item weights blended with a feature regression; scores cold items too.

    Text vectors come from the encoder ``config.encoder`` (or one handed over with
    :meth:`use_encoder`) and are kept as ``item_vectors_``, so search works on it too.
    """

    name = "hybrid"
    config_class = HybridConfig

    def _fit(self, dataset: Dataset) -> None:
        # the encoder's own unit vectors: on validation cold items they beat the centred
        # ``item_vectors_`` (kept for search) as features
        vectors = self._encode_items(dataset)  # refuses a dataset without item table
        self.features_ = item_features.item_feature_matrix(
            dataset.items, vectors, self.config.feature_weights(), model=self.name)
        super()._fit(dataset)  # ItemItemRecommender's: input_, and B through _fit_weights

    def _fit_weights(self, x: sp.csr_matrix) -> np.ndarray:
        cfg = self.config
        with threadpool_limits(limits=cfg.threads or None, user_api="blas"):
            parts = cease_parts(x, self.features_, cfg.feature_weight, cfg.l2, cfg.dropout)
            self.content_weights_ = content_weights(x, self.features_, cfg.content_l2
                                                    ).astype(np.float32)
            # the Woodbury factor is saved instead of B when it is smaller (m < n_items):
            # B is rebuilt from it on load, exactly (ml-latest-small: 9× smaller)
            self.factor_ = parts if parts.z is not None else None
            b = parts.weights()
        self.warm_ = np.diff(x.tocsc().indptr) > 0
        b[:, ~self.warm_] = 0.0  # no collaborative evidence for cold items
        self._prepare()
        return b

    def _prepare(self) -> None:
        """Item side of the content score: ``T W`` (n_items × f, float32)."""
        self.content_items_ = (self.features_.astype(np.float64)
                               @ self.content_weights_.astype(np.float64)).astype(np.float32)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        share = np.float32(self.config.content_blend)
        scores = np.asarray(rows @ self.weights_)
        scores *= 1.0 - share
        scores += share * (np.asarray(rows @ self.features_) @ self.content_items_.T)
        return scores

    def _weights_state(self) -> dict[str, np.ndarray]:
        weights = {"B": self.weights_} if self.factor_ is None else {
            "Z": self.factor_.z, "inv_diag": self.factor_.inv_diag,
            "warm": self.warm_.astype(np.uint8)}
        return {**self._text_state(), **weights, "features": self.features_,
                "content_weights": self.content_weights_}

    def _load_weights(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        n = self.n_items_
        features = arrays["features"]
        f = features.shape[1] if features.ndim == 2 else -1
        m = arrays["Z"].shape[0] if "Z" in arrays and arrays["Z"].ndim == 2 else -1
        expected = {"features": ((n, f), np.float32), "content_weights": ((f, f), np.float32)}
        expected.update({"B": ((n, n), np.float32)} if "B" in arrays or "Z" not in arrays else
                        {"Z": ((m, n), np.float32), "inv_diag": ((n,), np.float32),
                         "warm": ((n,), np.uint8)})
        for key, (shape, dtype) in expected.items():
            arr = arrays.get(key)
            if arr is None or arr.shape != shape or arr.dtype != dtype:
                found = "missing" if arr is None else f"shape {arr.shape} and dtype {arr.dtype}"
                raise ValueError(f"{key}: {found}, expected {shape} {np.dtype(dtype).name}")
        self.factor_, self.warm_ = None, None
        if "Z" in arrays:
            self.factor_ = CeaseParts(arrays["inv_diag"], z=arrays["Z"])
            self.warm_ = arrays["warm"].astype(bool)
            with threadpool_limits(limits=self.config.threads or None, user_api="blas"):
                b = self.factor_.weights()
            b[:, ~self.warm_] = 0.0
        else:
            b = arrays["B"]
        self.features_ = features
        self.content_weights_ = arrays["content_weights"]
        self._load_text_state(arrays)
        self._prepare()
        return b
