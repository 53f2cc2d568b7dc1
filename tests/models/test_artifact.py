"""Artifact saves are generations: a reader racing a save reads one complete generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trustrec.models import artifact


def test_a_read_racing_a_save_reads_the_new_generation(tmp_path: Path, monkeypatch) -> None:
    artifact.write_artifact(tmp_path, {"model": "x"}, {"a": np.arange(3)})
    real = artifact.read_arrays
    raced = []

    def racing(path, manifest):  # a save commits (and removes our files) mid-read
        if not raced:
            raced.append(True)
            artifact.write_artifact(tmp_path, {"model": "x"}, {"a": np.arange(5)})
        return real(path, manifest)

    monkeypatch.setattr(artifact, "read_arrays", racing)
    manifest, arrays = artifact.read_artifact(tmp_path)
    assert manifest["generation"] == 2 and arrays["a"].tolist() == list(range(5))


def test_a_damaged_generation_is_refused_not_retried(tmp_path: Path) -> None:
    artifact.write_artifact(tmp_path, {"model": "x"}, {"a": np.arange(3)})
    file = tmp_path / artifact.read_manifest(tmp_path)["arrays"]["a"]["file"]
    file.write_bytes(file.read_bytes()[:-1] + b"\x01")
    with pytest.raises(artifact.ArtifactError, match="SHA-256 does not match"):
        artifact.read_artifact(tmp_path)
