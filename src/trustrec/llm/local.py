"""``TransformersLM``: a causal language model run in-process by Hugging Face transformers.

The default model is the bundled SmolLM2-135M-Instruct, converted once from its GGUF file
(:func:`~trustrec.llm.bundled.converted_model`); any local transformers model folder works
too. Everything runs on the CPU, offline.

Threads: torch's default OpenMP wait policy spins its threads between parallel regions,
and on cores shared with other processes two spinning threads fell to 1–2 tokens/s here,
while one thread (or ``OMP_WAIT_POLICY=PASSIVE``, which must be set before torch is first
imported) kept 5–12. So ``threads=None`` means one thread unless the environment sets the
passive policy, then up to two. The thread count is set for each call and restored after.

Generation: prompts are batched (up to :data:`BATCH`, similar lengths together) with left
padding; ``temperature=0`` is greedy; with
sampling each prompt is decoded on its own with its seed, so its text does not depend on
the other prompts. ``logprob`` runs the prompt once and all continuations in one batch
over copies of its key/value cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trustrec._runtime import available_cpus, intra_op_threads
from trustrec.errors import ConfigError
from trustrec.llm import bundled
from trustrec.llm.base import LanguageModel, Message, ModelInfo, Sampling, cut_at_stop
from trustrec.llm.cache import LLMCache

#: Prompts decoded together (a batch of 8 ran 3.5× the tokens/s of one prompt here).
BATCH = 8


def default_threads() -> int:
    """Torch threads for generation: 2 (at most the CPUs) with a passive OpenMP wait
    policy, else 1 (see the module docstring)."""
    passive = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    return min(2, available_cpus()) if passive else 1


class TransformersLM(LanguageModel):
    """transformers backend. ``model``: a local model folder (None: the bundled SmolLM2,
    converted on first use); ``threads``: torch threads per call (None: see
    :func:`default_threads`); ``cache``: an :class:`LLMCache`. The model loads on first use.
    """

    backend = "transformers"

    def __init__(self, model: str | os.PathLike[str] | None = None, *,
                 threads: int | None = None, cache: LLMCache | None = None) -> None:
        super().__init__(cache)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"TransformersLM: threads={threads!r}, expected an integer ≥ 1")
        self.model = model
        self.threads = threads
        self._loaded: tuple[Any, Any] | None = None
        self._folder: Path | None = None
        self._model_id: str | None = None

    # ------------------------------------------------------------------ identity
    def folder(self) -> Path:
        """The model folder (converting the bundled GGUF on first use)."""
        if self._folder is None:
            if self.model is None:
                self._folder = bundled.converted_model()
            else:
                path = Path(self.model).expanduser()
                if not path.is_dir():
                    raise ConfigError(f"TransformersLM: model folder {path} does not exist")
                self._folder = path.resolve()
        return self._folder

    @property
    def model_id(self) -> str:
        """``transformers:<name>@<sha256[:16]>``: the GGUF's digest for the bundled model,
        a digest of the folder's weight and tokenizer files otherwise."""
        if self._model_id is None:
            if self.model is None:
                digest = bundled.file_sha256(bundled.bundled_gguf())
                name = bundled.BUNDLED_NAME
            else:
                folder = self.folder()
                digest = _folder_digest(folder)
                name = folder.name
            self._model_id = f"{self.backend}:{name}@{digest[:16]}"
        return self._model_id

    def info(self) -> ModelInfo:
        """Backend, model ID, folder, parameter count and threads (loads the model)."""
        model, _ = self._load()
        return ModelInfo(self.backend, self.model_id, str(self.folder()), {
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            "threads": self.threads or default_threads()})

    def chat_prompt(self, messages: list[Message]) -> str:
        """The model's own chat template applied to ``messages``, ready for the reply."""
        _, tokenizer = self._load()
        if not tokenizer.chat_template:
            raise ConfigError(f"model {self.folder()} has no chat template")
        return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                 tokenize=False))

    # ------------------------------------------------------------------ backend hooks
    def _generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        import torch

        model, tokenizer = self._load()
        with intra_op_threads(self.threads or default_threads()), torch.inference_mode():
            if sampling.temperature > 0:
                return [self._decode(model, tokenizer, [p], sampling)[0] for p in prompts]
            order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
            out = [""] * len(prompts)
            for start in range(0, len(order), BATCH):  # similar lengths pad little
                rows = order[start:start + BATCH]
                texts = self._decode(model, tokenizer, [prompts[i] for i in rows], sampling)
                for i, text in zip(rows, texts, strict=True):
                    out[i] = text
            return out

    def _decode(self, model: Any, tokenizer: Any, prompts: list[str],
                sampling: Sampling) -> list[str]:
        import torch

        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        options: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens,
                                   "pad_token_id": tokenizer.pad_token_id,
                                   "eos_token_id": tokenizer.eos_token_id}
        if sampling.temperature > 0:
            options.update(do_sample=True, temperature=sampling.temperature, top_k=0,
                           top_p=1.0)
        else:
            options.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sampling.seed)
            out = model.generate(**batch, **options)
        new = out[:, batch["input_ids"].shape[1]:]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        return [cut_at_stop(t, sampling.stop) for t in texts]

    def _logprob(self, prompt: str, continuations: list[str]) -> list[float]:
        import torch

        model, tokenizer = self._load()
        prefix = self._prompt_ids(tokenizer, prompt)
        conts = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        if any(not c for c in conts):
            raise ConfigError("llm.logprob: a continuation has no tokens")
        with intra_op_threads(self.threads or default_threads()), torch.inference_mode():
            first = model(input_ids=torch.tensor([prefix]), use_cache=True)
            first_lp = torch.log_softmax(first.logits[0, -1].double(), dim=-1)
            scores = [float(first_lp[c[0]]) for c in conts]
            width = max(len(c) for c in conts) - 1
            if width == 0:
                return scores
            n = len(conts)
            ids = torch.full((n, width), tokenizer.pad_token_id or 0, dtype=torch.long)
            mask = torch.zeros((n, len(prefix) + width), dtype=torch.long)
            mask[:, :len(prefix)] = 1
            for row, c in enumerate(conts):
                ids[row, :len(c) - 1] = torch.tensor(c[:-1])
                mask[row, len(prefix):len(prefix) + len(c) - 1] = 1
            cache = first.cache
            cache.batch_repeat_interleave(n)
            positions = torch.arange(len(prefix), len(prefix) + width).expand(n, -1)
            rest = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         cache=cache, use_cache=True)
            lp = torch.log_softmax(rest.logits.double(), dim=-1)
            for row, c in enumerate(conts):
                targets = torch.tensor(c[1:])
                scores[row] += float(lp[row, torch.arange(len(c) - 1), targets].sum())
        return scores

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
        """Token IDs of a prompt; the empty prompt starts from the BOS (or EOS) token."""
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
        if not ids:
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None \
                else tokenizer.eos_token_id
            ids = [int(start)]
        return list(ids)

    def _load(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded once, offline."""
        if self._loaded is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            folder = self.folder()
            try:
                tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(
                    folder, local_files_only=True, dtype=torch.float32).eval()
            except (OSError, ValueError) as exc:
                raise ConfigError(f"could not load language model {folder}: {exc}") from exc
            tokenizer.padding_side = "left"
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._loaded = (model, tokenizer)
        return self._loaded


def _folder_digest(folder: Path) -> str:
    """SHA-256 over the names and digests of the folder's visible files."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()
                       and not p.name.startswith(".")):
        digest.update(path.name.encode("utf-8") + b"\0" + bytes.fromhex(
            bundled.file_sha256(path)))
    return digest.hexdigest()

