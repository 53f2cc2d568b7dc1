"""The state one service instance owns: store, keys, limiter, metrics and the served model.

The model and what is derived from it (titles, bandit) form one immutable
:class:`Snapshot`; a reload builds the next snapshot completely, then swaps the reference
under a lock, so requests in flight finish on the old model and none is dropped. Each
process also follows its model directory: when the artifact's manifest or signature changes
(a retrain wrote over it and was signed, or another worker saved an unlearned model) it
reloads in the background. Every load after start-up needs the artifact's signature
(:mod:`trustrec.serve.signing`) and comes only from the start-up directory or under a
configured model root.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trustrec.errors import ArtifactError, TrustrecError
from trustrec.models.artifact import MANIFEST
from trustrec.models.base import Recommender
from trustrec.serve.bandit import BanditLayer
from trustrec.serve.metrics import ServiceMetrics
from trustrec.serve.online import OnlineRecommender
from trustrec.serve.security import KeyRing, RateLimiter
from trustrec.serve.settings import Settings
from trustrec.serve.signing import SIGNATURE, server_key, sign_artifact, verify_artifact
from trustrec.serve.store import EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """A served model with its generation, source directory, item titles and bandit."""

    model: Recommender
    generation: int
    source: Path
    titles: np.ndarray
    bandit: BanditLayer | None
    stamp: int | None


def manifest_stamp(source: Path) -> int | None:
    """Latest modification time (ns) of the artifact's manifest and signature, None when
    the manifest cannot be read."""
    try:
        stamp = (Path(source) / MANIFEST).stat().st_mtime_ns
    except OSError:
        return None
    try:
        return max(stamp, (Path(source) / SIGNATURE).stat().st_mtime_ns)
    except OSError:
        return stamp


def item_titles(model: Recommender, items: pd.DataFrame | None) -> np.ndarray:
    """Title per item index (object array, None where unknown): the item table's, else the
    model's own ``item_titles_`` (text models)."""
    titles = np.full(model.n_items_, None, dtype=object)
    own = getattr(model, "item_titles_", None)
    if own is not None and len(own) == model.n_items_:
        titles[:] = np.asarray(own, dtype=object)
    if items is not None and "title" in items.columns:
        idx, known = model.item_index_.lookup_known(items["item_id"].to_numpy())
        values = items["title"].to_numpy(dtype=object)
        ok = known & pd.notna(values)
        titles[idx[ok]] = values[ok]
    return titles


class Service:
    """Everything a request handler needs; one per app, no module-level state."""

    def __init__(self, settings: Settings) -> None:
        from trustrec.data import readers

        self.settings = settings
        self.items = readers.read_items(settings.items_path) if settings.items_path else None
        self.store = EventStore(settings.db_url)
        self.store.probe_write()  # a store that refuses writes is not ready from the start
        self.keys = KeyRing(self.store, ttl=settings.key_ttl)
        self.limiter = RateLimiter(settings.rate, settings.burst)
        self.metrics = ServiceMetrics()
        self.online = OnlineRecommender(self.store, settings.history_limit)
        self._lock, self._following = threading.Lock(), threading.Lock()
        #: held while a user is unlearned and the result saved (see ``DELETE /v1/users``)
        self.unlearning = threading.Lock()
        self._checked, self._failed_stamp = time.monotonic(), None
        self.signing_key = server_key(self.store)
        model = Recommender.load(settings.model_dir)  # trusted as the operator named it
        try:
            sign_artifact(settings.model_dir, self.signing_key)
        except OSError as exc:
            log.warning("cannot sign the served model (%s); reloads of it will be refused "
                        "until `trustrec keys sign-model` signs it", exc)
        stamp = manifest_stamp(settings.model_dir)
        self._snapshot = self._build(model, settings.model_dir, 0, stamp)
        self.metrics.model_generation.set(0)

    @property
    def snapshot(self) -> Snapshot:
        """The current model snapshot; take it once per request."""
        return self._snapshot

    def _build(self, model: Recommender, source: Path, generation: int,
               stamp: int | None) -> Snapshot:
        cfg = self.settings
        bandit = BanditLayer(model, cfg.bandit_candidates, cfg.bandit_alpha, cfg.bandit_epsilon,
                             seed=cfg.seed) if cfg.bandit else None
        return Snapshot(model=model, generation=generation, source=Path(source),
                        titles=item_titles(model, self.items), bandit=bandit, stamp=stamp)

    def swap(self, model: Recommender, source: Path, stamp: int | None = None) -> Snapshot:
        """Serve ``model`` from now on (derived state is built before the swap); ``stamp``:
        the manifest time it was loaded at (default: read now)."""
        stamp = manifest_stamp(source) if stamp is None else stamp
        with self._lock:
            snapshot = self._build(model, source, self._snapshot.generation + 1, stamp)
            self._snapshot = snapshot
        self.metrics.reloads.inc()
        self.metrics.model_generation.set(snapshot.generation)
        return snapshot

    def may_load(self, path: Path) -> bool:
        """Whether ``path`` is the start-up model directory or lies under a model root."""
        target = Path(path).resolve()
        return target == self.settings.model_dir.resolve() or any(
            target.is_relative_to(root.resolve()) for root in self.settings.model_roots)

    def load_signed(self, source: Path) -> Recommender:
        """The model at ``source`` if its manifest carries this service's signature and did
        not change while the arrays were read; ``ArtifactError`` otherwise."""
        manifest = verify_artifact(source, self.signing_key)
        model = Recommender.load(source)
        if verify_artifact(source, self.signing_key) != manifest:
            raise ArtifactError(f"{source}: the manifest changed while it was loaded")
        return model

    def save_signed(self, model: Recommender, source: Path) -> None:
        """Save ``model`` to ``source`` and sign it, so that every worker may load it."""
        model.save(source)
        sign_artifact(source, self.signing_key)

    def reload(self, path: Path | None = None) -> Snapshot:
        """Load the signed artifact at ``path`` (default: the current source) fully, then
        swap."""
        source = self._snapshot.source if path is None else Path(path)
        stamp = manifest_stamp(source)
        return self.swap(self.load_signed(source), source, stamp)

    def follow_source(self) -> None:
        """Start a background reload if the served manifest changed; checks once a second."""
        now = time.monotonic()
        if now - self._checked < 1.0 or self._following.locked():
            return
        self._checked = now
        stamp = manifest_stamp(self._snapshot.source)
        if stamp is None or stamp in (self._snapshot.stamp, self._failed_stamp):
            return
        threading.Thread(target=self._follow, args=(stamp,), daemon=True).start()

    def _follow(self, stamp: int) -> None:
        if not self._following.acquire(blocking=False):
            return
        try:
            self.reload()
        except TrustrecError as exc:
            self._failed_stamp = stamp
            log.warning("model directory changed but cannot be loaded; still serving "
                        "generation %d: %s", self._snapshot.generation, exc)
        finally:
            self._following.release()

    def close(self) -> None:
        """Release the database pool."""
        self.store.close()
