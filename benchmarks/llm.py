"""The generative language-model layer, measured: runtime speed, ``llm_rerank`` against its
retriever, chat over scripted requests, and the faithfulness of worded explanations.

Stages (each prints a Markdown table; ``--stages`` selects):

* **runtime**: per backend (``transformers``; ``llamacpp`` where installed and working):
  load seconds, greedy tokens/s for one prompt and for a batch of 8, milliseconds per
  candidate of ``logprob`` (20 candidates after one prompt), peak resident MB.
* **rerank**: per dataset (implicit ratings, users with ≥ 5), per-user random 80/20
  holdout (seed 0). ``ease`` (defaults) alone against ``llm_rerank`` over it (20
  candidates, 5 history items, the weight chosen on a validation split of the training
  part over ``--validation-users`` users), both on the same ``--users`` random test
  users: NDCG@10 and Recall@10 with 95 % bootstrap intervals over users, seconds per user
  of ``recommend`` (language model included; the answer cache is off), the chosen weight.
  When validation chooses 0 (the retriever alone), a third row forces the smallest
  non-zero weight, to show the language model's signal on test and its cost per user.
  With ``TRUSTREC_LLM_BASE_URL`` set, the same runs again against that endpoint.
* **chat**: ``--chat`` scripted requests built from the ml-latest-small item table
  (genre, decade, genre + decade, "something like <title>") answered by ``content``
  (text search, bundled sentence encoder): schema-valid rate of the model's requests; the
  share of the items the model's raw answers name that are on the returned list (named
  made-up titles count against it); the share of top-10 items meeting the scripted
  genre/decade constraints (seed asks: sharing a genre with the seed), next to the same
  share for ``content``'s top-10 of the raw message (the no-LLM reference).
* **words**: ``--explanations`` explanations (top-5 of random users, ``ease``,
  ml-latest-small) put in words: the share of sentences that pass the faithfulness check.

Reproduce (about 20–30 minutes on two shared cores):

    nice .venv/bin/python -m benchmarks.llm --json llm.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.topn import default_data_dir
from trustrec.data import Dataset, keep_min_interactions
from trustrec.data.movielens import load_movielens
from trustrec.data.split import random_holdout
from trustrec.evaluation import ranking_metrics
from trustrec.evaluation.intervals import mean_ci
from trustrec.llm.base import LanguageModel
from trustrec.llm.settings import LLMSettings, open_model

K = 10
PROMPT = ("A movie fan recently chose: Alien (1979); Aliens (1986); The Thing (1982). "
          "The next movie they will choose is:")


def peak_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(data_dir: Path, name: str) -> Dataset:
    """MovieLens ``name`` as implicit interactions with its item table, users with ≥ 5."""
    raw = load_movielens(data_dir / name).dataset
    data = Dataset.from_frame(raw.to_frame(), value_col=None, explicit=False,
                              items=raw.items, name=name)
    return keep_min_interactions(data, min_user=5)


def table(title: str, rows: list[dict[str, Any]]) -> None:
    """Print ``rows`` as a Markdown table."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    print(f"\n### {title}\n\n| " + " | ".join(cols) + " |\n|" + " --- |" * len(cols))
    for r in rows:
        cells = [f"{v:.4f}" if isinstance(v, float) and abs(v) < 10 else
                 f"{v:.1f}" if isinstance(v, float) else str(v) for v in (r.get(c) for c in cols)]
        print("| " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- runtime
def runtime(backends: list[str]) -> list[dict[str, Any]]:
    """Speed of each local backend on the bundled model."""
    rows = []
    for backend in backends:
        try:
            lm = open_model(LLMSettings(backend=backend, cache_dir="off"))
            start = time.perf_counter()
            lm.info()
            loaded = time.perf_counter() - start
        except Exception as exc:  # an optional backend may be missing or broken
            rows.append({"backend": backend, "note": f"unavailable: {exc}"})
            continue
        lm.generate(["Hello"], max_new_tokens=2)  # warm up
        start = time.perf_counter()
        lm.generate([PROMPT], max_new_tokens=32)
        single = time.perf_counter() - start
        prompts = [PROMPT.replace("Alien", f"Alien {i}") for i in range(8)]
        start = time.perf_counter()
        lm.generate(prompts, max_new_tokens=32)
        batch = time.perf_counter() - start
        titles = [f" Title number {i}" for i in range(20)]
        start = time.perf_counter()
        lm.logprob(PROMPT, titles)
        per_candidate = (time.perf_counter() - start) / len(titles)
        rows.append({"backend": backend, "model": lm.model_id, "load s": loaded,
                     "tokens/s single": 32 / single, "tokens/s batch of 8": 8 * 32 / batch,
                     "logprob ms/candidate": 1000 * per_candidate, "peak MB": peak_mb()})
    return rows


# --------------------------------------------------------------------------- rerank
def rerank(data: Dataset, lm: LanguageModel, n_users: int, validation_users: int,
           seed: int = 0) -> list[dict[str, Any]]:
    """``ease`` against ``llm_rerank(ease)`` on the same random test users."""
    from trustrec.models import create_model

    split = random_holdout(data, test_fraction=0.2, seed=seed)
    users = np.unique(split.test.user)
    users = np.sort(np.random.default_rng(seed).choice(users, min(n_users, len(users)),
                                                       replace=False))
    relevant = split.test.csr[users]
    rows = []
    start = time.perf_counter()
    ease = create_model("ease").fit(split.train)
    fit_ease = time.perf_counter() - start
    start = time.perf_counter()
    model = create_model("llm_rerank", {"retriever": "ease", "candidates": 20,
                                        "history_items": 5,
                                        "validation_users": validation_users,
                                        "seed": seed}).use_llm(lm).fit(split.train)
    fit_rerank = time.perf_counter() - start
    systems = [("ease", ease, fit_ease, None), ("llm_rerank(ease)", model, fit_rerank, None)]
    if model.weight_ == 0.0:  # what the language model's signal does where it was not chosen
        forced = min(w for w in model.config.grid() if w > 0)
        systems.append((f"llm_rerank(ease), w forced to {forced}", model, fit_rerank, forced))
    chosen = model.weight_
    for name, m, fit, weight in systems:
        if m is model:
            model.weight_ = chosen if weight is None else weight
        start = time.perf_counter()
        lists = m.recommend(users, K).items
        per_user = (time.perf_counter() - start) / len(users)
        metrics = ranking_metrics(lists, relevant, K)
        row: dict[str, Any] = {"dataset": data.name, "model": name, "llm": lm.model_id
                               if name != "ease" else "–", "users": len(users)}
        for metric in (f"ndcg@{K}", f"recall@{K}"):
            values = metrics[metric][np.isfinite(metrics[metric])]
            lo, hi = mean_ci(values, seed=seed)
            row[metric] = float(values.mean())
            row[f"{metric} 95% CI"] = f"[{lo:.4f}, {hi:.4f}]"
        row.update({"fit s": fit, "s/user": per_user})
        if m is model:
            row["weight"] = model.weight_
            row["validation ndcg by weight"] = ", ".join(
                f"{w}: {v:.4f}" for w, v in model.validation_["ndcg"].items())
        row["peak MB"] = peak_mb()
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- chat
def scripted_requests(catalogue: Any, popularity: np.ndarray, n: int,
                      seed: int = 0) -> list[tuple[str, Any, int | None]]:
    """``(message, constraint request, seed item or None)``: genre, decade, genre+decade
    and seed-item asks, cycling, over frequent genres, decades and popular titles."""
    from trustrec.chat import ChatRequest

    rng = np.random.default_rng(seed)
    counts = np.asarray(catalogue.genres.sum(axis=0)).ravel()
    genres = [catalogue.genre_names[j] for j in np.argsort(-counts)[:12]]
    decades = [1970, 1980, 1990, 2000, 2010]
    popular = np.argsort(-popularity)[:200]
    out = []
    for i in range(n):
        genre, decade = genres[rng.integers(len(genres))], decades[rng.integers(len(decades))]
        kind = i % 4
        if kind == 0:
            out.append((f"I would like a {genre.lower()} movie", ChatRequest(genres=(genre,)),
                        None))
        elif kind == 1:
            out.append((f"a good movie from the {decade}s",
                        ChatRequest(year_min=decade, year_max=decade + 9), None))
        elif kind == 2:
            out.append((f"a {genre.lower()} movie from the {decade}s",
                        ChatRequest(genres=(genre,), year_min=decade, year_max=decade + 9),
                        None))
        else:
            item = int(popular[rng.integers(len(popular))])
            title = str(catalogue.titles[item])
            out.append((f"something like {title}", None, item))
    return out


def _seed_share(catalogue: Any, items: np.ndarray, item: int) -> float:
    shared = catalogue.genres[items] @ catalogue.genres[item].T
    return float((np.asarray(shared.todense()).ravel() > 0).mean()) if len(items) else np.nan


def chat(data: Dataset, lm: LanguageModel, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Schema-valid, grounding and constraint rates over ``n`` scripted requests."""
    from trustrec.chat import Catalogue, chat_recommend_many, constraint_rate
    from trustrec.models import create_model
    from trustrec.models.search import search_items
    from trustrec.text import TextEncoder

    cache = Path(os.environ.get("TRUSTREC_CACHE_DIR") or Path.home() / ".cache" / "trustrec")
    encoder = TextEncoder(cache_dir=cache / "text", show_progress=False)
    model = create_model("content").use_encoder(encoder).fit(data)
    catalogue = Catalogue.build(model, data.items)
    asks = scripted_requests(catalogue, model.item_popularity_, n, seed)
    start = time.perf_counter()
    replies = chat_recommend_many(model, lm, [m for m, _, _ in asks], k=K,
                                  catalogue=catalogue)
    seconds = (time.perf_counter() - start) / len(asks)
    valid, named, on_list, met, met_ref = 0, 0, 0, [], []
    for (message, truth, seed_item), reply in zip(asks, replies, strict=True):
        valid += reply.request is not None
        mentions = catalogue.matcher.mentions(reply.reply)
        listed = set(model.item_index_.lookup(reply.items["item_id"])) if len(reply.items) \
            else set()
        named += len(mentions.items) + len(mentions.unknown)
        on_list += sum(i in listed for i in mentions.items)
        items = model.item_index_.lookup(reply.items["item_id"]) if len(reply.items) \
            else np.zeros(0, int)
        reference = search_items(model, message, k=K, encoder=encoder).items
        if seed_item is None:
            met.append(constraint_rate(catalogue, items, truth))
            met_ref.append(constraint_rate(catalogue, reference, truth))
        else:
            met.append(_seed_share(catalogue, items, seed_item))
            met_ref.append(_seed_share(catalogue, reference[reference != seed_item],
                                       seed_item))
    return [{"requests": len(asks), "llm": lm.model_id,
             "schema-valid rate": valid / len(asks),
             "named items on the list (raw answers)": on_list / named if named else np.nan,
             "names in raw answers": named,
             "top-10 meeting constraints": float(np.nanmean(met)),
             "same, content search of the message (no LLM)": float(np.nanmean(met_ref)),
             "s/request": seconds, "peak MB": peak_mb()}]


# --------------------------------------------------------------------------- words
def words(data: Dataset, lm: LanguageModel, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Faithfulness of ``n`` worded explanations (top-5 of random users, ``ease``)."""
    from trustrec.explain import ItemInfo, explain_recommendations
    from trustrec.explain.words import explain_in_words, faithfulness_rate
    from trustrec.models import create_model

    model = create_model("ease").fit(data)
    info = ItemInfo.from_table(data.items, model.item_index_)
    users = np.random.default_rng(seed).choice(data.n_users, (n + 4) // 5, replace=False)
    found = [e for u in users
             for e in explain_recommendations(model, model.user_index_.ids[u], 5, items=info)]
    found = found[:n]
    start = time.perf_counter()
    worded = explain_in_words(model, lm, found, items=info)
    seconds = (time.perf_counter() - start) / len(worded)
    return [{"explanations": len(worded), "llm": lm.model_id,
             "faithful rate": faithfulness_rate(worded),
             "caught: uncredited item": sum(bool(w.uncredited) for w in worded),
             "caught: made-up title": sum(bool(w.unknown) for w in worded),
             "shown as the model wrote it": float(np.mean([w.source == "llm" for w in worded])),
             "s/explanation": seconds, "peak MB": peak_mb()}]


def main() -> None:
    """Run the selected stages and print their tables (and optionally write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--datasets", nargs="+", default=["ml-latest-small", "ml-100k"])
    parser.add_argument("--stages", nargs="+", default=["runtime", "rerank", "chat", "words"])
    parser.add_argument("--backends", nargs="+", default=["transformers", "llamacpp"])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--validation-users", type=int, default=100)
    parser.add_argument("--chat", type=int, default=100)
    parser.add_argument("--explanations", type=int, default=500)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} (1/5/15 min) on {os.cpu_count()} CPUs")
    results: dict[str, Any] = {}
    lm = open_model(LLMSettings(backend="transformers", cache_dir="off"))
    lms = [lm]
    if os.environ.get("TRUSTREC_LLM_BASE_URL"):
        lms.append(open_model(LLMSettings.from_env(cache_dir="off")))
    stages = {
        "runtime": lambda: runtime(args.backends),
        "rerank": lambda: [row for name in args.datasets for m in lms
                           for row in rerank(load(args.data, name), m, args.users,
                                             args.validation_users)],
        "chat": lambda: chat(load(args.data, "ml-latest-small"), lm, args.chat),
        "words": lambda: words(load(args.data, "ml-latest-small"), lm, args.explanations),
    }
    for stage in args.stages:
        start = time.perf_counter()
        results[stage] = stages[stage]()
        table(f"{stage} ({time.perf_counter() - start:.0f}s, load "
              f"{os.getloadavg()[0]:.2f})", results[stage])
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
