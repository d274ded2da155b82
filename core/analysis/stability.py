"""Stability of each latent's meaning: the same config under several seeds, dimensions matched.

A VAE's latent axes are only defined up to permutation and sign, so dimension ``z3`` of one
seed is compared with whichever dimension of another seed tracks the same thing: the
assignment maximising total ``|corr|`` of the codes over shared segments (Hungarian,
``scipy.optimize.linear_sum_assignment``), with the sign of that correlation recorded.
Then each dimension's top-5 correlated features are compared across seeds (mean pairwise
Jaccard). Seed runs are ordinary runs started through :func:`core.jobs.manager.start_training`,
so they are background jobs, cached, and shared with everyone who asks for them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from core.errors import StabilityError
from core.jobs.api import run_status
from core.model.config import VAEConfig
from core.model.latents import latent_name, latent_names

if TYPE_CHECKING:
    from core.jobs.records import TrainRequest
    from core.runs.store import Run

logger = logging.getLogger(__name__)


STABILITY_DIR = "stability"
TOP_K = 5
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3, 4)


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
) -> pl.DataFrame:
    """Per reference dimension, how much its top-``k`` features agree across runs.

    ``correlations[s]`` is run ``s``'s (dims, features) latent-feature correlation matrix
    (same feature order for all runs); ``matches[s]`` maps run ``s`` onto the reference
    (``None`` for the reference itself, which must come first). Returns ``dim``,
    ``mean_jaccard`` (mean over all pairs of runs of |A∩B| / |A∪B| of the top-``k`` sets),
    ``min_jaccard``, ``mean_abs_corr`` (mean |r| of the matched codes, reference excluded),
    ``profile_r`` (mean correlation of the sign-aligned correlation profiles with the
    reference's) and ``n_runs``.
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
    return pl.DataFrame(
        {
            "dim": latent_names(kd),
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


# --- per run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedRun:
    """One seed of a stability study: its run id, and the run when it exists."""

    seed: int
    run_id: str
    state: str  # "missing" when never started, else the run's state
    run: Run | None


def seed_config(run: Run, seed: int) -> VAEConfig:
    """``run``'s VAE config with another ``random_state``."""
    return dataclasses.replace(run.config().vae, random_state=int(seed))


def seed_runs(run: Run, seeds: Sequence[int] = DEFAULT_SEEDS) -> list[SeedRun]:
    """The runs of ``run``'s config under ``seeds`` (found by their content-hash ids)."""
    from core.errors import RunNotFoundError
    from core.runs.store import get_run, run_id_for

    cfg = run.config()
    out: list[SeedRun] = []
    for seed in _check_seeds(seeds):
        rid = run_id_for(cfg.features_path, seed_config(run, seed), cfg.preprocess)
        try:
            other = get_run(rid)
        except RunNotFoundError:
            out.append(SeedRun(seed, rid, "missing", None))
            continue
        out.append(SeedRun(seed, rid, run_status(other).state, other))
    return out


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    clean = sorted({int(s) for s in seeds})
    if not clean:
        raise StabilityError("give at least one seed, e.g. seeds=(1, 2, 3).")
    if len(clean) > 16:
        raise StabilityError(f"{len(clean)} seeds is too many for one study; use at most 16.")
    return clean


def start_seed_runs(run: Run, seeds: Sequence[int] = DEFAULT_SEEDS) -> list[TrainRequest]:
    """Train ``run``'s config under each seed as background jobs (existing runs are reused)."""
    from core.jobs.api import start_training

    cfg = run.config()
    requests = []
    for seed in _check_seeds(seeds):
        if seed == cfg.seed:
            continue
        requests.append(start_training(cfg.features_path, seed_config(run, seed), cfg.preprocess))
    logger.info("Stability of run %s: %d seed run(s) requested", run.run_id, len(requests))
    return requests


@dataclass(frozen=True)
class StabilityReport:
    """Per-dimension agreement across seeds, and how each seed's dimensions were matched."""

    dimensions: pl.DataFrame  # dim, top_features, mean_jaccard, min_jaccard, mean_abs_corr, ...
    matches: pl.DataFrame  # seed, run_id, dim, matched_dim, sign, abs_corr, top_features
    run_ids: list[str]  # reference first, then the seed runs compared
    n_segments: int


def _top_names(R: np.ndarray, names: Sequence[str], k: int) -> list[list[str]]:
    mask_idx = np.argsort(-np.abs(np.nan_to_num(R)), axis=1, kind="stable")[:, :k]
    arr = np.asarray(names, dtype=object)
    return [[str(x) for x in arr[row]] for row in mask_idx]


def stability_report(
    run: Run, seeds: Sequence[int] = DEFAULT_SEEDS, *, k: int = TOP_K
) -> StabilityReport:
    """Compare ``run`` with its finished seed runs (dimension matching and top-``k`` agreement).

    Seeds whose run is not done yet are left out (the page shows their state). Needs at
    least one finished seed run besides ``run`` itself.
    """
    others = [s for s in seed_runs(run, seeds) if s.state == "done" and s.run is not None]
    others = [s for s in others if s.run_id != run.run_id]
    if not others:
        raise StabilityError(
            "No finished seed run to compare with yet; start the seed runs and wait for them."
        )
    ref_lat = run.latents()
    zc = run.latent_columns()
    ref_corr = run.correlations()
    names = ref_corr.feature_names
    ids = ref_lat.select("segment_id")
    aligned_codes = []
    for s in others:
        assert s.run is not None
        lat = s.run.latents()
        ids = ids.join(lat.select("segment_id"), on="segment_id", how="inner")
        aligned_codes.append(lat)
    if ids.height < 3:
        raise StabilityError("the seed runs share fewer than 3 segments with this run.")
    Z0 = ids.join(ref_lat, on="segment_id", how="left", maintain_order="left").select(zc)
    Z0m = Z0.to_numpy().astype(np.float64)
    correlations: list[np.ndarray] = [ref_corr.pearson_r]
    matches: list[DimensionMatch | None] = [None]
    match_rows: list[pl.DataFrame] = []
    for s, lat in zip(others, aligned_codes, strict=True):
        assert s.run is not None
        oc = s.run.latent_columns()
        Zs = ids.join(lat, on="segment_id", how="left", maintain_order="left").select(oc)
        m = match_dimensions(Z0m, Zs.to_numpy().astype(np.float64))
        corr = s.run.correlations()
        if corr.feature_names != names:
            raise StabilityError(
                f"seed run {s.run_id} has different model features than {run.run_id}; "
                "were they trained on the same features file and preprocessing?"
            )
        correlations.append(corr.pearson_r)
        matches.append(m)
        ok = m.match >= 0
        R_al = np.zeros_like(ref_corr.pearson_r)
        R_al[ok] = corr.pearson_r[m.match[ok]] * m.sign[ok, None]
        match_rows.append(
            pl.DataFrame(
                {
                    "seed": s.seed,
                    "run_id": s.run_id,
                    "dim": zc,
                    "matched_dim": [latent_name(j) if j >= 0 else None for j in m.match],
                    "sign": m.sign,
                    "abs_corr": m.abs_corr,
                    "top_features": _top_names(R_al, names, k),
                },
                schema_overrides={"top_features": pl.List(pl.String)},
            )
        )
    table = top_k_agreement(correlations, matches, k).with_columns(
        pl.Series("top_features", _top_names(ref_corr.pearson_r, names, k))
    )
    return StabilityReport(
        dimensions=table,
        matches=pl.concat(match_rows),
        run_ids=[run.run_id, *[s.run_id for s in others]],
        n_segments=ids.height,
    )
