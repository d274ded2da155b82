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
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from core.analysis.baseline import PCABaseline
from core.analysis.latents import dominant_dimension
from core.analysis.quality import DimQuality
from core.errors import InspectError
from core.services.states import cached_states
from core.views.latent_map import ColorSpec, color_spec
from core.views.table import SegmentTable

if TYPE_CHECKING:
    from core.runs.store import Run


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
        """:meth:`status`, with the dimension a redundant one copies (``redundant: copies
        z0``) and whether other seeds found a distinct one again (``distinct, found in 3 of 3
        trainings`` / ``distinct, unconfirmed (1 of 3)``)."""
        state = self.status(name)
        q = self.quality
        if state == "redundant" and q is not None:
            return f"redundant: copies {q.redundant.get(name, '?')}"
        if state == "distinct" and q is not None:
            if q.n_seeds < 2:
                return "distinct, unconfirmed (one seed)"
            found = q.found_in.get(name, 1)
            if name in q.reproduced:
                return f"distinct, found in {found} of {q.n_seeds} trainings"
            return f"distinct, unconfirmed ({found} of {q.n_seeds})"
        return state

    def patterns_line(self) -> str | None:
        """``"4 patterns found again across 3 trainings lead the list; 3 unconfirmed ..."``."""
        q = self.quality
        if q is None or not q.distinct or set(q.names) != set(self.names):
            return None
        if q.n_seeds < 2:
            return (
                f"This run trained one seed: its {q.n_distinct} distinct dimensions are all "
                "unconfirmed."
            )
        n_rep, n_un = len(q.reproduced), len(q.unconfirmed)
        line = (
            f"{n_rep} pattern{'s' if n_rep != 1 else ''} found again across the run's "
            f"{q.n_seeds} trainings lead the list"
        )
        if n_un:
            line += f"; the {n_un} marked unconfirmed came out of one training only"
        return line + "."

    def note(self) -> str | None:
        """A caption: how many listed patterns other seeds found again, and what is hidden
        and how to show it; ``None`` when there is nothing to say."""
        parts = [p for p in (self.patterns_line(),) if p]
        if self.hidden:
            hidden = ", ".join(self.label(n) for n in self.hidden)
            parts.append(
                f"Showing {len(self.shown)} distinct of {len(self.names)} dimensions; hidden: "
                f"{hidden}. Turn on **Show all dimensions** in the sidebar to list them."
            )
        return " ".join(parts) or None


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


def default_color_mode(run: Run) -> str:
    """The map's first colouring: the tactical states when they are computed, else the
    first listed pattern (the most reproduced one), never the dominant dimension, which on
    real matches paints an even blob of mixed colours."""
    return "state" if cached_states(run) is not None else "latent"


def state_color_spec(table: SegmentTable, run: Run) -> ColorSpec:
    """Each segment coloured by its tactical state (the run's cached latent states)."""
    found = cached_states(run)
    if found is None:
        raise InspectError(
            "This run's tactical states are not computed yet: open **States** to compute them."
        )
    labels = found.labels.filter(pl.col("space") == "latent").sort("state")
    names = [f"{s}: {lab}" for s, lab in zip(labels["state"], labels["label"], strict=True)]
    per_segment = table.meta.select("segment_id").join(
        found.assignments.select("segment_id", pl.col("latent_state").alias("state")),
        on="segment_id",
        how="left",
        maintain_order="left",
    )
    values = per_segment["state"].fill_null(-1).to_numpy().astype(np.int64)
    if (values < 0).any():  # segments the states were not fitted on
        names = [*names, "no state"]
        values = np.where(values < 0, len(names) - 1, values)
    return ColorSpec(values=values, title="Tactical state", categories=names)


def shown_color_spec(
    table: SegmentTable, view: DimView, mode: str, latent: int = 0, run: Run | None = None
) -> ColorSpec:
    """The latent map's colouring over the listed dimensions: the tactical states, the
    dominant one among them (a collapsed or copied dimension never wins), and a single
    latent under its label."""
    if mode == "state":
        if run is None:
            raise InspectError("Colouring by tactical state needs the run.")
        return state_color_spec(table, run)
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
