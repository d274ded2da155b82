"""What the Overview page says: the dataset's counts, the active run's headline numbers,
what it found in words, and how the VAE compares with a PCA of the same size.

Every sentence and number the page draws is made here from the run's files; the page
lays them out (``st.metric`` per :class:`Metric`, captions, tables).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from core.analysis.baseline import PCABaseline
from core.analysis.ensemble import FOUND_R
from core.analysis.quality import ACTIVE_UNIT_THRESHOLD, REDUNDANT_R, DimQuality, min_found
from core.errors import ArtifactMissingError, RunNotFoundError, StatesError
from core.features.datasets import Dataset
from core.features.summary import dataset_overview
from core.runs.config import RunConfig
from core.runs.states_store import load_states
from core.runs.status import RunStatus
from core.runs.store import Run
from core.views.glossary import explain
from core.views.plain import run_headline, run_patterns

LINEAR_R2 = 0.9  # a dimension PCA's components explain this well is PCA-like
MATCH_COLUMNS = ("label", "competition", "season", "has_360")


@dataclass(frozen=True)
class Metric:
    """One ``st.metric``: label, value and the optional delta and tooltip."""

    label: str
    value: str
    help: str | None = None
    delta: str | None = None
    delta_color: Literal["normal", "inverse", "off"] = "normal"  # inverse: lower is better


# --- the dataset -------------------------------------------------------------------------------


def read_dataset(features_path: str | Path) -> tuple[dict[str, Any], pl.DataFrame | None]:
    """The dataset's headline counts (``dataset_overview``) and its matches table."""
    features = pl.read_parquet(features_path)
    return dataset_overview(features), Dataset.of_features(features_path).matches()


def dataset_metrics(summary: dict[str, Any]) -> list[Metric]:
    """Matches, teams, competitions, segments, features (by tier) and 360 coverage."""
    by_tier = " · ".join(f"t{t}: {n}" for t, n in summary["features_by_tier"].items())
    return [
        Metric("Matches", str(summary["matches"])),
        Metric("Teams", str(summary["teams"])),
        Metric("Competitions", str(summary["competitions"])),
        Metric("Segments", f"{summary['segments']:,}"),
        Metric("Features", str(summary["features"]), help=by_tier),
        Metric(
            "360 coverage",
            f"{summary['coverage_360']:.0%}",
            help="Share of segments with at least one tier-3 (360 freeze-frame) feature.",
        ),
    ]


def dataset_caption(summary: dict[str, Any]) -> str:
    """``"Features: 30 tier-1, 12 tier-2. Segments: 220 window, 1,304 possession."``"""
    tiers = ", ".join(f"{n} tier-{t}" for t, n in summary["features_by_tier"].items())
    by_type = ", ".join(f"{n:,} {k}" for k, n in summary["segments_by_type"].items())
    return f"Features: {tiers}. Segments: {by_type}."


def match_rows(matches: pl.DataFrame) -> pl.DataFrame:
    """The matches table's columns the Overview lists."""
    return matches.select([c for c in MATCH_COLUMNS if c in matches.columns])


# --- the active run ------------------------------------------------------------------------------


def config_line(cfg: RunConfig) -> str:
    """The run's configuration in one line: beta, sizes, epochs, optimiser, data."""
    v, p = cfg.vae, cfg.preprocess
    return (
        f"beta {v.beta:g} · {v.latent_dim} latents · hidden {'-'.join(map(str, v.hidden_dims))} · "
        f"{v.n_epochs} epochs · lr {v.learning_rate:g} · batch {v.batch_size} · dropout "
        f"{v.dropout:g} · seed {v.random_state} · tiers ≤ {p.max_tier} · {p.segment_type} segments"
    )


def unfinished_notice(status: RunStatus) -> str | None:
    """What to say of a run that is not done (None when it is)."""
    if status.state == "failed":
        return f"This run failed: {status.error}. Start it again on the **Train** page."
    if status.state != "done":
        return f"This run is {status.state} ({status.progress:.0%}); follow it on **Train**."
    return None


def run_metrics(metrics: pl.DataFrame, quality: DimQuality | None) -> list[Metric | None]:
    """The five headline numbers of a finished run: final losses, then the reproduced
    patterns and the unconfirmed/redundant/inactive dimensions; None where a number is unknown (the slot stays empty)."""
    out: list[Metric | None] = [None] * 5
    if metrics.height:
        last = metrics.row(-1, named=True)
        out[0] = Metric("Final total loss", f"{last['total']:.4g}")
        out[1] = Metric("Reconstruction", f"{last['recon']:.4g}", explain("Reconstruction error"))
        out[2] = Metric("KL", f"{last['kl']:.4g}", explain("KL"))
    if quality is not None:
        out[3] = Metric(
            "Reproduced patterns",
            f"{len(quality.reproduced)} / {quality.n_distinct}"
            if quality.n_seeds >= 2
            else f"0 / {quality.n_distinct} (one seed)",
            help="Distinct dimensions (active, and not a copy of a more informative one on "
            "the model's own codes) that other seeds of the run's ensemble find again: codes "
            f"correlating |r| ≥ {FOUND_R} in at least {min_found(quality.n_seeds)} of "
            f"{max(quality.n_seeds, 2)} trainings. Only these are findings; the others are "
            "unconfirmed.",
        )
        out[4] = Metric(
            "Unconfirmed · redundant · inactive",
            f"{len(quality.unconfirmed)} · {len(quality.redundant)} · {len(quality.inactive)}",
            help=f"Redundant: correlates |r| ≥ {REDUNDANT_R} with a more informative dimension "
            f"(a copy). Inactive: posterior-mean variance below {ACTIVE_UNIT_THRESHOLD} "
            "(collapsed to the prior).",
        )
    return out


def rotation_caption(diagnostics: dict[str, Any]) -> str | None:
    """How the reading axes were made, for a run that rotated its dimensions."""
    rotation = diagnostics.get("rotation")
    if not isinstance(rotation, dict):
        return None
    return (
        f"Reading axes ({str(rotation.get('method', '')).replace('_', ' ')}): the first "
        "is the direction of the codes that best predicts the features' dominant axis "
        "(possession and territory on real matches); the next are rotations of the rest of "
        "the distinct subspace toward simple structure, so they read the same from seed to "
        "seed."
    )


@dataclass(frozen=True)
class Findings:
    """What a finished run found, in words."""

    headline: str  # the first sentence(s): how many patterns, named, the states if known
    patterns: list[str]  # "1. **possession share & field tilt** (... rise as z0 rises)."
    states_hint: str | None  # where to group the segments into states, if not done yet


def run_findings(run: Run, quality: DimQuality) -> Findings:
    """The run's patterns (its distinct dimensions named by their top features) and, when
    they were computed, its tactical states."""
    states = None
    with contextlib.suppress(RunNotFoundError, ArtifactMissingError, StatesError):
        result = load_states(run)
        if result is not None:
            states = result.labels.filter(pl.col("space") == "latent")
    patterns = run_patterns(run.interpretation(), quality.distinct, ensemble=run.ensemble())
    hint = None
    if states is None and patterns:
        hint = "Open **States** to group the segments into tactical states by these patterns."
    return Findings(
        headline=run_headline(patterns, states),
        patterns=[
            f"{i}. **{p.name}** ({p.reading}; {p.support})."
            if p.reproduced
            else f"{i}. *{p.name}* ({p.support}; {p.reading})."
            for i, p in enumerate(patterns, 1)
        ],
        states_hint=hint,
    )


# --- beside a PCA of the same size ---------------------------------------------------------------


def baseline_metrics(baseline: PCABaseline) -> list[Metric]:
    """Variance the components explain, and the PCA's and the VAE's reconstruction errors."""
    pca, vae = baseline.pca_recon_mse, baseline.vae_recon_mse
    return [
        Metric(
            f"Variance explained by {baseline.n_components} components",
            f"{baseline.cumulative_variance[-1]:.0%}",
            help=" · ".join(
                f"PC{i + 1} {v:.0%}" for i, v in enumerate(baseline.explained_variance_ratio)
            ),
        ),
        Metric("PCA reconstruction error", f"{pca:.4g}"),
        Metric(
            "VAE reconstruction error",
            "–" if vae is None else f"{vae:.4g}",
            delta=None if vae is None else f"{vae - pca:+.3g} vs PCA",
            delta_color="inverse",
            help="Decoding the posterior means, with PCA's reduction.",
        ),
    ]


def linear_dimensions(baseline: PCABaseline, quality: DimQuality) -> list[str]:
    """Distinct dimensions a linear mix of the principal components explains almost fully
    (R² ≥ :data:`LINEAR_R2`): there the VAE finds what PCA finds, possibly rotated."""
    return [
        a["latent"]
        for a in baseline.alignment
        if a["latent"] in quality.distinct and a["r2_all_components"] >= LINEAR_R2
    ]


def baseline_verdict(baseline: PCABaseline, quality: DimQuality) -> str:
    """Which of the VAE and PCA reconstructs better with the same number of dimensions,
    what the errors mean, and how many distinct dimensions are almost linear."""
    k = baseline.n_components
    pca, vae = baseline.pca_recon_mse, baseline.vae_recon_mse
    if vae is None:
        verdict = "The VAE's reconstruction error at the posterior means was not recorded."
    elif vae <= pca:
        verdict = (
            f"With the same {k} dimensions the VAE reconstructs the inputs better than PCA "
            f"({vae:.4g} vs {pca:.4g}): it captures structure a linear projection misses."
        )
    else:
        verdict = (
            f"With the same {k} dimensions PCA reconstructs the inputs better than the VAE "
            f"({pca:.4g} vs {vae:.4g}): the VAE's value is in its few readable dimensions, "
            "not in compression."
        )
    linear = linear_dimensions(baseline, quality)
    return (
        f"{verdict} Errors are squared errors summed over the z-scored inputs, averaged over "
        f"segments (predicting every segment by the mean costs {baseline.total_variance:.4g}). "
        f"{len(linear)} of {quality.n_distinct} distinct dimensions are almost linear in "
        f"the principal components (R² ≥ {LINEAR_R2}): there the VAE finds what PCA finds, "
        "possibly rotated."
    )
