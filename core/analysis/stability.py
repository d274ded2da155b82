"""Stability of each latent's meaning: the same config under several seeds, dimensions matched.

A VAE's latent axes are only defined up to permutation and sign, so dimension ``z3`` of one
seed is compared with whichever dimension of another seed tracks the same thing: the
assignment maximising total ``|corr|`` of the codes over shared segments (Hungarian,
``scipy.optimize.linear_sum_assignment``), with the sign of that correlation recorded.
Then each dimension's top-5 correlated features are compared across seeds (mean pairwise
Jaccard). Seed runs are ordinary runs started through :func:`core.jobs.manager.start_training`,
so they are background jobs, cached, and shared with everyone who asks for them.

Only *distinct* dimensions are matched (``run.dim_quality().distinct``, see
:mod:`core.analysis.quality`): a collapsed dimension is noise and a redundant one a copy,
and either would steal a partner in the assignment. A seed run is compared only when it
finished and learned something: one that is not done (failed, cancelled, still training,
never started) or is degenerate (no distinct dimension, a flat or non-finite loss) is left
out, and :attr:`StabilityReport.excluded` / :attr:`StabilityReport.notes` say which and why.
A failed run is never averaged in, even when some of its files were written.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from core.errors import StabilityError, TacticalError
from core.jobs.api import run_status
from core.model.config import VAEConfig
from core.model.latents import latent_names

if TYPE_CHECKING:
    from core.analysis.quality import DimQuality
    from core.jobs.records import TrainRequest
    from core.runs.store import Correlations, Run

logger = logging.getLogger(__name__)


STABILITY_DIR = "stability"
TOP_K = 5
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3, 4)
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


# --- per run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedRun:
    """One seed of a stability study: its run id, and the run when it exists."""

    seed: int
    run_id: str
    state: str  # "missing" when never started, else the run's state
    run: Run | None
    error: str | None = None  # why the run failed, when it did


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
        status = run_status(other)
        out.append(SeedRun(seed, rid, status.state, other, status.error))
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
        requests.append(
            start_training(cfg.features_path, seed_config(run, seed), cfg.preprocess, trusted=True)
        )
    logger.info("Stability of run %s: %d seed run(s) requested", run.run_id, len(requests))
    return requests


def not_done_reason(seed_run: SeedRun) -> str | None:
    """Why a seed run is not finished (its state in words), or None when it is done."""
    state = seed_run.state
    if state == "done" and seed_run.run is not None:
        return None
    if state == "missing" or seed_run.run is None:
        return "not trained yet (start the seed runs)"
    if state in ("queued", "running"):
        return f"still training ({state})"
    if state == "failed":
        return "failed" + (f": {seed_run.error}" if seed_run.error else "")
    if state == "cancelled":
        return "cancelled"
    return f"not finished ({state})"


def degenerate_reason(run: Run) -> str | None:
    """Why a finished ``run`` learned nothing worth comparing, or None when it is usable.

    Degenerate: no active latent dimension (every one collapsed), hence no distinct one; a
    training loss that is non-finite or flat (the model did not learn); results that cannot
    be read.
    """
    try:
        quality = run.dim_quality()
        losses = run.metrics()["total"].to_numpy().astype(np.float64)
    except (TacticalError, OSError, ValueError, LookupError) as exc:
        return f"its results cannot be read ({exc})"
    if not quality.active:
        return f"degenerate: no active latent dimension (all {len(quality.names)} collapsed)"
    if quality.n_distinct < 1:
        return "degenerate: no distinct latent dimension"
    return loss_problem(losses)


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


EXCLUDED_SCHEMA: dict[str, pl.DataType] = {
    "seed": pl.Int64(),
    "run_id": pl.String(),
    "state": pl.String(),
    "reason": pl.String(),
}


def _excluded_frame(rows: Sequence[dict[str, object]] = ()) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=EXCLUDED_SCHEMA)


@dataclass(frozen=True)
class StabilityReport:
    """Per-dimension agreement across seeds, and how each seed's dimensions were matched.

    Only the reference run's distinct dims are compared (``dims``), each matched among a
    seed run's distinct dims. ``excluded`` lists the seed runs left out (``seed, run_id,
    state, reason``); ``notes`` says in words what was left out and why, for a page.
    """

    dimensions: pl.DataFrame  # dim, top_features, mean_jaccard, min_jaccard, mean_abs_corr, ...
    matches: pl.DataFrame  # seed, run_id, dim, matched_dim, sign, abs_corr, top_features, ...
    run_ids: list[str]  # reference first, then the seed runs compared
    n_segments: int
    dims: list[str] = field(default_factory=list)  # reference dims compared (distinct)
    dim_status: dict[str, str] = field(default_factory=dict)  # every reference dim -> status
    excluded: pl.DataFrame = field(default_factory=_excluded_frame)
    notes: list[str] = field(default_factory=list)


def _top_names(R: np.ndarray, names: Sequence[str], k: int) -> list[list[str]]:
    mask_idx = np.argsort(-np.abs(np.nan_to_num(R)), axis=1, kind="stable")[:, :k]
    arr = np.asarray(names, dtype=object)
    return [[str(x) for x in arr[row]] for row in mask_idx]


@dataclass(frozen=True)
class _Usable:
    seed: SeedRun
    run: Run
    quality: DimQuality
    latents: pl.DataFrame
    corr: Correlations


def _sort_out(
    run: Run, seeds: Sequence[int], feature_names: list[str]
) -> tuple[list[_Usable], list[dict[str, object]]]:
    """The seed runs fit to compare with ``run``, and the others with the reason why not."""
    usable: list[_Usable] = []
    excluded: list[dict[str, object]] = []
    for s in seed_runs(run, seeds):
        if s.run_id == run.run_id:
            continue
        reason = not_done_reason(s)
        if reason is None and s.run is not None:
            reason = degenerate_reason(s.run)
        if reason is None and s.run is not None:
            corr = s.run.correlations()
            if corr.feature_names != feature_names:
                reason = (
                    f"different model features than run {run.run_id} (another features "
                    "file or preprocessing?)"
                )
            else:
                usable.append(_Usable(s, s.run, s.run.dim_quality(), s.run.latents(), corr))
                continue
        excluded.append({"seed": s.seed, "run_id": s.run_id, "state": s.state, "reason": reason})
    return usable, excluded


def _notes(excluded: Sequence[dict[str, object]], quality: DimQuality) -> list[str]:
    notes = [f"seed {e['seed']} (run {e['run_id']}) left out: {e['reason']}" for e in excluded]
    skipped = [n for n in quality.names if n not in quality.distinct]
    if skipped:
        notes.append(
            f"Only distinct dimensions are compared ({', '.join(quality.distinct)}); "
            f"not compared: {', '.join(quality.label(n) for n in skipped)}."
        )
    return notes


def stability_report(
    run: Run, seeds: Sequence[int] = DEFAULT_SEEDS, *, k: int = TOP_K
) -> StabilityReport:
    """Compare ``run`` with its finished seed runs (dimension matching and top-``k`` agreement).

    Only distinct dimensions are matched: the reference's distinct dims against each seed
    run's. Seed runs that are not done, or are degenerate, are left out and listed in the
    report's ``excluded`` and ``notes``. Needs at least one usable seed run besides ``run``
    itself, and a reference with at least one distinct dimension.
    """
    quality = run.dim_quality()
    ref_dims = list(quality.distinct)
    if not ref_dims:
        raise StabilityError(
            f"Run {run.run_id} has no distinct latent dimension: {quality.verdict} There is "
            "nothing to compare across seeds."
        )
    ref_corr = run.correlations()
    names = ref_corr.feature_names
    usable, excluded = _sort_out(run, seeds, names)
    notes = _notes(excluded, quality)
    if not usable:
        raise StabilityError(
            "No finished seed run to compare with yet; start the seed runs and wait for them."
            + ("".join(f" {n[0].upper()}{n[1:]}." for n in notes[: len(excluded)]))
        )
    ref_lat = run.latents()
    ids = ref_lat.select("segment_id")
    for u in usable:
        ids = ids.join(u.latents.select("segment_id"), on="segment_id", how="inner")
    if ids.height < 3:
        raise StabilityError("the seed runs share fewer than 3 segments with this run.")

    def codes(lat: pl.DataFrame, dims: Sequence[str]) -> np.ndarray:
        frame = ids.join(lat, on="segment_id", how="left", maintain_order="left")
        return frame.select(dims).to_numpy().astype(np.float64)

    def rows_of(corr: Correlations, dims: Sequence[str]) -> np.ndarray:
        return np.asarray(corr.pearson_r[[corr.latent_names.index(d) for d in dims]])

    Z0 = codes(ref_lat, ref_dims)
    R0 = rows_of(ref_corr, ref_dims)
    correlations: list[np.ndarray] = [R0]
    matches: list[DimensionMatch | None] = [None]
    match_rows: list[pl.DataFrame] = []
    for u in usable:
        odims = list(u.quality.distinct)
        m = match_dimensions(Z0, codes(u.latents, odims))
        Rs = rows_of(u.corr, odims)
        correlations.append(Rs)
        matches.append(m)
        ok = m.match >= 0
        R_al = np.zeros_like(R0)
        R_al[ok] = Rs[m.match[ok]] * m.sign[ok, None]
        tops = _top_names(R_al, names, k)
        match_rows.append(
            pl.DataFrame(
                {
                    "seed": u.seed.seed,
                    "run_id": u.seed.run_id,
                    "dim": ref_dims,
                    "matched_dim": [odims[j] if j >= 0 else None for j in m.match],
                    "sign": m.sign,
                    "abs_corr": m.abs_corr,
                    "top_features": [
                        t if j >= 0 else [] for t, j in zip(tops, m.match, strict=True)
                    ],
                    "n_distinct": len(odims),
                },
                schema_overrides={"top_features": pl.List(pl.String), "matched_dim": pl.String},
            )
        )
    table = top_k_agreement(correlations, matches, k, dims=ref_dims).with_columns(
        pl.Series("top_features", _top_names(R0, names, k))
    )
    return StabilityReport(
        dimensions=table,
        matches=pl.concat(match_rows),
        run_ids=[run.run_id, *[u.seed.run_id for u in usable]],
        n_segments=ids.height,
        dims=ref_dims,
        dim_status=dict(quality.status),
        excluded=_excluded_frame(excluded),
        notes=notes,
    )
