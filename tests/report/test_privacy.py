"""The privacy report section and its demo."""

from __future__ import annotations

from trustrec.data import synthetic
from trustrec.demo.privacy import demo_privacy


def test_demo_privacy_section() -> None:
    data = synthetic.generate(n_users=160, n_items=80, n_interactions=3200, seed=2)
    html = demo_privacy(data, seed=0).render()
    assert html.count("<table>") == 3  # attacks, the DP curve and the release advice
    assert html.count("<img") == 2
    for name in ("popularity", "itemknn", "ease", "threshold", "shadow", "∞", "dp_popularity",
                 "user (entire history)", "outside the guarantee"):
        assert name in html
