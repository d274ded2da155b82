"""Seed-compatible name for the configs (the notebook imports ``tactical.config``).

The configs live in :mod:`core.model.config`; this module only re-exports them.
"""

from core.errors import ConfigError
from core.model.config import NULL_STRATEGIES, SEGMENT_TYPES, PreprocessConfig, VAEConfig

__all__ = ["NULL_STRATEGIES", "SEGMENT_TYPES", "ConfigError", "PreprocessConfig", "VAEConfig"]
