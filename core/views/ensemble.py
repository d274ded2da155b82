"""The seed ensemble of a run, for people: which patterns other seeds found again, and how
closely (the detail behind the Overview's "K patterns found again" headline)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.analysis.ensemble import EnsembleReport
from core.analysis.quality import min_found
from core.features.names import display_name
from core.runs.store import Run
from core.views.plain import Pattern, patterns_of


@dataclass(frozen=True)
class EnsembleView:
    """What the Stability page shows first: a sentence and one row per distinct axis."""

    summary: str
    table: pl.DataFrame  # pattern, dim, status, found in, mean |r|, per-seed |r|, top-5 kept
    seeds: list[int]


def ensemble_view(run: Run) -> EnsembleView | None:
    """The run's ensemble verdict, or None for a run trained before seed ensembles."""
    report = run.ensemble()
    if report is None:
        return None
    patterns = {p.dim: p for p in patterns_of(run)}
    return EnsembleView(
        summary=ensemble_summary(report),
        table=ensemble_table(report, patterns),
        seeds=list(report.seeds),
    )


def ensemble_summary(report: EnsembleReport) -> str:
    """``"3 seeds trained together (42, 7961, 15880): 6 of 9 axes found again ..."``."""
    n, seeds = report.n_seeds, ", ".join(str(s) for s in report.seeds)
    if n < 2:
        return (
            f"This run trained one seed ({seeds}), so no axis could be confirmed. Retrain with "
            "the recommended preset (3 seeds trained together) or compare separate seed runs "
            "below."
        )
    rep = report.reproduced
    return (
        f"{n} seeds trained together ({seeds}). An axis is found again in a seed when its "
        f"codes correlate |r| ≥ {report.found_r} with the matched axis of that seed "
        f"(Hungarian assignment); **{len(rep)} of {len(report.axes)}** axes were found again "
        f"in at least {min_found(n)} of {n} trainings and are the run's patterns; the others "
        "are unconfirmed."
    )


def ensemble_table(report: EnsembleReport, patterns: dict[str, Pattern]) -> pl.DataFrame:
    """One row per distinct axis of the reference seed, reproduced ones first."""
    rows = []
    reproduced = set(report.reproduced)
    for a in report.axes:
        p = patterns.get(a.dim)
        rows.append(
            {
                "pattern": p.name if p is not None else a.dim,
                "dim": a.dim,
                "status": "reproduced" if a.dim in reproduced else "unconfirmed",
                "found in": f"{a.found_in} of {report.n_seeds}",
                "mean |r|": round(a.mean_abs_r, 3) if a.abs_r else None,
                "|r| per seed": ", ".join(f"{v:.2f}" for v in a.abs_r),
                "top-5 kept": ", ".join(str(k) for k in a.top5_kept),
                "features in every seed": ", ".join(display_name(f) for f in a.evidence),
            }
        )
    frame = pl.DataFrame(
        rows,
        schema={
            "pattern": pl.String,
            "dim": pl.String,
            "status": pl.String,
            "found in": pl.String,
            "mean |r|": pl.Float64,
            "|r| per seed": pl.String,
            "top-5 kept": pl.String,
            "features in every seed": pl.String,
        },
    )
    return frame.sort(pl.col("status") != "reproduced", maintain_order=True)
