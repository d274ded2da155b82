"""Bounded input and messages instead of tracebacks (issue 24): every numeric flag bounded,
an upload's decoded size limited before it is read whole, and bad paths and bad features
files answered with a message.

Real CLI processes (``python -m core ...``), real parquet files, and the Train page
rendered by Streamlit's AppTest.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ConfigError, DatasetImportError, FeaturesFileError
from core.features.datasets import (
    MAX_DECODED_BYTES,
    MAX_UPLOAD_BYTES,
    count_segments,
    import_features_stream,
)
from core.features.extract import check_window_stride
from core.infra.paths import datasets_root, runs_root
from core.model.config import check_world_size, max_ranks
from tests.helpers import cli, healthy, open_app, texts


def _run_ids() -> set[str]:
    return {p.name for p in runs_root().iterdir() if p.is_dir()}


def test_ddp_ranks_are_bounded_by_the_machine(demo_dataset: Path) -> None:
    limit = max_ranks()
    assert check_world_size(limit) == limit
    with pytest.raises(ConfigError, match=f"at most {limit}"):
        check_world_size(1000)
    before = _run_ids()
    t0 = time.monotonic()
    out = cli(
        "train", "--features", str(demo_dataset / "features.parquet"), "--ddp", "1000", timeout=120
    )
    assert out.returncode == 2, out.stderr
    assert "--ddp 1000 asks for 1000 training processes" in out.stderr
    assert "Traceback" not in out.stderr
    assert time.monotonic() - t0 < 60 and _run_ids() == before  # nothing started


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--stride", "1e-9"), ("--window", "nan"), ("--window", "inf"), ("--stride", "nan"),
     ("--stride", "inf"), ("--window", "0.5"), ("--stride", "-150")],
)  # fmt: skip
def test_window_and_stride_are_finite_and_at_least_a_second(
    flag: str, value: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=flag):
        check_window_stride(
            *((float(value), 150.0) if flag == "--window" else (300.0, float(value)))
        )
    out = cli("features", "--source", "demo", "--out", str(tmp_path / "ds"), flag, value)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"error: {flag} must be a finite number of seconds" in out.stdout
    assert "Traceback" not in out.stderr and not (tmp_path / "ds").exists()


def test_features_out_pointing_at_a_file_is_a_message(tmp_path: Path) -> None:
    target = tmp_path / "a-file.txt"
    target.write_text("not a folder")
    out = cli("features", "--source", "demo", "--out", str(target))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "is a file, not a folder" in out.stdout and "Traceback" not in out.stderr
    assert target.read_text() == "not a folder"


@pytest.fixture
def bad_features(tmp_path: Path, demo_dataset: Path) -> Iterator[dict[str, Path]]:
    """Three features files the trainer must refuse: no segment_type, empty, not parquet."""
    files = {
        "no segment_type": tmp_path / "no-type.parquet",
        "empty": tmp_path / "empty.parquet",
        "not parquet": tmp_path / "text.parquet",
    }
    pl.read_parquet(demo_dataset / "features.parquet").drop("segment_type").write_parquet(
        files["no segment_type"]
    )
    files["empty"].write_bytes(b"")
    files["not parquet"].write_text("match_id,team_id\n1,2\n")
    yield files


@pytest.mark.parametrize("case", ["no segment_type", "empty", "not parquet"])
def test_train_on_a_bad_features_file_is_a_message(
    bad_features: dict[str, Path], case: str
) -> None:
    path = bad_features[case]
    with pytest.raises(FeaturesFileError, match=path.name):
        count_segments(path, "window")
    out = cli("train", "--features", str(path), "--epochs", "2", timeout=120)  # no --batch-size
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr, out.stderr


def _bomb(path: Path, rows_per_group: int = 1_000_000, groups: int = 10, cols: int = 20) -> None:
    """A small parquet file holding ``groups * rows_per_group`` rows of constant columns:
    kilobytes on disk, gigabytes decoded."""
    table = pa.table({f"t1_c{i}": pa.array([0] * rows_per_group, pa.int64()) for i in range(cols)})
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(table)


def test_an_upload_that_decodes_to_gigabytes_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    bomb = tmp_path / "bomb.parquet"
    _bomb(bomb)
    size = bomb.stat().st_size
    assert size < MAX_UPLOAD_BYTES // 10  # well inside the upload limit
    t0 = time.monotonic()
    with pytest.raises(DatasetImportError, match=r"decodes to about 1\.5 GiB \(10,000,000 rows\)"):
        import_features_stream(io.BytesIO(bomb.read_bytes()), "bomb-upload")
    assert time.monotonic() - t0 < 5.0  # the footer is read, not the 1.5 GiB
    assert not (datasets_root() / "bomb-upload").exists()
    assert MAX_DECODED_BYTES < 10_000_000 * 20 * 8


@pytest.fixture
def corrupt_dataset() -> Iterator[Path]:
    folder = datasets_root() / "corrupt-24"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "features.parquet").write_bytes(b"PAR1 torn on a bad disk")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_train_page_on_a_corrupt_dataset_says_so(
    corrupt_dataset: Path, demo_dataset: Path
) -> None:
    at = open_app(url="train", train_dataset=corrupt_dataset)
    healthy(at, "train page, corrupt dataset")
    assert "corrupt-24 cannot be read" in texts(at)
    start = [b for b in at.button if "train" in str(b.label).lower()]
    assert start, [b.label for b in at.button]
    start[0].click().run()
    healthy(at, "train page, start on a corrupt dataset")
    assert "not a readable parquet features file" in texts(at)
