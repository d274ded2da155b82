"""Export a run in the notebook's layout, so notebook users lose nothing by using the product.

Files (names as the notebook's ``OUTPUT_DIR``): ``vae_model.pt`` (the notebook's checkpoint
dict, loadable with ``torch.load(weights_only=True)``), ``latent_codes.npy``,
``correlation_matrix.npz`` (``corr``, ``pval``, ``feature_names``),
``latent_interpretation.parquet``, ``latent_interpretation_pivot.csv``,
``preprocessing_pipeline.json`` (JSON instead of the notebook's pickle) and the figures
``vae_training_curves.png``, ``vae_correlation_heatmap.png``, ``vae_top5_correlations.png``,
``vae_umap_latent.png``, ``vae_umap_per_dim.png``.

Beyond the notebook: the status of every latent dimension (distinct, redundant or inactive,
see :mod:`core.analysis.quality`) is exported in ``latent_dim_status.csv`` and as a
``dim_status`` column / array of the tables (``latent_interpretation.parquet``,
``latent_interpretation_pivot.csv``, ``correlation_matrix.npz``). The per-dimension
figures show the distinct dimensions only by default and name the others in a footnote;
with ``show_all`` they show every dimension, the others labelled with their status.
The arrays (``latent_codes.npy``, ``correlation_matrix.npz``) keep every dimension, as
the notebook wrote them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from core.analysis.latents import dominant_dimension
from core.errors import ArtifactMissingError, ConfigError
from core.infra.io import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_npz,
    atomic_write_parquet,
    atomic_write_text,
)
from core.model.vae import state_dict_input_dim
from core.runs.files import PREPROCESSING_FILE
from core.runs.records import Correlations
from core.runs.store import Run, get_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from core.analysis.quality import DimQuality

logger = logging.getLogger(__name__)

EXPORT_FILES = (
    "vae_model.pt",
    "latent_codes.npy",
    "correlation_matrix.npz",
    "latent_interpretation.parquet",
    "latent_interpretation_pivot.csv",
    "preprocessing_pipeline.json",
    "latent_dim_status.csv",
    "vae_training_curves.png",
    "vae_correlation_heatmap.png",
    "vae_top5_correlations.png",
    "vae_umap_latent.png",
    "vae_umap_per_dim.png",
    "CREDIT.txt",
)
# StatsBomb's open-data terms ask anyone publishing from the data to credit StatsBomb:
# CREDIT.txt says where the run's match data came from.
DPI = 150
MUTED = "#9a9a9a"  # labels of dimensions that are not distinct


def export_run(
    run_id: str, out_dir: str | os.PathLike[str], *, show_all: bool = False
) -> list[Path]:
    """Write every notebook artifact of a finished run into ``out_dir``; returns the paths.

    The per-dimension figures show the run's distinct dimensions (every dimension, the
    others marked, with ``show_all``); the tables carry every dimension's status.
    """
    run = get_run(run_id)
    st = run.status()
    if st.state != "done":
        raise ArtifactMissingError(
            f"Run {run_id} is {st.state} (stage {st.stage}); only finished runs can be "
            "exported. Wait for its job or start it again."
        )
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"The export destination {out} is an existing file, not a folder; give a folder "
            "(it is created if missing) so the run's files can be written into it."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the export folder {out} ({exc.strerror or exc}); choose a folder "
            "you can write to."
        ) from exc
    quality = run.dim_quality()
    written = [
        _model(run, out),
        *_tables(run, out, quality, show_all),
        *_figures(run, out, quality, show_all),
        _credit(run, out),
    ]
    logger.info("Exported run %s to %s (%d files)", run_id, out, len(written))
    return written


def _model(run: Run, out: Path) -> Path:
    import torch

    cfg = run.config().vae
    sd = run.state_dict()
    losses = run.metrics()["total"].to_list()
    checkpoint = {
        "state_dict": sd,
        "input_dim": state_dict_input_dim(sd),
        "config_latent_dim": cfg.latent_dim,
        "config_hidden_dims": tuple(cfg.hidden_dims),
        "config_beta": cfg.beta,
        "config_learning_rate": cfg.learning_rate,
        "config_batch_size": cfg.batch_size,
        "config_n_epochs": cfg.n_epochs,
        "config_dropout": cfg.dropout,
        "config_random_state": cfg.random_state,
        "training_losses": [float(v) for v in losses],
    }
    path = out / "vae_model.pt"
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return path


def dim_status_table(quality: DimQuality, *, show_all: bool = False) -> pl.DataFrame:
    """One row per latent dimension: ``dim, status, copies`` (the distinct dim a redundant
    one copies), ``variance``, ``informativeness`` (and its ``informativeness_kind``),
    ``tracks``, ``reproduced`` (found again by the run's other seeds), ``found_in`` (of
    ``n_seeds`` trainings) and ``shown`` (whether the default figures show it)."""
    shown = set(quality.shown(show_all))
    return pl.DataFrame(
        {
            "dim": quality.names,
            "status": [quality.status[n] for n in quality.names],
            "copies": [quality.redundant.get(n) for n in quality.names],
            "variance": quality.variance,
            "informativeness": quality.informativeness,
            "informativeness_kind": quality.informativeness_kind,
            "tracks": [quality.tracks.get(n) for n in quality.names],
            "reproduced": [n in quality.reproduced for n in quality.names],
            "found_in": [
                quality.found_in.get(n, 1) if n in quality.distinct else None for n in quality.names
            ],
            "n_seeds": [quality.n_seeds] * len(quality.names),
            "shown": [n in shown for n in quality.names],
        },
        schema_overrides={"copies": pl.String, "tracks": pl.String, "found_in": pl.Int64},
    )


def _with_status(frame: pl.DataFrame, column: str, quality: DimQuality) -> pl.DataFrame:
    """``frame`` with a ``dim_status`` column after ``column`` (replaced when present)."""
    status = pl.col(column).replace_strict(quality.status, default=None, return_dtype=pl.String)
    cols = [c for c in frame.columns if c != "dim_status"]
    at = cols.index(column) + 1
    return frame.with_columns(status.alias("dim_status")).select(
        [*cols[:at], "dim_status", *cols[at:]]
    )


def _tables(run: Run, out: Path, quality: DimQuality, show_all: bool) -> list[Path]:
    z = run.latent_matrix().astype(np.float32)
    codes = out / "latent_codes.npy"
    with atomic_path(codes) as tmp, tmp.open("wb") as fh:
        np.save(fh, z)
    corr = run.correlations()
    npz = atomic_write_npz(
        out / "correlation_matrix.npz",
        corr=corr.pearson_r,
        pval=corr.pearson_p,
        feature_names=np.array(corr.feature_names, dtype=str),
        latent_names=np.array(corr.latent_names, dtype=str),
        dim_status=np.array([quality.status.get(n, "") for n in corr.latent_names], dtype=str),
    )
    interp_table = run.interpretation()
    if "dim_status" not in interp_table.columns:  # runs written before dimension quality
        interp_table = _with_status(interp_table, "latent_dim", quality)
    interp = atomic_write_parquet(out / "latent_interpretation.parquet", interp_table)
    pivot = atomic_write_text(
        out / "latent_interpretation_pivot.csv",
        _with_status(run.interpretation_pivot(), "dim", quality).write_csv(),
    )
    prep = atomic_write_bytes(
        out / "preprocessing_pipeline.json", run.artifact_path(PREPROCESSING_FILE).read_bytes()
    )
    status = atomic_write_text(
        out / "latent_dim_status.csv", dim_status_table(quality, show_all=show_all).write_csv()
    )
    return [codes, npz, interp, pivot, prep, status]


def _credit(run: Run, out: Path) -> Path:
    """CREDIT.txt: where the run's match data came from and the credit its licence asks."""
    from core.data.opendata import CREDIT

    cfg = run.config()
    providers = ["statsbomb"]
    try:
        frame = pl.read_parquet(cfg.features_path, columns=["provider"])
        providers = sorted({str(p) for p in frame["provider"].drop_nulls()}) or providers
    except Exception:  # noqa: BLE001 - an older features file has no provider column
        pass
    lines = [f"Run {run.run_id}, trained on dataset {cfg.dataset or 'features'}."]
    if "statsbomb" in providers:
        lines.append(CREDIT)
    others = [p for p in providers if p != "statsbomb"]
    if others:
        lines.append(
            f"Match data from {', '.join(others)}, used under the licence it was obtained with."
        )
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "CREDIT.txt", text)
    return out / "CREDIT.txt"


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    return path


def _grid(n: int) -> tuple[int, int]:
    return 2, max(1, (n + 1) // 2)


@dataclass(frozen=True)
class FigureDims:
    """The latent dimensions a figure shows (row indexes into the run's arrays) and how."""

    index: list[int]  # rows of the correlation matrix / columns of the codes, shown order
    names: list[str]
    labels: list[str]  # "z3", "z5 (inactive)", ...
    distinct: list[bool]
    footnote: str | None  # what is not shown, or the warning of a run without distinct dims

    @classmethod
    def of(cls, quality: DimQuality, all_names: list[str], show_all: bool) -> FigureDims:
        names = [n for n in quality.shown(show_all) if n in all_names]
        hidden = [n for n in all_names if n not in names]
        if not quality.distinct:
            footnote: str | None = quality.verdict
        elif hidden:
            footnote = (
                f"Distinct dimensions only ({len(names)} of {len(all_names)}); not shown: "
                + ", ".join(quality.label(n) for n in hidden)
            )
        else:
            footnote = None
        return cls(
            index=[all_names.index(n) for n in names],
            names=names,
            labels=[quality.label(n) for n in names],
            distinct=[quality.status.get(n) == "distinct" for n in names],
            footnote=footnote,
        )

    def colour(self, i: int) -> str:
        return "black" if self.distinct[i] else MUTED


def figure_dims(quality: DimQuality, names: list[str], *, show_all: bool = False) -> FigureDims:
    """Which of the latent dims ``names`` the per-dimension figures show, labelled, and the
    footnote naming the others (distinct dims only unless ``show_all``)."""
    return FigureDims.of(quality, names, show_all)


def _footnote(fig: Figure, dims: FigureDims) -> None:
    if dims.footnote:
        fig.text(0.01, -0.02, dims.footnote, fontsize=8, color="#555555", ha="left", va="top")


def _figures(run: Run, out: Path, quality: DimQuality, show_all: bool) -> list[Path]:
    metrics = run.metrics()
    corr = run.correlations()
    interp = run.interpretation()
    z = run.latent_matrix()
    emb = run.umap().select("umap_x", "umap_y").to_numpy()
    dims = figure_dims(quality, list(corr.latent_names), show_all=show_all)
    return [
        _save(_training_curves(metrics), out / "vae_training_curves.png"),
        _save(_correlation_heatmap(corr, dims), out / "vae_correlation_heatmap.png"),
        _save(_top_correlations(interp, dims), out / "vae_top5_correlations.png"),
        _save(_umap_dominant(emb, z, dims), out / "vae_umap_latent.png"),
        _save(_umap_per_dim(emb, z, dims), out / "vae_umap_per_dim.png"),
    ]


def _training_curves(metrics: pl.DataFrame) -> Figure:
    """Training curves (notebook section 4)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    fig = Figure(figsize=(15, 4))
    axes = fig.subplots(1, 3)
    epochs = metrics["epoch"].to_numpy()
    for ax, col, title, color in zip(
        axes,
        ("total", "recon", "kl"),
        ("Total Loss", "Reconstruction Loss (MSE)", "KL Divergence"),
        ("#4c72b0", "#dd8452", "#55a868"),
        strict=True,
    ):
        ax.plot(epochs, metrics[col].to_numpy(), linewidth=1.2, color=color)
        ax.set_title(title)
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Loss")
    fig.suptitle("VAE Training Curves", fontsize=13, y=1.02)
    fig.tight_layout()
    return fig


def _correlation_heatmap(corr: Correlations, dims: FigureDims) -> Figure:
    """Correlation heatmap (section 6), rows: the shown dimensions."""
    from matplotlib.figure import Figure

    r = corr.pearson_r[dims.index]
    n_latent, n_feat = r.shape
    fig = Figure(figsize=(max(14, n_feat * 0.35), max(4, n_latent * 0.6)))
    ax = fig.subplots()
    im = ax.imshow(r, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_yticks(range(n_latent))
    ax.set_yticklabels(dims.labels)
    for i, tick in enumerate(ax.get_yticklabels()):
        tick.set_color(dims.colour(i))
    ax.set_xticks(range(n_feat))
    ax.set_xticklabels(corr.feature_names, rotation=90, fontsize=6)
    ax.set_title("Pearson Correlation: Latent Dimensions vs Features")
    fig.colorbar(im, ax=ax, label="Pearson r", shrink=0.8)
    fig.tight_layout()
    _footnote(fig, dims)
    return fig


def _latent_grid(n_latent: int) -> tuple[Figure, npt.NDArray[Any]]:
    """A figure with a panel per latent (2 rows) and its panels, flat; extra panels hidden."""
    from matplotlib.figure import Figure

    rows, cols = _grid(n_latent)
    fig = Figure(figsize=(4 * cols, 7))
    axes_flat = np.asarray(fig.subplots(rows, cols, squeeze=False)).ravel()
    for extra in axes_flat[n_latent:]:
        extra.set_visible(False)
    return fig, axes_flat


def _top_correlations(interp: pl.DataFrame, dims: FigureDims) -> Figure:
    """Top-5 bars per shown latent (section 7)."""
    fig, axes_flat = _latent_grid(len(dims.names))
    for zi, name in enumerate(dims.names):
        ax = axes_flat[zi]
        dim = interp.filter(pl.col("latent_dim") == name).sort("rank")
        feats = dim["feature"].to_list()
        r_vals = dim["pearson_r"].to_list()
        ypos = list(range(len(feats) - 1, -1, -1))
        ax.barh(ypos, r_vals, color=["#c44e52" if r < 0 else "#4c72b0" for r in r_vals])
        ax.set_yticks(ypos)
        ax.set_yticklabels(feats, fontsize=7)
        ax.set_xlim(-1, 1)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_title(dims.labels[zi], fontsize=10, color=dims.colour(zi))
        ax.set_xlabel("Pearson r", fontsize=8)
    fig.suptitle("Top-5 Feature Correlates per Latent Dimension", fontsize=13, y=1.01)
    fig.tight_layout()
    _footnote(fig, dims)
    return fig


def _umap_dominant(emb: npt.NDArray[Any], z: npt.NDArray[Any], dims: FigureDims) -> Figure:
    """UMAP coloured by dominant dimension among the shown ones (section 8)."""
    from matplotlib.figure import Figure

    n_latent = len(dims.names)
    dominant = dominant_dimension(z[:, dims.index])
    fig = Figure(figsize=(9, 7))
    ax = fig.subplots()
    sc = ax.scatter(
        emb[:, 0],
        emb[:, 1],
        c=dominant,
        cmap="tab10",
        s=4,
        alpha=0.5,
        rasterized=True,
        vmin=-0.5,
        vmax=n_latent - 0.5,
    )
    cbar = fig.colorbar(sc, ax=ax, label="Dominant Latent Dim")
    cbar.set_ticks(list(range(n_latent)))
    cbar.set_ticklabels(dims.labels)
    ax.set_title("UMAP of VAE Latent Space (coloured by dominant dimension)")
    ax.set_xlabel("UMAP-1")
    ax.set_ylabel("UMAP-2")
    fig.tight_layout()
    _footnote(fig, dims)
    return fig


def _umap_per_dim(emb: npt.NDArray[Any], z: npt.NDArray[Any], dims: FigureDims) -> Figure:
    """UMAP per shown latent's activation."""
    fig, axes_flat = _latent_grid(len(dims.names))
    for zi, col in enumerate(dims.index):
        ax = axes_flat[zi]
        sc = ax.scatter(
            emb[:, 0], emb[:, 1], c=z[:, col], cmap="coolwarm", s=2, alpha=0.4, rasterized=True
        )
        ax.set_title(dims.labels[zi], fontsize=10, color=dims.colour(zi))
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(sc, ax=ax, shrink=0.7)
    fig.suptitle("UMAP coloured by individual latent activations", fontsize=13, y=1.01)
    fig.tight_layout()
    _footnote(fig, dims)
    return fig
