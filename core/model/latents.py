"""Names of the latent dimensions, derived one way everywhere: ``z0 .. z{k-1}``.

Run artifacts (``latents.parquet`` columns, correlation rows, ``kl_z<i>`` metric columns)
and every page use these names, so they are made here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LATENT_PATTERN = re.compile(r"^z(\d+)$")


def latent_name(i: int) -> str:
    """Name of latent dimension ``i`` (``z3``)."""
    return f"z{i}"


def latent_names(k: int) -> list[str]:
    """Names of ``k`` latent dimensions, ``z0 .. z{k-1}``."""
    return [latent_name(i) for i in range(k)]


def latent_index(name: str) -> int:
    """Index of a latent name (``"z3"`` -> 3); ValueError for anything else."""
    m = LATENT_PATTERN.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a latent dimension name (expected z0, z1, ...).")
    return int(m.group(1))


def latent_columns(columns: Iterable[str]) -> list[str]:
    """The latent columns among ``columns``, ordered by index."""
    found = [c for c in columns if LATENT_PATTERN.match(c)]
    return sorted(found, key=latent_index)


def kl_column(i: int) -> str:
    """Column of dimension ``i``'s KL in a run's metrics table (``kl_z3``)."""
    return f"kl_{latent_name(i)}"
