"""Data layer: read, validate, map IDs, split and synthesize interaction data."""

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.data.recommendations import PAD, Recommendations

__all__ = ["PAD", "Dataset", "IdIndex", "Recommendations"]
