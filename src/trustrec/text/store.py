"""``ItemVectors``: a catalogue's precomputed text vectors in a folder (no pickle).

Layout of the folder: ``vectors.npy`` (float32, one row per item), ``item_ids.npy`` (the
items' external IDs, str or int64, row-aligned) and ``manifest.json`` (format, encoder model
ID, text fields, shapes and the SHA-256 of both arrays), written last so that a folder with
a manifest is complete. :meth:`ItemVectors.load` refuses files whose hash, dtype or shape
differ from the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trustrec.errors import ArtifactError
from trustrec.text.encoder import TextEncoder
from trustrec.text.item_text import build_item_texts

FORMAT = "trustrec-item-vectors"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ARRAYS = ("vectors", "item_ids")


@dataclass(frozen=True)
class ItemVectors:
    """Row ``i`` of ``vectors`` (float32, unit or zero rows) is the text vector of item
    ``item_ids[i]``, made by encoder ``model_id`` from ``fields`` (None: default text)."""

    item_ids: np.ndarray
    vectors: np.ndarray
    model_id: str
    fields: tuple[str, ...] | None = None

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the arrays and the manifest into ``directory`` (created if needed)."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        ids = np.asarray(self.item_ids)
        ids = ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str)
        files = {}
        for name, array in zip(_ARRAYS, (np.asarray(self.vectors, np.float32), ids),
                               strict=True):
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            (root / f"{name}.npy").write_bytes(buffer.getvalue())
            files[name] = {"sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
                           "shape": list(array.shape), "dtype": array.dtype.str}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "model_id": self.model_id,
                    "fields": None if self.fields is None else list(self.fields),
                    "arrays": files}
        tmp = root / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        tmp.replace(root / MANIFEST)
        return root

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ItemVectors:
        """Read a folder written by :meth:`save`, verifying hashes, dtypes and shapes."""
        root = Path(directory)
        file = root / MANIFEST
        try:
            manifest = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{file}: cannot read the item-vector manifest ({exc})") from exc
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"{file}: expected format {FORMAT!r} version {FORMAT_VERSION}, "
                                f"got {manifest.get('format')!r} version "
                                f"{manifest.get('format_version')!r}")
        arrays = [_read_array(root, name, manifest) for name in _ARRAYS]
        vectors, ids = arrays
        if vectors.ndim != 2 or ids.shape != (vectors.shape[0],):
            raise ArtifactError(f"{root}: vectors {vectors.shape} and item_ids {ids.shape} "
                                "do not align (expected (n, dim) and (n,))")
        fields = manifest.get("fields")
        return cls(ids, vectors, str(manifest["model_id"]),
                   None if fields is None else tuple(fields))


def _read_array(root: Path, name: str, manifest: dict) -> np.ndarray:
    """Array ``name`` of the folder, refused unless it matches its manifest entry."""
    file = root / f"{name}.npy"
    try:
        entry = manifest["arrays"][name]
        data = file.read_bytes()
    except (OSError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{file}: missing array or manifest entry ({exc})") from exc
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise ArtifactError(f"{file}: SHA-256 differs from {MANIFEST}; the file was changed")
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.dtype.str != entry.get("dtype") or list(array.shape) != entry.get("shape"):
        raise ArtifactError(f"{file}: array is {array.dtype.str} {list(array.shape)}, "
                            f"{MANIFEST} says {entry.get('dtype')} {entry.get('shape')}")
    return array


def encode_item_table(items: pd.DataFrame, encoder: TextEncoder,
                      fields: Sequence[str] | None = None) -> ItemVectors:
    """The text vectors of every row of an item table (``item_id`` plus text columns) with a
    ``TextEncoder`` (texts from :func:`~trustrec.text.item_text.build_item_texts`)."""
    texts = build_item_texts(items, fields=fields)
    return ItemVectors(items["item_id"].to_numpy(), encoder.encode(texts), encoder.model_id,
                       None if fields is None else tuple(fields))
