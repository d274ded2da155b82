"""What the stages of one run share: the run, its config, the reporter, and what each stage
leaves for the next (the prepared matrix, the trained model, the codes, the correlations,
the diagnostics). A stage reads what an earlier one set; reading it before that stage ran
is a programming error, raised as such."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.model.config import PreprocessConfig, VAEConfig
from core.pipeline.prepare import PreparedData
from core.pipeline.reporter import RunReporter
from core.runs.store import Run

if TYPE_CHECKING:
    from core.analysis.ensemble import EnsembleReport
    from core.analysis.quality import DimQuality, ReadingAxes
    from core.model.training import TrainResult

ShouldStop = Callable[[], bool]


class RunCancelled(Exception):
    """``should_stop`` asked the run to stop; its status is ``cancelled``."""


@dataclass
class RunContext:
    """One run being computed, handed from stage to stage."""

    run: Run
    vae: VAEConfig
    prep: PreprocessConfig
    features_path: Path
    rep: RunReporter
    device: str | None = None
    should_stop: ShouldStop | None = None
    world_size: int = 1
    # set by the stages, in order
    _set: dict[str, Any] = field(default_factory=dict, repr=False)

    def check_stop(self) -> None:
        """Raise :class:`RunCancelled` when the caller asked the run to stop."""
        if self.should_stop is not None and self.should_stop():
            raise RunCancelled()

    def put(self, **values: Any) -> None:
        """Leave ``values`` for the later stages."""
        self._set.update(values)

    def _get(self, name: str) -> Any:
        try:
            return self._set[name]
        except KeyError:
            raise RuntimeError(
                f"no stage has set {name!r} yet: the stages ran out of order"
            ) from None

    @property
    def data(self) -> PreparedData:
        value: PreparedData = self._get("data")
        return value

    @property
    def result(self) -> TrainResult:
        value: TrainResult = self._get("result")
        return value

    @property
    def codes(self) -> np.ndarray:
        """The codes pages read (``latents.parquet``): on the reading axes when rotated."""
        value: np.ndarray = self._get("codes")
        return value

    @property
    def quality(self) -> DimQuality:
        value: DimQuality = self._get("quality")
        return value

    @property
    def model_quality(self) -> DimQuality:
        value: DimQuality = self._get("model_quality")
        return value

    @property
    def axes(self) -> ReadingAxes | None:
        value: ReadingAxes | None = self._get("axes")
        return value

    @property
    def ensemble(self) -> EnsembleReport:
        """Which reading axes the other seeds of the ensemble find again."""
        value: EnsembleReport = self._get("ensemble")
        return value

    @property
    def pearson(self) -> tuple[np.ndarray, np.ndarray]:
        """Pearson r and p of the codes against the named features."""
        value: tuple[np.ndarray, np.ndarray] = self._get("pearson")
        return value

    @property
    def projection(self) -> dict[str, Any]:
        value: dict[str, Any] = self._get("projection")
        return value

    @property
    def diagnostics(self) -> dict[str, Any]:
        """What ``diagnostics.json`` holds (verdict, dimension quality, baseline, ...)."""
        value: dict[str, Any] = self._get("diagnostics")
        return value
