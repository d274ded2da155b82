"""Seed-compatible name: re-exports :mod:`core.model.preprocessing`."""

from core.errors import PreprocessingError, TooFewRowsError
from core.model.preprocessing import PreprocessingPipeline

__all__ = ["PreprocessingError", "PreprocessingPipeline", "TooFewRowsError"]
