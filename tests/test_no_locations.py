"""A feed whose events carry no locations: its spatial features are null (never 0), the
summary says why, and its possession segments remain (issue 24, hostile probe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from core.data.sources import MatchFiles, demo_match_files
from core.features.match_tables import extract_match
from core.features.registry import feature_names
from core.features.support import match_lacks_reason, needs_location


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("location", "end_location")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def test_a_match_without_locations_has_null_spatial_features(tmp_path: Path) -> None:
    files = demo_match_files()[0]
    raw = json.loads(files.events.read_bytes())
    stripped = tmp_path / f"{files.match_id}.json"
    stripped.write_text(json.dumps(_strip(raw)))
    bare = MatchFiles(files.match_id, stripped, files.lineup, None, files.record)
    full = extract_match(files).features
    got = extract_match(bare).features
    spatial = [n for n in feature_names(max_tier=2) if needs_location(n)]
    assert spatial and "t2_field_tilt" in spatial and "t2_passes_per_possession" not in spatial
    windows = got.filter(pl.col("segment_type") == "window")
    assert windows.height == full.filter(pl.col("segment_type") == "window").height
    for name in spatial:
        assert windows[name].null_count() == windows.height, name  # null, never 0
    assert windows["t1_passes_per_min"].null_count() == 0  # counts need no location
    assert windows["t1_passes_per_min"].sum() > 0
    # possession segments remain, one per possession as with locations (within a few short ones)
    n_poss = got.filter(pl.col("segment_type") == "possession").height
    n_full = full.filter(pl.col("segment_type") == "possession").height
    assert n_poss > 0.9 * n_full, (n_poss, n_full)
    assert match_lacks_reason("t2_field_tilt") == "the matches' events carry no locations"
