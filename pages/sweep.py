"""Sweep: train a beta x latent-size grid, compare the cells, open the one the evidence favours."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import (
    ConfigError,
    FeaturesFileError,
    JobError,
    PreprocessingError,
    TrainingError,
)
from core.features.datasets import Dataset
from core.jobs.sweep import (
    DEFAULT_BETAS,
    DEFAULT_LATENT_DIMS,
    Sweep,
    SweepNotFoundError,
    get_sweep,
    list_sweeps,
    start_sweep,
)
from core.jobs.sweep_results import recommend, sweep_table
from core.views import sweep as views
from pages._ui.errors import show_error
from pages._ui.routing import ensure_routed
from pages._ui.runs import set_active_run
from pages._ui.scope import ignores_filters
from pages._ui.widgets import require_dataset_folders

SWEEP_KEY = "sweep_id"  # the sweep this page shows
OPEN_KEY = "sweep_open_run"  # a run picked on the chart, opened on the next pass
DONE_KEY = "sweep_finished_cells"  # finished cells at the last full run (live refresh)
MESSAGE_KEY = "sweep_message"
CHART_KEY = "sweep_chart"
OVERVIEW = "pages/overview.py"
POLL_S = 2.0
CELL_COLUMNS = (
    "beta",
    "latent_dim",
    "run_id",
    "state",
    "queue",
    "progress",
    "n_patterns",
    "n_distinct",
    "recon",
    "kl",
    "verdict",
    "error",
)

ensure_routed()
st.title("Sweep")
st.caption(views.INTRO)
ignores_filters(views.FILTERS_IGNORED, only_when_active=True)
with st.expander("What the chart shows and how a cell is recommended", expanded=False):
    st.markdown(views.CHART_HELP)

folders = require_dataset_folders()

# --- launch ---------------------------------------------------------------------------------
# Plain widgets, not a form: the estimate below follows every change of the grid.
dataset = st.selectbox("Dataset", folders, format_func=lambda p: p.name, key="sweep_dataset")
c1, c2 = st.columns(2)
betas = c1.multiselect(
    "beta values",
    views.grid_options(DEFAULT_BETAS, views.BETA_CHOICES),
    default=list(DEFAULT_BETAS),
    format_func=lambda v: f"{v:g}",
    key="sweep_betas",
)
dims = c2.multiselect(
    "Latent sizes",
    views.grid_options(DEFAULT_LATENT_DIMS, views.DIM_CHOICES),
    default=list(DEFAULT_LATENT_DIMS),
    key="sweep_dims",
)
st.caption(views.FORM_NOTE)
estimate: views.SweepEstimate | None
try:
    estimate = views.sweep_estimate(Dataset(dataset).features_path, betas, dims)
except (ConfigError, FeaturesFileError, OSError) as exc:
    estimate = None
    st.warning(f"{exc}")
else:
    st.markdown(estimate.text)
confirmed = estimate is not None and not estimate.needs_confirmation
if estimate is not None and estimate.needs_confirmation:
    confirmed = st.checkbox(views.confirm_label(estimate), key="sweep_confirm")
submitted = st.button("Start sweep", type="primary", key="sweep_start", disabled=not confirmed)


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
        st.session_state[MESSAGE_KEY] = views.launch_message(started)
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
st.session_state[DONE_KEY] = views.finished_cells(table)
retry = views.cells_to_retry(table)
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


@st.fragment(run_every=POLL_S if views.cells_active(table) else None)
def progress() -> None:
    """The cells' states, refreshed while any trains; a cell finishing redraws the page."""
    t = views.with_queue_places(sweep_table(sweep))
    done_share, line = views.progress_line(t)
    st.progress(done_share, text=line)
    with st.expander("Cells", expanded=views.cells_active(t)):
        st.dataframe(
            t.select(CELL_COLUMNS),
            hide_index=True,
            key="sweep_cells",
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                "queue": st.column_config.TextColumn("queue", help="place among the waiting jobs"),
                "recon": st.column_config.NumberColumn("recon", format="%.4g"),
                "kl": st.column_config.NumberColumn("KL", format="%.4g"),
                "n_patterns": st.column_config.NumberColumn(
                    "patterns found again", help="axes the cell's other seeds find again"
                ),
                "n_distinct": st.column_config.NumberColumn("distinct dims"),
            },
        )
    if (now := views.training_now(t)) is not None:
        st.caption(now)
    if views.finished_cells(t) != st.session_state.get(DONE_KEY):
        st.rerun(scope="app")  # a cell finished: redraw the chart and the recommendation


progress()

# --- the rate-distortion chart --------------------------------------------------------------


def _on_select() -> None:
    """A clicked point opens its run (on the next pass, outside the callback)."""
    event = st.session_state.get(CHART_KEY)
    points = (getattr(event, "selection", None) or {}).get("points", []) or []
    if (run_id := views.picked_run(points)) is not None:
        st.session_state[OPEN_KEY] = run_id


def _open(run_id: str) -> None:
    set_active_run(run_id)
    st.switch_page(OVERVIEW)


rec = recommend(table)
st.subheader("Reconstruction against KL")
plotted, note = views.plotted_cells(table)
cells = views.cell_labels(table)
if not cells:
    st.info("No cell has finished yet; the chart appears with the first finished cell.")
    st.stop()
if note is not None:
    st.caption(note)
st.plotly_chart(
    views.sweep_figure(plotted, rec),
    key=CHART_KEY,
    on_select=_on_select,
    selection_mode="points",
    config={"displaylogo": False},
)
st.caption("Click a point to open that cell's run on the Overview page.")
if pending := st.session_state.pop(OPEN_KEY, None):
    _open(pending)

if rec is None:
    st.warning(views.NO_RECOMMENDATION)
else:
    st.success(f"**Recommended:** {rec.reason}")
    if st.button(
        f"Open the recommended run {rec.run_id}", key="sweep_open_recommended", type="primary"
    ):
        _open(rec.run_id)

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
