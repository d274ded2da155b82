"""Latent traversal: the VAE's own answer to "what does z3 mean", in the features' units.

Decode a sweep of one latent dimension (-3..+3 by default) with the others held at zero or
at a chosen segment's code, map the decoded z-scores back to feature units through the
run's preprocessing (inverse PCA first when the run used PCA), and report which features
move and by how much: ``"z3 +2: PPDA 14 -> 7, defensive action height 38 -> 52"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import polars as pl

from core.analysis.mixtures import feature_short_name
from core.analysis.quality import ReadingAxes
from core.errors import TraversalError
from core.model.latents import latent_name

DEFAULT_VALUES: tuple[float, ...] = tuple(np.round(np.linspace(-3.0, 3.0, 13), 6))


class ReadingDecoder:
    """Decode codes given on the reading axes: map them to model codes, then decode.

    Quacks like the model for :mod:`core.analysis.traversal` (``latent_dim``, ``decode``,
    ``eval``, ``parameters``); without axes it is the model itself.
    """

    def __init__(self, module: Any, axes: ReadingAxes | None) -> None:
        self.module = module
        self.axes = axes
        self.latent_dim = int(module.latent_dim)
        self.training = False

    def eval(self) -> ReadingDecoder:
        self.module.eval()
        return self

    def train(self, mode: bool = True) -> ReadingDecoder:
        self.module.train(mode)
        return self

    def parameters(self) -> Any:
        return self.module.parameters()

    def decode(self, z: Any) -> Any:
        if self.axes is None:
            return self.module.decode(z)
        import torch

        raw = self.axes.to_raw(z.detach().cpu().numpy())
        return self.module.decode(torch.as_tensor(raw, dtype=z.dtype, device=z.device))


class _Decoder(Protocol):
    latent_dim: int

    def decode(self, z: Any) -> Any: ...


class _Pipeline(Protocol):
    feature_columns_: list[str]
    mean_: np.ndarray
    scale_: np.ndarray

    def inverse_transform(self, x: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class Traversal:
    """Decoded features along a sweep of one latent dimension."""

    dim: int
    values: np.ndarray  # (m,) the swept value of z_dim
    base: np.ndarray  # (k,) the code the other dimensions are held at
    z_scores: np.ndarray  # (m, F) decoded features as z-scores (population units)
    units: np.ndarray  # (m, F) decoded features in their own units
    feature_names: list[str]

    def frame(self) -> pl.DataFrame:
        """Long table: ``value, feature, z_score, feature_value``."""
        m, f = self.units.shape
        return pl.DataFrame(
            {
                "value": np.repeat(self.values, f),
                "feature": np.tile(np.asarray(self.feature_names, dtype=object), m).astype(str),
                "z_score": self.z_scores.ravel(),
                "feature_value": self.units.ravel(),
            }
        )


def decode_codes(model: _Decoder, codes: np.ndarray) -> np.ndarray:
    """Decode latent codes (n, k) to the model's output space with gradients off, eval mode."""
    import torch

    module: Any = model
    was_training = bool(getattr(module, "training", False))
    if hasattr(module, "eval"):
        module.eval()
    try:
        param = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            z = torch.as_tensor(np.asarray(codes, dtype=np.float32), device=device)
            out = module.decode(z).detach().cpu().numpy()
    finally:
        if was_training:
            module.train()
    return np.asarray(out, dtype=np.float64)


def traverse(
    model: _Decoder,
    pipeline: _Pipeline,
    dim: int,
    *,
    base: np.ndarray | Sequence[float] | None = None,
    values: Sequence[float] | np.ndarray = DEFAULT_VALUES,
) -> Traversal:
    """Decode ``z_dim`` swept over ``values`` with the other dimensions at ``base`` (zeros).

    The decoded output is mapped back to feature units with ``pipeline.inverse_transform``
    and to population z-scores with the pipeline's mean and scale, so the result is right
    whether or not the run used PCA.
    """
    k = int(model.latent_dim)
    if not 0 <= dim < k:
        raise TraversalError(f"dimension z{dim} does not exist; this model has z0..z{k - 1}.")
    vals = np.asarray(values, dtype=np.float64).ravel()
    if vals.size == 0 or not np.isfinite(vals).all():
        raise TraversalError("values must be a non-empty list of finite numbers.")
    b = np.zeros(k) if base is None else np.asarray(base, dtype=np.float64).ravel()
    if b.shape != (k,):
        raise TraversalError(f"base code must have {k} values (z0..z{k - 1}), got {b.size}.")
    if base is not None and not np.isclose(vals, b[dim]).any():
        # The segment's own value is the natural reference point of the sweep.
        vals = np.sort(np.append(vals, b[dim]))
    codes = np.repeat(b[None, :], vals.size, axis=0)
    codes[:, dim] = vals
    decoded = decode_codes(model, codes)
    units = np.asarray(pipeline.inverse_transform(decoded), dtype=np.float64)
    scale = np.where(pipeline.scale_ > 0, pipeline.scale_, 1.0)
    z_scores = (units - pipeline.mean_) / scale
    return Traversal(
        dim=dim,
        values=vals,
        base=b,
        z_scores=z_scores,
        units=units,
        feature_names=list(pipeline.feature_columns_),
    )


def _nearest(values: np.ndarray, target: float) -> int:
    return int(np.argmin(np.abs(values - target)))


def traversal_changes(
    trav: Traversal, *, at: float = 2.0, reference: float | None = None
) -> pl.DataFrame:
    """Per feature: decoded value at the reference point and at ``z_dim = at``, and the change.

    The reference is the base code's own value of the dimension (0 unless a segment's code
    was used). Sorted by ``|change_z|`` (change in population standard deviations), then
    with ``monotonic`` (does the feature move in one direction over the whole sweep).
    """
    ref = float(trav.base[trav.dim]) if reference is None else float(reference)
    i0 = _nearest(trav.values, ref)
    i1 = _nearest(trav.values, at)
    if i0 == i1:
        raise TraversalError(
            f"the sweep has no value near {at:+g} distinct from the reference {ref:+g}; "
            "widen the sweep or pick another point."
        )
    steps = np.diff(trav.units, axis=0)
    monotonic = (steps >= -1e-9).all(axis=0) | (steps <= 1e-9).all(axis=0)
    dz = trav.z_scores[i1] - trav.z_scores[i0]
    return pl.DataFrame(
        {
            "feature": trav.feature_names,
            "name": [feature_short_name(f) for f in trav.feature_names],
            "from_value": trav.units[i0],
            "to_value": trav.units[i1],
            "change": trav.units[i1] - trav.units[i0],
            "change_z": dz,
            "range_z": trav.z_scores.max(axis=0) - trav.z_scores.min(axis=0),
            "monotonic": monotonic,
        }
    ).sort(pl.col("change_z").abs(), descending=True)


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    if a >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3f}".rstrip("0").rstrip(".") or "0"


def traversal_text(trav: Traversal, *, at: float = 2.0, n: int = 3) -> str:
    """One line naming the ``n`` features that move most: ``"z3 +2: PPDA 14 -> 7, ..."``."""
    changes = traversal_changes(trav, at=at).head(n)
    i1 = _nearest(trav.values, at)
    parts = [
        f"{r['name']} {_fmt(r['from_value'])} -> {_fmt(r['to_value'])}"
        for r in changes.iter_rows(named=True)
    ]
    return f"{latent_name(trav.dim)} {trav.values[i1]:+g}: " + ", ".join(parts)
