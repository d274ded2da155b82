"""Named training configurations: the notebook's, and the one the product recommends.

``recommended`` was chosen by measurement (``bench/bench_presets.py``; the numbers are in
``docs/latent_truth.md``). On real matches the notebook's beta 4 with dropout 0.2 keeps one
latent dimension (possession share): with the reconstruction summed over ~50 z-scored
features, beta 4 only pays for a dimension that explains more than about 8% of the
variance, and dropout adds noise to the codes. Beta 0.5 without dropout and 10 latent
dimensions keeps 9-10 distinct dimensions on World Cup 2018 and NWSL 2018, and the anchored
varimax reading axes (see :mod:`core.analysis.quality`) make four or five of them
(possession, directness, pressing, ...) come back with the same top features from seed to
seed.

``VAEConfig()`` stays the notebook's configuration so the notebook runs unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from core.errors import ConfigError
from core.model.config import VAEConfig

NOTEBOOK = VAEConfig()
RECOMMENDED = VAEConfig(
    beta=0.5, dropout=0.0, latent_dim=10, rotation="anchored_varimax", ensemble=3
)

PRESETS: dict[str, VAEConfig] = {"recommended": RECOMMENDED, "notebook": NOTEBOOK}
DEFAULT_PRESET = "recommended"

PRESET_HELP: dict[str, str] = {
    "recommended": "beta 0.5, no dropout, 10 latents, anchored varimax reading axes, 3 seeds "
    "trained together: the patterns other seeds find again are the ones to read",
    "notebook": "beta 4, dropout 0.2, axes as learned: the notebook's configuration "
    "(keeps about one dimension on real matches)",
}

SMALL_DATA_ROWS = 2_000
"""Below this many segments a preset's batch is shrunk so that training still takes
about a thousand gradient steps (the 224-segment demo would otherwise get 150)."""


def preset(name: str, **overrides: Any) -> VAEConfig:
    """The named preset with ``overrides`` (any :class:`VAEConfig` field) applied."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return dataclasses.replace(PRESETS[name], **overrides)


def batch_size_for(n_rows: int, cfg: VAEConfig, target_steps: int = 1_000) -> int:
    """A batch size giving about ``target_steps`` optimiser steps over ``cfg.n_epochs``
    on ``n_rows`` segments, never above ``cfg.batch_size`` and never below 16."""
    per_epoch = max(1, round(target_steps / max(cfg.n_epochs, 1)))
    return int(max(16, min(cfg.batch_size, n_rows // per_epoch or 1)))
