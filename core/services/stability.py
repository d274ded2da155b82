"""Stability of each latent's meaning over stored runs: a run against its seed runs.

Only *distinct* dimensions are matched (``run.dim_quality().distinct``, see
:mod:`core.analysis.quality`): a collapsed dimension is noise and a redundant one a copy,
and either would steal a partner in the assignment. A seed run is compared only when it
finished and learned something: one that is not done (failed, cancelled, still training,
never started) or is degenerate (no distinct dimension, a flat or non-finite loss) is left
out, and :attr:`StabilityReport.excluded` / :attr:`StabilityReport.notes` say which and why.
A failed run is never averaged in, even when some of its files were written.

The matching maths is :mod:`core.analysis.stability`; the seed runs themselves (found by
their content-hash ids, their live state, starting them as jobs) come from
:mod:`core.jobs.seeds`, which hands :func:`stability_report` the :class:`SeedRun` list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.analysis.stability import (
    TOP_K,
    DimensionMatch,
    loss_problem,
    match_dimensions,
    top_k_agreement,
)
from core.errors import StabilityError, TacticalError
from core.model.config import VAEConfig

if TYPE_CHECKING:
    from core.analysis.quality import DimQuality
    from core.runs.records import Correlations
    from core.runs.store import Run

STABILITY_DIR = "stability"
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3, 4)


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


def check_seeds(seeds: Sequence[int]) -> list[int]:
    clean = sorted({int(s) for s in seeds})
    if not clean:
        raise StabilityError("give at least one seed, e.g. seeds=(1, 2, 3).")
    if len(clean) > 16:
        raise StabilityError(f"{len(clean)} seeds is too many for one study; use at most 16.")
    return clean


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
    run: Run, seeds: Sequence[SeedRun], feature_names: list[str]
) -> tuple[list[_Usable], list[dict[str, object]]]:
    """The seed runs fit to compare with ``run``, and the others with the reason why not."""
    usable: list[_Usable] = []
    excluded: list[dict[str, object]] = []
    for s in seeds:
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


def stability_report(run: Run, seeds: Sequence[SeedRun], *, k: int = TOP_K) -> StabilityReport:
    """Compare ``run`` with its finished seed runs (dimension matching and top-``k`` agreement).

    ``seeds`` are the seed runs with their state, from :func:`core.jobs.seeds.seed_runs`.

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
