"""Overview: what data is loaded and what the active run learned; builds the demo on first start."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from core.errors import JobError, RunNotFoundError
from core.features.datasets import Dataset
from core.jobs.api import run_status
from core.runs.store import Run
from core.views import bootstrap as boot
from core.views import overview as views
from core.views.datasets import dataset_folders
from core.views.dims import dimension_table, pca_baseline
from pages._ui.dims import dim_view, quality_warning, run_quality
from pages._ui.errors import RUN_ERRORS, friendly_errors, show_error
from pages._ui.readers import file_version
from pages._ui.routing import ensure_routed
from pages._ui.runs import active_run, available_runs, set_active_run

BOOT_KEY = "overview_bootstrap"  # this session started (or follows) the demo build
POLL_S = 1.5
NEXT_STEPS = (
    ("pages/states.py", "See the tactical states and what sets each apart", ":material/category:"),
    ("pages/report.py", "Pick a team and download its report (PDF)", ":material/description:"),
    ("pages/latent-map.py", "Click any segment on the map to watch it on the pitch",
     ":material/scatter_plot:"),
    ("pages/timeline.py", "Follow a match minute by minute", ":material/timeline:"),
    ("pages/glossary.py", "Look up a word (BIC, PPDA, latent, ...)", ":material/menu_book:"),
)  # fmt: skip
DIM_COLUMNS = {
    "status": st.column_config.TextColumn("status", width="medium"),
    "tracks": st.column_config.TextColumn("tracks (top features, r)", width="large"),
    "abs_r": st.column_config.NumberColumn(
        "|r| with it",
        format="%.2f",
        help="Correlation with the principal component it follows most.",
    ),
    "r2_all_components": st.column_config.NumberColumn(
        "R² on all components",
        format="%.2f",
        help="How much of the dimension a linear mix of the principal components "
        "explains: near 1, PCA finds it too; well below 1, the VAE adds something.",
    ),
}

ensure_routed()
st.title("Tactical states")
st.caption(
    "Find the recurring ways teams play, without labelling a single clip: every match is cut "
    "into short stretches per team (segments), each described by named numbers such as "
    "possession share or PPDA; a model (a beta-VAE) boils them down to a few patterns, and "
    "the pages on the left show what each pattern means and which teams play it. Unfamiliar "
    "word? See the **Glossary**."
)


def metrics_row(metrics: Sequence[views.Metric | None]) -> None:
    """One ``st.metric`` per column; an unknown number leaves its column empty."""
    for col, m in zip(st.columns(len(metrics)), metrics, strict=True):
        if m is not None:
            col.metric(m.label, m.value, m.delta, help=m.help, delta_color=m.delta_color)


def _start_demo() -> bool:
    """Submit the demo extraction and follow the build; ``False`` (error shown) if refused."""
    try:
        boot.start_extraction()
    except JobError as exc:
        show_error("The demo data could not be prepared.", exc)
        return False
    st.session_state[BOOT_KEY] = True
    return True


runs = available_runs()
folders = dataset_folders()
first = boot.next_step(
    boot.observe(
        following=bool(st.session_state.get(BOOT_KEY)), first_start=not runs and not folders
    )
)
if first.action == "start_extraction":
    _start_demo()
elif first.action != "idle":
    st.session_state[BOOT_KEY] = True


def _stop_following() -> None:
    st.session_state.pop(BOOT_KEY, None)


@st.fragment(run_every=POLL_S if st.session_state.get(BOOT_KEY) else None)
def bootstrap() -> None:
    """First start: extract the demo matches, then train the default run, with progress."""
    if not st.session_state.get(BOOT_KEY):
        return
    with st.status("Building the demo: 3 StatsBomb matches and the default run…", expanded=True):
        state = boot.observe(following=True, first_start=False)
        step = boot.next_step(state)
        if step.action == "request_run":
            st.write("Demo features ready.")
            try:
                state = boot.request_run(state)
            except (JobError, RuntimeError, OSError, ValueError) as exc:
                show_error("The default run could not be started.", exc)
                _stop_following()
                return
            step = boot.next_step(state)
        if step.ends:
            _stop_following()
        if step.action == "open_run" and state.run_id is not None:
            set_active_run(state.run_id)
            st.rerun()
        elif step.action in ("extraction_failed", "training_failed"):
            st.error(step.text)
        elif step.progress is not None:
            st.progress(step.progress, text=step.text)
        else:
            st.write(step.text)
        if step.action == "follow_training":
            st.caption(
                "You can explore other pages meanwhile; training continues in the background."
            )


bootstrap()


def _findings(run: Run) -> None:
    """What the active run found, in words, then where a new user goes next."""
    quality = run_quality(run)
    if quality is None:
        return
    found = views.run_findings(run, quality)
    st.subheader("What this run found")
    st.markdown(found.headline)
    if found.states_hint:
        st.caption(found.states_hint)
    for line in found.patterns:
        st.markdown(line)
    st.markdown("**Next steps**")
    left, right = st.columns(2)
    for i, (path, label, icon) in enumerate(NEXT_STEPS):
        (left if i < 3 else right).page_link(path, label=label, icon=icon)
    st.caption("Sidebar filters do not apply on this page: it describes the whole dataset and run.")


_found = active_run()
if _found is not None:
    with contextlib.suppress(*RUN_ERRORS):
        if run_status(_found).state == "done":
            _findings(_found)


@st.cache_data(max_entries=8, show_spinner=False)
def _dataset(path: str, version: str) -> tuple[dict[str, Any], pl.DataFrame | None]:
    return views.read_dataset(path)


run = active_run()
dataset_dir: Path | None = None
if run is not None:
    with friendly_errors("the Overview"):
        dataset_dir = run.config().features_path.parent
elif folders:
    dataset_dir = folders[0]

st.subheader("Dataset")
if dataset_dir is None or not Dataset(dataset_dir).exists():
    if not st.session_state.get(BOOT_KEY):
        st.info("No dataset yet. Extract one on the **Data** page, or build the demo here.")
        if st.button("Build the demo", key="overview_build_demo", type="primary") and _start_demo():
            st.rerun()
else:
    fpath = Dataset(dataset_dir).features_path
    summary, matches = _dataset(str(fpath), file_version(fpath))
    st.caption(f"`{dataset_dir.name}` · {fpath}")
    metrics_row(views.dataset_metrics(summary))
    st.caption(views.dataset_caption(summary))
    if matches is not None and matches.height:
        with st.expander(f"Matches ({matches.height})"):
            st.dataframe(views.match_rows(matches), hide_index=True, key="overview_matches")


def _headline(run: Run) -> None:
    cfg = run.config()
    status = run_status(run)
    st.markdown(f"Run **{run.run_id}** on `{cfg.dataset}` · state `{status.state}`")
    st.caption(views.config_line(cfg))
    if (notice := views.unfinished_notice(status)) is not None:
        (st.error if status.state == "failed" else st.info)(notice)
        return
    diag = run.diagnostics()
    quality_warning(run)
    metrics_row(views.run_metrics(run.metrics(), run_quality(run)))
    for warning in diag.get("warnings") or []:
        st.caption(f":material/info: {warning}")
    _dimensions(run, diag)


def _dimensions(run: Run, diag: dict[str, Any]) -> None:
    """What each dimension tracks, and what the VAE adds beyond a PCA of the same size."""
    view = dim_view(run)
    if view.quality is None:
        return
    st.markdown(f"**Dimensions in detail.** {view.quality.verdict}")
    if (rotation := views.rotation_caption(diag)) is not None:
        st.caption(rotation)
    baseline = pca_baseline(diag)
    table = dimension_table(view, baseline)
    st.dataframe(
        table, hide_index=True, width="stretch", key="overview_dims", column_config=DIM_COLUMNS
    )
    view.caption()
    st.markdown("**Beside a linear baseline (PCA with as many components)**")
    if baseline is None:
        st.caption(
            "This run has no PCA baseline: it was trained before the baseline existed. "
            "Retrain it on the **Train** page to compare the VAE with PCA."
        )
        return
    metrics_row(views.baseline_metrics(baseline))
    st.caption(views.baseline_verdict(baseline, view.quality))


st.subheader("Active run")
if run is None:
    st.info(
        "No run yet. Train one on the **Train** page"
        + (" — the demo run is being built above." if st.session_state.get(BOOT_KEY) else ".")
    )
else:
    try:
        _headline(run)
    except RunNotFoundError:
        st.error("The active run was deleted. Pick another run in the sidebar.")
    except RUN_ERRORS as exc:
        st.warning(f"{exc}")
