"""What a sweep's cells learned, read from their runs when asked, and the cell to pick.

:func:`sweep_table`: reconstruction error at the posterior means, KL, and how many latent
dimensions are *distinct* (:mod:`core.analysis.quality`), one row per cell.
:func:`recommend` picks one cell by the rule in its docstring: the most distinct
dimensions first, then reconstruction, then the smaller model. The sweep's definition
and its cells' jobs are :mod:`core.jobs.sweep`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from core.analysis.quality import MIN_DISTINCT
from core.errors import (
    ArtifactMissingError,
    RunNotFoundError,
)
from core.jobs.api import run_status
from core.jobs.sweep import Sweep, SweepCell
from core.runs.store import Run, get_run

RECON_TOLERANCE = 0.02


TABLE_SCHEMA: dict[str, Any] = {
    "beta": pl.Float64,
    "latent_dim": pl.Int64,
    "run_id": pl.String,
    "state": pl.String,
    "progress": pl.Float64,
    "recon": pl.Float64,
    "kl": pl.Float64,
    "n_distinct": pl.Int64,
    "n_patterns": pl.Int64,  # found again by the other seeds; None for a single-seed cell
    "verdict": pl.String,
    "error": pl.String,
}


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _cell_row(cell: SweepCell) -> dict[str, Any]:
    row: dict[str, Any] = {
        "beta": cell.beta,
        "latent_dim": cell.latent_dim,
        "run_id": cell.run_id,
        "state": "missing",
        "progress": 0.0,
        "recon": None,
        "kl": None,
        "n_distinct": None,
        "n_patterns": None,
        "verdict": None,
        "error": None,
    }
    try:
        run = get_run(cell.run_id)
    except RunNotFoundError:
        return row
    st = run_status(run)
    row.update(state=st.state, progress=float(st.progress or 0.0), error=st.error)
    if st.state == "done":
        try:
            row.update(_learned(run))
        except (ArtifactMissingError, json.JSONDecodeError, OSError) as exc:
            row["error"] = f"results unreadable: {exc}"
    return row


def _learned(run: Run) -> dict[str, Any]:
    """recon, kl, n_distinct and verdict of a finished run, from its ``diagnostics.json``."""
    diag = run.diagnostics()
    recon = _number(diag.get("recon_at_means"))
    if recon is None:  # runs written before reconstruction at the means was recorded
        recon = _number(diag.get("final_recon"))
    n_distinct = diag.get("n_distinct")
    verdict = diag.get("verdict")
    if n_distinct is None:  # runs written before dimension quality existed
        quality = run.dim_quality()
        n_distinct, verdict = quality.n_distinct, quality.verdict
    ensemble = diag.get("ensemble")
    n_patterns = None
    if isinstance(ensemble, Mapping) and int(ensemble.get("n_seeds", 1)) >= 2:
        n_patterns = int(ensemble.get("n_reproduced", 0))
    return {
        "recon": recon,
        "kl": _number(diag.get("kl_total")),
        "n_distinct": int(n_distinct),
        "n_patterns": n_patterns,
        "verdict": None if verdict is None else str(verdict),
    }


def sweep_table(sweep: Sweep) -> pl.DataFrame:
    """One row per cell, by beta then latent size (columns :data:`TABLE_SCHEMA`).

    ``state`` is the run's state (``missing`` when its folder is gone or was never made);
    for done cells ``recon`` is the reconstruction error at the posterior means
    (diagnostics ``recon_at_means``: squared error summed over the model inputs, mean over
    segments; ``final_recon``, the last epoch's, for older runs), ``kl`` the KL summed over
    the model dimensions (``kl_total``), ``n_distinct`` and ``verdict`` the dimension
    quality. The values are comparable across cells: same features, same preprocessing.
    """
    rows = [_cell_row(c) for c in sorted(sweep.cells, key=lambda c: (c.beta, c.latent_dim))]
    return pl.DataFrame(rows, schema=TABLE_SCHEMA, orient="row")


@dataclass(frozen=True)
class Recommendation:
    """The cell :func:`recommend` picked, and a sentence saying why."""

    beta: float
    latent_dim: int
    run_id: str
    n_distinct: int
    recon: float
    kl: float | None
    reason: str
    n_patterns: int | None = None  # patterns found again, for a seed-ensemble cell


def _candidates(table: pl.DataFrame) -> pl.DataFrame:
    return table.filter(
        (pl.col("state") == "done")
        & (pl.col("n_distinct") >= MIN_DISTINCT)
        & pl.col("recon").is_not_null()
        & pl.col("recon").is_finite()
    )


def recommend(table: pl.DataFrame) -> Recommendation | None:
    """The cell to use, from a :func:`sweep_table`; ``None`` when no cell qualifies.

    The rule, in order:

    1. Only finished cells with at least :data:`MIN_DISTINCT` (2) distinct dimensions and
       a reconstruction error qualify: a run with one axis (or none) is not a choice.
    2. Keep those with the **most patterns found again** by the other seeds of their
       ensemble (what the pages read; an unconfirmed axis may be seed noise), or, for cells
       trained with one seed, the **most distinct dimensions** (neither collapsed nor a
       copy): what a beta-VAE is for here is separate, readable axes that hold up.
    3. Among them, keep those whose reconstruction error is within
       :data:`RECON_TOLERANCE` (2%) of the best: they describe the segments equally well.
    4. Of those, take the **smallest latent size** (fewer unused dimensions to carry and
       read), then the lowest reconstruction error, then the lowest KL.
    """
    ok = _candidates(table).with_columns(pl.coalesce("n_patterns", "n_distinct").alias("_count"))
    if ok.is_empty():
        return None
    most = int(ok["_count"].max())  # type: ignore[arg-type]
    top = ok.filter(pl.col("_count") == most)
    best = float(top["recon"].min())  # type: ignore[arg-type]
    band = top.filter(pl.col("recon") <= best * (1.0 + RECON_TOLERANCE) + 1e-12)
    pick = band.sort(["latent_dim", "recon", "kl", "beta"], nulls_last=True).row(0, named=True)
    return Recommendation(
        beta=float(pick["beta"]),
        latent_dim=int(pick["latent_dim"]),
        run_id=str(pick["run_id"]),
        n_distinct=int(pick["n_distinct"]),
        recon=float(pick["recon"]),
        kl=_number(pick["kl"]),
        reason=_reason(pick, table, ok, top, band, best),
        n_patterns=None if pick["n_patterns"] is None else int(pick["n_patterns"]),
    )


def _reason(
    pick: Mapping[str, Any],
    table: pl.DataFrame,
    ok: pl.DataFrame,
    top: pl.DataFrame,
    band: pl.DataFrame,
    best: float,
) -> str:
    n_done = table.filter(pl.col("state") == "done").height
    kept = (
        f"{pick['n_distinct']} distinct dimensions"
        if pick["n_patterns"] is None
        else f"{pick['n_patterns']} patterns found again across its seeds"
    )
    head = (
        f"beta {pick['beta']:g} with {pick['latent_dim']} latent dimensions (run "
        f"{pick['run_id']}) keeps {kept}"
    )
    if top.height == 1:
        why = f", more than any other of the {n_done} finished cell(s)."
    else:
        why = f", the most of the {n_done} finished cell(s) ({top.height} cells reach it);"
        if band.height == 1:
            why += f" its reconstruction error {pick['recon']:.4g} is the lowest of them."
        else:
            sizes = band["latent_dim"].unique().len()
            same_size = band.filter(pl.col("latent_dim") == pick["latent_dim"]).height
            if sizes == 1:
                tie = "it comes first of them by error, then KL"
            elif same_size == 1:
                tie = "it is the smallest latent size among them"
            else:
                tie = "it is the smallest latent size among them, with the lowest error at it"
            why += (
                f" {band.height} of them reconstruct within {RECON_TOLERANCE:.0%} of the best "
                f"({best:.4g}; this one {pick['recon']:.4g}) and {tie}."
            )
    if ok.height < n_done:
        why += (
            f" {n_done - ok.height} finished cell(s) were not considered (fewer than "
            f"{MIN_DISTINCT} distinct dimensions, or no reconstruction error recorded)."
        )
    return head + why
