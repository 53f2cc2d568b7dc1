"""Data layer: read, validate, map IDs, split and synthesize interaction data."""

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.data.movielens import load_ml100k_folds, load_movielens
from trustrec.data.readers import LoadResult, load, read_interactions
from trustrec.data.recommendations import PAD, Recommendations
from trustrec.data.validate import CleaningReport, clean_interactions

__all__ = ["PAD", "Dataset", "IdIndex", "Recommendations"]
__all__ += ["CleaningReport", "LoadResult", "clean_interactions", "load", "load_ml100k_folds",
            "load_movielens", "read_interactions"]
from trustrec.data.split import (  # noqa: E402
    SPLITTERS,
    Split,
    cold_item_holdout,
    cold_user_holdout,
    keep_min_interactions,
    kfold,
    leave_last_n,
    next_item_split,
    random_holdout,
    split_dataset,
    temporal_split,
    validation_split,
)

__all__ += ["SPLITTERS", "Split", "cold_item_holdout", "cold_user_holdout",
            "keep_min_interactions", "kfold", "leave_last_n", "next_item_split", "random_holdout",
            "split_dataset", "temporal_split", "validation_split"]
