"""Which latent dimensions a page lists and the tables it lists them in, without Streamlit.

The classification (distinct, redundant, inactive) is ``core.analysis.quality``'s, read
through ``Run.dim_quality()``; a :class:`DimView` applies the "Show all dimensions" choice
to it, so every page lists the same dimensions in the same order. ``pages/_ui/dims.py``
holds the toggle and the cache; everything here is testable on a run's own files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from core.analysis.baseline import PCABaseline
from core.analysis.latents import dominant_dimension
from core.analysis.quality import DimQuality
from core.views.latent_map import ColorSpec, color_spec
from core.views.table import SegmentTable


@dataclass(frozen=True)
class DimView:
    """The dimensions a page lists, in order, with their labels.

    Without a quality record (a run written before it, or unreadable) every dimension is
    listed under its plain name.
    """

    names: list[str]  # every latent name the page has, in the run's order
    quality: DimQuality | None
    all_shown: bool

    @property
    def shown(self) -> list[str]:
        """Names to list: distinct first (most informative first), then the rest if asked."""
        if self.quality is None or set(self.quality.names) != set(self.names):
            return list(self.names)
        return self.quality.shown(self.all_shown)

    @property
    def hidden(self) -> list[str]:
        shown = set(self.shown)
        return [n for n in self.names if n not in shown]

    @property
    def indices(self) -> list[int]:
        """Column positions of :attr:`shown` among :attr:`names`."""
        return [self.names.index(n) for n in self.shown]

    def label(self, name: str) -> str:
        """``"z0"``, ``"z1 (redundant: copies z0)"``, ``"z2 (inactive)"``."""
        return name if self.quality is None else self.quality.label(name)

    def status(self, name: str) -> str:
        """``distinct``, ``redundant``, ``inactive`` (``unknown`` without a quality record)."""
        if self.quality is None:
            return "unknown"
        return self.quality.status.get(name, "unknown")

    def status_text(self, name: str) -> str:
        """:meth:`status`, with the dimension a redundant one copies: ``redundant: copies z0``."""
        state = self.status(name)
        if state == "redundant" and self.quality is not None:
            return f"redundant: copies {self.quality.redundant.get(name, '?')}"
        return state

    def note(self) -> str | None:
        """A caption naming what is hidden and how to show it, or ``None``."""
        if not self.hidden:
            return None
        hidden = ", ".join(self.label(n) for n in self.hidden)
        return (
            f"Showing {len(self.shown)} distinct of {len(self.names)} dimensions; hidden: "
            f"{hidden}. Turn on **Show all dimensions** in the sidebar to list them."
        )


def status_frame(view: DimView, column: str = "latent_dim") -> pl.DataFrame:
    """``column`` (shown names, in order), ``order`` and ``dim_status`` (with what a redundant
    dim copies), to join on a per-dimension table and sort it the way pages list dims."""
    return pl.DataFrame(
        {
            column: view.shown,
            "_order": list(range(len(view.shown))),
            "dim_status": [view.status_text(n) for n in view.shown],
        },
        schema={column: pl.String, "_order": pl.Int64, "dim_status": pl.String},
    )


def shown_rows(frame: pl.DataFrame, view: DimView, column: str = "latent_dim") -> pl.DataFrame:
    """``frame``'s rows of the shown dimensions, in their order, with a ``dim_status`` column
    (replacing the file's own); rows keep their order within a dimension."""
    base = frame.drop("dim_status", strict=False)
    return (
        base.join(status_frame(view, column), on=column, how="inner", maintain_order="left")
        .sort("_order", maintain_order=True)
        .drop("_order")
    )


def pca_baseline(diagnostics: Mapping[str, Any]) -> PCABaseline | None:
    """The run's PCA baseline from ``diagnostics.json``, ``None`` for runs without one."""
    raw = diagnostics.get("baseline")
    if not isinstance(raw, Mapping):
        return None
    try:
        return PCABaseline.from_dict(raw)
    except (ValueError, KeyError, TypeError):
        return None


def dimension_table(view: DimView, baseline: PCABaseline | None) -> pl.DataFrame:
    """One row per listed dimension: status, what it tracks and, with a baseline, the
    principal component it follows (``|r|``) and how linear it is (R² on all components)."""
    tracks = view.quality.tracks if view.quality is not None else {}
    align = {a["latent"]: a for a in baseline.alignment} if baseline is not None else {}
    return pl.DataFrame(
        {
            "dimension": view.shown,
            "status": [view.status_text(n) for n in view.shown],
            "tracks": [tracks.get(n, "").strip("()") for n in view.shown],
            "best component": [align[n]["component"] if n in align else None for n in view.shown],
            "abs_r": [align[n]["abs_r"] if n in align else None for n in view.shown],
            "r2_all_components": [
                align[n]["r2_all_components"] if n in align else None for n in view.shown
            ],
        },
        schema={
            "dimension": pl.String,
            "status": pl.String,
            "tracks": pl.String,
            "best component": pl.String,
            "abs_r": pl.Float64,
            "r2_all_components": pl.Float64,
        },
    )


def shown_color_spec(table: SegmentTable, view: DimView, mode: str, latent: int = 0) -> ColorSpec:
    """The latent map's colouring over the listed dimensions: the dominant one among them
    (a collapsed or copied dimension never wins), and a single latent under its label."""
    if mode == "dominant":
        return ColorSpec(
            values=dominant_dimension(table.latents[:, view.indices]),
            title="Dominant dimension",
            categories=[view.label(n) for n in view.shown],
        )
    spec = color_spec(table, mode, latent=latent)
    if mode == "latent":
        return dataclasses.replace(spec, title=view.label(table.latent_names[latent]))
    return spec


def shown_contrast(contrast: pl.DataFrame, view: DimView) -> pl.DataFrame:
    """A selection contrast without the hidden dimensions' rows, latents under their labels."""
    is_latent = pl.col("kind") == "latent"
    labels = {n: view.label(n) for n in view.names}
    return contrast.filter(~(is_latent & pl.col("name").is_in(view.hidden))).with_columns(
        pl.when(is_latent)
        .then(pl.col("name").replace(labels))
        .otherwise(pl.col("name"))
        .alias("name")
    )
