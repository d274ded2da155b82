"""What the Sweep page shows of a sweep: which cells are finished or still training, the
progress line, the rate-distortion chart, and the cells a user can open.

A cell's state is its run's (``core.runs.status``): final and active states are that
module's one definition, so a ``broken`` cell counts as finished, never as training.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import plotly.graph_objects as go
import polars as pl

from core.analysis.quality import MIN_DISTINCT
from core.errors import RunNotFoundError
from core.jobs.api import run_status
from core.jobs.sweep import Sweep
from core.jobs.sweep_results import RECON_TOLERANCE, Recommendation
from core.runs.status import ACTIVE_STATES, FINAL_STATES
from core.runs.store import get_run
from core.views.jobs import fmt_seconds
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
    "a run with one axis is not a choice). Among them: (1) the most distinct dimensions "
    "win; (2) of those, every cell whose reconstruction error is within "
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
    """Run id -> ``"beta 0.5 · 8 latents · 3 distinct · run <id>"`` for the done cells."""
    done = table.filter(pl.col("state") == "done")
    return {
        str(r["run_id"]): f"beta {r['beta']:g} · {r['latent_dim']} latents · "
        f"{r['n_distinct']} distinct · run {r['run_id']}"
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
