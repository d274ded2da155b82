"""The analyses of a run after training, each a stage over the run's context: encode the
posterior means (on the reading axes), correlate them with the features, rank the top
features per dimension, and the health diagnostics with the dimension quality and the PCA
baseline. Each writes its artifact atomically as soon as it exists."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from core.analysis import latents as analysis
from core.analysis.ensemble import EnsembleReport, ensemble_report
from core.analysis.quality import (
    MIN_DISTINCT,
    DimQuality,
    ReadingAxes,
    anchored_varimax,
    dim_quality,
    reading_quality,
    with_tracks,
)
from core.features.registry import feature_tier
from core.infra.io import (
    atomic_write_json,
    atomic_write_npz,
    atomic_write_parquet,
    atomic_write_text,
)
from core.model.config import VAEConfig
from core.model.latents import latent_names
from core.pipeline.context import RunContext
from core.pipeline.prepare import PreparedData
from core.runs.files import (
    AXES_FILE,
    CORRELATIONS_FILE,
    DIAGNOSTICS_FILE,
    INTERPRETATION_FILE,
    LATENTS_FILE,
    PIVOT_FILE,
)
from core.runs.layout import write_first_layout
from core.runs.records import save_reading_axes

if TYPE_CHECKING:
    from core.model.training import TrainResult

logger = logging.getLogger(__name__)

TOP_K = 5


def encode_stage(ctx: RunContext) -> None:
    """Encode the posterior means, put them on the reading axes, write ``latents.parquet``."""
    from core.model.encoding import encode_means

    data, result = ctx.data, ctx.result
    ctx.rep.stage("encoding", ctx.rep.analysis_unit("encoding"), "encoding posterior means")
    Z_model = encode_means(result.module, data.X, batch_size=2048, device=ctx.device)
    kl_model = result.history[-1].kl_per_dim if result.history else None
    Z, quality, model_quality, axes = reading_axes_of(Z_model, kl_model, data.features, ctx.vae)
    ensemble = _ensemble(ctx, Z, quality)
    quality = dataclasses.replace(quality, n_seeds=ensemble.n_seeds, found_in=ensemble.found_in)
    if axes is not None:
        save_reading_axes(axes, ctx.run.artifact_path(AXES_FILE))
    znames = latent_names(Z.shape[1])
    meta_cols = [c for c in data.segments.columns if feature_tier(c) is None]
    meta_cols = ["segment_id", *[c for c in meta_cols if c != "segment_id"]]
    latents = data.segments.select(meta_cols).with_columns(
        [pl.Series(n, Z[:, i].astype(np.float64)) for i, n in enumerate(znames)]
    )
    atomic_write_parquet(ctx.run.artifact_path(LATENTS_FILE), latents)
    write_first_layout(ctx.run, latents["segment_id"], Z)
    ctx.put(codes=Z, quality=quality, model_quality=model_quality, axes=axes, ensemble=ensemble)


def _ensemble(ctx: RunContext, Z: np.ndarray, quality: DimQuality) -> EnsembleReport:
    """Every other member's codes on its own reading axes, matched to the reference's."""
    from core.model.encoding import encode_means

    data, result = ctx.data, ctx.result
    members = []
    for module, kl in zip(result.members, result.member_kl, strict=True):
        Zm = encode_means(module, data.X, batch_size=2048, device=ctx.device)
        Zr, q, _, _ = reading_axes_of(Zm, kl, data.features, ctx.vae)
        members.append((Zr, q))
    seeds = result.seeds or [ctx.vae.random_state]
    return ensemble_report(Z, quality, members, data.features, data.feature_names, seeds)


def correlations_stage(ctx: RunContext) -> None:
    """Pearson and Spearman r and p of every code against every named feature."""
    data = ctx.data
    ctx.rep.stage(
        "correlations", ctx.rep.analysis_unit("correlations"), "correlating latents with features"
    )
    pr, pp = analysis.pearson_matrix(ctx.codes, data.features)
    sr, sp = analysis.spearman_matrix(ctx.codes, data.features)
    atomic_write_npz(
        ctx.run.artifact_path(CORRELATIONS_FILE),
        pearson_r=pr,
        pearson_p=pp,
        spearman_r=sr,
        spearman_p=sp,
        feature_names=np.array(data.feature_names, dtype=str),
    )
    ctx.put(pearson=(pr, pp))


def interpretation_stage(ctx: RunContext) -> None:
    """The top-``TOP_K`` features of each dimension (with its status), and the pivot."""
    ctx.rep.stage(
        "interpretation", ctx.rep.analysis_unit("interpretation"), "ranking top features per latent"
    )
    pr, pp = ctx.pearson
    table = analysis.interpretation_table(pr, pp, ctx.data.feature_names, k=TOP_K)
    table = table.with_columns(
        pl.col("latent_dim")
        .replace_strict(ctx.quality.status, return_dtype=pl.Utf8)
        .alias("dim_status")
    )
    atomic_write_parquet(ctx.run.artifact_path(INTERPRETATION_FILE), table)
    pivot = analysis.interpretation_pivot(table)
    atomic_write_text(ctx.run.artifact_path(PIVOT_FILE), pivot.write_csv())


def diagnostics_stage(ctx: RunContext) -> None:
    """``diagnostics.json``: VAE health, dimension quality, the VAE's reconstruction at the
    posterior means, the PCA baseline and the projection record."""
    data, result, Z, axes = ctx.data, ctx.result, ctx.codes, ctx.axes
    ctx.rep.stage("diagnostics", ctx.rep.analysis_unit("diagnostics"), "VAE health diagnostics")
    diag = _diagnostics(Z, result, data, ctx.vae, rotated=axes is not None)
    tracked = with_tracks(ctx.quality, ctx.pearson[0], data.feature_names)
    diag.update(_quality_record(tracked, ctx.model_quality, axes))
    diag["ensemble"] = ctx.ensemble.to_dict()
    Z_model = Z if axes is None else axes.to_raw(Z)  # the codes encoded above, no re-encoding
    diag["recon_at_means"] = _recon_at_means(result.module, data.X, Z_model)
    diag["baseline"] = _baseline(data, Z, diag)
    diag["projection"] = ctx.projection
    atomic_write_json(ctx.run.artifact_path(DIAGNOSTICS_FILE), diag)
    ctx.put(diagnostics=diag)


def reading_axes_of(
    Z_model: np.ndarray, kl: Any, features: np.ndarray, vae_cfg: VAEConfig
) -> tuple[np.ndarray, DimQuality, DimQuality, ReadingAxes | None]:
    """The codes pages read, their quality, the model dims' quality and the rotation used.

    Without rotation (or with fewer than two distinct dims) the reading axes are the model
    dims themselves.
    """
    model_q = dim_quality(Z_model, None if kl is None else np.asarray(kl, dtype=np.float64))
    if vae_cfg.rotation == "none" or model_q.n_distinct < MIN_DISTINCT:
        return np.asarray(Z_model, dtype=np.float64), model_q, model_q, None
    axes = anchored_varimax(Z_model, features, model_q)
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
    from core.model.config import LOSS_REDUCTION

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
            "training_data": result.extra.get("data", "resident on the device"),
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
