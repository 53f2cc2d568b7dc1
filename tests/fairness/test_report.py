"""The fairness report section and the demo builder."""

from __future__ import annotations

from trustrec.data import synthetic
from trustrec.demo.fairness import demo_fairness


def test_demo_fairness_renders_gaps_frontier_and_explanations() -> None:
    ds = synthetic.generate(n_users=150, n_items=80, n_interactions=3000, seed=7)
    html = demo_fairness(ds, seed=0).render()
    assert html.count("<img") == 3  # group gaps, category exposure, frontier
    for text in ("gender", "age_group", "activity", "xquad", "calibrated", "mmr",
                 "Because you rated"):
        assert text in html, text
