"""Approximate nearest-neighbour indexes for large catalogues (faiss HNSW, optional extra).

Factor models and ``content`` (every :class:`trustrec.models.ann_mixin.AnnRetrieval`
model) build an index over their item vectors when saved with a catalogue of at least
``TRUSTREC_ANN_MIN_ITEMS`` items (default 100 000) and faiss is installed; the
artifact stores it (faiss's own serialised bytes, SHA-256 in the manifest) with the recall@10
against exact search measured at build. ``recommend`` then retrieves candidates from the
index, re-scores them exactly and masks seen items; without an index it is exact. This package
holds the index only and imports no model: the retrieval that uses it is
:mod:`trustrec.models.ann_retrieval`.
"""

from trustrec.ann.index import AnnIndex, AnnSettings

__all__ = ["AnnIndex", "AnnSettings"]
