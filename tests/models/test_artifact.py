"""Artifact saves are generations: a reader racing a save reads one complete generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trustrec.models import artifact


def _save(root: Path, arrays: dict[str, np.ndarray]) -> None:
    artifact.write_artifact(root, artifact.artifact_files({"model": "x"}, arrays))


def _read(root: Path) -> tuple[dict, dict[str, np.ndarray]]:
    return artifact.read_artifact(artifact.DirectoryFiles(root), str(root))


def test_a_read_racing_a_save_reads_the_new_generation(tmp_path: Path, monkeypatch) -> None:
    _save(tmp_path, {"a": np.arange(3)})
    real = artifact.read_arrays
    raced = []

    def racing(files, manifest, source):  # a save commits (and removes our files) mid-read
        if not raced:
            raced.append(True)
            _save(tmp_path, {"a": np.arange(5)})
        return real(files, manifest, source)

    monkeypatch.setattr(artifact, "read_arrays", racing)
    manifest, arrays = _read(tmp_path)
    assert manifest["generation"] == 2 and arrays["a"].tolist() == list(range(5))


def test_a_damaged_generation_is_refused_not_retried(tmp_path: Path) -> None:
    _save(tmp_path, {"a": np.arange(3)})
    file = tmp_path / _read(tmp_path)[0]["arrays"]["a"]["file"]
    file.write_bytes(file.read_bytes()[:-1] + b"\x01")
    with pytest.raises(artifact.ArtifactError, match="SHA-256 does not match"):
        _read(tmp_path)
