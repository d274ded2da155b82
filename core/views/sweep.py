"""What the Sweep page shows of a sweep: which cells are finished or still training, the
progress line, the rate-distortion chart, and the cells a user can open.

A cell's state is its run's (``core.runs.status``): final and active states are that
module's one definition, so a ``broken`` cell counts as finished, never as training.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import plotly.graph_objects as go
import polars as pl

from core.analysis.quality import MIN_DISTINCT
from core.errors import RunNotFoundError, TacticalError
from core.features.datasets import count_segments
from core.infra.process import TIMESTAMP_FORMAT
from core.jobs.api import list_jobs, run_status
from core.jobs.sweep import Sweep, plan_sweep
from core.jobs.sweep_results import RECON_TOLERANCE, Recommendation
from core.runs.files import LATENTS_FILE
from core.runs.status import ACTIVE_STATES, FINAL_STATES
from core.runs.store import Run, get_run, list_runs
from core.views.jobs import fmt_seconds, queue_place, queue_places
from core.views.palettes import QUALITATIVE

GridValue = TypeVar("GridValue", int, float)
BETA_CHOICES = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
DIM_CHOICES = (2, 3, 4, 6, 8, 12, 16)
# Cells "Start again" restarts: never started (or their run folder is gone), failed or
# cancelled. A broken run is final: nothing can compute it until it is deleted.
RETRY_STATES = ("missing", "failed", "cancelled")
RULE = (
    "**How the recommended cell is chosen.** Only finished cells with at least "
    f"{MIN_DISTINCT} *distinct* latent dimensions count (active and not a copy of another; "
    "a run with one axis is not a choice). Among them: (1) the most *patterns found "
    "again* by the other seeds of the cell's ensemble win (for cells trained with one seed, "
    "the most distinct dimensions); (2) of those, every cell whose reconstruction error is within "
    f"{RECON_TOLERANCE:.0%} of the best is treated as equally good; (3) of those, the "
    "smallest latent size wins, then the lowest reconstruction error, then the lowest KL."
)
NO_RECOMMENDATION = (
    f"No finished cell keeps {MIN_DISTINCT} or more distinct dimensions yet, so none is "
    "recommended. Wait for more cells, or add smaller beta values to the grid."
)


def grid_options(defaults: Iterable[GridValue], choices: Iterable[GridValue]) -> list[GridValue]:
    """The values a grid picker offers: the usual choices and the defaults, sorted."""
    return sorted(set(choices).union(defaults))


def finished_cells(table: pl.DataFrame) -> list[str]:
    """Run ids of the cells in a final state (done, failed, cancelled, broken)."""
    return table.filter(pl.col("state").is_in(sorted(FINAL_STATES)))["run_id"].to_list()


def cells_active(table: pl.DataFrame) -> bool:
    """Whether any cell is queued or training."""
    return bool(table["state"].is_in(sorted(ACTIVE_STATES)).any())


def cells_to_retry(table: pl.DataFrame) -> int:
    """How many cells "Start again" would restart."""
    return table.filter(pl.col("state").is_in(RETRY_STATES)).height


def progress_line(table: pl.DataFrame) -> tuple[float, str]:
    """The share of cells done and one line counting the cells by state."""
    n = {str(s): int(c) for s, c in table.group_by("state").len().iter_rows()}
    done = n.get("done", 0)
    stopped = n.get("failed", 0) + n.get("cancelled", 0) + n.get("broken", 0)
    return done / max(table.height, 1), (
        f"{done} of {table.height} cells done · {n.get('running', 0)} running · "
        f"{n.get('queued', 0)} queued · {stopped} failed or cancelled · "
        f"{n.get('missing', 0)} not started"
    )


def with_queue_places(table: pl.DataFrame) -> pl.DataFrame:
    """The cells' table with ``queue``: for a cell waiting for a worker slot, how many
    training jobs of this machine start before it ("next to start", "2 jobs ahead");
    empty for the others. The queue starts the oldest waiting job first."""
    jobs = list_jobs("train")
    places = queue_places(jobs)
    ahead = {
        str(j.run_id): queue_place(n)
        for j in jobs
        if j.run_id and (n := places.get(j.job_id)) is not None
    }
    queue = [ahead.get(rid) for rid in table["run_id"].to_list()]
    return table.with_columns(pl.Series("queue", queue, dtype=pl.String))


def training_now(table: pl.DataFrame) -> str | None:
    """Which cell is training and its time left, None when none is."""
    running = table.filter(pl.col("state") == "running")
    if running.is_empty():
        return None
    rid = str(running["run_id"][0])
    try:
        left = fmt_seconds(run_status(get_run(rid)).eta_s)
    except RunNotFoundError:
        left = fmt_seconds(None)
    return (
        f"Training now: beta {running['beta'][0]:g}, {running['latent_dim'][0]} latents "
        f"(run {rid}), time left {left}."
    )


def launch_message(sweep: Sweep) -> str:
    """What the page says once a sweep's cells were requested."""
    return (
        f"Sweep {sweep.sweep_id}: {sweep.n_cells} cells requested. Finished cells are "
        "reused; the others train in the background (you can leave this page)."
    )


def plotted_cells(table: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """The done cells the chart can place (KL and reconstruction known), and a note on
    the ones it cannot."""
    done = table.filter(pl.col("state") == "done")
    plotted = done.filter(pl.col("recon").is_not_null() & pl.col("kl").is_not_null())
    missing = done.height - plotted.height
    note = f"{missing} finished cell(s) lack KL or reconstruction." if missing else None
    return plotted, note


def cell_labels(table: pl.DataFrame) -> dict[str, str]:
    """Run id -> ``"beta 0.5 · 8 latents · 4 patterns found again · 6 distinct · run <id>"``
    for the done cells (the patterns only for cells trained as seed ensembles)."""
    done = table.filter(pl.col("state") == "done")
    return {
        str(r["run_id"]): f"beta {r['beta']:g} · {r['latent_dim']} latents · "
        + ("" if r.get("n_patterns") is None else f"{r['n_patterns']} patterns found again · ")
        + f"{r['n_distinct']} distinct · run {r['run_id']}"
        for r in done.iter_rows(named=True)
    }


def picked_run(points: Iterable[Mapping[str, Any]]) -> str | None:
    """The run id of the first clicked chart point that names one."""
    for p in points:
        cd = p.get("customdata")
        run_id = cd[0] if isinstance(cd, list | tuple) and cd else cd
        if run_id:
            return str(run_id)
    return None


def sweep_figure(table: pl.DataFrame, rec: Recommendation | None) -> go.Figure:
    """Reconstruction error against KL, one trace per beta; bigger points keep more
    distinct dimensions, hollow ones fewer than :data:`MIN_DISTINCT`; the recommended
    cell ringed. Each point's ``customdata`` starts with its run id."""
    fig = go.Figure()
    for i, beta in enumerate(sorted(set(table["beta"].to_list()))):
        cells = table.filter(pl.col("beta") == beta)
        nd = cells["n_distinct"].fill_null(0).to_list()
        color = QUALITATIVE[i % len(QUALITATIVE)]
        fig.add_trace(
            go.Scatter(
                x=cells["kl"].to_list(),
                y=cells["recon"].to_list(),
                mode="markers+text",
                name=f"beta {beta:g}",
                text=[f"k{k}: {d} distinct" for k, d in zip(cells["latent_dim"], nd, strict=True)],
                textposition="top center",
                customdata=cells.select("run_id", "latent_dim", "n_distinct").rows(),
                marker={
                    "color": color,
                    "size": [10 + 3 * d for d in nd],
                    "symbol": ["circle" if d >= MIN_DISTINCT else "circle-open" for d in nd],
                    "line": {"width": 1.5, "color": color},
                },
                hovertemplate=(
                    f"beta {beta:g} · %{{customdata[1]}} latents<br>%{{customdata[2]}} distinct "
                    "dims<br>recon %{y:.4g} · KL %{x:.4g}<br>run %{customdata[0]}<extra></extra>"
                ),
            )
        )
    if rec is not None and rec.kl is not None:
        fig.add_trace(
            go.Scatter(
                x=[rec.kl],
                y=[rec.recon],
                mode="markers",
                name="recommended",
                customdata=[[rec.run_id, rec.latent_dim, rec.n_distinct]],
                marker={
                    "size": 22 + 3 * rec.n_distinct,
                    "symbol": "circle-open",
                    "color": "#111111",
                    "line": {"width": 2.5},
                },
                hovertemplate="recommended: run %{customdata[0]}<extra></extra>",
            )
        )
        fig.add_annotation(
            x=rec.kl, y=rec.recon, text="recommended", showarrow=True, arrowhead=2, ax=50, ay=40
        )
    fig.update_layout(
        xaxis_title="KL, summed over dimensions (rate, nats)",
        yaxis_title="reconstruction error at the means (distortion)",
        legend_title="cells",
        height=480,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        clickmode="event+select",
    )
    return fig


# --- what the Sweep page says ------------------------------------------------------------------

INTRO = (
    "Choose beta and the number of latent dimensions with evidence: train the recommended "
    "preset once per cell of a beta x latent-size grid (same features, same preprocessing), "
    "then compare what each cell learned. Every cell is an ordinary run: cells trained "
    "before are reused, the rest train one after another in the background. The Train "
    "page's sliders stay for choosing by hand."
)
CHART_HELP = (
    "Each point is one cell. **Reconstruction error** (up) is the squared error of the "
    "model's inputs decoded from the posterior means, summed over inputs, averaged over "
    "segments: how much of the segments the code loses. **KL** (right) is the KL "
    "divergence summed over the latent dimensions: how much information the code "
    "carries (the *rate*). Larger beta moves cells left and up. Bigger points keep more "
    "distinct dimensions; hollow points keep fewer than two.\n\n" + RULE
)
FORM_NOTE = (
    "Each cell trains the recommended preset (no dropout, anchored varimax reading axes) "
    "with that beta and latent size; the batch is shrunk on small datasets as on the "
    "command line, so the demo run is one of the cells."
)
FILTERS_IGNORED = (
    "every cell is trained on every segment of the dataset; filters choose which are shown."
)


# --- what a sweep will cost, before it starts ---------------------------------------------

# Seconds per segment and epoch of a whole run (training, encoding, analyses, map) when this
# machine has finished no run yet: 20 World Cup cells took 1-1.5 h on a 2-core machine.
DEFAULT_S_PER_SEGMENT_EPOCH = 6e-4
RUN_OVERHEAD_S = 20.0  # loading, analyses and the map's fixed cost per run
CONFIRM_ABOVE_S = 15 * 60  # a sweep estimated longer than this asks to be confirmed
MEASURED_RUNS = 12  # newest finished runs whose pace the estimate takes


def _elapsed_s(started: str | None, finished: str | None) -> float | None:
    if not started or not finished:
        return None
    try:
        t0 = datetime.strptime(started, TIMESTAMP_FORMAT)
        t1 = datetime.strptime(finished, TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return max((t1 - t0).total_seconds(), 0.0)


def _run_pace(run: Run) -> float | None:
    """Seconds per segment and epoch a finished run took beyond the fixed overhead."""
    status = run.status()
    elapsed = _elapsed_s(status.started_at, status.finished_at)
    if status.state != "done" or elapsed is None:
        return None
    try:
        epochs = run.config().vae.n_epochs
        n = int(pl.scan_parquet(run.artifact_path(LATENTS_FILE)).select(pl.len()).collect().item())
    except (TacticalError, OSError, pl.exceptions.PolarsError):
        return None
    if n <= 0 or epochs <= 0:
        return None
    return max(elapsed - RUN_OVERHEAD_S, 0.0) / (n * epochs)


def measured_pace() -> float | None:
    """The median pace of this machine's newest finished runs, None before the first."""
    paces = [p for r in list_runs()[:MEASURED_RUNS] if (p := _run_pace(r)) is not None]
    return statistics.median(paces) if paces else None


@dataclass(frozen=True)
class SweepEstimate:
    """What starting a sweep would train and for about how long, said before it starts."""

    n_cells: int
    n_to_train: int  # cells without a finished run (finished ones are reused)
    n_segments: int
    n_epochs: int
    run_s: float  # one cell's run
    measured: bool  # the pace comes from this machine's finished runs

    @property
    def total_s(self) -> float:
        return self.n_to_train * self.run_s

    @property
    def needs_confirmation(self) -> bool:
        return self.total_s > CONFIRM_ABOVE_S

    @property
    def text(self) -> str:
        """``"12 of 20 cells to train x about 4 min each (2,304 segments, 150 epochs) =
        about 48 min; 8 are finished and reused."``"""
        basis = (
            "this machine's finished runs"
            if self.measured
            else "a typical pace (no run finished here yet)"
        )
        reused = self.n_cells - self.n_to_train
        return (
            f"**Estimate:** {self.n_to_train} of {self.n_cells} cells to train x about "
            f"{fmt_seconds(self.run_s)} each ({self.n_segments:,} segments, {self.n_epochs} "
            f"epochs) = about **{fmt_seconds(self.total_s)}**, from {basis}"
            + (f"; {reused} finished cell(s) are reused." if reused else ".")
        )


def _done(run_id: str) -> bool:
    try:
        return get_run(run_id).status().state == "done"
    except RunNotFoundError:
        return False


def sweep_estimate(
    features_path: str | os.PathLike[str],
    betas: Iterable[float],
    latent_dims: Iterable[int],
    pace: float | None = None,
) -> SweepEstimate:
    """Cells to train x one run's time, from the dataset's segment count and the pace of
    this machine's finished runs (``pace`` overrides it; a typical pace before any run).
    Raises what :func:`core.jobs.sweep.plan_sweep` raises for an invalid grid or file."""
    sweep = plan_sweep(features_path, betas, latent_dims)
    n = count_segments(sweep.features_path, sweep.prep.segment_type)
    measured = measured_pace() if pace is None else pace
    rate = DEFAULT_S_PER_SEGMENT_EPOCH if measured is None else measured
    epochs = sweep.base.n_epochs
    return SweepEstimate(
        n_cells=sweep.n_cells,
        n_to_train=sum(not _done(rid) for rid in sweep.run_ids),
        n_segments=n,
        n_epochs=epochs,
        run_s=RUN_OVERHEAD_S + rate * n * epochs,
        measured=measured is not None,
    )


def confirm_label(estimate: SweepEstimate) -> str:
    """The box a long sweep must be ticked with before it starts."""
    return (
        f"Yes, train {estimate.n_to_train} runs for about {fmt_seconds(estimate.total_s)} "
        "in the background"
    )
