"""Cached readers keyed by run and file version, so caches refresh when a file changes."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.features.datasets import Dataset
from core.features.summary import feature_coverage
from core.runs.files import FIRST_LAYOUT_FILE, LATENTS_FILE
from core.runs.store import Run, get_run
from core.views.table import (
    SegmentTable,
    load_segment_table,
)
from core.views.training import first_layout_figure

# --- file versions and cached readers -----------------------------------------------------


def file_version(path: Path) -> str:
    """Modification time and size of ``path`` ("missing" when absent): a cache key part."""
    try:
        st_ = path.stat()
    except OSError:
        return "missing"
    return f"{st_.st_mtime_ns}-{st_.st_size}"


def run_version(run: Run, name: str = LATENTS_FILE) -> str:
    """Version of one artifact of ``run``, so caches refresh when the run is rewritten."""
    return file_version(run.artifact_path(name))


@st.cache_resource(max_entries=4, show_spinner="Loading the run's segments…")
def _segment_table(run_id: str, version: str, features_version: str) -> SegmentTable:
    return load_segment_table(get_run(run_id))


def segment_table(run: Run) -> SegmentTable:
    """The run's row-aligned segments (cached per run and latents/features file version)."""
    features_path = run.config().features_path
    return _segment_table(run.run_id, run_version(run), file_version(features_path))


@st.cache_resource(max_entries=2, show_spinner="Loading match events…")
def _events(path: str, version: str) -> pl.DataFrame:
    return pl.read_parquet(path)


def dataset_events(run: Run) -> pl.DataFrame | None:
    """The compact events (``events.parquet``) beside the run's features, or ``None``."""
    path = Dataset.of_features(run.config().features_path).events_path
    if not path.is_file():
        return None
    return _events(str(path), file_version(path))


@st.cache_data(max_entries=2, show_spinner=False)
def _registry(version: str) -> pl.DataFrame | None:
    try:
        from core.features.registry import registry_frame
    except ImportError:
        return None
    return registry_frame()


def registry() -> pl.DataFrame | None:
    """The feature registry (name, tier, definition, unit, direction), ``None`` if unavailable."""
    try:
        import core.features.registry as reg

        version = file_version(Path(reg.__file__))
    except ImportError:
        return None
    return _registry(version)


def definitions() -> dict[str, str]:
    """Feature name -> one-line definition (with unit), for hovers and tables."""
    reg = registry()
    if reg is None:
        return {}
    unit = reg["unit"] if "unit" in reg.columns else pl.Series([""] * reg.height)
    return {
        n: f"{d} [{u}]" if u else str(d)
        for n, d, u in zip(reg["name"], reg["definition"], unit, strict=True)
    }


def with_registry(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``frame`` with the registry's ``columns`` (unit, definition, ...) joined on ``feature``.

    Rows keep their order; without a registry ``frame`` comes back unchanged.
    """
    reg = registry()
    if reg is None:
        return frame
    cols = [c for c in columns if c in reg.columns]
    return frame.join(
        reg.select(pl.col("name").alias("feature"), *cols),
        on="feature",
        how="left",
        maintain_order="left",
    )


@st.cache_data(max_entries=4, show_spinner=False)
def _first_layout(run_id: str, version: str) -> tuple[go.Figure, str] | None:
    return first_layout_figure(get_run(run_id))


def first_layout(run: Run) -> tuple[go.Figure, str] | None:
    """The run's first layout figure and caption (cached per file version)."""
    return _first_layout(run.run_id, run_version(run, FIRST_LAYOUT_FILE))


@st.cache_data(max_entries=4, show_spinner=False)
def _coverage(path: str, version: str) -> pl.DataFrame:
    return feature_coverage(pl.read_parquet(path))


def feature_coverage_of(path: Path) -> pl.DataFrame:
    """Non-null share of every feature in a features file, read once per file version."""
    return _coverage(str(path), file_version(path))
