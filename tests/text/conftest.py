"""Text fixtures: no network, and the bundled model's encoders loaded once per session."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import huggingface_hub.constants
import pytest

from trustrec.text import TextEncoder


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may reach the network (the hub reads HF_HUB_OFFLINE when imported)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def loaded(**settings: object) -> Iterator[TextEncoder]:
    """A bundled-model encoder with ``settings``, loaded offline."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        enc = TextEncoder(show_progress=False, **settings)  # type: ignore[arg-type]
        enc.encode(["warm up"])
    yield enc


@pytest.fixture(scope="session")
def encoder() -> Iterator[TextEncoder]:
    """The torch backend with its default int8 (smoothed) layers."""
    yield from loaded(backend="torch")


@pytest.fixture(scope="session")
def fp32() -> Iterator[TextEncoder]:
    """The torch backend in float32."""
    yield from loaded(backend="torch", quantize=False)


@pytest.fixture(scope="session")
def onnx_encoder() -> Iterator[TextEncoder]:
    """The ONNX Runtime backend with its defaults (int8 where the calibration check holds);
    exported once per session into ``$TRUSTREC_CACHE_DIR``."""
    yield from loaded(backend="onnx")


@pytest.fixture(scope="session")
def onnx_fp32() -> Iterator[TextEncoder]:
    """The ONNX Runtime backend in float32."""
    yield from loaded(backend="onnx", quantize=False)
