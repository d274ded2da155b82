"""Runs: every trained configuration, compared side by side, and deleted when no longer needed."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from core.errors import ArtifactMissingError, RunBusyError, RunNotFoundError
from core.jobs.api import delete_run
from core.runs.files import DIAGNOSTICS_FILE, METRICS_FILE, STATUS_FILE
from core.runs.store import Run, get_run
from core.views import runs as views
from core.views.curves import loss_figure
from core.views.dims import shown_rows
from pages._ui.dims import dim_view
from pages._ui.errors import show_error
from pages._ui.readers import run_version
from pages._ui.routing import ensure_routed
from pages._ui.runs import available_runs, run_distinct, run_label
from pages._ui.scope import ignores_filters

CONFIRM_KEY = "runs_confirm_delete"

ensure_routed()
st.title("Runs")
st.caption(
    "Every run is one configuration trained on one dataset, named by a hash of both: "
    "training the same thing twice reopens the same run."
)
ignores_filters("this page lists whole runs.", only_when_active=True)


@st.cache_data(max_entries=256, show_spinner=False)
def _summary(
    run_id: str, status_version: str, metrics_version: str, diagnostics_version: str
) -> dict[str, Any]:
    return views.run_row(get_run(run_id), run_distinct)


def summary(run: Run) -> dict[str, Any] | None:
    """The run's row; a run folder that cannot be read is still listed (as broken), so it
    can be seen and deleted. None for a run deleted meanwhile."""
    try:
        return _summary(
            run.run_id,
            run_version(run, STATUS_FILE),
            run_version(run, METRICS_FILE),
            run_version(run, DIAGNOSTICS_FILE),
        )
    except RunNotFoundError:
        return None
    except views.UNREADABLE:
        return views.broken_row(run.run_id)


runs = available_runs()
if not runs:
    st.info("No runs yet. Train one on the **Train** page, or open **Overview** for the demo.")
    st.stop()

rows = [s for r in runs if (s := summary(r)) is not None]
table = pl.DataFrame(rows, infer_schema_length=None)
for r in runs:
    if (problem := r.problem()) is not None:
        st.warning(f"{problem}")
    elif (note := r.metrics_warning()) is not None:
        st.warning(note)
st.dataframe(
    table,
    hide_index=True,
    key="runs_table",
    column_config={
        "distinct dims": st.column_config.NumberColumn(
            "distinct dims",
            help="Latent dimensions that are active and not a copy of another; fewer than 2 "
            "means the run found one axis at most.",
        ),
        "final_total": st.column_config.NumberColumn("final total", format="%.4g"),
        "final_recon": st.column_config.NumberColumn("final recon", format="%.4g"),
        "final_kl": st.column_config.NumberColumn("final KL", format="%.4g"),
        "lr": st.column_config.NumberColumn("lr", format="%g"),
    },
)

# --- compare ------------------------------------------------------------------------------
st.subheader("Compare two runs")
ids = [r["run"] for r in rows]
labels = {r.run_id: run_label(r) for r in runs}
c1, c2 = st.columns(2)
a = c1.selectbox("Run A", ids, index=0, key="cmp_a", format_func=lambda i: labels.get(i, i))
b = c2.selectbox(
    "Run B", ids, index=min(1, len(ids) - 1), key="cmp_b", format_func=lambda i: labels.get(i, i)
)
if len(ids) < 2:
    st.caption("Only one run so far: train another on the **Train** page to compare them.")
elif a == b:
    st.caption("Pick two different runs to compare them.")
else:
    curves: dict[str, pl.DataFrame] = {}
    tables: dict[str, pl.DataFrame | None] = {}
    for rid in (a, b):
        try:
            run = get_run(rid)
            if run.has(METRICS_FILE):
                curves[rid] = run.metrics()
            tables[rid] = (
                shown_rows(run.interpretation(), dim_view(run))
                if run.has("interpretation.parquet")
                else None
            )
        except RunNotFoundError:
            st.warning(f"Run {rid} was deleted meanwhile.")
    if curves:
        st.plotly_chart(loss_figure(curves), key="cmp_losses")
        st.caption(
            "Losses are comparable only between runs with the same beta and data: the total "
            "includes beta × KL."
        )
    cols = st.columns(2)
    for col, rid in zip(cols, (a, b), strict=True):
        with col:
            st.markdown(f"**{rid}** top-5 features per dimension")
            interp = tables.get(rid)
            if interp is None:
                st.caption("No interpretation table yet (the run has not finished).")
            else:
                st.dataframe(
                    interp.select("latent_dim", "dim_status", "rank", "feature", "pearson_r"),
                    hide_index=True,
                    key=f"cmp_interp_{col is cols[1]}",
                    height=300,
                )

# --- delete -------------------------------------------------------------------------------
st.subheader("Delete a run")
victim = st.selectbox(
    "Run to delete", ids, key="delete_choice", format_func=lambda i: labels.get(i, i)
)
pending = st.session_state.get(CONFIRM_KEY)
if pending != victim:
    if st.button("Delete…", key="delete_start"):
        st.session_state[CONFIRM_KEY] = victim
        st.rerun()
else:
    st.warning(
        f"Delete run {victim} and all its files (model, latents, analyses)? This cannot be undone."
    )
    d1, d2, _ = st.columns([1, 1, 4])
    if d1.button("Yes, delete", type="primary", key="delete_confirm"):
        st.session_state.pop(CONFIRM_KEY, None)
        try:
            delete_run(victim)
        except RunBusyError as exc:
            show_error(
                "This run is still training: cancel its job on the **Train** page first.", exc
            )
        except (RunNotFoundError, ArtifactMissingError):
            st.info(f"Run {victim} was already deleted.")
        else:
            st.toast(f"Deleted run {victim}.")
            st.rerun()
    if d2.button("Cancel", key="delete_cancel"):
        st.session_state.pop(CONFIRM_KEY, None)
        st.rerun()
