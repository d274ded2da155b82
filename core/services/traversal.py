"""Traversal of a stored run's model: decode a sweep of one dimension with the others at zero
or at a segment's code (the maths is :mod:`core.analysis.traversal`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.analysis.traversal import DEFAULT_VALUES, Traversal, traverse
from core.errors import TraversalError

if TYPE_CHECKING:
    from core.runs.store import Run


def run_traversal(
    run: Run,
    dim: int,
    *,
    segment_id: str | None = None,
    values: Sequence[float] | np.ndarray = DEFAULT_VALUES,
) -> Traversal:
    """Traverse ``dim`` of ``run``'s model, others at zero or at ``segment_id``'s code."""
    base = None
    if segment_id is not None:
        latents = run.latents()
        hit = latents.filter(pl.col("segment_id") == segment_id)
        if hit.height == 0:
            raise TraversalError(f"segment {segment_id!r} is not in this run's latents.")
        zs = sorted(
            (c for c in latents.columns if c[:1] == "z" and c[1:].isdigit()),
            key=lambda c: int(c[1:]),
        )
        base = hit.select(zs).to_numpy()[0]
    model = run.load_decoder("cpu")
    return traverse(model, run.load_pipeline(), dim, base=base, values=values)
