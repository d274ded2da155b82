"""What the Train page fills, checks and says: a preset's form values, what a dataset holds
before a run starts, the configuration a form makes, and the followed run's progress.

The page maps these onto its widgets; everything here reads files and configs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import polars as pl

from core.errors import ConfigError, RunNotFoundError
from core.features.datasets import count_segments, load_features
from core.features.summary import dataset_overview
from core.jobs.api import list_jobs, run_status
from core.jobs.records import TrainRequest
from core.model.config import LOSS_REDUCTION, PreprocessConfig, VAEConfig, parse_hidden_dims
from core.model.presets import PRESET_HELP, PRESETS, batch_size_for, preset
from core.pipeline.prepare import MIN_RUN_SEGMENTS
from core.runs.files import FIRST_LAYOUT_FILE
from core.runs.layout import read_first_layout
from core.runs.status import RunStatus
from core.runs.store import Run, get_run
from core.views.jobs import clamp_progress, fmt_seconds
from core.views.latent_map import DENSITY_BINS, density_trace

# The stages after the codes are written: the first layout is this attempt's own.
FIRST_LAYOUT_STAGES = ("correlations", "interpretation", "umap", "diagnostics", "states")
PAGE_MAX_EPOCHS = 5000  # a longer run is a typo more often than a wish (the CLI allows more)
# The form's fields a preset fills, and the kind of each widget value.
PRESET_FIELDS: dict[str, type] = {
    "beta": float,
    "latent_dim": int,
    "n_epochs": int,
    "learning_rate": float,
    "batch_size": int,
    "dropout": float,
    "random_state": int,
    "rotation": str,
    "ensemble": int,
}
# The Train page's widget of each form field a preset fills.
PRESET_KEYS = {
    "beta": "train_beta",
    "latent_dim": "train_latent",
    "n_epochs": "train_epochs",
    "learning_rate": "train_lr",
    "batch_size": "train_batch",
    "dropout": "train_dropout",
    "random_state": "train_seed",
    "rotation": "train_rotation",
    "hidden_dims": "train_hidden",
    "ensemble": "train_seeds",
}
INTRO = (
    "Train a beta-VAE on a feature dataset. Training runs in a background process: you can "
    "leave this page or close the browser; the job keeps going and every session sees it."
)
BETA_MEANING = (
    f"**Loss reduction.** {LOSS_REDUCTION}\n\n"
    "So beta weighs the KL of a whole latent code against the squared error of a whole "
    "segment's features: beta = 1 is the plain VAE; larger beta pushes towards "
    "independent, more interpretable dimensions at the cost of reconstruction (and can "
    "switch dimensions off entirely: watch the KL per dimension)."
)
PRESET_CHOICE_HELP = (
    "Fills the form below. "
    + " ".join(f"**{name}**: {text}." for name, text in PRESET_HELP.items())
    + " The recommended preset was chosen by measurement on two competitions "
    "(docs/latent_truth.md); the Sweep page compares a grid of beta and latent dimensions."
)
FORM_HELP = {  # the form's tooltips, by the config field each widget sets
    "n_epochs": f"At most {PAGE_MAX_EPOCHS:,} here; early stopping is not on by default.",
    "batch_auto": "On a dataset too small for ~1000 steps at this batch size, use a smaller "
    "batch (never above the one chosen): the 224-segment demo would otherwise get one "
    "step per epoch and learn a single dimension.",
    "rotation": "anchored_varimax keeps the dominant axis and rotates the rest of the distinct "
    "dimensions toward simple structure, so the same axes come back from seed to seed; "
    "none shows the model's dimensions as learned.",
    "hidden_dims": "Encoder widths, comma separated; the decoder mirrors them.",
    "ensemble": "Seeds trained together in one process (1 to 8). A pattern counts as "
    "reproduced when at least 2 of them find it again; with 1 nothing can be confirmed.",
    "max_tier": "t1 event counts, t2 spatial, t3 needs 360 frames (mostly null).",
    "reproducible_map": "On: the map's UMAP layout is the same every time this seed is trained "
    "(one core). Off: laid out on every core, faster on large data, but a different layout "
    "on every run; the run's config records the choice.",
}
FILTERS_IGNORED = (
    "a run is trained on every segment of its dataset; filters choose which are shown."
)


def preset_label(name: str) -> str:
    """``"recommended (what the measurements favour)"``: the preset and its short help."""
    return f"{name} ({PRESET_HELP[name].split(':')[0]})"


def preset_values(name: str) -> dict[str, Any]:
    """The form's values for preset ``name``: :data:`PRESET_FIELDS` by config field name,
    and ``hidden_dims`` as the text the form shows (``"256,128,64"``)."""
    cfg = PRESETS[name]
    values: dict[str, Any] = {f: kind(getattr(cfg, f)) for f, kind in PRESET_FIELDS.items()}
    values["hidden_dims"] = ",".join(str(h) for h in cfg.hidden_dims)
    return values


# --- before a run: what the dataset holds ------------------------------------------------------


def read_overview(features: str | Path) -> dict[str, Any]:
    """The dataset's headline counts (``dataset_overview``) from its checked features table."""
    return dataset_overview(load_features(features))


def dataset_preview(
    name: str, info: dict[str, Any], segment_type: str, epochs: int, batch: int, batch_auto: bool
) -> str:
    """What dataset ``name`` holds (``info``: :func:`read_overview`) and what the form's
    settings make of it: segments of the chosen type, batch, steps per epoch."""
    segments: dict[str, int] = info["segments_by_type"]
    rows = int(segments.get(segment_type, 0))
    others = ", ".join(f"{n:,} {k}" for k, n in segments.items() if k != segment_type)
    tiers = ", ".join(f"t{t} {n}" for t, n in info["features_by_tier"].items())
    providers = ", ".join(info["providers"])
    lines = [
        f"**{name}**: {rows:,} {segment_type} segments{f' ({others})' if others else ''} from "
        f"{info['matches']:,} matches and {info['teams']:,} teams · {info['features']} "
        f"features ({tiers}){f' · {providers}' if providers else ''}."
    ]
    if info["features_empty"]:
        lines.append(
            f"{info['features_empty']} of them have no value in this dataset (e.g. 360 "
            "features without 360 files) and are left out of training."
        )
    if rows < MIN_RUN_SEGMENTS:
        lines.append(
            f"Too few segments to train ({rows}; at least {MIN_RUN_SEGMENTS}): pick another "
            "dataset or segment type."
        )
    else:
        fitted = batch
        if batch_auto:
            fitted = batch_size_for(rows, preset("notebook", batch_size=batch, n_epochs=epochs))
        fitted = min(fitted, rows)
        steps = -(-rows // fitted)
        lines.append(
            f"With the settings below: batch {fitted:,}"
            f"{' (fitted to the data)' if fitted != batch else ''}, {steps:,} steps per epoch, "
            f"{steps * epochs:,} steps in {epochs:,} epochs. The loss curves appear under the "
            "form once it starts."
        )
    return "  \n".join(lines)


# --- the form's configuration --------------------------------------------------------------------


@dataclass(frozen=True)
class TrainForm:
    """The Train form's values as the user left them."""

    preset: str
    beta: float
    latent_dim: int
    n_epochs: int
    learning_rate: float
    batch_size: int
    dropout: float
    random_state: int
    rotation: str
    hidden: str  # "256,128,64"
    ensemble: int  # seeds trained together
    max_tier: int
    segment_type: str
    reproducible_map: bool
    batch_auto: bool  # fit the batch to small data


@dataclass(frozen=True)
class TrainingPlan:
    """The configurations a form starts, and a note when the batch had to shrink."""

    vae: VAEConfig
    prep: PreprocessConfig
    note: str | None = None


def form_problem(form: TrainForm) -> str | None:
    """What is wrong with the form before any configuration is made (hidden sizes that
    are not numbers, more epochs than this page starts), None when nothing is."""
    try:
        parse_hidden_dims(form.hidden)
    except ConfigError as exc:
        return str(exc)
    if form.n_epochs > PAGE_MAX_EPOCHS:
        return (
            f"{form.n_epochs:,} epochs is more than this page starts ({PAGE_MAX_EPOCHS:,}); "
            "lower it, or train that long with `python -m core train --epochs N`."
        )
    return None


def plan_training(form: TrainForm, features: Path) -> TrainingPlan:
    """The VAE and preprocessing configurations of ``form`` on the features file
    ``features`` (``ConfigError`` for a value out of range); with ``batch_auto`` the batch
    is fitted to a small dataset, and it never exceeds the dataset's segments."""
    vae = preset(
        form.preset,
        latent_dim=form.latent_dim,
        hidden_dims=parse_hidden_dims(form.hidden),
        beta=form.beta,
        learning_rate=form.learning_rate,
        batch_size=form.batch_size,
        n_epochs=form.n_epochs,
        dropout=form.dropout,
        random_state=form.random_state,
        rotation=form.rotation,
        reproducible_map=form.reproducible_map,
        ensemble=form.ensemble,
    )
    prep = PreprocessConfig(max_tier=form.max_tier, segment_type=form.segment_type)
    n_rows = count_segments(features, prep.segment_type)
    if form.batch_auto and n_rows > 0:
        fitted = batch_size_for(n_rows, vae)
        return TrainingPlan(preset("notebook", **{**vae.to_dict(), "batch_size": fitted}), prep)
    if 0 < n_rows < vae.batch_size:
        note = (
            f"Batch size lowered from {vae.batch_size} to {n_rows}: the dataset has "
            f"only {n_rows} {form.segment_type} segments."
        )
        return TrainingPlan(
            preset("notebook", **{**vae.to_dict(), "batch_size": n_rows}), prep, note
        )
    return TrainingPlan(vae, prep)


def start_message(request: TrainRequest) -> str:
    """What the page says once a training request was answered."""
    run_id = request.run.run_id
    if request.job is None and request.existed:
        return f"This configuration was trained before: run {run_id}, shown below."
    if request.existed:
        return f"This configuration is already training: following run {run_id}."
    return (
        f"Started training run {run_id} in the background. The other pages keep showing the "
        "run you were exploring; follow the new one below and open it with **Explore**."
    )


# --- the followed run ------------------------------------------------------------------------------


def run_to_follow(wanted: str | None) -> str | None:
    """The run the page follows when the session has none: ``wanted`` (the URL's ``?run=``)
    if it exists, else the newest training job still running (found on disk, so a
    restarted app finds it again)."""
    if wanted:
        try:
            return get_run(str(wanted)).run_id
        except RunNotFoundError:
            pass
    for job in list_jobs("train"):
        if job.is_active and job.run_id:
            return job.run_id
    return None


def run_training(run_id: str | None) -> bool:
    """Whether run ``run_id`` exists and is queued or training."""
    if not run_id:
        return False
    try:
        return run_status(get_run(run_id)).is_active
    except RunNotFoundError:
        return False


@dataclass(frozen=True)
class FollowedRun:
    """What the Train page shows of the run it follows."""

    run: Run
    status: RunStatus
    headline: str  # "Run **id** · `running` · epoch 3/40"
    progress: tuple[float, str] | None  # (0..1, text) while it is queued or training
    notice: tuple[Literal["error", "warning"], str] | None  # a failed, broken or cancelled run
    metrics: pl.DataFrame | None  # its loss log, None when it has none (yet)
    metrics_warning: str | None  # corrupt loss-log lines, named
    last_epoch: str | None  # "Epoch 40: total ... = recon ... + beta × KL ..."
    first_layout: bool = False  # its codes' first layout exists while the map is computed


def _notice(run_id: str, status: RunStatus) -> tuple[Literal["error", "warning"], str] | None:
    if status.state == "failed":
        return "error", (
            f"Run {run_id} failed: {status.error or 'no error recorded'}. Change the "
            "configuration (lower learning rate or beta for a non-finite loss) and start again."
        )
    if status.state == "broken":
        return "error", f"{status.error} Delete it on the **Runs** page."
    if status.state == "cancelled":
        return "warning", f"Run {run_id} was cancelled. Start it again to resume from scratch."
    return None


def followed_run(run_id: str) -> FollowedRun:
    """The followed run's state, progress and losses (``RunNotFoundError`` once deleted)."""
    run = get_run(run_id)
    status = run_status(run)
    epoch = f"epoch {status.epoch}/{status.n_epochs}" if status.epoch else status.stage
    progress = None
    if status.is_active:
        text = f"{status.message or status.stage} · time left {fmt_seconds(status.eta_s)}"
        progress = (clamp_progress(status.progress), text)
    ok = status.state != "broken" and run.has("metrics.jsonl")
    metrics = run.metrics() if ok else None
    last_epoch = None
    if metrics is not None and metrics.height:
        last = metrics.row(-1, named=True)
        last_epoch = (
            f"Epoch {last['epoch']}: total {last['total']:.4g} = recon {last['recon']:.4g} + "
            f"beta × KL {last['kl']:.4g}; learning rate {last['lr']:.2g}."
        )
    return FollowedRun(
        run=run,
        status=status,
        headline=f"Run **{run_id}** · `{status.state}` · {epoch}",
        progress=progress,
        notice=_notice(run_id, status),
        metrics=metrics if last_epoch is not None else None,
        metrics_warning=run.metrics_warning() if ok else None,
        last_epoch=last_epoch,
        first_layout=shows_first_layout(run, status),
    )


def shows_first_layout(run: Run, status: RunStatus) -> bool:
    """Whether the Train page shows ``run``'s first layout: once this attempt has written
    its codes (a file left by an earlier attempt is not shown while it trains again)."""
    return status.is_active and status.stage in FIRST_LAYOUT_STAGES and run.has(FIRST_LAYOUT_FILE)


def first_layout_figure(run: Run) -> tuple[go.Figure, str] | None:
    """The followed run's first layout as a density, and its caption; None when it has
    none (see :mod:`core.runs.layout`)."""
    xy = read_first_layout(run)
    if xy is None:
        return None
    n = int(xy.shape[0])
    bins = int(np.clip(np.sqrt(n) / 2, 20, DENSITY_BINS))
    fig = go.Figure(density_trace(xy, bins=bins))
    fig.update_traces(opacity=1.0, colorscale="Blues")
    fig.update_layout(
        height=380,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": {"text": "PC-1"}, "showticklabels": False, "zeroline": False},
        yaxis={"title": {"text": "PC-2"}, "showticklabels": False, "zeroline": False},
    )
    caption = (
        f"First look at the {n:,} segments: the density of their codes on the two principal "
        "components (darker: more segments). The Latent map's UMAP layout replaces it when "
        "the run is ready."
    )
    return fig, caption
