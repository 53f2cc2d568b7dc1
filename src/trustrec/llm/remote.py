"""``OpenAICompatibleLM``: any server speaking the OpenAI API (vLLM, Ollama, llama.cpp's
server, a hosted API) through the official ``openai`` client.

``generate`` uses ``/v1/completions`` (raw prompts), ``chat`` uses
``/v1/chat/completions`` (the server applies its model's chat template), and ``logprob``
asks ``/v1/completions`` to echo the prompt + continuation with per-token log-probabilities
(``echo=True, logprobs=0``), summing those of the tokens that start at or after the
prompt's end. That is what vLLM and llama.cpp's server support; hosted APIs that dropped
echo cannot score continuations and say so with a clear error.

Timeouts and retries (exponential backoff, by the client) are settings; a server that
cannot be reached raises a ``ConfigError`` naming its URL.
"""

from __future__ import annotations

import os
from typing import Any

from trustrec.errors import ConfigError
from trustrec.llm.base import LanguageModel, Message, ModelInfo, Sampling, cut_at_stop
from trustrec.llm.cache import LLMCache


class OpenAICompatibleLM(LanguageModel):
    """Client of an OpenAI-compatible server. ``base_url`` (e.g. ``http://host:8000/v1``),
    ``model`` (the server's model name), ``api_key`` (None: ``$OPENAI_API_KEY``, else a
    placeholder local servers accept), ``timeout`` (seconds per request), ``max_retries``
    (with exponential backoff), ``cache``: an :class:`LLMCache`."""

    backend = "openai"

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 2,
                 cache: LLMCache | None = None) -> None:
        super().__init__(cache)
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"llm: base_url must start with http:// or https://; got "
                              f"{base_url!r}")
        if not model:
            raise ConfigError("llm: the OpenAI-compatible backend needs a model name")
        if not timeout > 0 or max_retries < 0:
            raise ConfigError(f"llm: timeout must be > 0 and max_retries ≥ 0; got {timeout!r}, "
                              f"{max_retries!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self._client: Any = None

    @property
    def model_id(self) -> str:
        """``openai:<model>@<base_url>``: a server is trusted to serve one model per name."""
        return f"{self.backend}:{self.model}@{self.base_url}"

    def info(self) -> ModelInfo:
        """Backend, model ID, URL and the models the server lists."""
        listed = self._call(lambda c: [m.id for m in c.models.list().data])
        return ModelInfo(self.backend, self.model_id, self.base_url, {
            "server_models": listed, "timeout_s": self.timeout,
            "max_retries": self.max_retries})

    # ------------------------------------------------------------------ backend hooks
    def _generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        out = []
        for prompt in prompts:
            reply = self._call(lambda c, p=prompt: c.completions.create(
                model=self.model, prompt=p, max_tokens=sampling.max_new_tokens,
                temperature=sampling.temperature, seed=sampling.seed,
                stop=list(sampling.stop) or None))
            out.append(cut_at_stop(reply.choices[0].text or "", sampling.stop))
        return out

    def _chat(self, conversations: list[list[Message]], sampling: Sampling) -> list[str]:
        out = []
        for messages in conversations:
            reply = self._call(lambda c, m=messages: c.chat.completions.create(
                model=self.model, messages=m, max_tokens=sampling.max_new_tokens,
                temperature=sampling.temperature, seed=sampling.seed,
                stop=list(sampling.stop) or None))
            out.append(cut_at_stop(reply.choices[0].message.content or "", sampling.stop))
        return out

    def _logprob(self, prompt: str, continuations: list[str]) -> list[float]:
        scores = []
        for cont in continuations:
            reply = self._call(lambda c, t=prompt + cont: c.completions.create(
                model=self.model, prompt=t, max_tokens=1, temperature=0.0, echo=True,
                logprobs=0))
            logprobs = reply.choices[0].logprobs
            offsets = getattr(logprobs, "text_offset", None)
            values = getattr(logprobs, "token_logprobs", None)
            if not offsets or not values:
                raise ConfigError(f"llm server {self.base_url} returned no prompt "
                                  "log-probabilities (echo with logprobs); it cannot score "
                                  "continuations")
            total, counted = 0.0, 0
            # the echoed prompt + continuation, then the one generated token (max_tokens=1)
            for offset, value in zip(offsets[:-1], values[:-1], strict=True):
                if offset >= len(prompt) and value is not None:
                    total += float(value)
                    counted += 1
            if counted == 0:
                raise ConfigError(f"llm server {self.base_url}: no token of continuation "
                                  f"{cont!r} was scored")
            scores.append(total)
        return scores

    # ------------------------------------------------------------------ client
    def _call(self, request: Any) -> Any:
        """Run ``request(client)``, turning connection failures into a clear error."""
        import openai

        if self._client is None:
            self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key,
                                         timeout=self.timeout, max_retries=self.max_retries)
        try:
            return request(self._client)
        except openai.APIConnectionError as exc:  # includes timeouts
            raise ConfigError(f"llm server {self.base_url} cannot be reached "
                              f"({type(exc).__name__}: {exc}); is it running? (checked "
                              f"{self.max_retries + 1} time(s))") from None
        except openai.APIStatusError as exc:
            raise ConfigError(f"llm server {self.base_url} refused the request: HTTP "
                              f"{exc.status_code} {exc.message}") from None
