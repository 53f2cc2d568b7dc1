"""Keyed pseudonyms for user and item IDs (HMAC-SHA256).

A pseudonym is the first 32 hex digits (128 bits) of ``HMAC-SHA256(k, kind ":" id)`` with a
sub-key ``k`` derived from the key file: stable under one key (the same person gets the
same pseudonym in every file pseudonymised with it), unlinkable without the key, and
different under another key. Users and items use different labels, so a user and an item
with the same ID get different pseudonyms. The mapping is computed once per distinct ID;
interactions keep their indices, so a pseudonymised ``Dataset`` trains the same models.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.privacy.keys import derive_key

#: Hex digits kept from the HMAC (128 bits: collisions are negligible below 10^15 IDs).
PSEUDONYM_HEX = 32


def pseudonyms(ids: Sequence[object] | np.ndarray, key: bytes, kind: str = "user") -> np.ndarray:
    """Pseudonyms (unicode array) of external ``ids`` under ``key``; ``kind``: user | item."""
    sub = derive_key(key, "pseudonym")
    values = np.asarray(ids)
    uniq, inverse = np.unique(values.astype(str), return_inverse=True)
    prefix = f"{kind}:".encode()
    mapped = np.array([hmac.new(sub, prefix + v.encode(), hashlib.sha256).hexdigest()
                       [:PSEUDONYM_HEX] for v in uniq.tolist()], dtype=f"<U{PSEUDONYM_HEX}")
    return mapped[inverse.reshape(values.shape)] if len(uniq) else np.empty(0, "<U1")


def _renamed(table: pd.DataFrame | None, col: str, ids: np.ndarray) -> pd.DataFrame | None:
    if table is None:
        return None
    return table.assign(**{col: ids})


def pseudonymize_dataset(dataset: Dataset, key: bytes, items: bool = False) -> Dataset:
    """``dataset`` with user IDs (and item IDs if ``items``) replaced by their pseudonyms.

    Indices, values, timestamps and side-table rows are unchanged (the side tables' ID
    columns are replaced too), so every model trains to the same result on it.
    """
    user_index = IdIndex(pseudonyms(dataset.user_index.ids, key, "user"), "str")
    item_index = dataset.item_index
    item_table = dataset.items
    if items:
        item_index = IdIndex(pseudonyms(dataset.item_index.ids, key, "item"), "str")
        item_table = _renamed(dataset.items, "item_id", item_index.ids)
    return Dataset(
        user=dataset.user, item=dataset.item, value=dataset.value,
        timestamp=dataset.timestamp, user_index=user_index, item_index=item_index,
        items=item_table, users=_renamed(dataset.users, "user_id", user_index.ids),
        explicit=dataset.explicit, rating_scale=dataset.rating_scale,
        name=f"{dataset.name}-pseudonymised", public_catalogue=dataset.public_catalogue,
    )
