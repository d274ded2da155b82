"""The run's first layout: the codes' two principal components, written as soon as the
codes exist, so a person sees the shape of the data while UMAP computes the map.

At 500k segments UMAP takes about a minute after training; the first layout takes well
under a second. The Train page shows it (as a density) while the run's later stages run;
the Latent map draws UMAP's layout once the run is done.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from core.analysis.latents import pca_layout
from core.errors import BrokenRunError
from core.infra.io import atomic_write_parquet
from core.runs import artifacts
from core.runs.files import FIRST_LAYOUT_FILE
from core.runs.store import Run

logger = logging.getLogger(__name__)

COLUMNS = ("segment_id", "pc_1", "pc_2")


def write_first_layout(run: Run, segment_ids: pl.Series, Z: np.ndarray) -> None:
    """``first_layout.parquet``: each segment's place on the codes' first two components."""
    xy = pca_layout(Z)
    frame = pl.DataFrame({"segment_id": segment_ids, "pc_1": xy[:, 0], "pc_2": xy[:, 1]})
    atomic_write_parquet(run.artifact_path(FIRST_LAYOUT_FILE), frame)


def read_first_layout(run: Run) -> np.ndarray | None:
    """The first layout as ``(n, 2)`` finite points; None when the run has none yet or the
    file is damaged (it is a preview: a damaged one is logged, never breaks the run)."""
    path = run.artifact_path(FIRST_LAYOUT_FILE)
    if not path.exists():
        return None
    try:
        frame = artifacts.read_parquet(run.run_id, path, FIRST_LAYOUT_FILE)
        if frame.columns[:3] != list(COLUMNS):
            raise artifacts.damaged(run.run_id, FIRST_LAYOUT_FILE, f"lacks columns {COLUMNS}")
        xy = frame.select(COLUMNS[1:]).to_numpy().astype(np.float64)
    except BrokenRunError as exc:
        logger.warning("%s", exc)
        return None
    ok = np.isfinite(xy).all(axis=1)
    return xy[ok] if ok.any() else None
