"""Demo section of the language-model layer: cold-start items and natural-language search.

:func:`demo_text` holds out a fifth of the items with all their interactions, fits
``content`` and ``hybrid`` on the rest and ranks, for every user with a held-out
interaction, the held-out items only (:func:`trustrec.evaluation.cold_start`: NDCG@10 and
Recall@10 against random lists); then it
runs a few plain-word queries through ``search``. One ``TextEncoder`` with a temporary
embedding cache serves every model, so each item text is encoded once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.split import cold_item_holdout
from trustrec.data.synthetic import TOPICS
from trustrec.evaluation.cold_start import cold_start
from trustrec.models import Recommender, create_model
from trustrec.models.search import search_items
from trustrec.report.html import Section
from trustrec.text import TextEncoder

K = 10
COLD_FRACTION = 0.2
#: Topics whose words make the example queries, in order of preference.
QUERY_TOPICS = ("Sci-Fi", "Crime", "Romance", "Fantasy", "Horror", "Western")


def example_queries(dataset: Dataset, n: int = 3) -> list[str]:
    """``n`` queries of four topic words each (synthetic vocabulary), preferring topics that
    are genres of the dataset."""
    genres = set()
    if dataset.items is not None and "genres" in dataset.items.columns:
        genres = set("|".join(dataset.items["genres"].fillna("").astype(str)).split("|"))
    topics = sorted(QUERY_TOPICS, key=lambda t: t not in genres)[:n]
    return [" ".join(TOPICS[t][:4]) for t in topics]


def search_table(model: Recommender, queries: Sequence[str], k: int = 5,
                 encoder: TextEncoder | None = None) -> pd.DataFrame:
    """``query, rank, item_id, title, score`` of the top ``k`` items of each query."""
    frames = [search_items(model, q, k=k, encoder=encoder).to_frame().assign(query=q)
              for q in queries]
    return pd.concat(frames)[["query", "rank", "item_id", "title", "score"]]


def demo_text(dataset: Dataset, seed: int = 0) -> Section:
    """Cold-start results of ``content`` and ``hybrid`` and example searches on ``dataset``
    (which needs an item table with text, e.g. ``synthetic.generate(seed=0)``)."""
    split = cold_item_holdout(dataset, COLD_FRACTION, seed=seed)
    with tempfile.TemporaryDirectory() as cache:
        encoder = TextEncoder(cache_dir=cache, show_progress=False)
        models = {name: create_model(name, seed=seed).use_encoder(encoder)
                  for name in ("content", "hybrid")}
        result = cold_start(split, models, K, seed)
        found = search_table(models["hybrid"], example_queries(dataset), encoder=encoder)
    section = Section("Language models: cold-start items and search")
    section.text(f"{COLD_FRACTION:.0%} of the items with interactions ({result.n_cold} items) "
                 f"were held out with all their interactions (seed {seed}); the models never "
                 f"saw them. For each of the {result.n_users} users with a held-out "
                 f"interaction, each system ranked the held-out items only; k={K}. "
                 "content: cosine between the user's text profile and item text vectors "
                 "(all-MiniLM-L6-v2); hybrid: collaborative item-item weights fused with "
                 "text, genre and tag features.")
    names = list(result.ndcg)
    section.table(["system", f"NDCG@{K}", f"Recall@{K}"],
                  [[n, result.ndcg[n], result.recall[n]] for n in names])
    fig, ax = plt.subplots(figsize=(5.5, 3))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [result.ndcg[n] for n in names], 0.4, label=f"NDCG@{K}", color="#4c72b0")
    ax.bar(x + 0.2, [result.recall[n] for n in names], 0.4, label=f"Recall@{K}",
           color="#dd8452")
    ax.set_xticks(x, names)
    ax.set_title("Ranking items nobody has interacted with")
    ax.legend()
    section.figure(fig, f"NDCG@{K} and Recall@{K} on held-out (cold) items.")
    section.text("Natural-language search with the hybrid model (`trustrec search`): the "
                 "five items whose text is closest to each query.")
    section.table(list(found.columns), found.itertuples(index=False))
    return section
