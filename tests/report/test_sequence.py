"""The sequential-model report section: next-item protocol and rendering."""

from __future__ import annotations

import numpy as np

from tests.models.test_sasrec import SMALL, chain_data
from trustrec.data.split import next_item_split
from trustrec.data.synthetic import generate
from trustrec.demo.sequence import demo_sequence
from trustrec.experiment import next_item


def test_next_item_holds_out_each_users_latest_item() -> None:
    data = chain_data(n_users=30, length=8)
    split = next_item_split(data)
    assert len(split.test) == 30 and np.array_equal(np.unique(split.test.user), np.arange(30))
    latest = np.zeros(30, dtype=np.int64)
    np.maximum.at(latest, split.train.user, split.train.timestamp)
    assert (split.test.timestamp > latest[split.test.user]).all()
    runs = next_item(split, {"pop": ("popularity", {}), "sasrec": ("sasrec", SMALL)})
    assert [r.name for r in runs] == ["pop", "sasrec"]
    ndcg = {r.name: r.result.metrics["ndcg@10"] for r in runs}
    assert ndcg["sasrec"] > ndcg["pop"] + 0.3  # the chain is learnable, popularity is flat


def test_demo_section_renders_a_table_and_curve() -> None:
    data = generate(n_users=120, n_items=60, n_interactions=2000, seed=2)
    html = demo_sequence(data, seed=0).render()
    assert "Sequential recommendation" in html
    for name in ("popularity", "ease", "sasrec"):
        assert f"<td>{name}</td>" in html
    assert "data:image/png;base64," in html


def test_demo_without_timestamps_says_why() -> None:
    data = chain_data(n_users=5)
    untimed = data.with_interactions(data.user, data.item, data.value, None)
    assert "no timestamps" in demo_sequence(untimed).render()


def test_demo_says_plainly_when_sasrec_only_had_a_smoke_run(monkeypatch) -> None:
    from dataclasses import replace

    from trustrec.demo import sequence

    monkeypatch.setitem(sequence.DEMO_SASREC, "max_seconds", 1e-6)
    data = replace(generate(n_users=120, n_items=60, n_interactions=2000, seed=2),
                   name="ml-100k")
    html = demo_sequence(data, seed=0).render()
    assert "Smoke run" in html and "ml-100k" in html
    assert "synthetic" not in html  # the caption names the data actually used
    assert "data:image/png;base64," not in html  # no one-point "early stopping" curve
