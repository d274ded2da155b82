"""Adding an uploaded features table: validated, never overwriting, never escaping the root."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from core.features.datasets import DatasetImportError, import_features
from core.infra.paths import datasets_root


def test_real_features_table_is_added(demo_dataset: Path) -> None:
    data = (demo_dataset / "features.parquet").read_bytes()
    added = import_features(data, "upload-ok")
    expected = pl.read_parquet(demo_dataset / "features.parquet")
    assert added.path == datasets_root() / "upload-ok"
    assert added.segments == expected.height
    assert added.features == sum(c[:1] == "t" and c[1:2].isdigit() for c in expected.columns)
    assert pl.read_parquet(added.path / "features.parquet").equals(expected)


def test_existing_dataset_is_never_overwritten(demo_dataset: Path) -> None:
    before = (demo_dataset / "features.parquet").read_bytes()
    with pytest.raises(DatasetImportError, match="already exists"):
        import_features(before[: len(before) // 2], demo_dataset.name)
    assert (demo_dataset / "features.parquet").read_bytes() == before


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 80])
def test_bad_names_are_refused(demo_dataset: Path, name: str) -> None:
    data = (demo_dataset / "features.parquet").read_bytes()
    with pytest.raises(DatasetImportError, match="not allowed"):
        import_features(data, name)


def test_not_parquet_leaves_nothing_behind() -> None:
    before = sorted(p.name for p in datasets_root().iterdir())
    with pytest.raises(DatasetImportError, match="not a readable parquet"):
        import_features(b"match_id,team_id\n1,2\n", "csv-upload")
    assert sorted(p.name for p in datasets_root().iterdir()) == before


def test_missing_metadata_is_named(demo_dataset: Path, tmp_path: Path) -> None:
    frame = pl.read_parquet(demo_dataset / "features.parquet").drop("period", "match_minute")
    frame.write_parquet(tmp_path / "f.parquet")
    with pytest.raises(DatasetImportError, match=r"\['period', 'match_minute'\]"):
        import_features((tmp_path / "f.parquet").read_bytes(), "no-meta")
    assert not (datasets_root() / "no-meta").exists()


def test_too_large_is_refused_before_parsing() -> None:
    with pytest.raises(DatasetImportError, match="upload limit of 1 KB"):
        import_features(b"\0" * 2048, "big", max_bytes=1024)


def test_overview_counts_a_real_dataset(demo_dataset: Path) -> None:
    from core.features.summary import dataset_overview

    frame = pl.read_parquet(demo_dataset / "features.parquet")
    info = dataset_overview(frame)
    assert info["segments_by_type"] == dict(frame.group_by("segment_type").len().iter_rows())
    assert info["matches"] == frame["match_id"].n_unique() == 3
    features = [c for c in frame.columns if c[:3] in ("t1_", "t2_", "t3_")]
    assert info["features"] == len(features)
    empty = [c for c in features if frame[c].null_count() == frame.height]
    assert info["features_empty"] == len(empty)
    assert info["providers"] == ["statsbomb"]
    # A column without a single value is counted as empty.
    blank = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("t1_passes_per_min"))
    assert dataset_overview(blank)["features_empty"] == len(empty) + 1
