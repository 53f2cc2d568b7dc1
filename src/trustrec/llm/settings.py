"""Which language model to use: :class:`LLMSettings` (from arguments or the environment)
and :func:`open_model`.

One setting moves trustrec from the bundled 135M model to a large one: set
``TRUSTREC_LLM_BASE_URL`` (e.g. a vLLM server's ``http://gpu-host:8000/v1``) and
``TRUSTREC_LLM_MODEL``. Environment variables:

* ``TRUSTREC_LLM_BACKEND``: ``transformers`` (default: the bundled model in-process),
  ``llamacpp`` (the same GGUF through llama.cpp, if installed) or ``openai`` (default when
  a base URL is set);
* ``TRUSTREC_LLM_MODEL``: a model folder (transformers), a GGUF file (llamacpp) or the
  server's model name (openai);
* ``TRUSTREC_LLM_BASE_URL``, ``TRUSTREC_LLM_API_KEY`` (else ``OPENAI_API_KEY``),
  ``TRUSTREC_LLM_TIMEOUT`` (seconds), ``TRUSTREC_LLM_RETRIES``;
* ``TRUSTREC_LLM_CACHE``: folder of the answer cache (default
  ``<user cache>/llm/answers``; ``off`` disables it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trustrec.errors import ConfigError
from trustrec.llm.base import LanguageModel
from trustrec.llm.bundled import cache_root
from trustrec.llm.cache import LLMCache

BACKENDS = ("transformers", "llamacpp", "openai")
_OFF = {"off", "none", "no", "false", "0"}


@dataclass(frozen=True)
class LLMSettings:
    """``backend`` (one of :data:`BACKENDS`), ``model`` (folder, GGUF file or server model
    name; None: the bundled model), ``base_url``/``api_key``/``timeout``/``retries`` (openai),
    ``threads`` (local backends; None: their default), ``cache_dir`` (answer cache; None:
    the default folder; ``"off"``: no cache)."""

    backend: str = "transformers"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 2
    threads: int | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"llm: backend must be one of {', '.join(BACKENDS)}; got "
                              f"{self.backend!r}")
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ConfigError("llm: the openai backend needs a base URL and a model name "
                              "(TRUSTREC_LLM_BASE_URL, TRUSTREC_LLM_MODEL or --base-url, "
                              "--model)")

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMSettings:
        """Settings from ``TRUSTREC_LLM_*`` variables; non-None ``overrides`` win."""
        env = os.environ
        base_url = overrides.get("base_url") or env.get("TRUSTREC_LLM_BASE_URL") or None
        backend = overrides.get("backend") or env.get("TRUSTREC_LLM_BACKEND") or \
            ("openai" if base_url else "transformers")
        values: dict[str, Any] = {
            "backend": backend, "base_url": base_url,
            "model": env.get("TRUSTREC_LLM_MODEL") or None,
            "api_key": env.get("TRUSTREC_LLM_API_KEY") or None,
            "cache_dir": env.get("TRUSTREC_LLM_CACHE") or None}
        for key, name, kind in (("timeout", "TRUSTREC_LLM_TIMEOUT", float),
                                ("retries", "TRUSTREC_LLM_RETRIES", int)):
            if env.get(name):
                try:
                    values[key] = kind(env[name])
                except ValueError:
                    raise ConfigError(f"llm: {name}={env[name]!r} is not a number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_cache(self, cache_dir: str | os.PathLike[str] | None) -> LLMSettings:
        """A copy using the answer cache ``cache_dir`` (None: unchanged)."""
        return self if cache_dir is None else replace(self, cache_dir=str(cache_dir))

    def cache(self) -> LLMCache | None:
        """The answer cache these settings name (None when it is off)."""
        if self.cache_dir is not None and self.cache_dir.strip().lower() in _OFF:
            return None
        folder = Path(self.cache_dir) if self.cache_dir else cache_root() / "llm" / "answers"
        return LLMCache(folder.expanduser())


def open_model(settings: LLMSettings | None = None) -> LanguageModel:
    """The language model ``settings`` describe (default: :meth:`LLMSettings.from_env`).
    Local models load on first use."""
    s = LLMSettings.from_env() if settings is None else settings
    cache = s.cache()
    if s.backend == "openai":
        from trustrec.llm.remote import OpenAICompatibleLM

        return OpenAICompatibleLM(str(s.base_url), str(s.model), api_key=s.api_key,
                                  timeout=s.timeout, max_retries=s.retries, cache=cache)
    if s.backend == "llamacpp":
        from trustrec.llm.llamacpp import LlamaCppLM

        return LlamaCppLM(s.model, threads=s.threads, cache=cache)
    from trustrec.llm.local import TransformersLM

    return TransformersLM(s.model, threads=s.threads, cache=cache)
