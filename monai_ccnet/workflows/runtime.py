"""How a training or evaluation runs on this machine: the device (:func:`resolve_device`), this
process's torch threads (:func:`free_cores`, :func:`apply_num_threads`) and bf16 autocast
(:func:`cpu_supports_bf16`, :func:`autocast_dtype`, :class:`AutocastInferer`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

import torch

from monai.inferers import Inferer

from .distributed import node_context
from .recipe import make_recipe

__all__ = [
    "resolve_device",
    "cpu_supports_bf16",
    "autocast_dtype",
    "AutocastInferer",
    "with_autocast",
    "free_cores",
    "apply_num_threads",
]

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` / ``"auto"``: the GPU of this process (``LOCAL_RANK`` under torchrun) if any, else CPU."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{node_context()[0]}")
        return torch.device("cpu")
    return torch.device(device)


def cpu_supports_bf16() -> bool:
    """Whether this CPU runs bf16 matrix work natively (AMX or AVX512-BF16 flags, Linux).

    Only there does bf16 autocast pay on CPU (measured on this project's dev CPU with AMX: small
    U-Nets trained 1.4-1.7x faster than in fp32); elsewhere bf16 is emulated and slower.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("amx_bf16", "avx512_bf16"))


def autocast_dtype(recipe: Mapping, device: str | torch.device) -> torch.dtype | None:
    """bf16 when the recipe's ``amp`` is on and the device computes it natively, else None (fp32)."""
    device = torch.device(device)
    if not make_recipe(recipe)["amp"]:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and cpu_supports_bf16():
        return torch.bfloat16
    return None


class AutocastInferer(Inferer):
    """Run another inferer under ``torch.autocast`` and hand back float32 logits.

    One mixed-precision path for CPU and GPU (MONAI engines' own ``amp`` flag autocasts on CUDA
    only); the loss and the metrics see float32.
    """

    def __init__(self, inferer: Inferer, device_type: str, dtype: torch.dtype | None = torch.bfloat16):
        super().__init__()
        self.inferer, self.device_type, self.dtype = inferer, str(device_type), dtype

    def __call__(self, inputs: torch.Tensor, network, *args, **kwargs):
        if self.dtype is None:
            return self.inferer(inputs, network, *args, **kwargs)
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            outputs = self.inferer(inputs, network, *args, **kwargs)
        return outputs.float()


def with_autocast(inferer: Inferer, recipe: Mapping, device: torch.device) -> Inferer:
    """``inferer`` under :class:`AutocastInferer` when :func:`autocast_dtype` says bf16, else ``inferer``."""
    dtype = autocast_dtype(recipe, device)
    return inferer if dtype is None else AutocastInferer(inferer, device.type, dtype)


_THREADS_SET: list = []


def free_cores() -> int:
    """Cores this process may use (its CPU affinity) minus the 1-minute load average, >= 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def apply_num_threads(setting: int | str | None = "auto") -> int:
    """Set this process's torch threads from the recipe's ``num_threads``; returns the count.

    ``"auto"``: the cores this process may use (its CPU affinity) minus the 1-minute load of the
    others, divided among the processes of this node (``LOCAL_WORLD_SIZE`` under torchrun), at
    least 1. Why: on a 2-core machine already busy, two threads per process ran convolutions up to
    ~10x slower than one (oversubscription), and two one-thread shards use both cores fully.
    """
    if setting is None:
        return torch.get_num_threads()
    if setting == "auto" and os.environ.get("MONAI_CCNET_WORKER_THREADS"):
        # a calibration worker process: its parent already shared the cores out
        threads, why = int(os.environ["MONAI_CCNET_WORKER_THREADS"]), "worker process share"
    elif setting == "auto":
        local_world = max(1, node_context()[1])
        threads = max(1, free_cores() // local_world)
        why = f"auto: {free_cores()} free core(s), {local_world} process(es) on this node"
    else:
        threads, why = int(setting), "recipe num_threads"
    if torch.get_num_threads() != threads or not _THREADS_SET:
        torch.set_num_threads(threads)
        logger.info(f"torch threads: {threads} ({why})")
        _THREADS_SET.append(threads)
    return threads
