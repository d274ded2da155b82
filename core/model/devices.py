"""Which accelerators this machine has, and which one a new training job should use."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from core.errors import TrainingError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInfo:
    """One device a training job can run on."""

    index: int  # CUDA ordinal; 0 for the CPU
    kind: Literal["cuda", "cpu"]  # device family
    name: str  # marketing name (GPU) or processor description (CPU)
    total_memory_gb: float | None  # device memory in GiB; None for the CPU

    @property
    def torch_name(self) -> str:
        """Name to pass to ``torch.device``: ``cuda:0``, ``cuda:1``, ... or ``cpu``."""
        return f"cuda:{self.index}" if self.kind == "cuda" else "cpu"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (adds ``device``, the torch name)."""
        return {**asdict(self), "device": self.torch_name}


def _cpu_info() -> DeviceInfo:
    import os
    import platform

    cores = os.cpu_count() or 1
    proc = platform.processor() or platform.machine() or "CPU"
    return DeviceInfo(
        index=0,
        kind="cpu",
        name=f"{proc} ({cores} cores, {torch.get_num_threads()} torch threads)",
        total_memory_gb=None,
    )


def detect_devices() -> list[DeviceInfo]:
    """CUDA devices (name, memory) in ordinal order, then the CPU, which is always present."""
    found: list[DeviceInfo] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            found.append(
                DeviceInfo(
                    index=i,
                    kind="cuda",
                    name=torch.cuda.get_device_name(i),
                    total_memory_gb=round(props.total_memory / 1024**3, 1),
                )
            )
    found.append(_cpu_info())
    logger.info("Devices: %s", "; ".join(_describe_one(d) for d in found))
    return found


def cuda_devices() -> list[DeviceInfo]:
    """Only the CUDA devices (empty on a CPU-only machine)."""
    return [d for d in detect_devices() if d.kind == "cuda"]


def best_device() -> torch.device:
    """The first CUDA device if there is one, else the CPU."""
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> best device; strings checked against what this machine has."""
    if device is None:
        return best_device()
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"Device {dev} requested but CUDA is not available here.")
        idx = 0 if dev.index is None else dev.index
        if idx >= torch.cuda.device_count():
            raise TrainingError(
                f"Device {dev} requested but only {torch.cuda.device_count()} GPU(s) exist."
            )
        dev = torch.device("cuda", idx)
    return dev


def _describe_one(d: DeviceInfo) -> str:
    mem = f", {d.total_memory_gb:.1f} GiB" if d.total_memory_gb is not None else ""
    return f"{d.torch_name}: {d.name}{mem}"


def describe_devices(devices: list[DeviceInfo] | None = None) -> str:
    """One line per device, e.g. ``cuda:0: NVIDIA H100 (79.1 GiB)``, for logs and the UI."""
    devs = detect_devices() if devices is None else devices
    n_gpu = sum(d.kind == "cuda" for d in devs)
    head = f"PyTorch {torch.__version__}; {n_gpu} GPU(s)" + ("" if n_gpu else ", training on CPU")
    return "\n".join([head, *(_describe_one(d) for d in devs)])


def assign_device(busy: Collection[str], devices: list[DeviceInfo] | None = None) -> str | None:
    """A device for the next queued job: a GPU no running job holds, else None (wait).

    ``busy`` holds the torch names (``cuda:1``, ``cpu``) of devices that running jobs use.
    With GPUs, one job per GPU and the CPU is never chosen; without, the CPU takes one job
    at a time. Returns None when every candidate is busy, so the job stays queued.
    """
    devs = detect_devices() if devices is None else devices
    gpus = [d.torch_name for d in devs if d.kind == "cuda"]
    candidates = gpus or ["cpu"]
    taken = {str(torch.device(b)) if b != "cuda" else "cuda:0" for b in busy}
    for name in candidates:
        if name not in taken:
            return name
    return None
