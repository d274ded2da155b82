"""What the States page reads and draws: the run's states for a K range (read from the cache,
or refitted by a background job, never in the page's thread), state shares within the
sidebar's filters, a state's profile, and the page's figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import polars as pl

from core.analysis.mixtures import DEFAULT_K_RANGE
from core.features.names import display_name
from core.jobs.api import states_job, submit_states
from core.jobs.records import JobInfo
from core.runs.states_store import StatesResult, load_states
from core.runs.store import Run
from core.services.states import cached_states, states_dims
from core.views.jobs import clamp_progress, fmt_seconds
from core.views.palettes import QUALITATIVE
from core.views.report import state_example
from core.views.table import Filters, filter_frame

SPACE_NAMES = {"latent": "Latent codes", "features": "Z-scored features"}
_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


# --- the states for a K range: cache or background job ------------------------------------


def states_k_range(run: Run) -> tuple[int, int]:
    """The K range of the run's cached states (the States page's slider opens on it), else
    the default range."""
    existing = load_states(run)
    if existing is None:
        return (int(DEFAULT_K_RANGE[0]), int(DEFAULT_K_RANGE[-1]))
    ks = existing.summary["params"]["k_values"]
    return (int(ks[0]), int(ks[-1]))


@dataclass(frozen=True)
class StatesRequest:
    """What the States page shows for a K range: the cached states, or the job fitting them."""

    result: StatesResult | None  # the run's states for the K range; None until fitted
    job: JobInfo | None  # the states job fitting them now, or the one that ended without them

    @property
    def fitting(self) -> bool:
        """True while a background job fits the states (the page polls)."""
        return self.job is not None and self.job.is_active

    @property
    def progress(self) -> float:
        """The fitting job's progress, 0..1."""
        return clamp_progress(self.job.progress) if self.job is not None else 0.0

    @property
    def progress_text(self) -> str:
        """What the fitting job does now, and its time left."""
        eta = self.job.eta_s if self.job is not None else None
        doing = (self.job.message if self.job is not None else "") or "Fitting mixtures…"
        return f"{doing} · time left {fmt_seconds(eta)}"

    @property
    def failure(self) -> str | None:
        """Why the last job for this K range ended without states (None: it did not)."""
        job = self.job
        if self.result is not None or job is None or job.is_active:
            return None
        k = job.params.get("k_range") or ["?", "?"]
        return (
            f"Fitting the tactical states over K {k[0]}-{k[-1]} ended {job.state}: "
            f"{job.error or job.message}. Press **Recompute** to try again."
        )


def request_states(
    run: Run, k_range: tuple[int, int] | None = None, *, recompute: bool = False
) -> StatesRequest:
    """The run's states over ``k_range`` from the cache, else a background states job.

    ``k_range=None`` (pages that only read states): any cached range is taken as it is, so
    a range chosen on the States page is not undone; with no cache, the default range.

    A states job running for the run is followed (one per run); ``recompute`` starts a
    refit; a K range without a matching cache starts one, unless the last job asked for
    that range ended without it (failed or cancelled: returned, so the page shows why
    instead of starting it again). Raises :class:`~core.errors.StatesError` when the run has
    nothing to fit (no distinct dimension).
    """
    states_dims(run)  # nothing to fit: say so now, no job
    if k_range is None:
        if not recompute and (found := cached_states(run)) is not None:
            return StatesRequest(found, None)
        k_range = states_k_range(run)
    job = states_job(run.run_id)
    if job is not None and job.is_active:
        return StatesRequest(None, job)
    if recompute:
        return StatesRequest(None, submit_states(run.run_id, k_range, recompute=True))
    if (found := cached_states(run, k_range=k_range)) is not None:
        return StatesRequest(found, None)
    asked = [int(k) for k in (job.params.get("k_range") or [])] if job is not None else []
    if job is not None and job.state != "done" and asked == [int(k) for k in k_range]:
        return StatesRequest(None, job)
    return StatesRequest(None, submit_states(run.run_id, k_range, recompute=False))


# --- shares within the sidebar's filters --------------------------------------------------


@dataclass(frozen=True)
class StateShares:
    """A space's states with their overall share and, with filters set, their share among
    the filtered segments."""

    table: pl.DataFrame  # state, label, n, share (+ share_in_filter with filters set)
    n_filtered: int  # segments passing the filters (all of them without filters)
    n_total: int  # segments with a state


def state_shares(
    result: StatesResult, latents: pl.DataFrame, space: str, filters: Filters
) -> StateShares:
    """Each state of ``space`` with its share of all segments and, when ``filters`` are set,
    of the segments they keep (``latents``: the run's segments with their metadata)."""
    labels = result.labels.filter(pl.col("space") == space)
    table = labels.select("state", "label", "n", "share")
    meta = latents.join(result.assignments, on="segment_id", how="inner")
    sub = filter_frame(meta, filters)
    if filters.active:
        counts = np.bincount(sub[f"{space}_state"].to_numpy(), minlength=labels.height)
        share = counts / max(int(counts.sum()), 1)
        table = table.with_columns(pl.Series("share_in_filter", share))
    return StateShares(table=table, n_filtered=sub.height, n_total=meta.height)


def typical_state_segment(
    result: StatesResult, latents: pl.DataFrame, space: str, state: int, filters: Filters
) -> str:
    """The segment most surely in ``state`` among those the filters keep (all without
    filters); :class:`~core.errors.FingerprintError` when none of them is in it."""
    among = filter_frame(latents, filters)["segment_id"].to_list() if filters.active else None
    return state_example(result.assignments, int(state), space=space, among=among)


def state_profile(result: StatesResult, space: str, state: int) -> pl.DataFrame:
    """The features of one state, most distinctive first: state mean, population mean and
    sd, and the difference in sd (``effect``)."""
    return (
        result.profiles.filter((pl.col("space") == space) & (pl.col("state") == state))
        .sort(pl.col("effect").abs(), descending=True)
        .select("feature", "state_mean", "population_mean", "population_std", "effect")
    )


def readable_profile(profile: pl.DataFrame) -> pl.DataFrame:
    """A state profile (``feature`` code names) with each feature's display name first in
    ``name`` ("take-ons /min"); the code name stays in ``feature``."""
    names = {f: display_name(f) for f in profile["feature"].unique().to_list()}
    named = profile.with_columns(
        pl.col("feature").replace_strict(names, return_dtype=pl.String).alias("name")
    )
    return named.select("name", pl.exclude("name", "feature"), "feature")


TABLE_HINT = (
    "Tick a state's row to open its most typical segment on the pitch (Latent map), the "
    "one the mixture places in it most surely among the segments the sidebar keeps."
)


# --- figures --------------------------------------------------------------------------------


def bic_figure(result: StatesResult, space: str) -> go.Figure:
    """BIC by K of one space's mixtures, the chosen K marked."""
    curve = result.bic.filter(pl.col("space") == space)
    best = result.summary[space]["best_k"]
    fig = go.Figure(
        go.Scatter(
            x=curve["k"].to_list(),
            y=curve["bic"].to_list(),
            mode="lines+markers",
            line={"color": QUALITATIVE[0 if space == "latent" else 1]},
            hovertemplate="K=%{x}<br>BIC=%{y:,.0f}<extra></extra>",
        )
    )
    fig.add_vline(x=best, line_dash="dot", annotation_text=f"K={best}")
    fig.update_layout(
        title=f"{SPACE_NAMES[space]}: BIC by K",
        xaxis_title="K (states)",
        yaxis_title="BIC",
        height=340,
        margin=_MARGIN,
    )
    return fig


def profile_figure(profile: pl.DataFrame, top: int = 12) -> go.Figure:
    """The ``top`` most distinctive features of a state (``state_profile``), as bars in sd."""
    rows = profile.head(top).reverse()
    fig = go.Figure(
        go.Bar(
            x=rows["effect"].to_list(),
            y=[display_name(f) for f in rows["feature"].to_list()],
            orientation="h",
            marker_color=[QUALITATIVE[1] if e > 0 else QUALITATIVE[3] for e in rows["effect"]],
            customdata=np.stack(
                [rows["state_mean"].to_numpy(), rows["population_mean"].to_numpy()], axis=1
            ),
            hovertemplate="%{y}<br>state %{customdata[0]:.3g} vs all %{customdata[1]:.3g}"
            "<br>%{x:+.2f} sd<extra></extra>",
        )
    )
    fig.update_layout(
        title="Most distinctive features (state mean minus population mean, in sd)",
        xaxis_title="standardised difference",
        height=420,
        margin=_MARGIN,
    )
    return fig


def contingency_figure(result: StatesResult) -> go.Figure:
    """Segments per (latent state, feature state): where the two mixtures agree."""
    lat = _labels(result, "latent")
    feat = _labels(result, "features")
    counts = result.contingency
    fig = go.Figure(
        go.Heatmap(
            z=counts,
            x=[f"F{j}: {name}" for j, name in enumerate(feat)],
            y=[f"L{i}: {name}" for i, name in enumerate(lat)],
            colorscale="Blues",
            text=counts,
            texttemplate="%{text}",
            hovertemplate="latent %{y}<br>features %{x}<br>%{z} segments<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Segments per (latent state, feature state) · ARI {result.summary['ari']:.2f}",
        height=max(320, 60 * len(lat) + 160),
        margin=_MARGIN,
        yaxis={"autorange": "reversed"},
    )
    return fig


def _labels(result: StatesResult, space: str) -> Sequence[str]:
    return [str(x) for x in result.labels.filter(pl.col("space") == space)["label"].to_list()]


def fit_caption(result: StatesResult) -> str:
    """One line under the States page's metrics: segments, dims, fit times, mixture plans."""
    summary = result.summary
    return (
        f"{summary['n_segments']:,} segments · latent space {summary['latent']['dims']} dims, "
        f"feature space {summary['features']['dims']} features · fitted in "
        f"{summary['latent']['fit_seconds']:.1f} s and {summary['features']['fit_seconds']:.1f} s."
        + "".join(
            f" {space.capitalize()} mixture: {summary[space]['plan']['method']}."
            for space in ("latent", "features")
            if "plan" in summary[space]
        )
    )
