"""Unlearning: remove users from a trained model as if they had never been in its data.

:func:`forget_users` rebuilds the training data from the model's own state (every model
keeps the binary ``seen_`` matrix; models whose fit reads values keep them where they can,
:meth:`~trustrec.models.base.Recommender.training_values`), drops the users' interactions
*and* their IDs from the user index, and asks the model for the fit without them
(:meth:`~trustrec.models.base.Recommender.unlearned`): the models that can down-date their
fitted state exactly (EASE by a low-rank Woodbury down-date, item kNN by recomputing the
similarity rows the users touched) do so where it is cheaper than a refit; every other case
is a refit on the remaining data, i.e. retraining from scratch without them, exactly. With
``verify=True`` the result is compared with a retrain from scratch and the largest score
difference is reported.

Models whose fit reads more than they store (ratings for ``mf``, timestamps for sequential
models) need the original ``dataset`` passed in; it is checked against the model's
fingerprint. A differentially private model is refitted with fresh noise: the result is a
new release of the remaining data, distributed as a retrain (not equal to one), and a
loaded DP artifact holds no users to forget."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.errors import DataError, ModelError
from trustrec.models.base import Recommender


@dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget_users` removed, how, in how long, and the retrain check if run."""

    users_removed: int
    interactions_removed: int
    method: str
    seconds: float
    verified: bool | None = None
    max_abs_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"users_removed": self.users_removed,
                "interactions_removed": self.interactions_removed, "method": self.method,
                "seconds": self.seconds, "verified": self.verified,
                "max_abs_diff": self.max_abs_diff}


def stored_training_data(model: Recommender) -> Dataset:
    """The training interactions as far as ``model`` stores them (``ModelError`` if its fit
    needs more than it keeps)."""
    seen, values = model.seen_, model.training_values()
    if values is None:
        raise ModelError(f"model '{model.name}' ({model.config}) does not keep all the data "
                         "its fit reads; pass the training dataset "
                         "(forget_users(..., dataset=...), or --interactions)")
    users = np.repeat(np.arange(seen.shape[0], dtype=np.int32), np.diff(seen.indptr))
    return Dataset(user=users, item=seen.indices, value=values, user_index=model.user_index_,
                   item_index=model.item_index_, explicit=not np.all(values == 1),
                   # a model storing no training users is a DP release, fitted on a
                   # public catalogue
                   name="stored", public_catalogue=not model.stores_training_users)


def without_users(dataset: Dataset, users: np.ndarray) -> Dataset:
    """``dataset`` without the given user indices: their interactions and their index entries
    are gone; remaining users keep their order (side tables follow)."""
    keep = np.ones(dataset.n_users, dtype=bool)
    keep[users] = False
    new_code = np.cumsum(keep, dtype=np.int64) - 1
    rows = keep[dataset.user]
    return Dataset(
        user=new_code[dataset.user[rows]].astype(np.int32), item=dataset.item[rows],
        value=dataset.value[rows],
        timestamp=None if dataset.timestamp is None else dataset.timestamp[rows],
        user_index=IdIndex(dataset.user_index.ids[keep], dataset.user_index.kind),
        item_index=dataset.item_index, items=dataset.items,
        users=None if dataset.users is None else dataset.users[keep].reset_index(drop=True),
        explicit=dataset.explicit, rating_scale=dataset.rating_scale, name=dataset.name,
        public_catalogue=dataset.public_catalogue)


def _refit(model: Recommender, data: Dataset) -> Recommender:
    """A new model of ``model``'s class and configuration fitted on ``data``."""
    return type(model)(model.config).fit(data)


def forget_users(model: Recommender, user_ids: Sequence[object], *,
                 dataset: Dataset | None = None,
                 verify: bool = False,
                 exact: bool = True) -> tuple[Recommender, ForgetReport]:
    """A copy of ``model`` that never saw ``user_ids`` (external IDs), and a report.

    The users' interactions and IDs are removed and the model becomes what retraining
    without them gives — by the model's own down-date of its fitted state where it has
    one that is cheaper than a refit (:meth:`~trustrec.models.base.Recommender.unlearned`),
    by a refit otherwise. ``dataset``: the training data, needed only for models that do
    not store all they read (checked against the model's fingerprint). ``exact=False``
    admits a faster down-date that only approximates the retrain (ALS; the report's
    ``method`` says so). ``verify``: also retrain from scratch and compare all scores.
    Unknown IDs raise :class:`~trustrec.errors.UnknownIdError`; ``model`` is not modified.
    """
    model._check_fitted()
    start = time.perf_counter()
    users = np.unique(model.user_index_.lookup(np.asarray(user_ids), what="user"))
    if dataset is None:
        data = stored_training_data(model)
    elif dataset.fingerprint() != model.fingerprint_:
        raise DataError(f"forget_users: dataset '{dataset.name}' is not the data model "
                        f"'{model.name}' was trained on (fingerprints differ)")
    else:
        data = dataset
    remaining = without_users(data, users)
    removed = len(data) - len(remaining)
    downdated = model.unlearned(users, remaining, exact=exact)
    new, method = downdated if downdated is not None else (_refit(model, remaining), "refit")
    seconds = time.perf_counter() - start
    verified = diff = None
    if verify:
        reference = _refit(model, remaining)
        all_users = np.arange(new.n_users_)
        diff = float(np.abs(new.score(all_users) - reference.score(all_users)).max()) \
            if new.n_users_ else 0.0
        scale = float(np.abs(reference.score(all_users)).max()) if new.n_users_ else 1.0
        verified = diff <= 1e-3 * max(1.0, scale)
    return new, ForgetReport(users_removed=len(users), interactions_removed=removed,
                             method=method, seconds=seconds, verified=verified,
                             max_abs_diff=diff)
