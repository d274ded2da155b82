"""Across providers, for people: which of a run's patterns a run of another provider on the
same matches finds again, and whether the two rank the teams alike.

A club with two providers' data (StatsBomb and Wyscout, say) trains a run on each; a
pattern that both models find is a property of how the teams play, one that only one finds
may be a property of how that provider records events. The measures are
:mod:`core.services.agreement`'s: the window segments both providers cut alike (same
team-match, period and start) are paired and each axis of this run matched to one of the
other's (found again at ``|r| >=`` :data:`core.analysis.ensemble.FOUND_R`, the seeds' rule),
the canonical correlations say how many directions the two models share however their axes
cut them, and the teams are ranked on the possession, directness and pressing patterns.
No Streamlit here; the Stability page draws it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import polars as pl

from core.analysis.agreement import ProviderAxes
from core.analysis.ensemble import FOUND_R
from core.errors import FeaturesFileError
from core.features.names import display_name
from core.runs.files import LATENTS_FILE
from core.runs.store import Run
from core.services.agreement import (
    AgreementReport,
    axis_agreement,
    latent_agreement,
    provider_agreement,
    teams_from_features,
)
from core.views.plain import patterns_of

logger = logging.getLogger(__name__)

_LABELS: Final = {"statsbomb": "StatsBomb", "statsperform": "Stats Perform"}


def provider_label(provider: str) -> str:
    """``"statsbomb"`` -> ``"StatsBomb"``, ``"wyscout"`` -> ``"Wyscout"``."""
    return _LABELS.get(provider, provider.capitalize())


def run_provider(run: Run) -> str | None:
    """The provider whose data ``run`` was trained on (its codes' ``provider`` column), or
    None for a run that does not say (trained before providers were recorded, unreadable)."""
    if not run.has(LATENTS_FILE):
        return None
    try:
        names = (
            pl.scan_parquet(run.artifact_path(LATENTS_FILE))
            .select(pl.col("provider").drop_nulls().unique())
            .collect()
            .get_column("provider")
            .to_list()
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        logger.debug("run %s: no provider read (%s)", run.run_id, exc)
        return None
    return str(names[0]) if len(names) == 1 else None


def _team_pairs(run: Run) -> set[tuple[str, ...]]:
    """The pairs of teams (as :func:`core.services.agreement.team_key` writes them) that
    played the matches of ``run``'s codes."""
    codes = pl.scan_parquet(run.artifact_path(LATENTS_FILE))
    teams = codes.select("match_id", "team_id", "team_name").unique().collect()
    return {m.key for m in teams_from_features(teams) if len(m.teams) == 2}


def provider_runs(run: Run, runs: Iterable[Run]) -> list[tuple[Run, str]]:
    """The finished runs of ``runs`` trained on another provider's data than ``run`` and on
    some of the same matches (a pair of teams that met in both), each with its provider's
    name as people write it, in the order given."""
    own = run_provider(run)
    if own is None:
        return []
    mine: set[tuple[str, ...]] | None = None
    out = []
    for other in runs:
        if other.run_id == run.run_id or not other.is_done:
            continue
        provider = run_provider(other)
        if provider is None or provider == own:
            continue
        try:
            mine = _team_pairs(run) if mine is None else mine
            if mine & _team_pairs(other):
                out.append((other, provider_label(provider)))
        except (pl.exceptions.PolarsError, OSError) as exc:
            logger.debug("run %s: no teams read (%s)", other.run_id, exc)
    return out


@dataclass(frozen=True)
class ProviderView:
    """What the Stability page shows of two providers' runs on the same matches."""

    summary: str
    axes: pl.DataFrame | None  # None: the runs share no window segment (see axes_note)
    axes_note: str | None
    patterns: pl.DataFrame  # possession / directness / pressing team ranks
    features: pl.DataFrame  # per feature: r and ratio of team-match means, why they differ


def _names(run: Run) -> dict[str, tuple[str, bool]]:
    """dim -> (pattern name, reproduced across seeds)."""
    return {p.dim: (p.name, p.reproduced) for p in patterns_of(run)}


def _axes_table(run: Run, other: Run, axes: ProviderAxes) -> pl.DataFrame:
    mine, theirs = _names(run), _names(other)
    rows = []
    for dim, matched, r in zip(axes.dims_a, axes.matched, axes.r, strict=True):
        name, reproduced = mine.get(dim, (dim, False))
        rows.append(
            {
                "pattern": name,
                "dim": dim,
                "across seeds": "reproduced" if reproduced else "unconfirmed",
                "matched axis there": (
                    f"{theirs.get(matched, (matched, False))[0]} ({matched})" if matched else None
                ),
                "r of codes": round(r, 3),
                "found again": dim in axes.found,
            }
        )
    return pl.DataFrame(rows)


def _feature_table(report: AgreementReport) -> pl.DataFrame:
    table = report.table.filter((pl.col("aggregate") == "mean") & (pl.col("n") > 0))
    return table.sort("r", nulls_last=True).select(
        pl.col("feature").map_elements(display_name, return_dtype=pl.String),
        pl.col("n").alias("team-matches"),
        pl.col("r").round(3),
        pl.col("ratio").round(3).alias("ratio (other / this)"),
        pl.col("definition_note").alias("why they differ"),
    )


def provider_view(run: Run, other: Run) -> ProviderView:
    """Compare ``run`` with ``other``, a run of another provider's data on the same matches.

    Raises ``FeaturesFileError`` when the two runs' features share no match (same two teams)."""
    mine, theirs = (provider_label(run_provider(r) or "unknown") for r in (run, other))
    report = provider_agreement(run.config().features_path, other.config().features_path)
    pairs = report.pairing.pairs
    patterns = latent_agreement(run, other).select(
        "pattern",
        pl.col("dim_a").alias("dim here"),
        pl.col("abs_r_a").round(2).alias("|r| here"),
        pl.col("dim_b").alias("dim there"),
        pl.col("abs_r_b").round(2).alias("|r| there"),
        pl.col("n_teams").alias("teams"),
        pl.col("spearman").round(3).alias("team-rank Spearman"),
    )
    head = (
        f"This run ({mine}) against run {other.run_id} ({theirs}): "
        f"{report.pairing.n_matches} matches and {pairs.height} team-matches in both."
    )
    try:
        axes = axis_agreement(run, other, pairs)
    except FeaturesFileError as exc:
        return ProviderView(head, None, str(exc), patterns, _feature_table(report))
    shared = axes.shared_directions()
    canonical = ", ".join(f"{c:.2f}" for c in axes.canonical[: max(shared, 1)])
    summary = (
        f"{head} Over the {axes.n_windows:,} windows both cut alike, **{len(axes.found)} of "
        f"{len(axes.dims_a)}** of this run's axes are found again in the other (|r| ≥ "
        f"{FOUND_R} with the matched axis, the rule seeds are held to). The two models share "
        f"{shared} direction{'s' if shared != 1 else ''} at canonical r ≥ {FOUND_R} "
        f"({canonical}): where that is more than the axes found again, both models hold the "
        "same information but cut it into axes differently. A pattern found again across "
        f"seeds but not here may describe how {mine} records events rather than how teams play."
    )
    return ProviderView(
        summary, _axes_table(run, other, axes), None, patterns, _feature_table(report)
    )


__all__ = ["ProviderView", "provider_label", "provider_runs", "provider_view", "run_provider"]
