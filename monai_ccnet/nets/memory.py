"""Measure the feature-map memory of a forward pass, to check the accounting's estimate.

:func:`monai_ccnet.accounting.feature_memory_bytes` predicts, without torch, the peak of the
feature maps alive during inference and the activations autograd saves for training.
:func:`measure_feature_memory` measures the same two quantities on a real network by following
tensor storages (not the allocator), so backend workspaces (im2col, oneDNN / cuDNN scratch) are
excluded on both sides; ``benchmarks/memory.py`` also reports the allocator peak that includes them.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..accounting import MEMORY_MODES

__all__ = ["measure_feature_memory"]


def _storage(t: torch.Tensor) -> tuple[int, int]:
    """(key, bytes) of the storage behind ``t``: its address, or on the meta device (no data, address
    0) the storage object's own, which views share too."""
    storage = t.untyped_storage()
    return (storage._cdata if t.device.type == "meta" else storage.data_ptr()), storage.nbytes()


class _LiveStorageTracker(TorchDispatchMode):
    """Tracks the bytes of the storages produced by ops while any tensor still views them."""

    def __init__(self, ignored: set[int], initial_bytes: int):
        super().__init__()
        self.ignored = ignored
        self.views: dict[int, int] = {}  # storage pointer -> live tensors viewing it
        self.nbytes: dict[int, int] = {}
        self.current = self.peak = initial_bytes

    def _release(self, ptr: int) -> None:
        self.views[ptr] -= 1
        if self.views[ptr] == 0:
            del self.views[ptr]
            self.current -= self.nbytes.pop(ptr)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            ptr, nbytes = _storage(t)
            if ptr == 0 or ptr in self.ignored:
                continue
            if ptr not in self.views:
                self.views[ptr], self.nbytes[ptr] = 0, nbytes
                self.current += nbytes
                self.peak = max(self.peak, self.current)
            self.views[ptr] += 1
            # fires when the tensor dies (also when only C++ held it, e.g. a discarded output)
            weakref.finalize(t, self._release, ptr)
        return out


def measure_feature_memory(network: nn.Module, x: torch.Tensor, mode: str = "inference") -> int:
    """Bytes of feature maps of one forward pass of ``network`` on ``x``, as torch holds them.

    - ``"inference"``: under ``torch.no_grad`` and ``network.eval()``, the peak total size of the
      storages alive at once that ops produced, plus ``x`` (the caller holds it).
    - ``"training"``: in ``network.train()`` mode with autograd, the total size of the distinct
      storages autograd saves for backward (``torch.autograd.graph.saved_tensors_hooks``),
      parameters and buffers excluded.

    The network's train/eval mode is restored afterwards. Parameters, buffers and backend workspaces
    are not counted, as in :func:`monai_ccnet.accounting.feature_memory_bytes`. A network and input
    on the meta device are measured the same way without computing anything (shapes only), which
    is how ``monai_ccnet.nets.registry`` measures MONAI's networks for a main-memory budget.
    """
    if mode not in MEMORY_MODES:
        raise ValueError(f"mode must be one of {MEMORY_MODES}, got {mode!r}.")
    state_ptrs = {_storage(t)[0] for t in [*network.parameters(), *network.buffers()]}
    was_training = network.training
    try:
        if mode == "inference":
            network.eval()
            tracker = _LiveStorageTracker(state_ptrs, _storage(x)[1])
            with torch.no_grad(), tracker:
                out = network(x)
            del out
            return tracker.peak
        network.train()
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            ptr, nbytes = _storage(t)
            if ptr not in state_ptrs:
                saved[ptr] = nbytes
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = network(x)
        del out
        return sum(saved.values())
    finally:
        network.train(was_training)
