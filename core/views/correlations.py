"""Display helpers of the correlation heatmap: p-value correction, feature order, p-values as
text, and correlations recomputed on the segments the sidebar's filters keep."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
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


# --- correlations on a subset of segments (the sidebar's filters) ------------------------

MIN_SUBSET = 10  # fewer segments than this give no readable correlation


@dataclass(frozen=True)
class SubsetCorrelations:
    """Every latent against every feature over a subset of a run's segments."""

    pearson_r: FloatArray  # (latents, features)
    pearson_p: FloatArray
    spearman_r: FloatArray
    spearman_p: FloatArray
    feature_names: list[str]
    n: int  # segments used


def subset_correlations(
    latents: npt.ArrayLike,
    features: npt.ArrayLike,
    feature_names: Sequence[str],
    mask: npt.ArrayLike,
) -> SubsetCorrelations:
    """Pearson and Spearman r and p over the rows of ``mask`` (e.g. one team's segments).

    ``features`` are the raw values (NaN where the provider has none); missing values are
    filled with the subset's median of the feature, as training fills them, and a
    feature with no value in the subset is constant there (its r is NaN).
    """
    from core.analysis.latents import pearson_matrix, spearman_matrix

    keep = np.asarray(mask, dtype=bool)
    Z = np.asarray(latents, dtype=np.float64)[keep]
    X = np.asarray(features, dtype=np.float64)[keep]
    n = int(keep.sum())
    if n < MIN_SUBSET:
        raise InspectError(
            f"Only {n} segment(s) pass the sidebar's filters; correlations need at least "
            f"{MIN_SUBSET}. Widen the filters, or show the run's own correlations."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: median is NaN
        med = np.nanmedian(X, axis=0)
    X = np.where(np.isnan(X), np.nan_to_num(med, nan=0.0)[None, :], X)
    pr, pp = pearson_matrix(Z, X)
    sr, sp = spearman_matrix(Z, X)
    return SubsetCorrelations(pr, pp, sr, sp, list(feature_names), n)


def p_text(p: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """p-values as text for hovers: ``"< 0.001"``, ``"0.012"``, ``"0.43"``, ``"n/a"``.

    A p-value never reads "0.0": below 0.001 it is written as a bound.
    """
    arr = np.asarray(p, dtype=np.float64)
    out = np.where(
        arr < 0.001,
        "< 0.001",
        np.where(arr < 0.01, np.char.mod("%.3f", arr), np.char.mod("%.2f", arr)),
    )
    return np.where(np.isfinite(arr), out, "n/a")
