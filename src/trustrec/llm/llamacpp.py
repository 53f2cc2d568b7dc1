"""``LlamaCppLM``: a GGUF model run in-process by llama.cpp (package ``llama-cpp-python``).

Measured on two cores: it loads in 0.2 s, holds ~230 MB and decodes ~55 tokens/s on one
stream (about 4× transformers), but has no multi-prompt batching. Unlike torch, its
threads want OpenMP's default (active) wait policy: ``OMP_WAIT_POLICY=PASSIVE`` on two
threads cut it from 122 to 21 tokens/s here, so ``threads=None`` uses up to two threads
and the policy is left alone. ``llama-cpp-python`` compiles from source on install (4–7
minutes on a quiet machine); pip reuses the built wheel afterwards.

``logprob`` evaluates the prompt once, then rewinds the key/value cache to the prompt's
end before each continuation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from trustrec._runtime import available_cpus
from trustrec.errors import ConfigError
from trustrec.llm import bundled
from trustrec.llm.base import LanguageModel, Message, ModelInfo, Sampling, cut_at_stop
from trustrec.llm.cache import LLMCache

#: Context length (prompt + completion tokens).
N_CTX = 2048


def require_llama_cpp() -> Any:
    """The ``llama_cpp`` module, or a ``ConfigError`` saying how to install it."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConfigError("the llama.cpp backend needs the package llama-cpp-python "
                          "(pip install llama-cpp-python; it compiles on install)") from exc
    return llama_cpp


class LlamaCppLM(LanguageModel):
    """llama.cpp backend. ``model``: a GGUF file (None: the bundled SmolLM2);
    ``threads``: llama.cpp threads (None: up to two); ``cache``: an :class:`LLMCache`."""

    backend = "llamacpp"

    def __init__(self, model: str | os.PathLike[str] | None = None, *,
                 threads: int | None = None, cache: LLMCache | None = None) -> None:
        super().__init__(cache)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"LlamaCppLM: threads={threads!r}, expected an integer ≥ 1")
        self.path = bundled.bundled_gguf() if model is None else Path(model).expanduser()
        if not self.path.is_file():
            raise ConfigError(f"LlamaCppLM: GGUF file {self.path} does not exist")
        self.threads = threads or min(2, available_cpus())
        self._llama: Any = None
        self._model_id: str | None = None

    @property
    def model_id(self) -> str:
        """``llamacpp:<file stem>@<sha256[:16]>``."""
        if self._model_id is None:
            digest = bundled.file_sha256(self.path)
            self._model_id = f"{self.backend}:{self.path.stem}@{digest[:16]}"
        return self._model_id

    def info(self) -> ModelInfo:
        """Backend, model ID, GGUF path, context length and threads (loads the model)."""
        llama = self._load()
        return ModelInfo(self.backend, self.model_id, str(self.path), {
            "context": N_CTX, "threads": self.threads, "vocabulary": int(llama.n_vocab())})

    def chat_prompt(self, messages: list[Message]) -> str:
        """The GGUF's chat template applied to ``messages`` (rendered by jinja2's sandbox)."""
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        llama = self._load()
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigError(f"{self.path}: the GGUF has no chat template")
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                                bos_token="", eos_token="")

    # ------------------------------------------------------------------ backend hooks
    def _generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        llama = self._load()
        out = []
        for prompt in prompts:
            result = llama.create_completion(
                prompt, max_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                top_k=0 if sampling.temperature > 0 else 1, top_p=1.0, min_p=0.0,
                repeat_penalty=1.0, seed=sampling.seed, stop=list(sampling.stop) or None)
            out.append(cut_at_stop(result["choices"][0]["text"], sampling.stop))
        return out

    def _logprob(self, prompt: str, continuations: list[str]) -> list[float]:
        llama = self._load()
        prefix = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) \
            if prompt else []
        if not prefix:
            prefix = [llama.token_bos()]
        conts = [llama.tokenize(c.encode("utf-8"), add_bos=False, special=True)
                 for c in continuations]
        if any(not c for c in conts):
            raise ConfigError("llm.logprob: a continuation has no tokens")
        if len(prefix) + max(len(c) for c in conts) > N_CTX:
            raise ConfigError(f"llm.logprob: prompt + continuation exceed {N_CTX} tokens")
        llama.reset()
        llama.eval(prefix)
        scores = []
        for cont in conts:
            llama.n_tokens = len(prefix)  # rewind: eval drops the cache past n_tokens
            llama.eval(cont)
            logits = np.asarray(llama.scores[len(prefix) - 1:len(prefix) + len(cont) - 1],
                                dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
            scores.append(float((logits[np.arange(len(cont)), cont] - log_norm).sum()))
        return scores

    def _load(self) -> Any:
        if self._llama is None:
            llama_cpp = require_llama_cpp()
            self._llama = llama_cpp.Llama(model_path=str(self.path), n_ctx=N_CTX,
                                          n_threads=self.threads, logits_all=True,
                                          verbose=False)
        return self._llama
