"""The state one service instance owns: store, keys, limiter, metrics and the served model.

The model and what is derived from it (titles, bandit) form one immutable
:class:`Snapshot`; a reload builds the next snapshot completely, then swaps the reference
under a lock, so requests in flight finish on the old model and none is dropped. Every
worker process serves the generation committed in its model directory: each request checks
the manifest and its signature (one ``stat`` each) and, when a new generation was committed
and signed (another worker's unlearning, or a retrain signed with ``trustrec keys
sign-model``), loads it before answering (one loader; the others wait for it). Every load
after start-up needs the artifact's signature (:mod:`trustrec.serve.signing`) and comes
only from the start-up directory or under a configured model root.

An erasure (``DELETE /v1/users/…``) is recorded in the store together with the deletion of
the user's events; unlearning then starts from the committed model under a lock shared by
all workers, saves atomically (signed inside the save), and only then marks the erasure
done. A process killed in between leaves the erasure pending: the next start finishes it,
and until then no worker scores the user from the model (the store's record is checked on
every request).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trustrec.errors import ArtifactError, TrustrecError
from trustrec.models import artifact
from trustrec.models.base import Recommender
from trustrec.serve.bandit import BanditLayer
from trustrec.serve.metrics import ServiceMetrics
from trustrec.serve.online import OnlineRecommender, UserScores
from trustrec.serve.security import KeyRing, RateLimiter
from trustrec.serve.settings import Settings
from trustrec.serve.signing import SIGNATURE, server_key, sign_artifact, signature, verify_artifact
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
    stamp: Stamp | None


#: identity of the committed manifest and of its signature (inodes, mtimes)
Stamp = tuple[int, ...]


def manifest_stamp(source: Path) -> Stamp | None:
    """Identity of the artifact's committed manifest and of its signature (a new one or a
    new signature changes it), None when there is no manifest; two ``stat`` calls."""
    stamp = artifact.manifest_stamp(source)
    if stamp is None:
        return None
    try:  # string paths: this runs on every request of the service
        st = os.stat(os.path.join(os.fspath(source), SIGNATURE))
    except OSError:
        return stamp
    return (*stamp, st.st_ino, st.st_mtime_ns)


#: lock file in the model directory that serialises unlearning across worker processes
ERASURE_LOCK = ".erasure.lock"


@contextlib.contextmanager
def erasure_lock(model_dir: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``model_dir``'s erasure lock file (freed if the process dies)."""
    fd = os.open(Path(model_dir) / ERASURE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
        self._lock, self._loading = threading.Lock(), threading.Lock()
        self._failed_stamp: Stamp | None = None
        self.signing_key = server_key(self.store)
        model = Recommender.load(settings.model_dir)  # trusted as the operator named it
        try:
            verify_artifact(settings.model_dir, self.signing_key)
        except ArtifactError:  # not signed yet (or signed by another database): sign it
            try:
                sign_artifact(settings.model_dir, self.signing_key)
            except OSError as exc:
                log.warning("cannot sign the served model (%s); reloads of it will be "
                            "refused until `trustrec keys sign-model` signs it", exc)
        stamp = manifest_stamp(settings.model_dir)
        self._snapshot = self._build(model, settings.model_dir, 0, stamp)
        self.metrics.model_generation.set(0)
        pending = self.store.pending_erasures()
        if pending:  # a process died during an erasure: finish it before serving
            log.warning("finishing %d pending erasure(s) from before the last stop",
                        len(pending))
            self.finish_erasures(pending)

    def _committed(self) -> Snapshot | None:
        """The snapshot if it is the generation committed on disk (or that one cannot be
        loaded), None when a newer one must be loaded first."""
        snap = self._snapshot
        stamp = manifest_stamp(snap.source)
        return snap if stamp is None or stamp in (snap.stamp, self._failed_stamp) else None

    def cached_list(self, user_id: str,
                    exclude_seen: bool) -> tuple[Snapshot, UserScores] | None:
        """The committed snapshot and the user's scores when both are at hand without
        blocking (no model to load or score, a local SQLite store, no bandit), else None."""
        snap = self._committed() if self.store.local and not self.settings.bandit else None
        if snap is None:
            return None
        scores = self.online.cached_scores(snap.model, user_id, exclude_seen)
        return None if scores is None else (snap, scores)

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot of the generation committed in the model directory (loaded first if
        it changed); take it once per request."""
        snap = self._committed()
        if snap is not None:
            return snap
        with self._loading:  # one loader; requests arriving meanwhile wait for its result
            snap = self._snapshot
            stamp = manifest_stamp(snap.source)
            if stamp is None or stamp in (snap.stamp, self._failed_stamp):
                return snap
            try:
                return self.reload()
            except TrustrecError as exc:
                self._failed_stamp = stamp
                log.warning("model directory changed but cannot be loaded; still serving "
                            "generation %d: %s", snap.generation, exc)
                return snap

    def _build(self, model: Recommender, source: Path, generation: int,
               stamp: Stamp | None) -> Snapshot:
        cfg = self.settings
        bandit = BanditLayer(model, cfg.bandit_candidates, cfg.bandit_alpha, cfg.bandit_epsilon,
                             seed=cfg.seed) if cfg.bandit else None
        return Snapshot(model=model, generation=generation, source=Path(source),
                        titles=item_titles(model, self.items), bandit=bandit, stamp=stamp)

    def swap(self, model: Recommender, source: Path,
             stamp: Stamp | None = None) -> Snapshot:
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
        """Save ``model`` to ``source`` as its next generation, signed inside the atomic save,
        so that every worker may load it once it is committed."""
        model.save(source, signature(self.signing_key))

    def reload(self, path: Path | None = None) -> Snapshot:
        """Load the signed artifact at ``path`` (default: the current source) fully, then
        swap."""
        source = self._snapshot.source if path is None else Path(path)
        stamp = manifest_stamp(source)
        return self.swap(self.load_signed(source), source, stamp)

    def knows(self, snap: Snapshot, user_id: str) -> bool:
        """Whether ``snap``'s model holds ``user_id`` and may use it: the store holds no
        erasure of them (checked on every call, so an erasure on any worker counts)."""
        return user_id in snap.model.user_index_ and \
            not self.store.user_version(user_id).erased

    def erase(self, user_id: str) -> dict[str, Any]:
        """Record the erasure and erase the user's events (one transaction), then unlearn
        them from the model, save it and mark the erasure done; the outcome as JSON."""
        erased = self.store.delete_user(user_id)
        return {"user_id": user_id, "events_erased": erased,
                **self.finish_erasures([user_id])}

    def finish_erasures(self, user_ids: list[str]) -> dict[str, Any]:
        """Unlearn ``user_ids`` from the committed model and save it atomically, under the
        lock all workers share; marks the erasures done once the saved model lacks them."""
        with erasure_lock(self._snapshot.source):
            snap = self.snapshot  # the committed generation, with other workers' erasures
            if snap.bandit is not None:
                for user in user_ids:
                    snap.bandit.forget(user)
            present = [u for u in user_ids if u in snap.model.user_index_]
            if not present:
                self.store.finish_erasures(user_ids)
                return {"model": "not_in_model"}
            try:
                from trustrec.privacy.unlearning import forget_users

                model, report = forget_users(snap.model, present)
            except ImportError:
                return {"model": "unchanged", "detail": "unlearning is not available in "
                        "this installation (trustrec.privacy.unlearning is missing)"}
            except TrustrecError as exc:
                log.warning("unlearning failed; the erasure stays pending: %s", exc)
                return {"model": "unchanged", "detail": f"unlearning failed: {exc}"}
            try:
                self.save_signed(model, snap.source)  # atomic: a restart must not bring them back
            except OSError as exc:
                log.warning("unlearned model not saved; the erasure stays pending: %s", exc)
                saved = False
            else:
                saved = True
            new = self.swap(model, snap.source)
            if saved:
                self.store.finish_erasures(user_ids)
        return {"model": "unlearned", "saved": saved, "generation": new.generation,
                "report": report.to_dict()}

    def close(self) -> None:
        """Release the database pool."""
        self.store.close()
