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

from core.features.datasets import Dataset, count_segments
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
    """The recommended preset (``core.model.presets``) with ``PreprocessConfig()`` defaults.

    The demo has only a few hundred window segments; with the preset's batch of 512 it
    would get one full-batch step per epoch (150 steps), too few to learn more than one
    dimension. The batch is shrunk so that training takes about a thousand steps.
    """
    from core.model.presets import RECOMMENDED, batch_size_for

    prep = PreprocessConfig()
    n_rows = count_segments(features, prep.segment_type)
    vae = RECOMMENDED
    if n_rows > 0:
        vae = dataclasses.replace(vae, batch_size=batch_size_for(n_rows, vae))
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
