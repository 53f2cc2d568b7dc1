"""Fixtures for the service tests: a tiny saved item-kNN model and an app factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import planted_frame
from trustrec.data import Dataset
from trustrec.models import create_model
from trustrec.serve import Settings, create_app
from trustrec.serve.security import create_key
from trustrec.serve.store import EventStore


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An item-kNN model on the planted data (users u0…u59, items i0…i39), saved."""
    data = Dataset.from_frame(planted_frame(), name="planted")
    path = tmp_path_factory.mktemp("model") / "itemknn"
    create_model("itemknn", {"k": 10}).fit(data).save(path)
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite event database."""
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture
def make_client(model_dir: Path, db_url: str) -> Iterator[Callable[..., TestClient]]:
    """Build a test client for the service: ``key`` is sent by default, keyword arguments
    override settings."""
    clients: list[TestClient] = []

    def make(key: str | None = None, **overrides: object) -> TestClient:
        """A client sending ``key`` with every request unless a request says otherwise."""
        settings = Settings(**{"model_dir": model_dir, "db_url": db_url, **overrides})
        client = TestClient(create_app(settings), raise_server_exceptions=False,
                            headers=bearer(key) if key else None)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.app.state.service.close()
        client.close()


@pytest.fixture
def keys(db_url: str) -> dict[str, str]:
    """One API key per role, stored in the test database."""
    store = EventStore(db_url)
    try:
        return {role: create_key(store, f"test-{role}", role)
                for role in ("read", "write", "admin")}
    finally:
        store.close()


def bearer(key: str) -> dict[str, str]:
    """Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}
