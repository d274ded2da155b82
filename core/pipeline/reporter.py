"""A run's progress as people see it: training and stage events turned into ``status.json``
updates (stage, progress, time left, heartbeat) and progress calls."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from core.model.metrics import JsonlMetricsWriter
from core.runs.files import METRICS_FILE
from core.runs.store import Run

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]

ANALYSIS_STAGES = ("encoding", "correlations", "interpretation", "umap", "diagnostics", "states")
STATUS_EVERY_S = 0.5  # at most this often a status.json rewrite during training


class RunReporter:
    """Turns training and stage events into status.json updates and progress calls."""

    def __init__(self, run: Run, n_epochs: int, progress: Progress | None) -> None:
        self.run = run
        self.n_epochs = n_epochs
        self.total_units = n_epochs + 2 + len(ANALYSIS_STAGES)  # + load, + save
        self.progress = progress
        self.started = time.monotonic()
        self.train_started: float | None = None
        self.last_write = 0.0
        self.metrics_path = run.artifact_path(METRICS_FILE)

    def units(self, done: int, message: str, **status: Any) -> None:
        frac = min(1.0, done / self.total_units)
        if self.progress:
            self.progress(done, self.total_units, message)
        self.run.update_status(
            progress=round(frac, 4), message=message, heartbeat=time.time(), **status
        )

    def stage(self, name: str, done: int, message: str) -> None:
        logger.info("run %s: %s", self.run.run_id, message)
        self.units(done, message, stage=name, eta_s=None)

    # training callback
    def on_train_start(self, module: Any, n_rows: int, n_features: int) -> None:
        self.train_started = time.monotonic()
        self.metrics = JsonlMetricsWriter(self.metrics_path)  # starts the file afresh

    def on_epoch_end(self, metrics: Any) -> None:
        self.metrics.on_epoch_end(metrics)
        now = time.monotonic()
        last = metrics.epoch >= self.n_epochs
        if self.progress:
            self.progress(
                1 + metrics.epoch,
                self.total_units,
                f"epoch {metrics.epoch}/{self.n_epochs} loss {metrics.total:.3f}",
            )
        if now - self.last_write < STATUS_EVERY_S and not last:
            return
        self.last_write = now
        elapsed = now - (self.train_started or self.started)
        eta = elapsed / metrics.epoch * (self.n_epochs - metrics.epoch)
        self.run.update_status(
            stage="training",
            epoch=metrics.epoch,
            progress=round((1 + metrics.epoch) / self.total_units, 4),
            eta_s=round(eta, 1),
            heartbeat=time.time(),
            message=(
                f"epoch {metrics.epoch}/{self.n_epochs}: loss {metrics.total:.4f} "
                f"(recon {metrics.recon:.4f}, KL {metrics.kl:.4f})"
            ),
        )

    def analysis_unit(self, stage: str) -> int:
        """The progress unit at which analysis ``stage`` starts (after load and training)."""
        return 1 + self.n_epochs + ANALYSIS_STAGES.index(stage)
