"""Generative language models behind one interface (:class:`LanguageModel`): the bundled
SmolLM2-135M-Instruct run in-process, llama.cpp where installed, and any OpenAI-compatible
server; with a disk cache of generations and log-probabilities."""

from trustrec.llm.base import LanguageModel, Message, ModelInfo, Sampling
from trustrec.llm.cache import LLMCache

__all__ = ["LLMCache", "LanguageModel", "Message", "ModelInfo", "Sampling"]
