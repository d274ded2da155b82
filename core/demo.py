"""The embedded demo: kloppy's three StatsBomb matches, extracted once, and the default run.

``ensure_demo`` is what a first-time user (or ``python -m core demo``) gets: features of the
demo matches under ``datasets_root()/demo`` and a run with the notebook's configuration,
trained in a background job. Both are cached; a second call returns in milliseconds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import polars as pl

from core.features.datasets import Dataset
from core.infra.locks import file_lock
from core.infra.paths import datasets_root
from core.model.config import PreprocessConfig, VAEConfig
from core.runs.store import Run

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
DEMO_DATASET = "demo"


def demo_dataset_dir() -> Path:
    """Folder of the demo dataset (may not be extracted yet)."""
    return datasets_root() / DEMO_DATASET


def ensure_demo_features(progress: Progress | None = None) -> Path:
    """The demo ``features.parquet``, extracted on first use (one extraction at a time)."""
    out = demo_dataset_dir()
    features = Dataset(out).features_path
    if features.is_file():
        return features
    with file_lock(datasets_root() / ".demo.lock"):
        if not features.is_file():  # another process may have extracted it meanwhile
            from core.features.extract import extract_features

            logger.info("Extracting the demo matches into %s", out)
            extract_features("demo", out, progress=progress)
    if not features.is_file():
        raise FileNotFoundError(f"Demo extraction finished but wrote no {features}.")
    return features


def demo_configs(features: Path) -> tuple[VAEConfig, PreprocessConfig]:
    """The notebook's configuration (``VAEConfig()``, ``PreprocessConfig()`` defaults).

    The demo has only a few hundred window segments, fewer than the notebook's batch of
    512; the batch is then the whole dataset (one full-batch step per epoch), since the
    engine refuses a batch larger than the data.
    """
    vae, prep = VAEConfig(), PreprocessConfig()
    n_rows = (
        pl.scan_parquet(features)
        .filter(pl.col("segment_type") == prep.segment_type)
        .select(pl.len())
        .collect()
        .item()
    )
    if 0 < n_rows < vae.batch_size:
        vae = dataclasses.replace(vae, batch_size=int(n_rows))
    return vae, prep


def ensure_demo(
    progress: Progress | None = None, wait: bool = True, timeout: float | None = None
) -> Run:
    """The demo run: extract features and train the default run unless already done.

    With ``wait`` the call blocks until the training job ends (``progress`` gets its
    progress) and raises ``RuntimeError`` with the job's error if it failed, or
    ``TimeoutError`` after ``timeout`` seconds (the job keeps running); without ``wait``
    it returns the (possibly still queued or running) run at once.
    """
    from core.jobs.api import start_training, wait_job

    features = ensure_demo_features(progress)
    vae, prep = demo_configs(features)
    req = start_training(features, vae, prep)
    if req.job is None or not wait:
        return req.run

    def forward(job: object) -> None:
        if progress is not None:
            from core.jobs.records import JobInfo

            assert isinstance(job, JobInfo)
            progress(round(job.progress * 1000), 1000, job.message)

    job = wait_job(req.job.job_id, timeout, progress=forward)
    if job.is_active:
        raise TimeoutError(
            f"The demo training job {job.job_id} is still {job.state} after {timeout}s "
            f"({job.message}); it keeps running in the background."
        )
    if job.state != "done":
        raise RuntimeError(
            f"The demo training job {job.job_id} ended {job.state}: {job.error or job.message}"
        )
    return req.run
