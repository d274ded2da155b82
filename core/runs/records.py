"""Readers and writers of the analysis records a run stores beside its latents.

The records themselves are pure values made by :mod:`core.analysis` (no file I/O there);
this module is the only place that knows how they sit on disk. ``DimQuality`` travels
inside ``diagnostics.json`` through its ``to_dict`` / ``from_dict``; the reading axes are
an ``.npz`` of plain arrays (never pickle).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from core.analysis.quality import ReadingAxes
from core.infra.io import atomic_write_npz


def save_reading_axes(axes: ReadingAxes, path: str | os.PathLike[str]) -> Path:
    """Write ``axes`` to ``path`` (``reading_axes.npz``) atomically."""
    return atomic_write_npz(
        path,
        method=np.array(axes.method, dtype=str),
        center=axes.center,
        matrix=axes.matrix,
        source=np.array(axes.source, dtype=str),
    )


def load_reading_axes(path: str | os.PathLike[str]) -> ReadingAxes:
    """The reading axes written by :func:`save_reading_axes`."""
    with np.load(Path(path), allow_pickle=False) as data:
        return ReadingAxes(
            method=str(data["method"]),
            center=np.asarray(data["center"], dtype=np.float64),
            matrix=np.asarray(data["matrix"], dtype=np.float64),
            source=[str(s) for s in data["source"]],
        )


@dataclass(frozen=True)
class Correlations:
    """Latent-by-feature correlation matrices, shape ``(latent_dim, n_features)``."""

    pearson_r: np.ndarray
    pearson_p: np.ndarray
    spearman_r: np.ndarray
    spearman_p: np.ndarray
    feature_names: list[str]
    latent_names: list[str] = field(default_factory=list)

    def frame(self, method: Literal["pearson", "spearman"] = "pearson") -> pl.DataFrame:
        """Long table ``latent_dim, feature, r, p`` (for heatmaps and filters)."""
        r = self.pearson_r if method == "pearson" else self.spearman_r
        p = self.pearson_p if method == "pearson" else self.spearman_p
        k, m = r.shape
        return pl.DataFrame(
            {
                "latent_dim": np.repeat(np.array(self.latent_names, dtype=object), m),
                "feature": np.tile(np.array(self.feature_names, dtype=object), k),
                "r": r.ravel(),
                "p": p.ravel(),
            },
            schema={
                "latent_dim": pl.String,
                "feature": pl.String,
                "r": pl.Float64,
                "p": pl.Float64,
            },
        )
