"""The artifact of a differentially private model is a release: everything in it is covered.

:class:`PrivateRelease` is the mixin of the models whose saved artifact is meant to be
shared under a stated (ε, δ): its fit refuses a catalogue taken from the private data
(:func:`trustrec.models.dp_input.require_public_catalogue`), and ``save`` writes no
training user IDs, histories, user count, rating mean or data fingerprint (see
``Recommender.stores_training_users``). The manifest's ``extra.privacy`` says exactly what
is released, under which (ε, δ), and the neighbouring relation (:func:`statement`).

The fitted object in memory still holds the training matrix to mask each training user's
own items when serving them in the same process; the artifact does not. A loaded release
serves users through the history they bring (``score_history``, ``recommend_history``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

from trustrec.data.dataset import Dataset
from trustrec.models.dp_input import require_public_catalogue

#: The neighbouring relation of the user-level models.
USER_LEVEL = ("datasets that differ by adding or removing one user together with their "
              "entire history; the item catalogue is public and the same in both")
#: What a release never contains.
NOT_RELEASED = ("training user IDs and histories, the number of users, rating statistics "
                "and any fingerprint of the interactions")
#: Where the noise comes from.
NOISE_SOURCE = ("os.urandom (the kernel CSPRNG), never the seed; each Gaussian sample is the "
                "halved sum of four draws (floating-point attack defence)")


def statement(*, mechanism: str, epsilon: float, delta: float, unit: str, neighbouring: str,
              budget: str, released: dict[str, str], not_released: str = NOT_RELEASED,
              **details: Any) -> dict[str, Any]:
    """The ``extra.privacy`` manifest entry: what is released under which guarantee, with
    the artifact's parts (``released``: part → what it is) and what is not covered."""
    guarantee = (f"({epsilon:g}, {delta:g})-differential privacy" if math.isfinite(epsilon)
                 else "none: epsilon = inf (clipped, noiseless; not private)")
    return {"mechanism": mechanism, "epsilon": epsilon, "delta": delta, "unit": unit,
            "guarantee": guarantee, "neighbouring": neighbouring, "budget": budget,
            "released": released, "not_released": not_released, "noise_source": NOISE_SOURCE,
            **details}


class PrivateRelease:
    """Mixin placed before a ``Recommender`` class: DP fit input and release artifact."""

    name: ClassVar[str]
    stores_training_users: ClassVar[bool] = False

    def fit(self, dataset: Dataset) -> Self:
        """Refuse a private item catalogue, then fit as the model does."""
        require_public_catalogue(dataset, self.name)
        return super().fit(dataset)  # type: ignore[misc]

    @property
    def privacy_(self) -> dict[str, Any]:
        """What the artifact releases and under which guarantee (see :func:`statement`)."""
        self._check_fitted()  # type: ignore[attr-defined]
        return self._privacy()

    def _privacy(self) -> dict[str, Any]:
        raise NotImplementedError

    def _manifest_extra(self) -> dict[str, Any]:
        return {"privacy": self.privacy_}

    def _downdate(self, old: Any, users: Any, dataset: Dataset, exact: bool) -> None:
        """No down-date: forgetting users refits the release on the rest with fresh noise
        (a down-date of a noisy release would leak the forgotten users' contribution)."""
        return None

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        """Restore the noise scale ``sigma_`` the statement reports."""
        try:
            self.sigma_ = float(extra["privacy"]["sigma"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"manifest field extra.privacy.sigma missing ({exc})") from None
