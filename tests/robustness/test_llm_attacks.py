"""LLM attacks on tiny synthetic catalogues: text rewriting with black-box queries, prompt
injection through item text, LLM-agent fake profiles. Test doubles stand in for the
language model (a susceptible one) and the text encoder (bag of words); one test per
attacker runs the bundled SmolLM2 briefly."""

from __future__ import annotations

import re

import numpy as np
import pytest

from trustrec.data.synthetic import generate
from trustrec.errors import ConfigError
from trustrec.llm import LanguageModel
from trustrec.models import create_model
from trustrec.robustness.audit import audit_robustness
from trustrec.robustness.generative import generative_attack
from trustrec.robustness.injection import (
    DESIGN_TEMPLATES,
    TEMPLATES,
    injection_scores,
    injection_trials,
    other_title_spans,
    plant,
    sanitise,
    strip_injections,
    success_rates,
)
from trustrec.robustness.llm_agent import LLMChooser
from trustrec.robustness.llm_text import (
    drift_alarm,
    edit_words,
    llm_rewrite_attack,
    perplexity,
)
from trustrec.robustness.text_attack import MemoEncoder

AUDIENCE_WORDS = "space robot galaxy"


class BowEncoder:
    """Bag-of-words vectors over hashed lowercase words: fast and deterministic."""

    model_id = "bow@test"
    model = "bow"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", str(text).lower()):
                out[row, sum(map(ord, word)) % 64] += 1.0
        out[:, 0] += 1e-3  # no zero vectors
        return out


class SusceptibleLM(LanguageModel):
    """A language model that does what item text tells it: a candidate whose title the
    prompt names after its own history scores 5, the rest by a fixed table (default −3);
    asked for a rewrite it appends the audience's words; favourite titles score 0."""

    backend = "susceptible"

    def __init__(self, favourite: set[str] | None = None) -> None:
        super().__init__(None)
        self.favourite = favourite or set()
        self.chats = 0

    @property
    def model_id(self) -> str:
        return "susceptible@1"

    def _logprob(self, prompt: str, continuations: list[str]) -> list[float]:
        return [5.0 if "recently chose" in prompt and c.strip() in prompt else
                0.0 if c.strip() in self.favourite else -3.0 - 0.01 * len(c)
                for c in continuations]

    def _chat(self, conversations, sampling) -> list[str]:
        self.chats += len(conversations)
        entry = conversations[0][-1]["content"].split("Entry: ", 1)[1]
        return [f"{entry} {AUDIENCE_WORDS}."]


@pytest.fixture(scope="module")
def data():
    return generate(n_users=60, n_items=30, density=0.2, n_topics=3, seed=0, explicit=False)


# ---------------------------------------------------------------- text rewriting
def _content_query(data, encoder, users):
    from trustrec.robustness.measure import target_ranks

    def query(published, target):
        model = create_model("content").use_encoder(encoder).fit(published)
        ranks = target_ranks(model, users, np.array([target]))[:, 0]
        return float(ranks.mean()), float((ranks < 10).mean())

    return query


def _space_audience(data):
    """A crowd (the first 15 users) whose distinctive items — liked by them more than by
    the others — all mention the audience words; returns the data and the crowd."""
    from trustrec.robustness.text_attack import replace_texts

    x = (data.csr > 0).astype(float)
    crowd = np.arange(15)
    lift = np.asarray(x[crowd].mean(axis=0)).ravel() - np.asarray(x[15:].mean(axis=0)).ravel()
    liked = np.argsort(-lift, kind="stable")[:6]
    texts = data.items["description"].astype(str)
    spaced = replace_texts(data, {int(i): f"{texts.iloc[i]} {AUDIENCE_WORDS}" for i in liked},
                           "description")
    return spaced, crowd


def test_llm_rewrite_climbs_with_black_box_queries_and_the_drift_alarm_undoes_it(data):
    spaced, users = _space_audience(data)
    target = 25
    users = users[spaced.csr[users][:, [target]].toarray().ravel() == 0]
    encoder = MemoEncoder(BowEncoder())
    query = _content_query(spaced, encoder, users)
    lm = SusceptibleLM()
    attacked, (rw,) = llm_rewrite_attack(lm, query, spaced, np.array([target]), ["x"],
                                         encoder, "description", budget=3, per_round=1)
    assert rw.queries <= 3 and lm.chats >= 1
    assert rw.rank_after < rw.rank_before  # the rewrite climbed
    assert rw.rewritten.endswith(f"{AUDIENCE_WORDS}.") and rw.edit_words == 3
    assert 0.0 < rw.drift < 1.0 and np.isfinite(rw.perplexity_after)
    assert attacked.items.drop(index=target).equals(spaced.items.drop(index=target))
    before = spaced.items["description"].astype(str).tolist()
    after = attacked.items["description"].astype(str).tolist()
    flags = drift_alarm(encoder, before, after, threshold=0.99)
    assert flags.tolist() == [i == target for i in range(spaced.n_items)]
    assert not drift_alarm(encoder, before, before).any()  # unchanged texts never flag
    with pytest.raises(ConfigError, match="budget"):
        llm_rewrite_attack(lm, query, spaced, np.array([target]), [], encoder, budget=1)


def test_edit_words_counts_word_edits() -> None:
    assert edit_words("a b c", "a b c") == 0
    assert edit_words("a b c", "a x c d") == 2


def test_llm_text_audit_measures_stages_and_defence(data):
    report = audit_robustness(data, "content", "llm_text", n_targets=1, seeds=1,
                              lm=SusceptibleLM(), encoder=BowEncoder(), query_budget=2)
    run = report.runs[0]
    assert run["column"] == "description" and run["queries"] <= 2
    for stage in ("clean", "attacked", "defended"):
        assert f"{stage}.target_mean_rank" in run
    assert run["defended.target_mean_rank"] == run["clean.target_mean_rank"]  # restored
    assert run["queries"] == 2 and run["detect.fpr"] == 0.0  # untouched texts never flag
    if run["rewritten"]:  # a rewrite that climbed was kept: the alarm caught it
        assert run["detect.recall"] == 1.0


# ---------------------------------------------------------------- prompt injection
@pytest.fixture(scope="module")
def dated(data):
    """The data with MovieLens-style titles (a year at the end)."""
    from trustrec.robustness.text_attack import replace_texts

    titles = data.items["title"].astype(str)
    return replace_texts(data, {i: f"{t} ({1970 + i})" for i, t in enumerate(titles)}, "title")


def test_injection_detector_and_sanitiser_on_planted_strings(dated):
    titles = dated.items["title"].astype(str).tolist()
    assert not injection_scores(titles).any()
    assert all(s is None for s in other_title_spans(titles, titles))
    for name in TEMPLATES:
        planted = plant(titles[0], name, titles[5])
        clean = sanitise([planted, *titles[1:]], titles)[0]
        assert titles[5] not in clean and clean.startswith(titles[0]), name
        if name in DESIGN_TEMPLATES:
            assert clean == titles[0]
            assert injection_scores([planted])[0] > 0 and strip_injections(planted) == titles[0]
    with pytest.raises(ConfigError, match="template"):
        plant("x", "nope", "y")


def _rerank(data, lm):
    model = create_model("llm_rerank", {"retriever": "ease:l2=20", "candidates": 5,
                                        "history_items": 3, "validation_users": 8,
                                        "weights": "1"}).use_llm(lm).fit(data)
    model.weight_ = 1.0  # an operator who lets the language model rank (validation aside)
    return model


def test_injection_succeeds_on_a_susceptible_model_and_the_defence_stops_it(dated):
    model = _rerank(dated, SusceptibleLM())
    trials = injection_trials(model, carrier=3, n_users=6)
    rates = success_rates(trials)
    assert set(rates) == set(TEMPLATES) and all(r["trials"] >= 1 for r in rates.values())
    for name, r in rates.items():
        assert r["success"] == 1.0, name  # undefended: the target jumps to first place
        assert r["success_defended"] == 0.0, name
        assert r["rank_gain_defended"] == 0.0, name
    model.weight_ = 0.0  # the language model never ranks: nothing to inject into
    assert all(r["success"] == 0.0 for r in success_rates(
        injection_trials(model, carrier=3, n_users=3)).values())


def test_injection_audit_reports_rates_per_template(dated):
    report = audit_robustness(dated, "ignored", "injection", seeds=1, lm=SusceptibleLM(),
                              params={"retriever": "ease:l2=20", "candidates": 5,
                                      "history_items": 3, "validation_users": 8,
                                      "weights": "1", "weight": 1.0})
    run = report.runs[0]
    assert run["detector_fpr_catalogue"] == 0.0 and run["weight"] == 1.0
    table = report.injection_table()
    assert {r["template"] for r in table} == set(TEMPLATES)
    assert all(r["success"] == 1.0 and r["success_defended"] == 0.0 for r in table)


# ---------------------------------------------------------------- LLM-agent profiles
def test_llm_agent_profiles_follow_the_model_and_real_timestamps(data):
    favourite = str(data.items["title"].iloc[7])
    chooser = LLMChooser(SusceptibleLM({favourite}), data, shortlist=8, seed=0)
    targets = np.array([20])
    attack = generative_attack(data, targets, size=0.1, seed=0, model=chooser, max_length=6)
    fake = attack.dataset.csr[attack.fake_users]
    assert attack.info["generator"] == "llm_agent"
    assert (fake[:, 20].toarray() > 0).all()  # the target is woven into every profile
    flat = generative_attack(data, targets, size=0.1, seed=0,
                             model=LLMChooser(SusceptibleLM(), data, shortlist=8, seed=0),
                             max_length=6)
    assert (fake[:, 7].toarray() > 0).sum() > \
        (flat.dataset.csr[flat.fake_users][:, 7].toarray() > 0).sum()
    stamps = attack.dataset.timestamp[attack.dataset.user >= data.n_users]
    assert stamps.min() >= data.timestamp.min() and stamps.max() <= data.timestamp.max()
    again = generative_attack(data, targets, size=0.1, seed=0, model=chooser, max_length=6)
    assert (again.dataset.csr != attack.dataset.csr).nnz == 0
    assert "likes" in chooser.prompt(np.array([0, 1]))


def test_llm_profiles_audit_runs_detection(data):
    report = audit_robustness(data, "itemknn", "llm_profiles", size=0.05, n_targets=1,
                              seeds=1, lm=SusceptibleLM(), max_length=5, detector="outlier")
    run = report.runs[0]
    assert run["generator"] == "llm_agent" and "detect.f1" in run
    assert "attacked.target_mean_rank" in run


# ---------------------------------------------------------------- the bundled model
def test_bundled_model_rewrites_scores_fluency_and_chooses(data, bundled_lm):
    ppl = perplexity(bundled_lm, ["A young woman falls in love in Paris.",
                                  "love love Paris Paris the the woman"])
    assert ppl[0] < ppl[1]  # fluent text is likelier than word salad
    spaced, users = _space_audience(data)
    encoder = MemoEncoder(BowEncoder())
    _, (rw,) = llm_rewrite_attack(bundled_lm, _content_query(spaced, encoder, users[:5]),
                                  spaced, np.array([25]), ["Alien (1979)"], encoder,
                                  "description", budget=2, per_round=1, max_new_tokens=12)
    assert 1 <= rw.queries <= 2 and np.isfinite(rw.perplexity_before)
    chooser = LLMChooser(bundled_lm, data, shortlist=3, history_items=2)
    scores = chooser.score_history(np.array([0, 1]))
    assert np.isfinite(scores).sum() == 3 and np.isneginf(scores[[0, 1]]).all()
