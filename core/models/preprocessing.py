"""Seed-compatible name: re-exports :mod:`core.model.preprocessing`."""

from core.model.preprocessing import (
    PreprocessingError,
    PreprocessingPipeline,
    TooFewRowsError,
)

__all__ = ["PreprocessingError", "PreprocessingPipeline", "TooFewRowsError"]
