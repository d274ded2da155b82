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
from core.features.datasets import Dataset, count_segments, load_features
from core.features.summary import dataset_overview
from core.jobs.api import run_status, start_training
from core.model.config import ROTATIONS, SEGMENT_TYPES, PreprocessConfig, parse_hidden_dims
from core.model.presets import DEFAULT_PRESET, PRESET_HELP, PRESETS, batch_size_for, preset
from core.model.vae import LOSS_REDUCTION
from core.runs.pipeline import MIN_RUN_SEGMENTS
from core.runs.store import get_run
from core.views.curves import kl_per_dim_figure, loss_figure
from pages._ui.dims import run_quality
from pages._ui.errors import show_error
from pages._ui.routing import ensure_routed
from pages._ui.runs import set_active_run
from pages._ui.scope import ignores_filters
from pages._ui.state import URL_RUN_KEY
from pages._ui.widgets import fmt_seconds, job_table, require_dataset_folders

WATCH_KEY = "train_watch_run"  # the run whose curves this page follows
MESSAGE_KEY = "train_message"
NOTE_KEY = "train_note"
POLL_S = 1.5
PAGE_MAX_EPOCHS = 5000  # a longer run is a typo more often than a wish (the CLI allows more)

ensure_routed()
st.title("Train")
st.caption(
    "Train a beta-VAE on a feature dataset. Training runs in a background process: you can "
    "leave this page or close the browser; the job keeps going and every session sees it."
)
ignores_filters(
    "a run is trained on every segment of its dataset; filters choose which are shown.",
    only_when_active=True,
)
with st.expander("What beta means here", expanded=False):
    st.markdown(
        f"**Loss reduction.** {LOSS_REDUCTION}\n\n"
        "So beta weighs the KL of a whole latent code against the squared error of a whole "
        "segment's features: beta = 1 is the plain VAE; larger beta pushes towards "
        "independent, more interpretable dimensions at the cost of reconstruction (and can "
        "switch dimensions off entirely: watch the KL per dimension)."
    )

folders = require_dataset_folders()

PRESET_KEY = "train_preset"
# the form's widgets take their values from the chosen preset (see _apply_preset)
_FIELDS = {
    "train_beta": ("beta", float),
    "train_latent": ("latent_dim", int),
    "train_epochs": ("n_epochs", int),
    "train_lr": ("learning_rate", float),
    "train_batch": ("batch_size", int),
    "train_dropout": ("dropout", float),
    "train_seed": ("random_state", int),
    "train_rotation": ("rotation", str),
}


def _apply_preset() -> None:
    cfg = PRESETS[st.session_state.get(PRESET_KEY, DEFAULT_PRESET)]
    for key, (field, kind) in _FIELDS.items():
        st.session_state[key] = kind(getattr(cfg, field))
    st.session_state["train_hidden"] = ",".join(str(h) for h in cfg.hidden_dims)


if "train_beta" not in st.session_state:
    _apply_preset()


@st.cache_data(max_entries=32, show_spinner=False)
def _overview(features: str, version: float) -> dict[str, Any]:
    return dataset_overview(load_features(features))


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
    kind = str(st.session_state.get("train_segments", SEGMENT_TYPES[0]))
    segments: dict[str, int] = info["segments_by_type"]
    rows = int(segments.get(kind, 0))
    others = ", ".join(f"{n:,} {k}" for k, n in segments.items() if k != kind)
    tiers = ", ".join(f"t{t} {n}" for t, n in info["features_by_tier"].items())
    providers = ", ".join(info["providers"])
    lines = [
        f"**{folder.name}**: {rows:,} {kind} segments{f' ({others})' if others else ''} from "
        f"{info['matches']:,} matches and {info['teams']:,} teams · {info['features']} "
        f"features ({tiers}){f' · {providers}' if providers else ''}."
    ]
    if info["features_empty"]:
        lines.append(
            f"{info['features_empty']} of them have no value in this dataset (e.g. 360 "
            "features without 360 files) and are left out of training."
        )
    epochs = int(st.session_state.get("train_epochs", 1))
    chosen = int(st.session_state.get("train_batch", 1))
    if rows < MIN_RUN_SEGMENTS:
        lines.append(
            f"Too few segments to train ({rows}; at least {MIN_RUN_SEGMENTS}): pick another "
            "dataset or segment type."
        )
    else:
        batch = chosen
        if st.session_state.get("train_batch_auto", True):
            batch = batch_size_for(rows, preset("notebook", batch_size=chosen, n_epochs=epochs))
        batch = min(batch, rows)
        steps = -(-rows // batch)
        lines.append(
            f"With the settings below: batch {batch:,}{' (fitted to the data)' if batch != chosen else ''}"
            f", {steps:,} steps per epoch, {steps * epochs:,} steps in {epochs:,} epochs. The "
            "loss curves appear under the form once it starts."
        )
    st.info("  \n".join(lines), icon=":material/dataset:")


st.radio(
    "Preset",
    list(PRESETS),
    key=PRESET_KEY,
    horizontal=True,
    on_change=_apply_preset,
    format_func=lambda name: f"{name} ({PRESET_HELP[name].split(':')[0]})",
    help="Fills the form below. "
    + " ".join(f"**{name}**: {text}." for name, text in PRESET_HELP.items())
    + " The recommended preset was chosen by measurement on two competitions "
    "(docs/latent_truth.md); the Sweep page compares a grid of beta and latent dimensions.",
)
dataset = st.selectbox("Dataset", folders, format_func=lambda p: p.name, key="train_dataset")
_preview(dataset)
with st.form("train_form"):
    c1, c2, c3 = st.columns(3)
    beta = c1.slider("beta (KL weight)", 0.0, 20.0, step=0.25, key="train_beta")
    latent_dim = c1.slider("Latent dimensions", 2, 32, key="train_latent")
    epochs = c1.number_input(
        "Epochs",
        min_value=1,
        key="train_epochs",
        help=f"At most {PAGE_MAX_EPOCHS:,} here; early stopping is not on by default.",
    )
    lr = c2.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        format_func=lambda v: f"{v:g}",
        key="train_lr",
    )
    batch = c2.select_slider(
        "Batch size",
        options=[16, 32, 64, 128, 256, 512, 1024, 2048],
        key="train_batch",
    )
    batch_auto = c2.checkbox(
        "Fit the batch to small data",
        value=True,
        key="train_batch_auto",
        help="On a dataset too small for ~1000 steps at this batch size, use a smaller "
        "batch (never above the one chosen): the 224-segment demo would otherwise get one "
        "step per epoch and learn a single dimension.",
    )
    dropout = c2.slider("Dropout", 0.0, 0.6, step=0.05, key="train_dropout")
    rotation = c2.selectbox(
        "Reading axes",
        list(ROTATIONS),
        key="train_rotation",
        help="anchored_varimax keeps the dominant axis and rotates the rest of the distinct "
        "dimensions toward simple structure, so the same axes come back from seed to seed; "
        "none shows the model's dimensions as learned.",
    )
    hidden = c3.text_input(
        "Hidden layer sizes",
        help="Encoder widths, comma separated; the decoder mirrors them.",
        key="train_hidden",
    )
    seed = c3.number_input("Seed", min_value=0, key="train_seed")
    max_tier = c3.selectbox(
        "Highest feature tier",
        [1, 2, 3],
        index=1,
        key="train_tier",
        help="t1 event counts, t2 spatial, t3 needs 360 frames (mostly null).",
    )
    segment_type = c3.selectbox("Segments", list(SEGMENT_TYPES), key="train_segments")
    reproducible_map = c3.checkbox(
        "Reproducible map",
        value=True,
        key="train_reproducible_map",
        help="On: the map's UMAP layout is the same every time this seed is trained (one "
        "core). Off: laid out on every core, faster on large data, but a different layout "
        "on every run; the run's config records the choice.",
    )
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    try:
        hidden_dims = parse_hidden_dims(hidden)
    except ConfigError as exc:
        st.error(str(exc))
        st.stop()
    if int(epochs) > PAGE_MAX_EPOCHS:
        st.error(
            f"{int(epochs):,} epochs is more than this page starts ({PAGE_MAX_EPOCHS:,}); lower "
            "it, or train that long with `python -m core train --epochs N`."
        )
        st.stop()
    try:
        vae_cfg = preset(
            st.session_state.get(PRESET_KEY, DEFAULT_PRESET),
            latent_dim=int(latent_dim),
            hidden_dims=hidden_dims,
            beta=float(beta),
            learning_rate=float(lr),
            batch_size=int(batch),
            n_epochs=int(epochs),
            dropout=float(dropout),
            random_state=int(seed),
            rotation=str(rotation),
            reproducible_map=bool(reproducible_map),
        )
        prep_cfg = PreprocessConfig(max_tier=int(max_tier), segment_type=str(segment_type))
        features = Dataset(dataset).features_path
        n_rows = count_segments(features, prep_cfg)
        if batch_auto and n_rows > 0:
            vae_cfg = preset(
                "notebook",
                **{**vae_cfg.to_dict(), "batch_size": batch_size_for(n_rows, vae_cfg)},
            )
        elif 0 < n_rows < vae_cfg.batch_size:
            st.session_state[NOTE_KEY] = (
                f"Batch size lowered from {vae_cfg.batch_size} to {n_rows}: the dataset has "
                f"only {n_rows} {segment_type} segments."
            )
            vae_cfg = preset("notebook", **{**vae_cfg.to_dict(), "batch_size": n_rows})
        request = start_training(features, vae_cfg, prep_cfg)
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
        run_id = request.run.run_id
        st.session_state[WATCH_KEY] = run_id
        if request.job is None and request.existed:
            st.session_state[MESSAGE_KEY] = (
                f"This configuration was trained before: opened run {run_id}."
            )
        elif request.existed:
            st.session_state[MESSAGE_KEY] = (
                f"This configuration is already training: following run {run_id}."
            )
        else:
            st.session_state[MESSAGE_KEY] = f"Started training run {run_id} in the background."
        set_active_run(run_id)
        st.rerun()

if msg := st.session_state.pop(MESSAGE_KEY, None):
    st.success(msg)
if note := st.session_state.pop(NOTE_KEY, None):
    st.info(note)


def _watch_from_disk() -> str | None:
    """The run to follow when this session has none: the URL's ``?run=``, else the newest
    training job still running (found on disk, so a restarted app finds it again)."""
    from core.jobs.api import list_jobs

    wanted = st.session_state.get(URL_RUN_KEY)
    if wanted:
        try:
            return get_run(str(wanted)).run_id
        except RunNotFoundError:
            pass
    for job in list_jobs("train"):
        if job.is_active and job.run_id:
            return job.run_id
    return None


if WATCH_KEY not in st.session_state:
    st.session_state[WATCH_KEY] = _watch_from_disk()


def _watched_active() -> bool:
    run_id = st.session_state.get(WATCH_KEY)
    if not run_id:
        return False
    try:
        return run_status(get_run(run_id)).is_active
    except RunNotFoundError:
        return False


def _jobs_active() -> bool:
    from core.jobs.api import list_jobs

    return any(j.is_active for j in list_jobs("train")[:12])


polling = _watched_active() or _jobs_active()


@st.fragment(run_every=POLL_S if polling else None)
def live() -> None:
    """Loss curves of the followed run and the job list; refreshed while anything runs."""
    run_id = st.session_state.get(WATCH_KEY)
    st.subheader("Loss curves")
    still_running = False
    if not run_id:
        st.caption("Start a training above to follow its losses here.")
    else:
        try:
            run = get_run(run_id)
            status = run_status(run)
        except RunNotFoundError:
            st.warning(f"Run {run_id} was deleted. Start a new training above.")
            st.session_state.pop(WATCH_KEY, None)
            status = None
        if status is not None:
            still_running = status.is_active
            epoch = f"epoch {status.epoch}/{status.n_epochs}" if status.epoch else status.stage
            st.markdown(f"Run **{run_id}** · `{status.state}` · {epoch}")
            if status.is_active:
                st.progress(
                    min(max(status.progress, 0.0), 1.0),
                    text=f"{status.message or status.stage} · time left {fmt_seconds(status.eta_s)}",
                )
            elif status.state == "failed":
                st.error(
                    f"Run {run_id} failed: {status.error or 'no error recorded'}. Change the "
                    "configuration (lower learning rate or beta for a non-finite loss) and "
                    "start again."
                )
            elif status.state == "broken":
                st.error(f"{status.error} Delete it on the **Runs** page.")
            elif status.state == "cancelled":
                st.warning(f"Run {run_id} was cancelled. Start it again to resume from scratch.")
            elif status.state == "done" and (quality := run_quality(run)) is not None:
                st.caption(f"What it found: {quality.verdict}")
            ok = status.state != "broken" and run.has("metrics.jsonl")
            metrics = run.metrics() if ok else None
            if ok and (note := run.metrics_warning()) is not None:
                st.warning(note)
            if metrics is not None and metrics.height:
                st.plotly_chart(loss_figure({run_id: metrics}), key="loss_curves")
                st.plotly_chart(kl_per_dim_figure(metrics), key="kl_curves")
                last = metrics.row(-1, named=True)
                st.caption(
                    f"Epoch {last['epoch']}: total {last['total']:.4g} = recon "
                    f"{last['recon']:.4g} + beta × KL {last['kl']:.4g}; learning rate "
                    f"{last['lr']:.2g}."
                )
            else:
                st.caption("The first epoch's losses appear here as soon as it finishes.")
    st.subheader("Training jobs")
    jobs_running = job_table("train", key_prefix="train")
    if polling and not (still_running or jobs_running):
        st.rerun()  # everything finished: one full rerun turns polling off


live()
