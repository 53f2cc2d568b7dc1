"""Shared fixtures: small planted-structure datasets and the shared MovieLens location."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustrec.data import Dataset

pytest_plugins = ["tests.llm_fixtures"]


def shared_data_dir() -> Path | None:
    """``$TRUSTREC_DATA_DIR`` or ``../shared/data`` beside the repository, if present."""
    env = os.environ.get("TRUSTREC_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    return None


@pytest.fixture(scope="session", autouse=True)
def trustrec_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$TRUSTREC_CACHE_DIR`` for the session: the text model's ONNX export is made once
    per test session, there, and never in the user's cache. The bundled language model's
    one-off conversion (20–110 s on 2 cores) is the exception: its hash-checked folder is
    shared with the user's cache, as trustrec itself reuses it across runs."""
    from trustrec.llm.bundled import cache_root

    path = tmp_path_factory.mktemp("trustrec-cache")
    shared_llm = cache_root() / "llm"
    shared_llm.mkdir(parents=True, exist_ok=True)
    (path / "llm").symlink_to(shared_llm, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRUSTREC_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """The shared MovieLens folder; tests using it skip where it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("shared MovieLens data not found (set TRUSTREC_DATA_DIR)")
    return path


def planted_frame(n_users: int = 60, n_items: int = 40, n_groups: int = 4,
                  per_user: int = 10, seed: int = 0) -> pd.DataFrame:
    """Users in ``n_groups`` taste groups, each liking its own block of items (ratings 1–5)."""
    rng = np.random.default_rng(seed)
    block = n_items // n_groups
    rows = []
    for u in range(n_users):
        g = u % n_groups
        liked = rng.choice(np.arange(g * block, (g + 1) * block), size=per_user - 2, replace=False)
        other = rng.choice(np.setdiff1d(np.arange(n_items), liked), size=2, replace=False)
        for i in liked:
            rows.append((f"u{u}", f"i{i}", float(rng.integers(4, 6)), 1000 + len(rows)))
        for i in other:
            rows.append((f"u{u}", f"i{i}", float(rng.integers(1, 3)), 1000 + len(rows)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


@pytest.fixture
def planted() -> Dataset:
    """A small explicit dataset with planted group structure and string IDs."""
    return Dataset.from_frame(planted_frame(), name="planted")


def planted_with_catalogue() -> Dataset:
    """``planted`` with its item catalogue from an item table, as DP training needs."""
    frame = planted_frame()
    ids = sorted(frame["item_id"].unique(), key=lambda s: int(s[1:]))
    return Dataset.from_frame(frame, items=pd.DataFrame({"item_id": ids}), name="planted")
