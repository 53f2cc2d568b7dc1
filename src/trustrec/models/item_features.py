"""Item feature matrices for hybrid models: text vectors, one-hot attributes and tags.

One row per item of a :class:`~trustrec.data.Dataset`'s item index, built from its
``items`` side table. Blocks, each scaled to a chosen row norm so that their weights say
how much they count:

* text: language-model vectors of the item text (unit rows, e.g. from
  :class:`trustrec.text.TextEncoder`), times ``text_weight``;
* attributes: multi-hot categorical labels (``|``-separated values, e.g. MovieLens genres),
  each item's row scaled to length ``attribute_weight``;
* tags: the ``tags`` column's comma-separated free-form tags, case-insensitive, scaled to
  ``tag_weight``;
* a constant 1 (an intercept for linear models on top).

Labels carried by fewer than :data:`MIN_LABEL_ITEMS` items are dropped: a label seen on
one item cannot transfer anything to another. Items without any label get an indicator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trustrec.errors import ModelError

log = logging.getLogger(__name__)

#: A label must occur on at least this many items to become a feature.
MIN_LABEL_ITEMS = 2
#: Name of the indicator column of items without any label.
NO_LABEL = "(none)"


@dataclass(frozen=True)
class FeatureWeights:
    """Row norm of each block (0 leaves the block out); ``attributes``: the item-table
    columns of categorical labels."""

    text: float = 1.0
    attribute: float = 0.5
    tag: float = 0.3
    attributes: tuple[str, ...] = ("genres",)


def label_matrix(values: pd.Series, sep: str, min_items: int = MIN_LABEL_ITEMS,
                 lowercase: bool = False) -> tuple[np.ndarray, list[str]]:
    """Multi-hot matrix (len(values) × labels, float64) of the ``sep``-separated labels,
    each row scaled to unit length, and the label names.

    Labels are stripped (and lowercased when ``lowercase``); repeated labels of one item
    count once; labels on fewer than ``min_items`` items are dropped (a row with only such
    labels stays zero). A last column, :data:`NO_LABEL`, marks the rows without any label:
    that an item has no tags at all says something too (on ml-latest-small, that it is
    rarely watched).
    """
    text = values.fillna("").astype(str).reset_index(drop=True)
    if lowercase:
        text = text.str.lower()
    exploded = text.str.split(sep, regex=False).explode().str.strip()
    exploded = exploded[exploded != ""]
    codes, names = pd.factorize(exploded.to_numpy())
    pairs = np.unique(np.column_stack([exploded.index.to_numpy(), codes]), axis=0)
    keep = np.flatnonzero(np.bincount(pairs[:, 1], minlength=len(names)) >= min_items)
    column = np.full(len(names), -1)
    column[keep] = np.arange(len(keep))
    labelled = np.bincount(pairs[:, 0], minlength=len(values)) > 0
    pairs = pairs[column[pairs[:, 1]] >= 0]
    out = np.zeros((len(values), len(keep) + 1))
    out[pairs[:, 0], column[pairs[:, 1]]] = 1.0
    out[:, -1] = ~labelled
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out, [*(str(names[k]) for k in keep), NO_LABEL]


def item_feature_matrix(items: pd.DataFrame, text_vectors: np.ndarray,
                        weights: FeatureWeights, model: str = "hybrid") -> np.ndarray:
    """The feature matrix (len(items) × f, float32): weighted ``text_vectors`` (one row per
    item), attribute and tag blocks from the item table ``items``, and a constant column.

    Raises :class:`ModelError` (naming ``model``) when a listed attribute column is missing.
    """
    blocks: list[np.ndarray] = []
    if weights.text > 0:
        blocks.append(weights.text * np.asarray(text_vectors, dtype=np.float64))
    if weights.attribute > 0:
        missing = [c for c in weights.attributes if c not in items.columns]
        if missing:
            raise ModelError(f"model '{model}': attribute column(s) {missing} not in the item "
                             f"table (columns: {', '.join(map(str, items.columns))})")
        for column in weights.attributes:
            labels, _ = label_matrix(items[column], "|")
            blocks.append(weights.attribute * labels)
    if weights.tag > 0 and "tags" in items.columns:
        tags, _ = label_matrix(items["tags"], ",", lowercase=True)
        blocks.append(weights.tag * tags)
    blocks.append(np.ones((len(items), 1)))
    features = np.hstack(blocks).astype(np.float32)
    log.info("%s: item features %d × %d", model, *features.shape)
    return features
