"""Feature datasets: one folder per dataset, the files in it, reading its features table
safely, and adding an uploaded table.

A dataset folder (``datasets_root()/<name>/`` or any extraction ``--out``) holds
``features.parquet``, ``matches.parquet``, ``events.parquet`` and ``summary.json``;
:class:`Dataset` is the one place those names are spelled.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from core.data.schema import REQUIRED_METADATA_COLUMNS
from core.errors import DatasetImportError, FeaturesFileError, UnsafePathError
from core.features.registry import feature_tier
from core.infra.paths import datasets_root, resolve_under
from core.model.config import PreprocessConfig

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # below the server's maxUploadSize (.streamlit/config.toml)
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DATASET_NAME_RULE = (
    "use letters, digits, '_', '-' or '.', starting with a letter or digit (at most 64 characters)"
)
FEATURES_FILE = "features.parquet"
MATCHES_FILE = "matches.parquet"
EVENTS_FILE = "events.parquet"
SUMMARY_FILE = "summary.json"


def check_dataset_name(name: str) -> str:
    """``name`` when it is a valid dataset name; ``DatasetImportError`` saying the rule if not."""
    if not DATASET_NAME_RE.match(name or ""):
        raise DatasetImportError(f"Dataset name {name!r} is not allowed: {DATASET_NAME_RULE}.")
    return name


@dataclass(frozen=True)
class Dataset:
    """A dataset folder and the paths of the files in it (whether or not they exist yet)."""

    path: Path

    @classmethod
    def named(cls, name: str) -> Dataset:
        """Dataset ``name`` under ``datasets_root()``; the name is checked, and the folder
        may not escape the root."""
        check_dataset_name(name)
        try:
            return cls(resolve_under(datasets_root(), name))
        except UnsafePathError as exc:
            raise DatasetImportError(str(exc)) from exc

    @classmethod
    def of_features(cls, features_path: str | os.PathLike[str]) -> Dataset:
        """The dataset a features file belongs to (its folder)."""
        return cls(Path(features_path).parent)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def features_path(self) -> Path:
        return self.path / FEATURES_FILE

    @property
    def matches_path(self) -> Path:
        return self.path / MATCHES_FILE

    @property
    def events_path(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    def exists(self) -> bool:
        """True when the folder holds a features table."""
        return self.features_path.is_file()

    def matches(self) -> pl.DataFrame | None:
        """The matches table, None when the dataset has none (an uploaded table)."""
        return pl.read_parquet(self.matches_path) if self.matches_path.is_file() else None

    def events(self) -> pl.DataFrame | None:
        """The compact events table, None when the dataset has none."""
        return pl.read_parquet(self.events_path) if self.events_path.is_file() else None


def list_datasets() -> list[Dataset]:
    """Every dataset under ``datasets_root()`` that holds a features table, newest first."""
    root = datasets_root()
    if not root.is_dir():
        return []
    found = [Dataset(p) for p in root.iterdir() if p.is_dir() and Dataset(p).exists()]
    return sorted(found, key=lambda d: d.features_path.stat().st_mtime, reverse=True)


def load_features(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read and check a features table: metadata columns present, some ``t<digit>_`` columns."""
    p = Path(path)
    if not p.is_file():
        raise FeaturesFileError(
            f"Features file {p} does not exist; extract it again (`python -m core features`)."
        )
    try:
        df = pl.read_parquet(p)
    except Exception as exc:  # polars raises several error types for a non-parquet file
        raise FeaturesFileError(
            f"{p} is not a readable parquet features file ({type(exc).__name__}: {exc})."
        ) from exc
    missing = [c for c in REQUIRED_METADATA_COLUMNS if c not in df.columns]
    if missing:
        raise FeaturesFileError(
            f"{p} lacks the metadata column(s) {missing}; a features file needs "
            f"{list(REQUIRED_METADATA_COLUMNS)} plus t<tier>_<name> feature columns. Produce it with "
            "`python -m core features`."
        )
    if not any(feature_tier(c) is not None for c in df.columns):
        raise FeaturesFileError(
            f"{p} has no feature columns (names like t1_passes, t2_ppda); found only "
            f"{df.columns[:12]}. Produce it with `python -m core features`."
        )
    if "segment_id" not in df.columns:
        df = df.with_columns(
            pl.format(
                "{}-{}-{}-{}-{}",
                "match_id",
                "team_id",
                "segment_type",
                "period",
                pl.col("start_time").round(1),
            ).alias("segment_id")
        )
    if df["segment_id"].is_duplicated().any():
        raise FeaturesFileError(
            f"{p} has duplicate segment_id values; each segment needs a unique id."
        )
    return df


@dataclass(frozen=True)
class ImportedDataset:
    name: str
    path: Path  # the dataset folder
    segments: int
    features: int


def import_features(
    data: bytes, name: str, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> ImportedDataset:
    """Validate ``data`` as a features table and store it as dataset ``name``.

    Checks the size, the name (no path tricks, no existing dataset: runs refer to a
    dataset's features file, so it is never overwritten) and the schema, in a temporary
    file inside the datasets root; only a valid table is moved into place, atomically.
    """
    if len(data) > max_bytes:
        raise DatasetImportError(
            f"The file is {len(data) / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
            "Extract large datasets with `python -m core features` instead."
        )
    dataset = Dataset.named(name)
    root = datasets_root()
    folder = dataset.path
    if folder.exists():
        raise DatasetImportError(
            f"A dataset named {name!r} already exists and runs may use it; choose another name."
        )
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".parquet", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            frame = load_features(tmp)
        except FeaturesFileError as exc:
            raise DatasetImportError(
                f"Not a features table we can use: {exc} Export it with "
                "`python -m core features`, or add the missing columns."
            ) from exc
        folder.mkdir(parents=True)
        tmp.replace(dataset.features_path)
    finally:
        tmp.unlink(missing_ok=True)
    n_features = sum(1 for c in frame.columns if feature_tier(c) is not None)
    logger.info("Imported dataset %s: %d segments, %d features", name, frame.height, n_features)
    return ImportedDataset(name=name, path=folder, segments=frame.height, features=n_features)


def count_segments(features: Path, prep: PreprocessConfig) -> int:
    """Segments of ``prep.segment_type`` in a features file (read lazily, one column)."""
    return int(
        pl.scan_parquet(features)
        .filter(pl.col("segment_type") == prep.segment_type)
        .select(pl.len())
        .collect()
        .item()
    )
