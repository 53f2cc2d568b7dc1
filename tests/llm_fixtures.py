"""Session fixtures for tests that use a generative language model: the bundled SmolLM2
loaded once (converted once into the user cache, reused across runs) and a real
OpenAI-compatible server process on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustrec.llm.local import TransformersLM
from trustrec.llm.remote import OpenAICompatibleLM


@pytest.fixture(scope="session")
def bundled_lm() -> TransformersLM:
    """The bundled SmolLM2-135M-Instruct in-process, without an answer cache."""
    pytest.importorskip("transformers")
    try:
        from trustrec.llm.bundled import bundled_gguf

        bundled_gguf()
    except Exception as exc:  # the package is an optional extra
        pytest.skip(f"bundled language model unavailable: {exc}")
    lm = TransformersLM()
    lm.folder()  # converts the GGUF on the very first run only
    return lm


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the LLM server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    pytest.fail(f"the LLM server at {url} did not come up within {seconds:.0f}s")


@pytest.fixture(scope="session")
def served_lm(bundled_lm: TransformersLM) -> Iterator[OpenAICompatibleLM]:
    """The bundled model's converted folder served by ``transformers serve`` (a real
    OpenAI-compatible server from the transformers package) on a loopback port; the process
    is stopped after the session."""
    folder: Path = bundled_lm.folder()
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cli = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen([str(cli), "serve", str(folder), "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "error"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(url, proc, 180)
        yield OpenAICompatibleLM(url, str(folder), timeout=120, max_retries=0)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def llamacpp_gguf() -> Path:
    """The bundled GGUF, if llama-cpp-python is installed and decodes on this machine (a
    build that crashes is probed in a child process, so it cannot take the tests down)."""
    pytest.importorskip("llama_cpp")
    from trustrec.llm.bundled import bundled_gguf

    gguf = bundled_gguf()
    probe = (f"import llama_cpp; llama_cpp.Llama(model_path={str(gguf)!r}, n_ctx=256, "
             "verbose=False).create_completion('one two three four', max_tokens=1)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120)
    if result.returncode != 0:
        pytest.skip(f"llama-cpp-python crashes on this machine (exit {result.returncode}); "
                    "llama-cpp-python 0.3.36 did here, 0.3.16 works")
    return gguf


@pytest.fixture(scope="session")
def llamacpp_server_lm(llamacpp_gguf: Path) -> Iterator[OpenAICompatibleLM]:
    """llama.cpp's own OpenAI-compatible server (``python -m llama_cpp.server``) on a
    loopback port, serving the bundled GGUF."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model",
                             str(llamacpp_gguf), "--model_alias", "smollm2", "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--logits_all", "true", "--n_threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(url, proc, 120)
        yield OpenAICompatibleLM(url, "smollm2", timeout=120, max_retries=0)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop a test server: SIGTERM, then SIGKILL if it lingers."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
