"""Posterior means of a trained module, encoded in batches on any device."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from core.errors import TrainingError
from core.model.devices import resolve_device
from core.model.vae import TacticalVAEModule


def encode_means(
    module: TacticalVAEModule,
    X: npt.ArrayLike,
    batch_size: int = 2048,
    device: str | torch.device | None = None,
) -> npt.NDArray[np.float32]:
    """Posterior means ``mu`` of every row of ``X``, encoded in batches (module left on its device)."""
    arr = np.ascontiguousarray(np.asarray(X), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != module.input_dim:
        raise TrainingError(
            f"X has shape {arr.shape}; the model expects (n, {module.input_dim}). Use the "
            "preprocessing the model was trained with."
        )
    original = next(module.parameters()).device
    dev = original if device is None else resolve_device(device)
    was_training = module.training
    module.to(dev).eval()
    parts: list[npt.NDArray[np.float32]] = []
    with torch.no_grad():
        for start in range(0, arr.shape[0], batch_size):
            xb = torch.from_numpy(arr[start : start + batch_size]).to(dev)
            mu, _ = module.encode(xb)
            parts.append(mu.cpu().numpy())
    module.to(original).train(was_training)
    if not parts:
        return np.empty((0, module.latent_dim), dtype=np.float32)
    return np.concatenate(parts, axis=0)
