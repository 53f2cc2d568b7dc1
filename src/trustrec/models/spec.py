"""Model specs: ``"ease:l2=500"`` → a model name and its (string-valued) parameters.

The CLI, the demo, experiments and models that wrap another one (``llm_rerank``'s
retriever) all parse specs here; :mod:`trustrec.experiment` re-exports the names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trustrec.errors import ConfigError
from trustrec.models.base import Recommender
from trustrec.models.registry import create_model

#: A comma that starts a new ``key=value`` parameter (not one inside a list value).
_PARAM_START = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")


@dataclass(frozen=True)
class ModelSpec:
    """A model name and its (possibly string-valued) hyper-parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse ``"ease"``, ``"ease:l2=200,implicit=true"`` or ``"ncf:layers=64,32,16"``
        (a comma starts a new parameter only when ``key=`` follows it, so list values keep
        theirs)."""
        name, _, rest = text.partition(":")
        return cls(name.strip(), parse_params(split_params(rest)) if rest.strip() else {})

    def build(self, seed: int | None = None) -> Recommender:
        """A fresh, unfitted model."""
        return create_model(self.name, self.params, seed=seed)

    def label(self) -> str:
        """``name`` or ``name(k=v, …)`` for tables."""
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


def split_params(text: str) -> list[str]:
    """``"a=1,b=2,3,c=x"`` → ``["a=1", "b=2,3", "c=x"]``: split at the commas that a
    ``key=`` follows; other commas belong to a list value."""
    return _PARAM_START.split(text)


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """Turn ``["l2=500", "implicit=true"]`` into a dict (``ConfigError`` on a malformed item)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"parameter {item!r} is not of the form key=value")
        out[key.strip()] = value.strip()
    return out
