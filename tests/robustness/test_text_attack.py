"""Text attack on a tiny catalogue with the bundled offline encoder (cached encodings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import create_model
from trustrec.robustness.text_attack import MemoEncoder, quarantine, text_attack

TEXTS = ["space robots explore a distant galaxy", "alien starship battles in deep space",
         "astronauts repair a failing space station", "a robot learns to love on mars",
         "a quiet village bakery in autumn", "grandmother teaches baking bread"]


@pytest.fixture(scope="module")
def catalogue():
    pytest.importorskip("sentence_transformers")
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(6)], "title": TEXTS})
    rows = [(f"u{u}", f"i{j}", 5.0) for u in range(6) for j in (u % 4, (u + 1) % 4)]
    rows += [("u9", "i4", 4.0), ("u9", "i5", 4.0)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    ds = Dataset.from_frame(frame, items=items)
    from trustrec.text import TextEncoder

    encoder = MemoEncoder(TextEncoder(show_progress=False))
    model = create_model("content").use_encoder(encoder).fit(ds)
    return ds, model, encoder


def test_greedy_insertion_pulls_the_target_towards_the_audience(catalogue):
    ds, model, _ = catalogue
    target = int(ds.item_index.lookup(["i4"])[0])
    audience = ds.user_index.lookup([f"u{u}" for u in range(6)])
    attacked, (rewrite,) = text_attack(model, ds, np.array([target]), budget=2,
                                       n_candidates=4, audience_users=audience)
    assert 1 <= len(rewrite.inserted) <= 2
    assert rewrite.similarity_after > rewrite.similarity_before
    assert 0.0 < rewrite.drift < 1.0
    assert attacked.items.loc[target, "title"].endswith(rewrite.inserted[-1])
    assert attacked.items.drop(index=target).equals(ds.items.drop(index=target))
    assert np.array_equal(attacked.user, ds.user)
    _, (same,) = text_attack(model, ds, np.array([target]), budget=2, n_candidates=4,
                                 audience_users=audience)
    assert same == rewrite
    flags = np.zeros(ds.n_items, bool)
    flags[target] = True
    assert quarantine(attacked, ds, flags).items.equals(ds.items)


def test_text_audit_reports_drift_and_stages(catalogue):
    from trustrec.data import synthetic
    from trustrec.robustness.audit import audit_robustness

    encoder = catalogue[2]
    ds = synthetic.generate(n_users=80, n_items=30, density=0.2, seed=0)
    report = audit_robustness(ds, "content", "text", n_targets=1, seeds=1, budget=2,
                              n_candidates=3, encoder=encoder)
    run = report.runs[0]
    assert 0 < run["drift"] < 1 and run["similarity_gain"] >= 0
    assert len(run["rewrites"][0]["inserted"]) <= 2
    assert {"clean.target_hr@10", "defended.genuine_ndcg@10", "detect.auc"} <= set(run)
    with pytest.raises(ConfigError, match="text"):
        audit_robustness(ds, "itemknn", "text", seeds=1, encoder=encoder)
