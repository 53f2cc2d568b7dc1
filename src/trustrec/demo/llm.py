"""Demo section of the generative language model: reranked lists, a chat exchange and
worded explanations, with the bundled SmolLM2-135M (or whatever ``TRUSTREC_LLM_*`` names).

:func:`demo_llm` splits the data 80/20 per user, fits ``ease`` and ``llm_rerank`` (ease's
top candidates re-scored by the language model, the blend weight chosen on a validation
split of the training part) and scores both on the same random subset of test users; then
it answers two requests in words with ``trustrec.chat`` and words three explanations,
counting how many sentences passed the faithfulness check. Answers go through the answer
cache, so a rerun is quick.
"""

from __future__ import annotations

import numpy as np

from trustrec.chat import Catalogue, chat_recommend
from trustrec.data.dataset import Dataset
from trustrec.data.split import random_holdout
from trustrec.evaluation import ranking_metrics
from trustrec.explain import ItemInfo, explain_recommendations
from trustrec.explain.words import explain_in_words, faithfulness_rate
from trustrec.llm.settings import open_model
from trustrec.models import create_model
from trustrec.report.html import Section

K = 10
#: Test users scored (a random subset: the language model scores every candidate).
N_USERS = 30
RERANK = {"retriever": "ease", "candidates": 10, "history_items": 3, "validation_users": 20}


def demo_llm(dataset: Dataset, seed: int = 0) -> Section:
    """Reranking, chat and worded explanations on ``dataset`` (needs an item table)."""
    lm = open_model()
    split = random_holdout(dataset, test_fraction=0.2, seed=seed)
    users = np.unique(split.test.user)
    users = np.sort(np.random.default_rng(seed).choice(users, min(N_USERS, len(users)),
                                                       replace=False))
    relevant = split.test.csr[users]
    ease = create_model("ease", seed=seed).fit(split.train)
    rerank = create_model("llm_rerank", {**RERANK, "seed": seed}).use_llm(lm)
    rerank.fit(split.train)
    rows = []
    for name, model in (("ease", ease), ("llm_rerank", rerank)):
        m = ranking_metrics(model.recommend(users, K).items, relevant, K)
        rows.append([name, float(np.nanmean(m[f"ndcg@{K}"])),
                     float(np.nanmean(m[f"recall@{K}"]))])
    section = Section("Generative language model: reranking, chat, explanations in words")
    section.text(f"Language model: {lm.model_id}. llm_rerank re-scores ease's top "
                 f"{RERANK['candidates']} unseen items by the log-probability of their title "
                 "after a prompt listing the user's recent items (minus the title's "
                 "log-probability without them), blended with ease's score; the weight "
                 f"was chosen on a validation split of the training part: "
                 f"w = {rerank.weight_:g} (validation NDCG@{rerank.config.k} per weight: "
                 + ", ".join(f"{w}: {v:.4f}" for w, v in rerank.validation_["ndcg"].items()
                             if v is not None)
                 + f"). Test: per-user 80/20 split, {len(users)} random test users, k={K}.")
    section.table(["model", f"NDCG@{K}", f"Recall@{K}"], rows)
    catalogue = Catalogue.build(ease, dataset.items)
    _chat(section, ease, lm, catalogue, dataset)
    _words(section, ease, lm, dataset, int(users[0]))
    return section


def _chat(section: Section, model, lm, catalogue: Catalogue, dataset: Dataset) -> None:
    popular = int(np.argmax(model.item_popularity_))
    genre = catalogue.genre_names[0] if catalogue.genre_names else "exciting"
    rows = []
    for message in (f"something like {catalogue.titles[popular]}", f"a {genre} film, please"):
        reply = chat_recommend(model, lm, message, k=5, catalogue=catalogue)
        rows.append([message, "schema-valid" if reply.request else
                     f"fallback ({reply.rejected})", ", ".join(reply.items["title"][:5]),
                     f"{reply.answer} [{reply.answer_source}]", len(reply.removed)])
    section.text("Chat (`trustrec chat`, `POST /v1/chat`): the language model turns the "
                 "request into a schema-validated JSON request (else the message is "
                 "searched as it is); the answer keeps only sentences naming listed items.")
    section.table(["message", "request", "items", "answer [source]", "sentences removed"],
                  rows)


def _words(section: Section, model, lm, dataset: Dataset, user: int) -> None:
    info = ItemInfo.from_table(dataset.items, model.item_index_)
    user_id = model.user_index_.ids[user]
    worded = explain_in_words(model, lm, explain_recommendations(model, user_id, 3, items=info),
                              items=info)
    section.text(f"Explanations in words (`trustrec explain --words`) for user {user_id}: "
                 f"{faithfulness_rate(worded):.0%} of the model's sentences named only "
                 "credited items; the others show the template text instead.")
    section.table(["item", "model's sentence", "faithful", "shown"],
                  [[w.explanation.item_id, w.generated, w.faithful, w.text] for w in worded])
