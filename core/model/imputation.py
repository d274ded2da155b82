"""The one rule for a missing feature value, wherever a feature matrix is read.

A missing feature value (NaN: the provider has none for that segment) is filled with the
run's training median of that feature (``PreprocessingPipeline.medians_``, aligned to its
``feature_columns_``), never with the median of a subset: the run's correlations, and any
correlation recomputed on the segments the sidebar's filters keep, see the same values the
model was trained on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.infra.arrays import FloatArray


def impute_missing(X: npt.ArrayLike, medians: npt.ArrayLike) -> FloatArray:
    """``X`` (rows x features) with each NaN replaced by its column's training median.

    ``medians`` holds one value per column of ``X`` (the run's training medians, in the
    same column order); a copy is returned, ``X`` is left as it is.
    """
    values = np.asarray(X, dtype=np.float64)
    fill = np.asarray(medians, dtype=np.float64)
    if values.ndim != 2 or fill.shape != (values.shape[1],):
        raise ValueError(
            f"Need one training median per feature column: got {fill.shape[0] if fill.ndim else 0} "
            f"median(s) for a matrix of shape {values.shape}."
        )
    return np.where(np.isnan(values), fill[None, :], values)
