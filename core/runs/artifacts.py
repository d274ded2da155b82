"""Every stored artefact of a run checked as it is read: shape, finiteness and ranges.

A run folder's files can be damaged after the run finished (a disk fault, a hand edit, a
truncated copy). Read unchecked, a damaged ``umap.parquet`` draws a map with a point at
y = 65,974 without a word and an empty one breaks every page's sidebar. Here each reader's
output is checked against what the pipeline writes, and anything else raises
:class:`~core.errors.BrokenRunError` naming the file and what is wrong with it
(:class:`core.runs.store.Run` then marks the run ``broken``).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from core.errors import BrokenRunError
from core.infra.io import read_json

if TYPE_CHECKING:
    import torch

    from core.model.preprocessing import PreprocessingPipeline
    from core.model.vae import TacticalVAEModule
    from core.runs.config import RunConfig

# A map layout (UMAP, or the PCA fallback, of the codes) lies within tens of units.
MAP_LIMIT = 1e4
# Posterior means of a VAE on standardised features lie within a few units (tens at most).
LATENT_LIMIT = 1e4
# What reading a damaged file raises, whichever library reads it.
READ_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    RuntimeError,
    EOFError,
    zipfile.BadZipFile,
    pickle.UnpicklingError,
)


def damaged(run_id: str, name: str, why: str) -> BrokenRunError:
    """The error of a run whose file ``name`` is damaged (``why`` says how)."""
    return BrokenRunError(
        f"Run {run_id} is broken: its {name} {why}. Its results cannot be shown; delete it "
        "on the Runs page, or train the configuration again to recompute it."
    )


def read_parquet(run_id: str, path: Path, name: str) -> pl.DataFrame:
    """``path`` read whole; a file that is not readable parquet (empty, truncated, not
    parquet at all) is a damaged artefact."""
    try:
        if path.stat().st_size == 0:
            raise damaged(run_id, name, "is empty (0 bytes)")
        return pl.read_parquet(path)
    except BrokenRunError:
        raise
    except FileNotFoundError:
        raise
    except READ_ERRORS as exc:
        raise damaged(
            run_id, name, f"cannot be read as parquet ({type(exc).__name__}: {exc})"
        ) from exc


def parquet_rows(path: Path) -> int | None:
    """Row count of a parquet file from its footer alone (None when unreadable)."""
    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except READ_ERRORS:
        return None


def _require_columns(run_id: str, name: str, frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise damaged(run_id, name, f"lacks the column(s) {missing} (it has {frame.columns})")
    if frame.height == 0:
        raise damaged(run_id, name, "holds no rows")


def _check_numbers(
    run_id: str, name: str, frame: pl.DataFrame, columns: Sequence[str], limit: float
) -> None:
    """Each of ``columns`` numeric, finite and within +-``limit``."""
    for col in columns:
        dtype = frame.schema[col]
        if not dtype.is_numeric():
            raise damaged(run_id, name, f"holds {dtype} in {col}, not numbers")
        values = frame[col].cast(pl.Float64).to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            raise damaged(
                run_id, name, f"holds {int(bad.sum())} missing or non-finite value(s) in {col}"
            )
        worst = float(np.abs(values).max())
        if worst > limit:
            raise damaged(
                run_id,
                name,
                f"holds {worst:,.0f} in {col}, outside the +-{limit:,.0f} such values take",
            )


def _check_ids(run_id: str, name: str, frame: pl.DataFrame) -> None:
    ids = frame["segment_id"]
    if ids.null_count() or ids.n_unique() != frame.height:
        raise damaged(run_id, name, "has missing or repeated segment ids")


def check_latents(run_id: str, name: str, frame: pl.DataFrame, names: Sequence[str]) -> None:
    """``latents.parquet``: segment ids, one finite column per latent dimension."""
    _require_columns(run_id, name, frame, ["segment_id", *names])
    _check_ids(run_id, name, frame)
    _check_numbers(run_id, name, frame, names, LATENT_LIMIT)


def check_umap(run_id: str, name: str, frame: pl.DataFrame, n_rows: int | None) -> None:
    """``umap.parquet``: one finite map point per segment (``n_rows``: the latents' rows)."""
    _require_columns(run_id, name, frame, ["segment_id", "umap_x", "umap_y"])
    _check_ids(run_id, name, frame)
    if n_rows is not None and frame.height != n_rows:
        raise damaged(run_id, name, f"holds {frame.height} map points for {n_rows} segments")
    _check_numbers(run_id, name, frame, ["umap_x", "umap_y"], MAP_LIMIT)


def check_interpretation(run_id: str, name: str, frame: pl.DataFrame) -> None:
    """``interpretation.parquet``: latent, rank, feature and a correlation in [-1, 1]."""
    _require_columns(run_id, name, frame, ["latent_dim", "rank", "feature", "pearson_r"])
    r = frame["pearson_r"].cast(pl.Float64, strict=False).to_numpy()
    if (np.abs(r[np.isfinite(r)]) > 1.0 + 1e-9).any():
        raise damaged(run_id, name, "holds correlations outside [-1, 1]")


def check_correlations(run_id: str, name: str, arrays: Mapping[str, np.ndarray]) -> None:
    """``correlations.npz``: r and p matrices of one shape, one column per feature name,
    r in [-1, 1] and p in [0, 1] where defined."""
    shape = arrays["pearson_r"].shape
    if len(shape) != 2:
        raise damaged(run_id, name, f"holds a {len(shape)}-d correlation array, not a matrix")
    for key in ("pearson_r", "pearson_p", "spearman_r", "spearman_p"):
        values = np.asarray(arrays[key], dtype=np.float64)
        if values.shape != shape:
            raise damaged(run_id, name, f"holds {key} of shape {values.shape}, not {shape}")
        finite = values[np.isfinite(values)]
        low, high = (-1.0, 1.0) if key.endswith("_r") else (0.0, 1.0)
        if ((finite < low - 1e-9) | (finite > high + 1e-9)).any():
            raise damaged(run_id, name, f"holds {key} values outside [{low:g}, {high:g}]")
    if len(arrays["feature_names"]) != shape[1]:
        raise damaged(
            run_id,
            name,
            f"names {len(arrays['feature_names'])} features for {shape[1]} columns",
        )


def check_weights(run_id: str, name: str, weights: Mapping[str, Any]) -> None:
    """``model.pt``: a dict of finite tensors."""
    import torch

    if not isinstance(weights, Mapping) or not weights:
        raise damaged(run_id, name, "holds no model weights")
    for key, tensor in weights.items():
        if not isinstance(tensor, torch.Tensor):
            raise damaged(run_id, name, f"holds {type(tensor).__name__} under {key!r}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise damaged(run_id, name, f"holds non-finite weights in {key}")


def load_weights(run_id: str, path: Path, name: str) -> dict[str, torch.Tensor]:
    """The weights in ``model.pt`` (``weights_only``), checked; a truncated or foreign file
    is a damaged artefact."""
    import torch

    try:
        weights: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except READ_ERRORS as exc:
        raise damaged(
            run_id, name, f"cannot be read as model weights ({type(exc).__name__}: {exc})"
        ) from exc
    inner = weights.get("state_dict") if isinstance(weights, dict) else None
    if isinstance(inner, dict):
        weights = inner  # the notebook's checkpoint layout
    check_weights(run_id, name, weights)
    return weights


def build_module(
    run_id: str, name: str, weights: Mapping[str, torch.Tensor], config: RunConfig
) -> TacticalVAEModule:
    """The model of ``weights`` in eval mode; weights of another shape than the run's
    configuration are a damaged artefact."""
    from core.model.vae import TacticalVAEModule

    try:
        module = TacticalVAEModule.from_state_dict(weights, dropout=config.vae.dropout)
    except (KeyError, ValueError, RuntimeError, IndexError) as exc:
        raise damaged(run_id, name, f"does not hold this model's weights ({exc})") from exc
    if module.latent_dim != config.vae.latent_dim:
        raise damaged(
            run_id,
            name,
            f"holds a model of {module.latent_dim} latents, the run has {config.vae.latent_dim}",
        )
    module.eval()
    return module


def read_npz(run_id: str, path: Path, name: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an ``.npz`` file (no pickles); unreadable: damaged."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: np.asarray(npz[k]) for k in keys}
    except FileNotFoundError:
        raise
    except READ_ERRORS as exc:
        raise damaged(run_id, name, f"cannot be read ({type(exc).__name__}: {exc})") from exc


def read_json_object(run_id: str, path: Path, name: str) -> dict[str, Any]:
    """A JSON object file; not JSON, or not an object: damaged."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as exc:
        raise damaged(run_id, name, f"is not readable JSON ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise damaged(run_id, name, f"holds {type(data).__name__}, not a JSON object")
    return data


def load_preprocessing(run_id: str, path: Path, name: str) -> PreprocessingPipeline:
    """The fitted preprocessing in ``preprocessing.json``; unreadable: damaged."""
    from core.model.preprocessing import PreprocessingPipeline

    try:
        return PreprocessingPipeline.load(path)
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise damaged(run_id, name, f"cannot be read ({type(exc).__name__}: {exc})") from exc
