"""The Correlations page's heatmap (:func:`correlation_heatmap`) and its helpers: p-value
correction, feature order, p-values as text, and correlations recomputed on the segments
the sidebar's filters keep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
from scipy import stats
from scipy.cluster import hierarchy

from core.errors import InspectError
from core.features.names import display_names
from core.features.registry import feature_tier
from core.infra.arrays import FloatArray, IntArray
from core.runs.records import Correlations

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
    medians: npt.ArrayLike,
) -> SubsetCorrelations:
    """Pearson and Spearman r and p over the rows of ``mask`` (e.g. one team's segments).

    ``features`` are the raw values (NaN where the provider has none); missing values are
    filled by :func:`core.model.imputation.impute_missing` with ``medians``, the run's
    training medians (one per feature), as training fills them, never the subset's own;
    a feature with no value in the subset is constant there (its r is NaN).
    """
    from core.analysis.latents import pearson_matrix, spearman_matrix
    from core.model.imputation import impute_missing

    keep = np.asarray(mask, dtype=bool)
    Z = np.asarray(latents, dtype=np.float64)[keep]
    n = int(keep.sum())
    if n < MIN_SUBSET:
        raise InspectError(
            f"Only {n} segment(s) pass the sidebar's filters; correlations need at least "
            f"{MIN_SUBSET}. Widen the filters, or show the run's own correlations."
        )
    X = impute_missing(np.asarray(features, dtype=np.float64)[keep], medians)
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


# --- the heatmap ---------------------------------------------------------------------------------

CORRECTIONS: dict[str, str] = {"bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni", "none": "no"}
ALPHA = 0.05  # cells with an (adjusted) p above this are blank when masking is on
Method = Literal["pearson", "spearman"]


@dataclass(frozen=True)
class Heatmap:
    """The Correlations page's heatmap and the counts its captions give."""

    figure: go.Figure
    n_cells: int  # dimensions shown x features
    n_significant: int | None  # cells kept when non-significant ones are masked, else None
    feature_names: list[str]  # in the heatmap's column order
    tiers: list[int]  # feature tiers present


def heatmap_matrices(
    corr: Correlations, subset: SubsetCorrelations | None, method: Method
) -> tuple[FloatArray, FloatArray, list[str]]:
    """``r``, ``p`` and feature names of ``method``: the run's own, or those recomputed on the
    filtered segments when ``subset`` is given."""
    src: Correlations | SubsetCorrelations = corr if subset is None else subset
    r = src.pearson_r if method == "pearson" else src.spearman_r
    p = src.pearson_p if method == "pearson" else src.spearman_p
    return np.asarray(r, np.float64), np.asarray(p, np.float64), list(src.feature_names)


def correlation_heatmap(  # noqa: PLR0913 - every argument is one control of the page
    r: FloatArray,
    p: FloatArray,
    names: Sequence[str],
    *,
    rows: Sequence[int],
    row_labels: Sequence[str],
    method: Method,
    order_by: Literal["tier", "cluster"],
    correction: Correction | None,
    definitions: Mapping[str, str],
) -> Heatmap:
    """The dimensions ``rows`` (labelled ``row_labels``) against every feature, ordered by
    ``order_by``; with ``correction`` (masking on) cells whose adjusted p is above
    :data:`ALPHA` are blank. Hover: r, p (adjusted p), the code name and the definition."""
    r_rows, p_rows = r[list(rows)], p[list(rows)]
    order = feature_order(r_rows, list(names), by=order_by)
    r_o, p_o = r_rows[:, order], p_rows[:, order]
    names_o = [names[i] for i in order]
    shown_names = display_names(names_o)
    p_adj = adjust_pvalues(p_o, correction or "none")
    shown = np.where(p_adj <= ALPHA, r_o, np.nan) if correction is not None else r_o
    hover_def = np.array(
        [f"<i>{n}</i>: {definitions.get(n, 'no definition in the registry')}" for n in names_o],
        dtype=object,
    )
    custom = np.dstack(
        [
            p_text(p_o).astype(object),
            p_text(p_adj).astype(object),
            np.broadcast_to(hover_def, r_o.shape),
        ]
    )
    adjusted = "<br>adjusted p = %{customdata[1]}" if correction not in (None, "none") else ""
    fig = go.Figure(
        go.Heatmap(
            z=shown,
            x=[shown_names[n] for n in names_o],
            y=list(row_labels),
            zmin=-1,
            zmax=1,
            zmid=0,
            colorscale="RdBu",
            customdata=custom,
            colorbar={"title": {"text": f"{method.capitalize()} r"}},
            hovertemplate=(
                "<b>%{y} × %{x}</b><br>r = %{z:+.3f}<br>p = %{customdata[0]}"
                + adjusted
                + "<br>%{customdata[2]}<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        height=max(380, 200 + 40 * len(rows)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"tickangle": -45, "tickfont": {"size": 12}, "automargin": True},
        yaxis={"autorange": "reversed", "tickfont": {"size": 13}, "automargin": True},
    )
    return Heatmap(
        figure=fig,
        n_cells=int(r_rows.size),
        n_significant=None if correction is None else int(np.isfinite(shown).sum()),
        feature_names=names_o,
        tiers=sorted({feature_tier(n) or 0 for n in names}),
    )
