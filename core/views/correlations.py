"""Display helpers of the correlation heatmap: p-value correction and feature order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.cluster import hierarchy

from core.errors import InspectError
from core.features.registry import feature_tier
from core.infra.arrays import FloatArray, IntArray

# --- correlations ------------------------------------------------------------------------

Correction = Literal["none", "bh", "bonferroni"]


def adjust_pvalues(p: npt.ArrayLike, method: Correction) -> FloatArray:
    """Multiple-comparison adjusted p-values over all cells of ``p`` (NaN cells stay NaN).

    ``bh`` is Benjamini-Hochberg (false discovery rate), ``bonferroni`` multiplies by the
    number of tests (capped at 1), ``none`` returns ``p`` unchanged.
    """
    arr = np.asarray(p, dtype=np.float64)
    if method == "none":
        return arr.copy()
    out = np.full(arr.shape, np.nan)
    finite = np.isfinite(arr)
    flat = arr[finite]
    if flat.size == 0:
        return out
    if method == "bonferroni":
        out[finite] = np.minimum(flat * flat.size, 1.0)
    elif method == "bh":
        out[finite] = stats.false_discovery_control(flat, method="bh")
    else:
        raise InspectError(f"Unknown correction {method!r}; use 'none', 'bh' or 'bonferroni'.")
    return out


def feature_order(
    r: npt.ArrayLike, feature_names: Sequence[str], by: Literal["tier", "cluster"]
) -> IntArray:
    """Column order for a (latent x feature) correlation matrix.

    ``tier`` sorts by tier then name; ``cluster`` orders features by average-linkage
    hierarchical clustering of their correlation profiles across latents (correlation
    distance), so features that load on the same latents sit together.
    """
    names = list(feature_names)
    if by == "tier":
        keys = [(feature_tier(n) or 0, n) for n in names]
        return np.asarray(sorted(range(len(names)), key=keys.__getitem__), dtype=np.int64)
    mat = np.nan_to_num(np.asarray(r, dtype=np.float64).T)  # features x latents
    if mat.shape[0] < 3:
        return np.arange(mat.shape[0], dtype=np.int64)
    # Profiles with no variation have no correlation distance; Euclidean on them is stable.
    link = hierarchy.linkage(mat, method="average", metric="euclidean")
    return np.asarray(
        hierarchy.leaves_list(hierarchy.optimal_leaf_ordering(link, mat)), dtype=np.int64
    )
