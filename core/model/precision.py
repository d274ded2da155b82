"""Precision policy of training: when the forward pass runs under bfloat16 autocast.

Only the forward pass is autocast; the loss, its sums and the optimiser stay float32
(see :meth:`core.model.vae.TacticalVAEModule.loss`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

import torch

from core.errors import TrainingError

Precision = Literal["float32", "bfloat16", "auto"]
PRECISION_ENV = "TACTICAL_TRAIN_PRECISION"  # "float32" turns bfloat16 autocast off
# bfloat16 autocast is kept where every epoch's total loss stays this close (relative) to
# float32's; bench/bench_training.py and tests/test_training.py measure it on real segments.
BF16_LOSS_RTOL, _BF16_CPU_FLAGS = 0.03, ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), per /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no native-bf16 claim, float32 it is
        return False
    flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split()
    return any(f in flags for f in _BF16_CPU_FLAGS)


def resolve_precision(precision: str, dev: torch.device, world_size: int = 1) -> str:
    """``"float32"`` or ``"bfloat16"`` (autocast). ``"auto"``: bfloat16 on a CPU with native
    bfloat16 in single-process training (~1.9x per step on an AVX-512 BF16 EPYC), else
    float32 (DDP too: its ranks reproduce the single-process gradient);
    ``$TACTICAL_TRAIN_PRECISION=float32`` turns it off."""
    if precision not in ("float32", "bfloat16", "auto"):
        raise TrainingError(f"precision must be float32, bfloat16 or auto, not {precision!r}.")
    if precision != "auto" or os.environ.get(PRECISION_ENV, "").strip() == "float32":
        return "float32" if precision == "auto" else precision
    if dev.type == "cpu" and world_size == 1 and cpu_has_bf16():
        return "bfloat16"
    return "float32"
