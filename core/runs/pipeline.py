"""One run, end to end: features -> preprocessing -> beta-VAE -> every analysis, into its folder.

This is the notebook's sections 2-9 as a function. It runs wherever it is called (a
background job's worker process, the headless ``train`` command, a test), writes each
artifact atomically as soon as it exists, keeps ``status.json`` current (stage, progress,
time left, heartbeat) and writes ``state: done`` only after the last artifact.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from core.analysis import latents as analysis
from core.analysis.quality import (
    MIN_DISTINCT,
    DimQuality,
    ReadingAxes,
    anchored_varimax,
    dim_quality,
    reading_quality,
    with_tracks,
)
from core.errors import FeaturesFileError, TrainingError
from core.features.datasets import load_features
from core.features.registry import feature_tier
from core.infra.io import (
    atomic_write_json,
    atomic_write_npz,
    atomic_write_parquet,
    atomic_write_text,
)
from core.infra.process import process_start_time, utc_now
from core.model.config import PreprocessConfig, VAEConfig
from core.model.latents import latent_names
from core.model.metrics import JsonlMetricsWriter
from core.runs import stages
from core.runs.store import (
    AXES_FILE,
    CORRELATIONS_FILE,
    DIAGNOSTICS_FILE,
    INTERPRETATION_FILE,
    LATENTS_FILE,
    LOG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PIVOT_FILE,
    PREPROCESSING_FILE,
    UMAP_FILE,
    Run,
    get_run,
)

if TYPE_CHECKING:
    from core.model.training import TrainResult

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
ShouldStop = Callable[[], bool]

ANALYSIS_STAGES = ("encoding", "correlations", "interpretation", "umap", "diagnostics", "states")
TOP_K = 5
STATUS_EVERY_S = 0.5
STALE_ON_RETRY = (
    METRICS_FILE,
    MODEL_FILE,
    PREPROCESSING_FILE,
    LATENTS_FILE,
    AXES_FILE,
    CORRELATIONS_FILE,
    INTERPRETATION_FILE,
    PIVOT_FILE,
    UMAP_FILE,
    DIAGNOSTICS_FILE,
)  # at most this often a status.json rewrite during training


class RunCancelled(Exception):
    """``should_stop`` asked the run to stop; its status is ``cancelled``."""


@dataclass(frozen=True)
class PreparedData:
    """The model matrix and the segments (rows) it describes."""

    X: np.ndarray  # (n, d) float32, what the VAE sees
    segments: pl.DataFrame  # retained rows of the filtered features table
    features: np.ndarray  # (n, m) float64 named features (nulls imputed) for correlations
    feature_names: list[str]
    pipeline: Any  # fitted PreprocessingPipeline
    dropped_tier_columns: list[str]


def prepare(df: pl.DataFrame, prep: PreprocessConfig) -> PreparedData:
    """Filter segments and tiers like the notebook, then fit the preprocessing."""
    from core.model.preprocessing import PreprocessingPipeline

    seg = df.filter(pl.col("segment_type") == prep.segment_type)
    if seg.is_empty():
        available = sorted(df["segment_type"].unique().drop_nulls().to_list())
        raise FeaturesFileError(
            f"No '{prep.segment_type}' segments in the features file (it has {available}). "
            "Choose another segment type."
        )
    dropped = [
        c for c in seg.columns if (tier := feature_tier(c)) is not None and tier > prep.max_tier
    ]
    seg = seg.drop(dropped)
    pipeline = PreprocessingPipeline.from_config(prep)
    X = pipeline.fit_transform(seg)
    mask = pipeline.get_retained_row_mask(seg)
    kept = seg.filter(pl.Series(mask))
    names = list(pipeline.feature_columns_)
    named = kept.select([pl.col(c).cast(pl.Float64) for c in names]).to_numpy()
    named = np.where(np.isnan(named), pipeline.medians_, named)
    return PreparedData(
        X=np.asarray(X, dtype=np.float32),
        segments=kept,
        features=named,
        feature_names=names,
        pipeline=pipeline,
        dropped_tier_columns=dropped,
    )


class _RunReporter:
    """Turns training and stage events into status.json updates and progress calls."""

    def __init__(self, run: Run, n_epochs: int, progress: Progress | None) -> None:
        self.run = run
        self.n_epochs = n_epochs
        self.total_units = n_epochs + 2 + len(ANALYSIS_STAGES)  # + load, + save
        self.progress = progress
        self.started = time.monotonic()
        self.train_started: float | None = None
        self.last_write = 0.0
        self.metrics_path = run.artifact_path(METRICS_FILE)

    def units(self, done: int, message: str, **status: Any) -> None:
        frac = min(1.0, done / self.total_units)
        if self.progress:
            self.progress(done, self.total_units, message)
        self.run.update_status(
            progress=round(frac, 4), message=message, heartbeat=time.time(), **status
        )

    def stage(self, name: str, done: int, message: str) -> None:
        logger.info("run %s: %s", self.run.run_id, message)
        self.units(done, message, stage=name, eta_s=None)

    # training callback
    def on_train_start(self, module: Any, n_rows: int, n_features: int) -> None:
        self.train_started = time.monotonic()
        self.metrics = JsonlMetricsWriter(self.metrics_path)  # starts the file afresh

    def on_epoch_end(self, metrics: Any) -> None:
        self.metrics.on_epoch_end(metrics)
        now = time.monotonic()
        last = metrics.epoch >= self.n_epochs
        if self.progress:
            self.progress(
                1 + metrics.epoch,
                self.total_units,
                f"epoch {metrics.epoch}/{self.n_epochs} loss {metrics.total:.3f}",
            )
        if now - self.last_write < STATUS_EVERY_S and not last:
            return
        self.last_write = now
        elapsed = now - (self.train_started or self.started)
        eta = elapsed / metrics.epoch * (self.n_epochs - metrics.epoch)
        self.run.update_status(
            stage="training",
            epoch=metrics.epoch,
            progress=round((1 + metrics.epoch) / self.total_units, 4),
            eta_s=round(eta, 1),
            heartbeat=time.time(),
            message=(
                f"epoch {metrics.epoch}/{self.n_epochs}: loss {metrics.total:.4f} "
                f"(recon {metrics.recon:.4f}, KL {metrics.kl:.4f})"
            ),
        )


def _attach_log(run: Run) -> logging.Handler:
    handler = logging.FileHandler(run.artifact_path(LOG_FILE), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    core_logger = logging.getLogger("core")
    core_logger.addHandler(handler)
    if core_logger.getEffectiveLevel() > logging.INFO:
        core_logger.setLevel(logging.INFO)
    return handler


def execute_run(
    run_id: str,
    *,
    device: str | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    world_size: int = 1,
    job_id: str | None = None,
) -> Run:
    """Train the run's model and compute every analysis into its folder.

    ``device`` is a torch device name (None: the best one here); ``world_size > 1`` trains
    data-parallel with DDP. ``progress(done, total, message)`` gets every epoch and stage.
    ``should_stop()`` is polled during training and between stages; when it answers True
    the run ends ``cancelled``. Errors (bad features, diverging loss) leave the run
    ``failed`` with a message naming the cause and are re-raised; metrics written so far
    are kept.
    """
    run = get_run(run_id)
    with run.writer():  # one writer per run, whoever starts it (RunBusyError otherwise)
        if run.status().state == "done":
            return run  # another writer finished it while this caller was starting
        return _execute_claimed(run, device, progress, should_stop, world_size, job_id)


def _execute_claimed(
    run: Run,
    device: str | None,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    world_size: int,
    job_id: str | None,
) -> Run:
    """:func:`execute_run` once this process holds the run's writer lock."""
    run_id = run.run_id
    cfg = run.config()
    # A retry (after a failure or cancel) starts clean: no stale artifact of an earlier
    # attempt can be mistaken for this one's.
    for name in STALE_ON_RETRY:
        run.artifact_path(name).unlink(missing_ok=True)
    handler = _attach_log(run)
    rep = _RunReporter(run, cfg.vae.n_epochs, progress)
    pid = os.getpid()
    run.update_status(
        state="running",
        stage="loading",
        progress=0.0,
        eta_s=None,
        error=None,
        pid=pid,
        pid_start=process_start_time(pid),
        job_id=job_id,
        **({"device": device} if device else {}),  # a job has recorded its device slot
        epoch=None,
        n_epochs=cfg.vae.n_epochs,
        started_at=utc_now(),
        finished_at=None,
        heartbeat=time.time(),
        message="loading features",
    )
    try:
        _execute(
            run, cfg.vae, cfg.preprocess, cfg.features_path, rep, device, should_stop, world_size
        )
    except RunCancelled:
        run.update_status(
            state="cancelled", message="cancelled by request", finished_at=utc_now(), eta_s=None
        )
        logger.info("run %s cancelled", run_id)
    except BaseException as exc:
        if isinstance(exc, Exception):
            run.update_status(
                state="failed",
                error=str(exc),
                finished_at=utc_now(),
                eta_s=None,
                message=f"failed: {type(exc).__name__}",
            )
            logger.error("run %s failed: %s", run_id, exc)
        else:  # SIGTERM/Ctrl-C while computing: nothing half-done is marked done
            run.update_status(
                state="cancelled",
                message=f"interrupted ({type(exc).__name__})",
                finished_at=utc_now(),
                eta_s=None,
            )
        raise
    finally:
        logging.getLogger("core").removeHandler(handler)
        handler.close()
    return run


def _execute(
    run: Run,
    vae_cfg: VAEConfig,
    prep_cfg: PreprocessConfig,
    features_path: Path,
    rep: _RunReporter,
    device: str | None,
    should_stop: ShouldStop | None,
    world_size: int,
) -> None:
    from core.model.training import check_trainable
    from core.model.vae import save_module

    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise RunCancelled()

    rep.stage("loading", 0, f"loading {features_path.name}")
    df = load_features(features_path)
    rep.stage("preprocessing", 0, f"preprocessing {df.height:,} segments")
    data = prepare(df, prep_cfg)
    check_trainable(data.X.shape[0], data.X.shape[1], vae_cfg)
    check_stop()
    logger.info(
        "run %s: %d segments x %d model inputs (%d named features; dropped tier>%d: %d)",
        run.run_id,
        data.X.shape[0],
        data.X.shape[1],
        len(data.feature_names),
        prep_cfg.max_tier,
        len(data.dropped_tier_columns),
    )

    # --- training -------------------------------------------------------------------------
    rep.stage("training", 1, f"training on {data.X.shape[0]:,} segments")
    result = _train(data, vae_cfg, rep, device, should_stop, world_size)
    if result.cancelled:
        raise RunCancelled()
    module = result.module
    # Model and preprocessing first: they are what the slow training produced.
    save_module(module, run.artifact_path(MODEL_FILE))
    data.pipeline.save(run.artifact_path(PREPROCESSING_FILE))
    done = 1 + vae_cfg.n_epochs

    # --- analyses -------------------------------------------------------------------------
    check_stop()
    rep.stage("encoding", done, "encoding posterior means")
    Z, quality, model_quality, axes = _encode(run, module, data, vae_cfg, result, device)

    check_stop()
    rep.stage("correlations", done + 1, "correlating latents with features")
    pr, pp = analysis.pearson_matrix(Z, data.features)
    sr, sp = analysis.spearman_matrix(Z, data.features)
    atomic_write_npz(
        run.artifact_path(CORRELATIONS_FILE),
        pearson_r=pr,
        pearson_p=pp,
        spearman_r=sr,
        spearman_p=sp,
        feature_names=np.array(data.feature_names, dtype=str),
    )

    check_stop()
    rep.stage("interpretation", done + 2, "ranking top features per latent")
    table = analysis.interpretation_table(pr, pp, data.feature_names, k=TOP_K)
    table = table.with_columns(
        pl.col("latent_dim")
        .replace_strict(quality.status, return_dtype=pl.Utf8)
        .alias("dim_status")
    )
    atomic_write_parquet(run.artifact_path(INTERPRETATION_FILE), table)
    pivot = analysis.interpretation_pivot(table)
    atomic_write_text(run.artifact_path(PIVOT_FILE), pivot.write_csv())

    check_stop()
    seg_ids = data.segments["segment_id"]
    projection = stages.projection_stage(rep, Z, seg_ids, vae_cfg.map_seed, done + 3)

    check_stop()
    rep.stage("diagnostics", done + 4, "VAE health diagnostics")
    diag = _diagnostics(Z, result, data, vae_cfg, rotated=axes is not None)
    diag.update(_quality_record(with_tracks(quality, pr, data.feature_names), model_quality, axes))
    Z_model = Z if axes is None else axes.to_raw(Z)  # the codes encoded above, no re-encoding
    diag["recon_at_means"] = _recon_at_means(module, data.X, Z_model)
    diag["baseline"] = _baseline(data, Z, diag)
    diag["projection"] = projection
    atomic_write_json(run.artifact_path(DIAGNOSTICS_FILE), diag)
    check_stop()
    stages.states_stage(rep, done + 5)  # reads diagnostics.json's distinct dims

    # --- done: written last, so a run is never shown done before its files exist -----------
    n_units = rep.total_units
    if rep.progress:
        rep.progress(n_units, n_units, "done")
    note = " (early stop)" if result.stopped_early else ""
    run.update_status(
        state="done",
        stage="done",
        progress=1.0,
        eta_s=0.0,
        heartbeat=time.time(),
        finished_at=utc_now(),
        device=result.device,
        message=f"done: {len(result.history)} epochs{note}, final loss "
        f"{result.final_loss:.4f}; {diag['verdict']}",
    )
    logger.info("run %s done", run.run_id)


def _encode(
    run: Run,
    module: Any,
    data: PreparedData,
    vae_cfg: VAEConfig,
    result: TrainResult,
    device: str | None,
) -> tuple[np.ndarray, DimQuality, DimQuality, ReadingAxes | None]:
    """Encode the posterior means, put them on the reading axes, write ``latents.parquet``."""
    from core.model.training import encode_means

    Z_model = encode_means(module, data.X, batch_size=2048, device=device)
    kl_model = result.history[-1].kl_per_dim if result.history else None
    Z, quality, model_quality, axes = _reading_axes(Z_model, kl_model, data, vae_cfg)
    if axes is not None:
        axes.save(run.artifact_path(AXES_FILE))
    znames = latent_names(Z.shape[1])
    meta_cols = [c for c in data.segments.columns if feature_tier(c) is None]
    meta_cols = ["segment_id", *[c for c in meta_cols if c != "segment_id"]]
    latents = data.segments.select(meta_cols).with_columns(
        [pl.Series(n, Z[:, i].astype(np.float64)) for i, n in enumerate(znames)]
    )
    atomic_write_parquet(run.artifact_path(LATENTS_FILE), latents)
    return Z, quality, model_quality, axes


def _reading_axes(
    Z_model: np.ndarray, kl: Any, data: PreparedData, vae_cfg: VAEConfig
) -> tuple[np.ndarray, DimQuality, DimQuality, ReadingAxes | None]:
    """The codes pages read, their quality, the model dims' quality and the rotation used.

    Without rotation (or with fewer than two distinct dims) the reading axes are the model
    dims themselves.
    """
    model_q = dim_quality(Z_model, None if kl is None else np.asarray(kl, dtype=np.float64))
    if vae_cfg.rotation == "none" or model_q.n_distinct < MIN_DISTINCT:
        return np.asarray(Z_model, dtype=np.float64), model_q, model_q, None
    axes = anchored_varimax(Z_model, data.features, model_q)
    Z = axes.to_reading(Z_model)
    return Z, reading_quality(axes, model_q, Z), model_q, axes


def _quality_record(
    quality: DimQuality, model_quality: DimQuality, axes: ReadingAxes | None
) -> dict[str, Any]:
    """The dimension-quality keys of ``diagnostics.json`` (names are ``latents.parquet``'s)."""
    return {
        "dim_quality": quality.to_dict(),
        "distinct_dims": quality.distinct,
        "redundant_dims": quality.redundant,
        "inactive_dims": quality.inactive,
        "dim_status": quality.status,
        "n_distinct": quality.n_distinct,
        "verdict": quality.verdict,
        "rotation": None
        if axes is None
        else {"method": axes.method, "source": axes.source, "file": AXES_FILE},
        "model_dims": model_quality.to_dict(),
    }


def _recon_at_means(module: Any, X: np.ndarray, means: np.ndarray) -> float:
    """The VAE's reconstruction error decoding the posterior ``means`` (no sampling noise):
    squared error summed over inputs, mean over segments, like PCA's in the baseline."""
    from core.analysis.traversal import decode_codes

    out = decode_codes(module, means)
    return float(((out - X.astype(np.float64)) ** 2).sum(axis=1).mean())


def _baseline(data: PreparedData, Z: np.ndarray, diag: dict[str, Any]) -> dict[str, Any] | None:
    """PCA with as many components as latent dims on the same matrix, beside the VAE."""
    from core.analysis.baseline import pca_baseline

    k = min(Z.shape[1], data.X.shape[0], data.X.shape[1])
    try:
        base = pca_baseline(
            data.X,
            Z,
            latent_names(Z.shape[1]),
            n_components=k,
            vae_recon_mse=diag.get("recon_at_means"),
        )
    except ValueError as exc:  # degenerate matrix: the run is still usable without it
        logger.warning("PCA baseline skipped: %s", exc)
        return None
    return base.to_dict()


def _train(
    data: PreparedData,
    vae_cfg: VAEConfig,
    rep: _RunReporter,
    device: str | None,
    should_stop: ShouldStop | None,
    world_size: int,
) -> TrainResult:
    """Train the VAE on ``data.X``: data-parallel with DDP when ``world_size > 1``."""
    from core.model.training import train_vae

    if world_size > 1:
        from core.model.ddp import train_vae_ddp

        rep.on_train_start(None, data.X.shape[0], data.X.shape[1])
        return train_vae_ddp(
            data.X, vae_cfg, world_size=world_size, callbacks=[rep], should_stop=should_stop
        )
    return train_vae(
        data.X, vae_cfg, device=device, callbacks=[rep], should_stop=should_stop, precision="auto"
    )


def _diagnostics(
    Z: np.ndarray,
    result: TrainResult,
    data: PreparedData,
    vae_cfg: VAEConfig,
    *,
    rotated: bool = False,
) -> dict[str, Any]:
    """VAE health diagnostics of the latent codes, with how training and preprocessing went.

    With reading axes (``rotated``) the active/collapsed keys describe the
    ``latents.parquet`` columns, while ``kl_per_dim`` stays per model dim (the training
    curves' ``kl_z<i>``): a rotated axis has no KL of its own.
    """
    from core.model.vae import LOSS_REDUCTION

    last = result.history[-1] if result.history else None
    kl = last.kl_per_dim if last else None
    diag = analysis.diagnostics(Z, None if rotated else kl)
    if rotated and kl is not None:
        diag["kl_per_dim"] = [float(v) for v in kl]
        diag["kl_total"] = float(np.nansum(kl))
    diag["kl_per_dim_of"] = "model dims" if rotated else "latents"
    diag.update(
        {
            "n_features": len(data.feature_names),
            "n_inputs": int(data.X.shape[1]),
            "epochs_run": len(result.history),
            "n_epochs": vae_cfg.n_epochs,
            "stopped_early": result.stopped_early,
            "best_epoch": result.best_epoch,
            "final_loss": None if last is None else last.total,
            "final_recon": None if last is None else last.recon,
            "final_kl": None if last is None else last.kl,
            "train_seconds": float(sum(m.seconds for m in result.history)),
            "device": result.device,
            "precision": result.precision,  # "bfloat16": autocast (core.model.training)
            "loss_reduction": LOSS_REDUCTION,
            "dropped_tier_columns": data.dropped_tier_columns,
            "dropped_null_columns": list(data.pipeline.dropped_null_),
            "dropped_constant_columns": list(data.pipeline.dropped_constant_),
            "rows_in": int(data.pipeline.n_rows_in_),
            "rows_retained": int(data.pipeline.n_rows_retained_),
        }
    )
    if last is not None and not all(math.isfinite(v) for v in last.kl_per_dim):
        diag["warnings"].append("KL per dimension holds non-finite values.")
    return diag


MIN_RUN_SEGMENTS = 10  # below this the map (UMAP needs 4) and the states mean nothing


def check_training_input(
    features_path: str | os.PathLike[str], vae_cfg: VAEConfig, prep_cfg: PreprocessConfig
) -> tuple[int, int]:
    """Fail now, with the reason, if this configuration cannot train on this file.

    Loads the features, filters and preprocesses them exactly as :func:`execute_run` will,
    and checks the shapes against ``vae_cfg``. Returns ``(n_segments, n_inputs)``.
    """
    from core.model.training import check_trainable

    data = prepare(load_features(features_path), prep_cfg)
    if data.X.shape[0] < MIN_RUN_SEGMENTS:
        raise TrainingError(
            f"Need at least {MIN_RUN_SEGMENTS} segments for a run (the map and the analyses "
            f"need them), got {data.X.shape[0]}. Add matches to the dataset."
        )
    check_trainable(data.X.shape[0], data.X.shape[1], vae_cfg)
    return int(data.X.shape[0]), int(data.X.shape[1])
