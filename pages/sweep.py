"""Sweep: train a beta x latent-size grid, compare the cells, open the one the evidence favours."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.analysis.quality import MIN_DISTINCT
from core.analysis.sweep import (
    DEFAULT_BETAS,
    DEFAULT_LATENT_DIMS,
    RECON_TOLERANCE,
    Recommendation,
    Sweep,
    SweepNotFoundError,
    get_sweep,
    list_sweeps,
    recommend,
    start_sweep,
    sweep_table,
)
from core.errors import (
    ConfigError,
    FeaturesFileError,
    JobError,
    PreprocessingError,
    TrainingError,
)
from core.features.datasets import Dataset
from core.jobs.api import run_status
from core.runs.store import get_run
from core.views.palettes import QUALITATIVE
from pages._ui.errors import show_error
from pages._ui.routing import ensure_routed
from pages._ui.runs import set_active_run
from pages._ui.scope import ignores_filters
from pages._ui.widgets import fmt_seconds, require_dataset_folders

SWEEP_KEY = "sweep_id"  # the sweep this page shows
OPEN_KEY = "sweep_open_run"  # a run picked on the chart, opened on the next pass
DONE_KEY = "sweep_finished_cells"  # finished cells at the last full run (live refresh)
MESSAGE_KEY = "sweep_message"
CHART_KEY = "sweep_chart"
OVERVIEW = "pages/overview.py"
POLL_S = 2.0
BETA_OPTIONS = sorted({0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, *DEFAULT_BETAS})
DIM_OPTIONS = sorted({2, 3, 4, 6, 8, 12, 16, *DEFAULT_LATENT_DIMS})
RULE = (
    "**How the recommended cell is chosen.** Only finished cells with at least "
    f"{MIN_DISTINCT} *distinct* latent dimensions count (active and not a copy of another; "
    "a run with one axis is not a choice). Among them: (1) the most distinct dimensions "
    "win; (2) of those, every cell whose reconstruction error is within "
    f"{RECON_TOLERANCE:.0%} of the best is treated as equally good; (3) of those, the "
    "smallest latent size wins, then the lowest reconstruction error, then the lowest KL."
)

ensure_routed()
st.title("Sweep")
st.caption(
    "Choose beta and the number of latent dimensions with evidence: train the recommended "
    "preset once per cell of a beta x latent-size grid (same features, same preprocessing), "
    "then compare what each cell learned. Every cell is an ordinary run: cells trained "
    "before are reused, the rest train one after another in the background. The Train "
    "page's sliders stay for choosing by hand."
)
ignores_filters(
    "every cell is trained on every segment of the dataset; filters choose which are shown.",
    only_when_active=True,
)
with st.expander("What the chart shows and how a cell is recommended", expanded=False):
    st.markdown(
        "Each point is one cell. **Reconstruction error** (up) is the squared error of the "
        "model's inputs decoded from the posterior means, summed over inputs, averaged over "
        "segments: how much of the segments the code loses. **KL** (right) is the KL "
        "divergence summed over the latent dimensions: how much information the code "
        "carries (the *rate*). Larger beta moves cells left and up. Bigger points keep more "
        "distinct dimensions; hollow points keep fewer than two.\n\n" + RULE
    )

folders = require_dataset_folders()

# --- launch ---------------------------------------------------------------------------------
with st.form("sweep_form"):
    dataset = st.selectbox("Dataset", folders, format_func=lambda p: p.name, key="sweep_dataset")
    c1, c2 = st.columns(2)
    betas = c1.multiselect(
        "beta values",
        BETA_OPTIONS,
        default=list(DEFAULT_BETAS),
        format_func=lambda v: f"{v:g}",
        key="sweep_betas",
    )
    dims = c2.multiselect(
        "Latent sizes", DIM_OPTIONS, default=list(DEFAULT_LATENT_DIMS), key="sweep_dims"
    )
    st.caption(
        "Each cell trains the recommended preset (no dropout, anchored varimax reading axes) "
        "with that beta and latent size; the batch is shrunk on small datasets as on the "
        "command line, so the demo run is one of the cells."
    )
    submitted = st.form_submit_button("Start sweep", type="primary")


def _launch(features: Any, betas_: list[float], dims_: list[int], **kw: Any) -> Sweep | None:
    try:
        return start_sweep(features, betas_, dims_, **kw)
    except ConfigError as exc:
        show_error("This grid is not valid; change the selection.", exc)
    except (FeaturesFileError, PreprocessingError, TrainingError) as exc:
        show_error(
            "This dataset cannot train every cell of the grid. Pick another dataset or "
            "smaller latent sizes.",
            exc,
        )
    except (JobError, OSError) as exc:
        show_error("The sweep's training jobs could not be started.", exc)
    return None


if submitted:
    started = _launch(Dataset(dataset).features_path, list(betas), list(dims))
    if started is not None:
        st.session_state[SWEEP_KEY] = started.sweep_id
        st.session_state[MESSAGE_KEY] = (
            f"Sweep {started.sweep_id}: {started.n_cells} cells requested. Finished cells are "
            "reused; the others train in the background (you can leave this page)."
        )
        st.rerun()

if msg := st.session_state.pop(MESSAGE_KEY, None):
    st.success(msg)

# --- which sweep ----------------------------------------------------------------------------
sweeps = list_sweeps()
if not sweeps:
    st.info("No sweep yet: pick a grid above and start one.")
    st.stop()
labels = {s.sweep_id: s.label() for s in sweeps}
if st.session_state.get(SWEEP_KEY) not in labels:
    st.session_state[SWEEP_KEY] = sweeps[0].sweep_id
sweep_id = st.selectbox(
    "Sweep", list(labels), format_func=lambda i: labels.get(i, i), key=SWEEP_KEY
)
try:
    sweep = get_sweep(str(sweep_id))
except SweepNotFoundError as exc:
    show_error("This sweep cannot be read.", exc)
    st.stop()

table = sweep_table(sweep)


def _finished(t: pl.DataFrame) -> list[str]:
    return t.filter(pl.col("state").is_in(["done", "failed", "cancelled"]))["run_id"].to_list()


def _active(t: pl.DataFrame) -> bool:
    return bool(t["state"].is_in(["queued", "running"]).any())


st.session_state[DONE_KEY] = _finished(table)
retry = table.filter(pl.col("state").is_in(["missing", "failed", "cancelled"])).height
if retry and st.button(
    f"Start the {retry} missing or failed cell(s) again", key="sweep_resume", type="secondary"
):
    again = _launch(
        sweep.features_path,
        list(sweep.betas),
        list(sweep.latent_dims),
        prep=sweep.prep,
        base=sweep.base,
    )
    if again is not None:
        st.rerun()


@st.fragment(run_every=POLL_S if _active(table) else None)
def progress() -> None:
    """The cells' states, refreshed while any trains; a cell finishing redraws the page."""
    t = sweep_table(sweep)
    counts = t.group_by("state").len()
    n = {str(s): int(c) for s, c in counts.iter_rows()}
    done = n.get("done", 0)
    st.progress(
        done / max(t.height, 1),
        text=f"{done} of {t.height} cells done · {n.get('running', 0)} running · "
        f"{n.get('queued', 0)} queued · {n.get('failed', 0) + n.get('cancelled', 0)} failed "
        f"or cancelled · {n.get('missing', 0)} not started",
    )
    with st.expander("Cells", expanded=_active(t)):
        st.dataframe(
            t.select(
                "beta",
                "latent_dim",
                "run_id",
                "state",
                "progress",
                "n_distinct",
                "recon",
                "kl",
                "verdict",
                "error",
            ),
            hide_index=True,
            key="sweep_cells",
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                "recon": st.column_config.NumberColumn("recon", format="%.4g"),
                "kl": st.column_config.NumberColumn("KL", format="%.4g"),
                "n_distinct": st.column_config.NumberColumn("distinct dims"),
            },
        )
    running = t.filter(pl.col("state") == "running")
    if running.height:
        rid = str(running["run_id"][0])
        st.caption(
            f"Training now: beta {running['beta'][0]:g}, {running['latent_dim'][0]} latents "
            f"(run {rid}), time left {fmt_seconds(run_status(get_run(rid)).eta_s)}."
        )
    if _finished(t) != st.session_state.get(DONE_KEY):
        st.rerun(scope="app")  # a cell finished: redraw the chart and the recommendation


progress()

# --- the rate-distortion chart --------------------------------------------------------------


def _figure(t: pl.DataFrame, rec: Recommendation | None) -> go.Figure:
    fig = go.Figure()
    for i, beta in enumerate(sorted(set(t["beta"].to_list()))):
        cells = t.filter(pl.col("beta") == beta)
        nd = cells["n_distinct"].fill_null(0).to_list()
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
                    "color": QUALITATIVE[i % len(QUALITATIVE)],
                    "size": [10 + 3 * d for d in nd],
                    "symbol": ["circle" if d >= MIN_DISTINCT else "circle-open" for d in nd],
                    "line": {"width": 1.5, "color": QUALITATIVE[i % len(QUALITATIVE)]},
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


def _on_select() -> None:
    """A clicked point opens its run (on the next pass, outside the callback)."""
    event = st.session_state.get(CHART_KEY)
    points = (getattr(event, "selection", None) or {}).get("points", []) or []
    for p in points:
        cd = p.get("customdata")
        run_id = cd[0] if isinstance(cd, list | tuple) and cd else cd
        if run_id:
            st.session_state[OPEN_KEY] = str(run_id)
            return


def _open(run_id: str) -> None:
    set_active_run(run_id)
    st.switch_page(OVERVIEW)


done = table.filter(pl.col("state") == "done")
rec = recommend(table)
st.subheader("Reconstruction against KL")
if done.is_empty():
    st.info("No cell has finished yet; the chart appears with the first finished cell.")
    st.stop()
plotted = done.filter(pl.col("recon").is_not_null() & pl.col("kl").is_not_null())
if plotted.height < done.height:
    st.caption(f"{done.height - plotted.height} finished cell(s) lack KL or reconstruction.")
st.plotly_chart(
    _figure(plotted, rec),
    key=CHART_KEY,
    on_select=_on_select,
    selection_mode="points",
    config={"displaylogo": False},
)
st.caption("Click a point to open that cell's run on the Overview page.")
if pending := st.session_state.pop(OPEN_KEY, None):
    _open(pending)

if rec is None:
    st.warning(
        f"No finished cell keeps {MIN_DISTINCT} or more distinct dimensions yet, so none is "
        "recommended. Wait for more cells, or add smaller beta values to the grid."
    )
else:
    st.success(f"**Recommended:** {rec.reason}")
    if st.button(
        f"Open the recommended run {rec.run_id}", key="sweep_open_recommended", type="primary"
    ):
        _open(rec.run_id)

cells = {
    str(r["run_id"]): f"beta {r['beta']:g} · {r['latent_dim']} latents · "
    f"{r['n_distinct']} distinct · run {r['run_id']}"
    for r in done.iter_rows(named=True)
}
c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
pick = c1.selectbox(
    "Open a cell",
    list(cells),
    index=list(cells).index(rec.run_id) if rec is not None and rec.run_id in cells else 0,
    format_func=lambda rid: cells.get(rid, rid),
    key="sweep_pick",
)
if c2.button("Open run", key="sweep_open_cell"):
    _open(str(pick))
