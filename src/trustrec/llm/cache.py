"""``LLMCache``: generations and log-probabilities on disk, keyed by (model ID, operation,
request, parameters).

Each entry is one small JSON file ``<dir>/<key[:2]>/<key>.json`` (``key``: SHA-256 of the
canonical JSON of model ID, operation, request and parameters) that holds the full key
material next to the answer, so a read checks that the file answers exactly this request.
Files are written to a temporary name and renamed (readers never see half a file,
concurrent writers never clash); an unreadable or mismatching file is a miss, with a
warning, and is overwritten by the fresh answer. No pickle is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from trustrec._runtime import atomic_write

FORMAT_VERSION = 1


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class LLMCache:
    """Answers of language models under ``directory``; ``hits`` and ``misses`` count lookups."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def _entry(self, model_id: str, op: str, request: Any,
               params: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
        material = {"format": FORMAT_VERSION, "model_id": model_id, "op": op,
                    "request": request, "params": params}
        key = hashlib.sha256(_canonical(material).encode("utf-8")).hexdigest()
        return self.directory / key[:2] / f"{key}.json", material

    def get(self, model_id: str, op: str, request: Any, params: dict[str, Any]) -> Any | None:
        """The stored answer, or None when this exact request was never stored."""
        path, material = self._entry(model_id, op, request, params)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError) as exc:
            warnings.warn(f"LLM cache {path}: unreadable ({exc}); computing it again",
                          RuntimeWarning, stacklevel=3)
            self.misses += 1
            return None
        if not isinstance(stored, dict) or stored.get("key") != json.loads(
                _canonical(material)) or "answer" not in stored:
            warnings.warn(f"LLM cache {path}: entry does not match its request; computing it "
                          "again", RuntimeWarning, stacklevel=3)
            self.misses += 1
            return None
        self.hits += 1
        return stored["answer"]

    def put(self, model_id: str, op: str, request: Any, params: dict[str, Any],
            answer: Any) -> None:
        """Store ``answer`` (JSON-ready) for this request."""
        path, material = self._entry(model_id, op, request, params)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, _canonical({"key": material, "answer": answer}).encode("utf-8"))
