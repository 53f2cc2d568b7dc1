"""Explanations: a reason for each recommendation (collaborative, content, linear or
popularity), as text and as structured fields, and a fidelity check of the reasons."""

from trustrec.explain.explanation import (
    Explanation,
    explain_external,
    explain_index,
    explain_recommendations,
)
from trustrec.explain.fidelity import explanation_fidelity
from trustrec.explain.items import ItemInfo

__all__ = ["Explanation", "ItemInfo", "explain_external", "explain_index",
           "explain_recommendations", "explanation_fidelity"]
