"""Matching latent dimensions across trainings: Hungarian assignment on |corr| of the codes,
and how much each matched dimension's top-k features agree (pure array math).

A VAE's latent axes are only defined up to permutation and sign, so dimension ``z3`` of one
seed is compared with whichever dimension of another seed tracks the same thing: the
assignment maximising total ``|corr|`` of the codes over shared segments (Hungarian,
``scipy.optimize.linear_sum_assignment``), with the sign of that correlation recorded.
Then each dimension's top-5 correlated features are compared across seeds (mean pairwise
Jaccard). The per-run report over stored runs is :mod:`core.services.stability`; starting
the seed runs is :mod:`core.jobs.seeds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from core.errors import StabilityError
from core.model.latents import latent_names

TOP_K = 5
FLAT_LOSS_RTOL = 1e-6  # a training loss whose whole range is below this (relative) is flat


# --- pure math --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimensionMatch:
    """How the dimensions of an ``other`` run map onto a reference run's.

    ``match[i]`` is the other run's dimension matched to reference dimension ``i`` (-1 when
    the other run has fewer dimensions), ``sign[i]`` is +1 or -1 (multiply the other's code
    by it to align), ``abs_corr[i]`` the |Pearson r| of the matched pair.
    """

    match: np.ndarray  # (k_ref,) int
    sign: np.ndarray  # (k_ref,) +1/-1
    abs_corr: np.ndarray  # (k_ref,)
    corr: np.ndarray  # (k_ref, k_other) full cross-correlation of the codes


def cross_correlation(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson r between every column of ``A`` (n, p) and every column of ``B`` (n, q)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise StabilityError(
            f"codes must be (segments, dims) with the same segments, got {A.shape} and {B.shape}."
        )
    if A.shape[0] < 3:
        raise StabilityError(f"need at least 3 shared segments to correlate, got {A.shape[0]}.")
    Ac = A - A.mean(axis=0)
    Bc = B - B.mean(axis=0)
    na = np.sqrt((Ac**2).sum(axis=0))
    nb = np.sqrt((Bc**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Ac.T @ Bc) / np.outer(na, nb)
    out: np.ndarray = np.nan_to_num(np.clip(r, -1.0, 1.0), nan=0.0)
    return out


def match_dimensions(Z_ref: np.ndarray, Z_other: np.ndarray) -> DimensionMatch:
    """Match ``Z_other``'s dimensions to ``Z_ref``'s by maximal total ``|corr|`` (Hungarian)."""
    C = cross_correlation(Z_ref, Z_other)
    from scipy.optimize import linear_sum_assignment  # here: the pages import this module

    rows, cols = linear_sum_assignment(-np.abs(C))
    k = C.shape[0]
    match = np.full(k, -1, dtype=np.int64)
    match[rows] = cols
    sign = np.ones(k, dtype=np.int64)
    abs_corr = np.zeros(k, dtype=np.float64)
    sign[rows] = np.where(C[rows, cols] < 0, -1, 1)
    abs_corr[rows] = np.abs(C[rows, cols])
    return DimensionMatch(match=match, sign=sign, abs_corr=abs_corr, corr=C)


def top_k_sets(R: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Boolean (dims, features) mask of each row's ``k`` largest ``|R|`` entries."""
    R = np.abs(np.nan_to_num(np.asarray(R, dtype=np.float64)))
    k = min(k, R.shape[1])
    idx = np.argsort(-R, axis=1, kind="stable")[:, :k]
    mask = np.zeros(R.shape, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def top_k_agreement(
    correlations: Sequence[np.ndarray],
    matches: Sequence[DimensionMatch | None],
    k: int = TOP_K,
    *,
    dims: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Per reference dimension, how much its top-``k`` features agree across runs.

    ``correlations[s]`` is run ``s``'s (dims, features) latent-feature correlation matrix
    (same feature order for all runs); ``matches[s]`` maps run ``s`` onto the reference
    (``None`` for the reference itself, which must come first). Returns ``dim``,
    ``mean_jaccard`` (mean over all pairs of runs of |A∩B| / |A∪B| of the top-``k`` sets),
    ``min_jaccard``, ``mean_abs_corr`` (mean |r| of the matched codes, reference excluded),
    ``profile_r`` (mean correlation of the sign-aligned correlation profiles with the
    reference's) and ``n_runs``. ``dims`` names the reference's rows (``z0..`` when None).
    """
    if not correlations or matches[0] is not None:
        raise StabilityError("the reference run must come first, with match None.")
    R0 = np.asarray(correlations[0], dtype=np.float64)
    kd, nf = R0.shape
    aligned = np.empty((len(correlations), kd, nf), dtype=np.float64)
    aligned[0] = R0
    codes_r = np.full((len(correlations), kd), np.nan)
    for s in range(1, len(correlations)):
        m = matches[s]
        R = np.asarray(correlations[s], dtype=np.float64)
        if m is None or R.shape[1] != nf:
            raise StabilityError(f"run {s} needs a DimensionMatch and {nf} feature columns.")
        ok = m.match >= 0
        aligned[s] = np.nan
        aligned[s, ok] = R[m.match[ok]] * m.sign[ok, None]
        codes_r[s, ok] = m.abs_corr[ok]
    masks = np.stack([top_k_sets(np.nan_to_num(a), k) for a in aligned])  # (S, kd, nf)
    valid: np.ndarray = np.asarray(~np.isnan(aligned).any(axis=2))  # (S, kd)
    per_dim = masks.transpose(1, 0, 2).astype(np.float64)  # (kd, S, nf)
    inter = per_dim @ per_dim.transpose(0, 2, 1)  # (kd, S, S)
    sizes = per_dim.sum(axis=2)
    union = sizes[:, :, None] + sizes[:, None, :] - inter
    jac = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    S = len(correlations)
    iu = np.triu_indices(S, k=1)
    pair_valid = valid.T[:, iu[0]] & valid.T[:, iu[1]]  # (kd, pairs)
    pair_jac = jac[:, iu[0], iu[1]]
    n_pairs = pair_valid.sum(axis=1)
    mean_j = np.where(n_pairs > 0, np.where(pair_valid, pair_jac, 0.0).sum(axis=1), np.nan)
    mean_j = mean_j / np.maximum(n_pairs, 1)
    min_j = np.where(pair_valid, pair_jac, np.inf).min(axis=1, initial=np.inf)
    min_j = np.where(np.isfinite(min_j), min_j, np.nan)
    # Correlation of each run's sign-aligned profile with the reference's (NaN if unmatched).
    filled = np.where(valid[:, :, None], aligned, 0.0)
    ref_c = R0 - R0.mean(axis=1, keepdims=True)
    oth_c = filled - filled.mean(axis=2, keepdims=True)
    num = (oth_c * ref_c[None]).sum(axis=2)
    den = np.sqrt((oth_c**2).sum(axis=2) * (ref_c**2).sum(axis=1)[None])
    prof = np.where(valid & (den > 0), num / np.where(den > 0, den, 1.0), np.nan)  # (S, kd)
    others = slice(1, None)
    names = latent_names(kd) if dims is None else [str(d) for d in dims]
    if len(names) != kd:
        raise StabilityError(f"{len(names)} dim names for {kd} reference dimensions.")
    return pl.DataFrame(
        {
            "dim": names,
            "mean_jaccard": mean_j,
            "min_jaccard": min_j,
            "mean_abs_corr": _nanmean_rows(codes_r[others].T),
            "profile_r": _nanmean_rows(prof[others].T),
            "n_runs": valid.sum(axis=0).astype(np.int64),
        }
    )


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    if a.size == 0:
        return np.full(a.shape[0], np.nan)
    cnt = np.isfinite(a).sum(axis=1)
    return np.where(cnt > 0, np.nan_to_num(a, nan=0.0).sum(axis=1) / np.maximum(cnt, 1), np.nan)


def loss_problem(losses: np.ndarray) -> str | None:
    """Why a training loss curve shows the model did not learn, or None."""
    if losses.size == 0:
        return "degenerate: no training epoch recorded"
    if not np.isfinite(losses).all():
        return "degenerate: non-finite training loss"
    scale = max(1.0, float(np.abs(losses).max()))
    if losses.size >= 2 and float(np.ptp(losses)) <= FLAT_LOSS_RTOL * scale:
        return "degenerate: flat training loss (the model did not learn)"
    return None
