"""Feature datasets under the data root: adding an uploaded features table safely."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import DatasetImportError
from core.features.registry import feature_tier
from core.infra.paths import datasets_root, resolve_under
from core.jobs.manager import DATASET_NAME_RE
from core.runs.pipeline import FeaturesFileError, load_features

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # below the server's maxUploadSize (.streamlit/config.toml)


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
    if not DATASET_NAME_RE.match(name or ""):
        raise DatasetImportError(
            f"{name!r} is not a dataset name: use letters, digits, '_', '-' or '.' "
            "(at most 64, starting with a letter or digit)."
        )
    root = datasets_root()
    folder = resolve_under(root, name)
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
        tmp.replace(folder / "features.parquet")
    finally:
        tmp.unlink(missing_ok=True)
    n_features = sum(1 for c in frame.columns if feature_tier(c) is not None)
    logger.info("Imported dataset %s: %d segments, %d features", name, frame.height, n_features)
    return ImportedDataset(name=name, path=folder, segments=frame.height, features=n_features)
