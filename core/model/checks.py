"""Can a matrix train under a configuration? The checks run before any training starts.

Cheap, so the app and the CLI call :func:`check_trainable` before queueing a job, and the
trainers (:mod:`core.model.training`, :mod:`core.model.ddp`) call :func:`validate_matrix`
on the matrix they get.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import TrainingError
from core.model.config import VAEConfig


def check_trainable(n_rows: int, n_features: int, cfg: VAEConfig) -> None:
    """Raise :class:`TrainingError` if a matrix of this shape cannot train under ``cfg``.

    Cheap: call it before queueing a job so the user hears at once what to change.
    """
    if n_features < 1:
        raise TrainingError("The feature matrix has no columns; nothing to train on.")
    if n_rows < 2:
        raise TrainingError(
            f"Need at least 2 segments to train, got {n_rows}. Add matches to the dataset."
        )
    if cfg.latent_dim > n_features:
        raise TrainingError(
            f"latent_dim={cfg.latent_dim} is larger than the {n_features} input features; "
            f"choose latent_dim <= {n_features}."
        )
    if n_rows < cfg.batch_size:
        raise TrainingError(
            f"Only {n_rows} segments, fewer than one batch (batch_size={cfg.batch_size}). "
            f"Lower batch_size to at most {n_rows}, or add matches."
        )


def validate_matrix(X: Any, cfg: VAEConfig) -> npt.NDArray[np.float32]:
    """The training matrix as C-contiguous float32, after shape and finiteness checks."""
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise TrainingError(f"X must be a 2-D matrix (segments x features), got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number):
        raise TrainingError(f"X must be numeric, got dtype {arr.dtype}.")
    check_trainable(arr.shape[0], arr.shape[1], cfg)
    out = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        bad_cols = np.flatnonzero(~finite.all(axis=0)).tolist()
        raise TrainingError(
            f"X has {int((~finite).sum())} NaN/infinite value(s) in column(s) {bad_cols[:10]}; "
            "run the preprocessing (imputation) first."
        )
    return out
