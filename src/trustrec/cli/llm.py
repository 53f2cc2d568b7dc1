"""Generative language-model commands: ``llm generate``, ``llm info`` and ``chat``.

The model comes from the ``TRUSTREC_LLM_*`` environment (see :mod:`trustrec.llm.settings`;
the bundled SmolLM2-135M by default) or the options below, which win.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from trustrec.cli.common import app, err, out, print_table, user_errors

llm_app = typer.Typer(no_args_is_help=True,
                      help="Generate text with the language model and show which one it is.")
app.add_typer(llm_app, name="llm")

BackendOpt = Annotated[str | None, typer.Option(
    help="transformers | llamacpp | openai (default: TRUSTREC_LLM_BACKEND, else openai when "
         "a base URL is set, else transformers).")]
LlmModelOpt = Annotated[str | None, typer.Option(
    "--llm-model", help="Model folder, GGUF file or server model name (default: the bundled "
                        "SmolLM2-135M-Instruct).")]
BaseUrlOpt = Annotated[str | None, typer.Option(
    help="OpenAI-compatible server, e.g. http://localhost:8000/v1.")]
CacheOpt = Annotated[str | None, typer.Option(
    "--cache-dir", help="Answer cache folder ('off' disables it; default: the user cache).")]


def _open(backend: str | None, model: str | None, base_url: str | None,
          cache_dir: str | None):
    from trustrec.llm.settings import LLMSettings, open_model

    return open_model(LLMSettings.from_env(backend=backend, model=model, base_url=base_url,
                                           cache_dir=cache_dir))


@llm_app.command("generate")
@user_errors
def generate(
    prompt: Annotated[str, typer.Argument(help="What to say to the model.")],
    max_tokens: Annotated[int, typer.Option(min=1, max=4096, help="Tokens to generate.")] = 64,
    temperature: Annotated[float, typer.Option(min=0.0, max=5.0,
                                               help="0: greedy (deterministic).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed when sampling.")] = 0,
    raw: Annotated[bool, typer.Option(
        help="Complete PROMPT as raw text instead of a chat message.")] = False,
    backend: BackendOpt = None,
    llm_model: LlmModelOpt = None,
    base_url: BaseUrlOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Print the model's reply to PROMPT (a chat message, or raw text with --raw)."""
    lm = _open(backend, llm_model, base_url, cache_dir)
    hits = lm.cache.hits if lm.cache is not None else 0
    start = time.perf_counter()
    options = {"max_new_tokens": max_tokens, "temperature": temperature, "seed": seed}
    (text,) = lm.generate([prompt], **options) if raw else \
        lm.chat([[{"role": "user", "content": prompt}]], **options)
    seconds = time.perf_counter() - start
    out.print(text, highlight=False, markup=False, soft_wrap=True)
    cached = lm.cache is not None and lm.cache.hits > hits
    err.print(f"[dim]{lm.model_id}: {'from the cache' if cached else 'generated'} in "
              f"{seconds:.2f}s[/dim]", highlight=False)


@llm_app.command("info")
@user_errors
def info(
    backend: BackendOpt = None,
    llm_model: LlmModelOpt = None,
    base_url: BaseUrlOpt = None,
    speed: Annotated[bool, typer.Option(help="Also time a short greedy generation.")] = True,
) -> None:
    """Which language model trustrec uses, where it lives, and how fast it generates."""
    lm = _open(backend, llm_model, base_url, "off")
    start = time.perf_counter()
    row = lm.info().to_dict()
    row["load_s"] = time.perf_counter() - start
    if speed:
        tokens = 16
        start = time.perf_counter()
        lm.generate(["Recommend a film and say why:"], max_new_tokens=tokens)
        row["tokens_per_s"] = tokens / (time.perf_counter() - start)
        row["speed_note"] = f"greedy, {tokens} tokens, no cache (at most: it may stop early)"
    for key, value in row.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        out.print(f"{key}: {shown}", highlight=False, markup=False, soft_wrap=True)


@app.command()
@user_errors
def chat(
    message: Annotated[str, typer.Argument(help="What you would like, in words.")],
    model_dir: Annotated[Path, typer.Option(
        help="A model written by `trustrec train` (text models such as hybrid also search "
             "the words).")],
    items: Annotated[Path | None, typer.Option(
        help="Item table (titles, genres, years).")] = None,
    user: Annotated[str | None, typer.Option(help="Personalise for this user ID.")] = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="Items to recommend.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    backend: BackendOpt = None,
    llm_model: LlmModelOpt = None,
    base_url: BaseUrlOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Recommend from a request in words; the answer names only items on the list."""
    from trustrec.chat import Catalogue, chat_recommend
    from trustrec.data import readers
    from trustrec.models import Recommender

    recommender = Recommender.load(model_dir)
    catalogue = Catalogue.build(recommender, readers.read_items(items) if items else None)
    lm = _open(backend, llm_model, base_url, cache_dir)
    reply = chat_recommend(recommender, lm, message, user_id=user, k=k, catalogue=catalogue)
    if as_json:
        out.print_json(json.dumps(reply.to_dict()))
        return
    out.print(reply.answer, highlight=False, markup=False, soft_wrap=True)
    print_table(f"{len(reply.items)} item(s)", reply.items.to_dict("records"))
    if reply.request is None:
        err.print(f"[dim]the model's request was not usable ({reply.rejected}); searched "
                  "the message itself[/dim]", highlight=False)
    if reply.removed:
        err.print(f"[dim]grounding removed {len(reply.removed)} sentence(s) naming items "
                  "outside the list[/dim]", highlight=False)
