"""The LLM runtime: determinism, log-probabilities, the answer cache, the converted-model
cache, and the OpenAI-compatible backend against a real server process on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.llm_fixtures import free_port
from trustrec.errors import ConfigError
from trustrec.llm import LanguageModel, LLMCache
from trustrec.llm import bundled as bundled_module
from trustrec.llm.local import TransformersLM
from trustrec.llm.remote import OpenAICompatibleLM
from trustrec.llm.settings import LLMSettings, open_model

PROMPTS = ["The capital of France is", "Cats and dogs are"]
PROMPT = "My favourite films are Alien and The Thing. Another film I love is"


def brute_force_logprob(lm: TransformersLM, prompt: str, continuation: str) -> float:
    """log p(continuation | prompt) from one plain forward pass over prompt + continuation:
    no key/value cache, no batching."""
    import torch

    model, tokenizer = lm._load()
    prefix = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prefix + cont])).logits[0].double()
    lp = torch.log_softmax(logits, dim=-1)
    rows = np.arange(len(prefix) - 1, len(prefix) + len(cont) - 1)
    return float(lp[rows, cont].sum())


# ---------------------------------------------------------------------- local backend
def test_greedy_generation_is_deterministic_and_batch_shaped(bundled_lm) -> None:
    first = bundled_lm.generate(PROMPTS, max_new_tokens=6)
    again = bundled_lm.generate(PROMPTS, max_new_tokens=6)
    assert first == again
    assert len(first) == 2 and all(text.strip() for text in first)
    assert "Paris" in first[0]


def test_stop_strings_and_seeded_sampling(bundled_lm) -> None:
    cut = bundled_lm.generate(["List three colours:\n1."], max_new_tokens=12, stop=["\n"])
    assert "\n" not in cut[0]
    a = bundled_lm.generate(PROMPTS[:1], max_new_tokens=8, temperature=1.0, seed=3)
    b = bundled_lm.generate(PROMPTS[:1], max_new_tokens=8, temperature=1.0, seed=3)
    assert a == b


def test_logprob_matches_brute_force(bundled_lm) -> None:
    conts = [" Predator", " The Little Mermaid", " Blade Runner"]
    got = bundled_lm.logprob(PROMPT, conts)
    expected = [brute_force_logprob(bundled_lm, PROMPT, c) for c in conts]
    np.testing.assert_allclose(got, expected, atol=2e-3)
    assert got.shape == (3,) and (got < 0).all()
    # a sequel of a listed film is likelier than a children's musical
    assert got[2] > got[1]


def test_chat_applies_the_models_template(bundled_lm) -> None:
    messages = [{"role": "user", "content": "Say hello."}]
    prompt = bundled_lm.chat_prompt(messages)
    assert prompt.endswith("<|im_start|>assistant\n") and "Say hello." in prompt
    assert bundled_lm.chat([messages], max_new_tokens=5) == \
        bundled_lm.generate([prompt], max_new_tokens=5)


def test_bad_arguments_are_clear_errors(bundled_lm) -> None:
    with pytest.raises(ConfigError, match="wrap it in a list"):
        bundled_lm.generate("one prompt")
    with pytest.raises(ConfigError, match="max_new_tokens"):
        bundled_lm.generate(["x"], max_new_tokens=0)
    with pytest.raises(ConfigError, match="role"):
        bundled_lm.chat([[{"role": "wizard", "content": "hi"}]])
    with pytest.raises(ConfigError, match=r"continuations\[0\] is empty"):
        bundled_lm.logprob("x", [""])


# ---------------------------------------------------------------------- answer cache
def test_cache_hit_miss_and_model_change(bundled_lm, tmp_path, monkeypatch) -> None:
    cache = LLMCache(tmp_path / "answers")
    lm = TransformersLM(cache=cache)
    lm._loaded, lm._folder = bundled_lm._load(), bundled_lm.folder()  # share the weights
    first = lm.generate(PROMPTS[:1], max_new_tokens=5)
    scores = lm.logprob(PROMPT, [" Aliens"])
    assert (cache.hits, cache.misses) == (0, 2)

    def boom(*args, **kwargs):
        raise AssertionError("a cached answer must not be computed again")

    monkeypatch.setattr(TransformersLM, "_generate", boom)
    monkeypatch.setattr(TransformersLM, "_logprob", boom)
    assert lm.generate(PROMPTS[:1], max_new_tokens=5) == first
    np.testing.assert_array_equal(lm.logprob(PROMPT, [" Aliens"]), scores)
    assert cache.hits == 2
    with pytest.raises(AssertionError, match="computed again"):  # other parameters: a miss
        lm.generate(PROMPTS[:1], max_new_tokens=6)
    monkeypatch.undo()
    # the same weights under another model ID (a model folder, not the bundled GGUF)
    other = TransformersLM(bundled_lm.folder(), cache=cache)
    other._loaded = bundled_lm._load()
    assert other.model_id != lm.model_id
    misses = cache.misses
    assert other.generate(PROMPTS[:1], max_new_tokens=5) == first
    assert cache.misses == misses + 1


class CountingLM(LanguageModel):
    """A deterministic stand-in that counts how often each hook runs."""

    backend = "counting"

    def __init__(self, cache: LLMCache | None) -> None:
        super().__init__(cache)
        self.calls = 0

    @property
    def model_id(self) -> str:
        return "counting@1"

    def _generate(self, prompts, sampling):
        self.calls += 1
        return [p.upper() for p in prompts]


def test_corrupt_or_mismatching_entries_are_recomputed(tmp_path) -> None:
    cache = LLMCache(tmp_path)
    lm = CountingLM(cache)
    assert lm.generate(["a", "b", "a"]) == ["A", "B", "A"]
    assert lm.calls == 1  # one backend call for the two distinct misses
    files = sorted(tmp_path.rglob("*.json"))
    assert len(files) == 2
    files[0].write_text("{not json")
    entry = json.loads(files[1].read_text())
    entry["key"]["request"] = "someone else's prompt"
    files[1].write_text(json.dumps(entry))
    with pytest.warns(RuntimeWarning, match="LLM cache"):
        assert lm.generate(["a", "b"]) == ["A", "B"]
    assert lm.calls == 2
    assert lm.generate(["a", "b"]) == ["A", "B"] and lm.calls == 2  # rewritten entries hit


# ---------------------------------------------------------------------- converted model
def test_converted_model_is_built_once_and_rebuilt_when_altered(tmp_path, monkeypatch) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"not really a gguf")
    runs: list[Path] = []

    def fake_convert(source: Path, out: Path) -> None:
        out.mkdir()
        (out / "model.safetensors").write_bytes(b"weights")
        (out / "config.json").write_text("{}")
        runs.append(out)

    monkeypatch.setattr(bundled_module, "_convert", fake_convert)
    first = bundled_module.converted_model(gguf, root=tmp_path / "cache")
    again = bundled_module.converted_model(gguf, root=tmp_path / "cache")
    assert first == again and len(runs) == 1
    assert (first / "model.safetensors").read_bytes() == b"weights"
    (first / "model.safetensors").write_bytes(b"tampered")
    bundled_module.converted_model(gguf, root=tmp_path / "cache")
    assert len(runs) == 2 and (first / "model.safetensors").read_bytes() == b"weights"
    assert not [p for p in (tmp_path / "cache" / "llm").iterdir() if p.name.startswith(".")]


def test_cache_root_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRUSTREC_CACHE_DIR", str(tmp_path / "c"))
    assert bundled_module.cache_root() == tmp_path / "c"
    monkeypatch.delenv("TRUSTREC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert bundled_module.cache_root() == tmp_path / "x" / "trustrec"


# ---------------------------------------------------------------------- settings
def test_settings_from_environment(monkeypatch, tmp_path) -> None:
    for name in ("TRUSTREC_LLM_BACKEND", "TRUSTREC_LLM_MODEL", "TRUSTREC_LLM_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRUSTREC_LLM_BASE_URL", "http://gpu-host:8000/v1")
    monkeypatch.setenv("TRUSTREC_LLM_MODEL", "meta-llama/Llama-3.1-70B-Instruct")
    monkeypatch.setenv("TRUSTREC_LLM_CACHE", "off")
    lm = open_model()
    assert isinstance(lm, OpenAICompatibleLM) and lm.cache is None
    assert lm.model_id == "openai:meta-llama/Llama-3.1-70B-Instruct@http://gpu-host:8000/v1"
    monkeypatch.delenv("TRUSTREC_LLM_BASE_URL")
    monkeypatch.delenv("TRUSTREC_LLM_MODEL")
    monkeypatch.setenv("TRUSTREC_LLM_CACHE", str(tmp_path))
    local = open_model()
    assert isinstance(local, TransformersLM) and local.cache.directory == tmp_path
    with pytest.raises(ConfigError, match="backend must be one of"):
        LLMSettings(backend="gpt")
    with pytest.raises(ConfigError, match="base URL"):
        LLMSettings(backend="openai")


# ---------------------------------------------------------------------- OpenAI-compatible
def test_server_down_is_a_clear_error() -> None:
    lm = OpenAICompatibleLM(f"http://127.0.0.1:{free_port()}/v1", "any", timeout=2,
                            max_retries=0)
    with pytest.raises(ConfigError, match="cannot be reached"):
        lm.generate(["hello"], max_new_tokens=2)


def test_server_answers_like_the_local_backend(served_lm, bundled_lm) -> None:
    """The same weights behind a real server give the same greedy text, deterministically."""
    remote = served_lm.generate(PROMPTS[:1], max_new_tokens=4)
    assert remote == served_lm.generate(PROMPTS[:1], max_new_tokens=4)
    assert remote == bundled_lm.generate(PROMPTS[:1], max_new_tokens=4)
    messages = [[{"role": "user", "content": "Say hello."}]]
    assert served_lm.chat(messages, max_new_tokens=4) == bundled_lm.chat(messages,
                                                                         max_new_tokens=4)
    info = served_lm.info().to_dict()
    assert info["backend"] == "openai" and served_lm.model in info["server_models"]


def test_server_without_prompt_logprobs_says_so(served_lm) -> None:
    # transformers' server ignores echo/logprobs; vLLM and llama.cpp's server honour them
    with pytest.raises(ConfigError, match="no prompt log-probabilities"):
        served_lm.logprob(PROMPT, [" Aliens"])


# ---------------------------------------------------------------------- llama.cpp
@pytest.fixture(scope="module")
def llamacpp_lm(llamacpp_gguf):
    from trustrec.llm.llamacpp import LlamaCppLM

    return LlamaCppLM(llamacpp_gguf, threads=1)


def chain_rule_gap(lm: LanguageModel) -> float:
    """|log p(a b | p) − (log p(a | p) + log p(b | p a))|: zero for exact scoring."""
    whole = lm.logprob(PROMPT, [" Blade Runner"])[0]
    first = lm.logprob(PROMPT, [" Blade"])[0]
    second = lm.logprob(PROMPT + " Blade", [" Runner"])[0]
    return abs(whole - first - second)


def test_llamacpp_backend_is_deterministic_and_exact(llamacpp_lm) -> None:
    first = llamacpp_lm.generate(PROMPTS[:1], max_new_tokens=5)
    assert first == llamacpp_lm.generate(PROMPTS[:1], max_new_tokens=5) and first[0].strip()
    assert chain_rule_gap(llamacpp_lm) < 1e-3
    prompt = llamacpp_lm.chat_prompt([{"role": "user", "content": "Say hello."}])
    assert prompt.endswith("<|im_start|>assistant\n")


def test_llamacpp_server_is_deterministic(llamacpp_server_lm) -> None:
    """llama.cpp's OpenAI-compatible server on loopback: the same text at temperature 0
    (its own default repeat penalty applies, so not the in-process text), and chat.

    Its echoed prompt log-probabilities are not compared: llama-cpp-python pairs token i
    with the distribution computed *after* it (``llama.py``, ``_create_completion``:
    ``zip(all_tokens, logits_to_logprobs(self._scores))``), i.e. they are shifted by one.
    """
    text = llamacpp_server_lm.generate(PROMPTS[:1], max_new_tokens=5)
    assert text == llamacpp_server_lm.generate(PROMPTS[:1], max_new_tokens=5) and text[0]
    reply = llamacpp_server_lm.chat([[{"role": "user", "content": "Say hello."}]],
                                    max_new_tokens=4)
    assert reply[0].strip()
