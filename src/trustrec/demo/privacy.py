"""Demo section of the privacy layer: membership attacks and the DP curve, rendered by
:mod:`trustrec.report.privacy`."""

from __future__ import annotations

from trustrec.data.dataset import Dataset
from trustrec.report.html import Section
from trustrec.report.privacy import privacy_section

#: Models attacked by the demo section (the last one also with its DP curve).
DEMO_MODELS = ("popularity", "itemknn", "ease")


def demo_privacy(dataset: Dataset | None = None, seed: int = 0) -> Section:
    """Membership attacks on popularity, item-kNN and EASE plus the DP-EASE curve, on the
    demo data (default ``synthetic.generate(seed=0)``)."""
    from trustrec.data import synthetic
    from trustrec.privacy.audit import privacy_audit

    data = dataset if dataset is not None else synthetic.generate(seed=0)
    reports = [privacy_audit(data, name, seed=seed, dp_curve_too=name == DEMO_MODELS[-1])
               for name in DEMO_MODELS]
    return privacy_section(*reports)
