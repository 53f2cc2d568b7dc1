"""``LanguageModel``: the one interface every generative backend implements.

A backend implements ``_generate`` (raw prompts → completions), ``_logprob`` (the summed
log-probability of each continuation after one prompt) and, where it can, ``_chat``
(message lists → replies; the default renders the backend's chat template and generates).
The public methods validate their arguments once, consult the disk cache
(:class:`~trustrec.llm.cache.LLMCache`) and hand only the misses to the backend, so that
reruns at temperature 0 are cheap and give the same text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from trustrec.errors import ConfigError
from trustrec.llm.cache import LLMCache

#: A chat message: ``{"role": "system" | "user" | "assistant", "content": str}``.
Message = dict[str, str]
ROLES = frozenset({"system", "user", "assistant"})
#: Longest completion one call may ask for.
MAX_NEW_TOKENS = 4096


@dataclass(frozen=True)
class Sampling:
    """How to decode: ``max_new_tokens`` (≥ 1), ``temperature`` (0: greedy), ``seed`` (used
    when sampling) and ``stop`` strings (the text is cut before the first one)."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens \
                <= MAX_NEW_TOKENS:
            raise ConfigError(f"llm: max_new_tokens must be an integer in [1, {MAX_NEW_TOKENS}]"
                              f"; got {self.max_new_tokens!r}")
        if not math.isfinite(self.temperature) or not 0.0 <= self.temperature <= 5.0:
            raise ConfigError(f"llm: temperature must be in [0, 5]; got {self.temperature!r}")
        object.__setattr__(self, "stop", tuple(self.stop))
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ConfigError(f"llm: stop strings must be non-empty strings; got {self.stop!r}")

    def key(self) -> dict[str, Any]:
        """The parameters that change the text (the seed only when sampling)."""
        out: dict[str, Any] = {"max_new_tokens": self.max_new_tokens,
                               "temperature": self.temperature, "stop": list(self.stop)}
        if self.temperature > 0:
            out["seed"] = self.seed
        return out


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest of the ``stop`` strings."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


def check_messages(messages: Sequence[Message]) -> list[Message]:
    """Validated copy of a conversation (``ConfigError`` naming the bad message)."""
    if not messages:
        raise ConfigError("llm: a conversation needs at least one message")
    out = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES \
                or not isinstance(msg.get("content"), str):
            raise ConfigError(f"llm: message {i} must be {{'role': one of {sorted(ROLES)}, "
                              f"'content': str}}; got {msg!r}")
        out.append({"role": msg["role"], "content": msg["content"]})
    return out


@dataclass(frozen=True)
class ModelInfo:
    """What ``trustrec llm info`` shows: backend, model ID, where it lives, and details."""

    backend: str
    model_id: str
    location: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"backend": self.backend, "model_id": self.model_id, "location": self.location,
                **self.details}


class LanguageModel:
    """A generative language model with a disk cache of its answers.

    ``generate`` completes raw prompts (batched), ``chat`` answers conversations, and
    ``logprob`` scores candidate continuations of one prompt by log-probability (natural
    log, summed over the continuation's tokens; the prompt is computed once). ``cache``
    (optional) stores every answer under (model ID, prompt, parameters).
    """

    backend: ClassVar[str] = "base"

    def __init__(self, cache: LLMCache | None = None) -> None:
        self.cache = cache

    # ------------------------------------------------------------------ identity
    @property
    def model_id(self) -> str:
        """Identifies the model's outputs (name, a digest of its weights, the runtime)."""
        raise NotImplementedError

    def info(self) -> ModelInfo:
        """Backend, model ID, location and runtime details."""
        raise NotImplementedError

    # ------------------------------------------------------------------ public API
    def generate(self, prompts: Sequence[str], max_new_tokens: int = 64,
                 temperature: float = 0.0, seed: int = 0,
                 stop: Sequence[str] = ()) -> list[str]:
        """Completions of ``prompts`` (raw text, no chat template), one per prompt."""
        prompts = _check_texts(prompts, "prompts")
        sampling = Sampling(max_new_tokens, float(temperature), int(seed), tuple(stop))
        return self._cached("generate", prompts, sampling.key(),
                            lambda todo: self._generate(todo, sampling))

    def chat(self, conversations: Sequence[Sequence[Message]], max_new_tokens: int = 64,
             temperature: float = 0.0, seed: int = 0, stop: Sequence[str] = ()) -> list[str]:
        """The assistant's reply to each conversation (lists of role/content messages)."""
        if isinstance(conversations, dict) or (conversations and isinstance(conversations[0],
                                                                             dict)):
            raise ConfigError("llm.chat: expected a list of conversations (lists of messages)")
        checked = [check_messages(c) for c in conversations]
        sampling = Sampling(max_new_tokens, float(temperature), int(seed), tuple(stop))
        return self._cached("chat", checked, sampling.key(),
                            lambda todo: self._chat(todo, sampling))

    def logprob(self, prompt: str, continuations: Sequence[str]) -> np.ndarray:
        """``(len(continuations),)`` float64: log p(continuation | prompt), natural log."""
        (prompt,) = _check_texts([prompt], "prompt")
        conts = _check_texts(continuations, "continuations", allow_empty=False)
        if not conts:
            return np.zeros(0)
        found = self._cached("logprob", [[prompt, c] for c in conts], {},
                             lambda todo: self._logprob_pairs(todo))
        return np.asarray(found, dtype=np.float64)

    def chat_prompt(self, messages: Sequence[Message]) -> str:
        """The raw prompt a conversation becomes (its chat template, ready for the reply)."""
        raise ConfigError(f"llm backend '{self.backend}' has no local chat template")

    # ------------------------------------------------------------------ backend hooks
    def _generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        raise NotImplementedError

    def _chat(self, conversations: list[list[Message]], sampling: Sampling) -> list[str]:
        return self._generate([self.chat_prompt(c) for c in conversations], sampling)

    def _logprob(self, prompt: str, continuations: list[str]) -> list[float]:
        raise NotImplementedError

    # ------------------------------------------------------------------ internals
    def _logprob_pairs(self, pairs: list[Any]) -> list[float]:
        """Scores of (prompt, continuation) pairs, one backend call per distinct prompt."""
        by_prompt: dict[str, list[int]] = {}
        for i, (prompt, _) in enumerate(pairs):
            by_prompt.setdefault(prompt, []).append(i)
        out = [0.0] * len(pairs)
        for prompt, rows in by_prompt.items():
            scores = self._logprob(prompt, [pairs[i][1] for i in rows])
            for i, score in zip(rows, scores, strict=True):
                out[i] = float(score)
        return out

    def _cached(self, op: str, requests: list[Any], params: dict[str, Any],
                compute: Any) -> list[Any]:
        """Answers of ``requests``: from the cache where present, the rest computed in one
        call of ``compute`` and stored."""
        if self.cache is None:
            return list(compute(requests)) if requests else []
        model_id = self.model_id
        answers = [self.cache.get(model_id, op, r, params) for r in requests]
        todo = list(dict.fromkeys(i for i, a in enumerate(answers) if a is None))
        if todo:
            unique: dict[str, int] = {}
            for i in todo:
                unique.setdefault(_request_text(requests[i]), i)
            fresh = list(compute([requests[i] for i in unique.values()]))
            by_text = dict(zip(unique, fresh, strict=True))
            for text, i in unique.items():
                self.cache.put(model_id, op, requests[i], params, by_text[text])
            for i in todo:
                answers[i] = by_text[_request_text(requests[i])]
        return answers


def _request_text(request: Any) -> str:
    import json

    return json.dumps(request, sort_keys=True, ensure_ascii=False)


def _check_texts(texts: Sequence[str], what: str, allow_empty: bool = True) -> list[str]:
    if isinstance(texts, str):
        raise ConfigError(f"llm: {what} must be a list of strings, got one str (wrap it in a "
                          "list)")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise ConfigError(f"llm: {what}[{i}] is {type(text).__name__}, expected str")
        if not allow_empty and not text:
            raise ConfigError(f"llm: {what}[{i}] is empty")
    return out
