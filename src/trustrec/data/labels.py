"""Multi-valued labels of a side table (genres ``Action|Comedy``) as a 0/1 matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def multi_hot(values: pd.Series, sep: str = "|") -> tuple[sp.csr_matrix, list[str]]:
    """0/1 (len(values) × labels) CSR of ``sep``-separated labels and the label names
    (sorted). Labels are stripped, a repeat counts once, MovieLens' '(no genres listed)' is
    no label."""
    exploded = (values.fillna("").astype(str).reset_index(drop=True)
                .str.split(sep, regex=False).explode().str.strip())
    exploded = exploded[(exploded != "") & (exploded != "(no genres listed)")]
    pairs = pd.DataFrame({"row": exploded.index.to_numpy(), "label": exploded.to_numpy()})
    pairs = pairs.drop_duplicates()
    codes, names = pd.factorize(pairs["label"], sort=True)
    m = sp.csr_matrix((np.ones(len(pairs)), (pairs["row"].to_numpy(), codes)),
                      shape=(len(values), len(names)))
    return m, [str(n) for n in names]
