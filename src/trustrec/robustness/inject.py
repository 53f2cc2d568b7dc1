"""Appending fake users to a dataset without touching the genuine data.

Every profile attack ends here: the fake users get new external IDs that cannot collide
with real ones, their indices follow the genuine ones (so a genuine user's index means the
same in the clean and the attacked dataset), and the genuine interactions come first,
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.errors import DataError


@dataclass(frozen=True, eq=False)
class Attack:
    """An attacked dataset and its ground truth.

    ``dataset`` holds the genuine interactions first (unchanged) and then the fake ones;
    fake users have the indices ``n_genuine … n_genuine + n_fake − 1``. ``targets`` are item
    indices, ``intent`` is ``"push"`` or ``"nuke"``; ``info`` records how the profiles were
    made (e.g. which generative model sampled them).
    """

    dataset: Dataset
    n_genuine: int
    targets: np.ndarray
    kind: str
    intent: str = "push"
    seed: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_fake(self) -> int:
        """Number of injected users."""
        return self.dataset.n_users - self.n_genuine

    @property
    def fake_users(self) -> np.ndarray:
        """Indices of the injected users."""
        return np.arange(self.n_genuine, self.dataset.n_users, dtype=np.int32)

    @property
    def is_fake(self) -> np.ndarray:
        """Ground-truth label per user index of the attacked dataset (True: injected)."""
        labels = np.zeros(self.dataset.n_users, dtype=bool)
        labels[self.n_genuine:] = True
        return labels

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (no arrays of interactions)."""
        ids = self.dataset.item_index.to_external(self.targets)
        return {"kind": self.kind, "intent": self.intent, "seed": self.seed,
                "n_fake": self.n_fake, "n_genuine": self.n_genuine,
                "fake_interactions": int((self.dataset.user >= self.n_genuine).sum()),
                "targets": [v.item() if hasattr(v, "item") else v for v in ids], **self.info}


def fake_ids(index: IdIndex, n: int, prefix: str = "fake") -> np.ndarray:
    """``n`` external IDs of the index's kind that are not in ``index``."""
    if index.kind == "int":
        start = int(index.ids.max()) + 1 if len(index) else 0
        return np.arange(start, start + n, dtype=np.int64)
    ids = np.array([f"{prefix}{j:06d}" for j in range(n)])
    while len(index) and index.lookup_known(ids)[1].any():
        prefix = "_" + prefix
        ids = np.array([f"{prefix}{j:06d}" for j in range(n)])
    return ids


def inject(dataset: Dataset, user: np.ndarray, item: np.ndarray, value: np.ndarray,
           timestamp: np.ndarray | None, n_fake: int) -> Dataset:
    """A dataset with ``n_fake`` new users whose interactions are ``(user, item, value,
    timestamp)``, ``user`` counting from 0 for the first fake user."""
    user = np.asarray(user)
    if len(user) and (user.min() < 0 or user.max() >= n_fake):
        raise DataError(f"inject: fake user numbers must lie in [0, {n_fake})")
    if (timestamp is None) != (dataset.timestamp is None):
        raise DataError("inject: fake interactions need timestamps exactly when the dataset "
                        f"{dataset.name!r} has them")
    new_ids = fake_ids(dataset.user_index, n_fake)
    user_index = IdIndex(np.concatenate([dataset.user_index.ids, new_ids]),
                         dataset.user_index.kind)
    users = dataset.users
    if users is not None:
        users = pd.concat([users, pd.DataFrame({"user_id": new_ids})], ignore_index=True)
    ts = None if timestamp is None else np.concatenate([dataset.timestamp, timestamp])
    return Dataset(
        user=np.concatenate([dataset.user, user.astype(np.int64) + dataset.n_users]),
        item=np.concatenate([dataset.item, item]),
        value=np.concatenate([dataset.value, value]),
        timestamp=ts, user_index=user_index, item_index=dataset.item_index,
        items=dataset.items, users=users, explicit=dataset.explicit,
        rating_scale=dataset.rating_scale, name=f"{dataset.name}+attack",
        public_catalogue=dataset.public_catalogue,
    )


def in_space(dataset: Dataset, attacked: Dataset) -> Dataset:
    """``dataset`` (e.g. the genuine test set) re-expressed in the attacked dataset's
    indices: genuine indices are unchanged, so only the index objects differ."""
    if not np.array_equal(attacked.user_index.ids[:dataset.n_users], dataset.user_index.ids):
        raise DataError("in_space: the attacked dataset does not extend this dataset's users")
    return attacked.with_interactions(dataset.user, dataset.item, dataset.value,
                                      dataset.timestamp, name=dataset.name)
