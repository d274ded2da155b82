"""Train: configure a beta-VAE, start it as a background job, watch its losses live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core.errors import (
    ConfigError,
    FeaturesFileError,
    JobError,
    PreprocessingError,
    RunNotFoundError,
    TrainingError,
)
from core.features.datasets import Dataset
from core.jobs.api import start_training
from core.model.config import MAX_ENSEMBLE, ROTATIONS, SEGMENT_TYPES
from core.model.presets import DEFAULT_PRESET, PRESETS
from core.views import training as views
from core.views.curves import kl_per_dim_figure, loss_figure
from core.views.jobs import jobs_active
from pages._ui.dims import run_quality
from pages._ui.errors import show_error
from pages._ui.readers import first_layout
from pages._ui.routing import ensure_routed
from pages._ui.runs import set_active_run
from pages._ui.scope import ignores_filters
from pages._ui.state import RUN_KEY, URL_RUN_KEY
from pages._ui.widgets import job_table, require_dataset_folders

WATCH_KEY = "train_watch_run"  # the run whose curves this page follows
MESSAGE_KEY = "train_message"
NOTE_KEY = "train_note"
PRESET_KEY = "train_preset"
POLL_S = 1.5

ensure_routed()
st.title("Train")
st.caption(views.INTRO)
ignores_filters(views.FILTERS_IGNORED, only_when_active=True)
with st.expander("What beta means here", expanded=False):
    st.markdown(views.BETA_MEANING)

folders = require_dataset_folders()


def _apply_preset() -> None:
    values = views.preset_values(st.session_state.get(PRESET_KEY, DEFAULT_PRESET))
    for field, value in values.items():
        st.session_state[views.PRESET_KEYS[field]] = value


if "train_beta" not in st.session_state:
    _apply_preset()


@st.cache_data(max_entries=32, show_spinner=False)
def _overview(features: str, version: float) -> dict[str, Any]:
    return views.read_overview(features)


def _preview(folder: Path) -> None:
    """What the chosen dataset holds and what the form's settings make of it, before any
    run starts (the form's values as last applied: a preset or the last start)."""
    features = Dataset(folder).features_path
    try:
        info = _overview(str(features), features.stat().st_mtime)
    except (FeaturesFileError, OSError) as exc:
        show_error(
            f"The dataset {folder.name} cannot be read; re-extract it on the Data page.", exc
        )
        return
    text = views.dataset_preview(
        folder.name,
        info,
        segment_type=str(st.session_state.get("train_segments", SEGMENT_TYPES[0])),
        epochs=int(st.session_state.get("train_epochs", 1)),
        batch=int(st.session_state.get("train_batch", 1)),
        batch_auto=bool(st.session_state.get("train_batch_auto", True)),
    )
    st.info(text, icon=":material/dataset:")


st.radio(
    "Preset",
    list(PRESETS),
    key=PRESET_KEY,
    horizontal=True,
    on_change=_apply_preset,
    format_func=views.preset_label,
    help=views.PRESET_CHOICE_HELP,
)
dataset = st.selectbox("Dataset", folders, format_func=lambda p: p.name, key="train_dataset")
_preview(dataset)
with st.form("train_form"):
    c1, c2, c3 = st.columns(3)
    beta = c1.slider("beta (KL weight)", 0.0, 20.0, step=0.25, key="train_beta")
    latent_dim = c1.slider("Latent dimensions", 2, 32, key="train_latent")
    epochs = c1.number_input(
        "Epochs", min_value=1, key="train_epochs", help=views.FORM_HELP["n_epochs"]
    )
    lr = c2.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        format_func=lambda v: f"{v:g}",
        key="train_lr",
    )
    batch = c2.select_slider(
        "Batch size", options=[16, 32, 64, 128, 256, 512, 1024, 2048], key="train_batch"
    )
    batch_auto = c2.checkbox(
        "Fit the batch to small data",
        value=True,
        key="train_batch_auto",
        help=views.FORM_HELP["batch_auto"],
    )
    dropout = c2.slider("Dropout", 0.0, 0.6, step=0.05, key="train_dropout")
    rotation = c2.selectbox(
        "Reading axes", list(ROTATIONS), key="train_rotation", help=views.FORM_HELP["rotation"]
    )
    hidden = c3.text_input(
        "Hidden layer sizes", help=views.FORM_HELP["hidden_dims"], key="train_hidden"
    )
    seed = c3.number_input("Seed", min_value=0, key="train_seed")
    seeds = c3.number_input(
        "Seeds trained together",
        1,
        MAX_ENSEMBLE,
        key="train_seeds",
        help=views.FORM_HELP["ensemble"],
    )
    max_tier = c3.selectbox(
        "Highest feature tier",
        [1, 2, 3],
        index=1,
        key="train_tier",
        help=views.FORM_HELP["max_tier"],
    )
    segment_type = c3.selectbox("Segments", list(SEGMENT_TYPES), key="train_segments")
    reproducible_map = c3.checkbox(
        "Reproducible map",
        value=True,
        key="train_reproducible_map",
        help=views.FORM_HELP["reproducible_map"],
    )
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    form = views.TrainForm(
        preset=str(st.session_state.get(PRESET_KEY, DEFAULT_PRESET)),
        beta=float(beta),
        latent_dim=int(latent_dim),
        n_epochs=int(epochs),
        learning_rate=float(lr),
        batch_size=int(batch),
        dropout=float(dropout),
        random_state=int(seed),
        rotation=str(rotation),
        hidden=hidden,
        ensemble=int(seeds),
        max_tier=int(max_tier),
        segment_type=str(segment_type),
        reproducible_map=bool(reproducible_map),
        batch_auto=bool(batch_auto),
    )
    if (problem := views.form_problem(form)) is not None:
        st.error(problem)
        st.stop()
    try:
        plan = views.plan_training(form, Dataset(dataset).features_path)
        if plan.note is not None:
            st.session_state[NOTE_KEY] = plan.note
        request = start_training(Dataset(dataset).features_path, plan.vae, plan.prep)
    except ConfigError as exc:
        show_error("This configuration is not valid; change the highlighted value.", exc)
    except (FeaturesFileError, PreprocessingError, TrainingError) as exc:
        show_error(
            f"The dataset {dataset.name} cannot train this configuration. Pick another "
            "dataset, lower the latent dimensions or batch size, or re-extract the data.",
            exc,
        )
    except (JobError, OSError) as exc:
        show_error("The training job could not be started.", exc)
    else:
        st.session_state[WATCH_KEY] = request.run.run_id
        st.session_state[MESSAGE_KEY] = views.start_message(request)
        st.rerun()  # the pages keep the run being explored; "Explore" below switches

if msg := st.session_state.pop(MESSAGE_KEY, None):
    st.success(msg)
if note := st.session_state.pop(NOTE_KEY, None):
    st.info(note)
if WATCH_KEY not in st.session_state:
    st.session_state[WATCH_KEY] = views.run_to_follow(st.session_state.get(URL_RUN_KEY))
polling = views.run_training(st.session_state.get(WATCH_KEY)) or jobs_active("train")


def _followed(run_id: str) -> bool:
    """The followed run's state, progress and loss curves; whether it still trains."""
    try:
        shown = views.followed_run(run_id)
    except RunNotFoundError:
        st.warning(f"Run {run_id} was deleted. Start a new training above.")
        st.session_state.pop(WATCH_KEY, None)
        return False
    st.markdown(shown.headline)
    if run_id != st.session_state.get(RUN_KEY) and st.button(f"Explore run {run_id}"):
        set_active_run(run_id)  # every page switches to it from the next rerun
        st.rerun(scope="app")
    if shown.progress is not None:
        st.progress(shown.progress[0], text=shown.progress[1])
    if shown.first_layout and (layout := first_layout(shown.run)) is not None:
        st.plotly_chart(layout[0], key="first_layout")
        st.caption(layout[1])
    elif shown.notice is not None:
        (st.error if shown.notice[0] == "error" else st.warning)(shown.notice[1])
    elif shown.status.state == "done" and (quality := run_quality(shown.run)) is not None:
        st.caption(f"What it found: {quality.verdict}")
    if shown.metrics_warning is not None:
        st.warning(shown.metrics_warning)
    if shown.metrics is not None and shown.last_epoch is not None:
        st.plotly_chart(loss_figure({run_id: shown.metrics}), key="loss_curves")
        st.plotly_chart(kl_per_dim_figure(shown.metrics), key="kl_curves")
        st.caption(shown.last_epoch)
    else:
        st.caption("The first epoch's losses appear here as soon as it finishes.")
    return shown.status.is_active


@st.fragment(run_every=POLL_S if polling else None)
def live() -> None:
    """Loss curves of the followed run and the job list; refreshed while anything runs."""
    run_id = st.session_state.get(WATCH_KEY)
    st.subheader("Loss curves")
    still_running = False
    if not run_id:
        st.caption("Start a training above to follow its losses here.")
    else:
        still_running = _followed(str(run_id))
    st.subheader("Training jobs")
    jobs_running = job_table("train", key_prefix="train")
    if polling and not (still_running or jobs_running):
        st.rerun()  # everything finished: one full rerun turns polling off


live()
