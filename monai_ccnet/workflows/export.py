"""Export a trained network with MONAI's converters (TorchScript; ONNX when ``onnx`` is installed)
and time its forward pass."""

from __future__ import annotations

import inspect
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Sequence

import torch
from monai.networks.utils import convert_to_onnx, convert_to_torchscript

from monai_ccnet.utils import optional_import

__all__ = ["export_network", "measure_latency"]

logger = logging.getLogger(__name__)


def export_network(
    network: torch.nn.Module,
    example_shape: Sequence[int],
    models_dir: str | os.PathLike,
    name: str = "model",
    formats: Sequence[str] = ("torchscript", "onnx"),
) -> dict[str, str]:
    """Write ``<models_dir>/<name>.pt`` (state dict) and the requested formats; return their paths.

    ``example_shape`` is a full input shape (batch, channels, *spatial). ONNX is skipped with a log
    line when the ``onnx`` package is missing; its outputs are checked against the network's with
    ``onnxruntime`` when that is installed.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    network = network.eval().cpu()
    example = torch.rand(*[int(s) for s in example_shape])
    files = {"state_dict": str(models_dir / f"{name}.pt")}
    torch.save(network.state_dict(), files["state_dict"])
    if "torchscript" in formats:
        path = models_dir / f"{name}.ts"
        # scripted, not traced: the networks' input-size checks survive; verify=True compares outputs
        convert_to_torchscript(network, str(path), verify=True, inputs=[example], device=torch.device("cpu"))
        files["torchscript"] = str(path)
    if "onnx" in formats:
        if optional_import("onnx") is None:
            logger.info("onnx not installed: skipping the ONNX export (pip install onnx).")
        else:
            path = models_dir / f"{name}.onnx"
            convert_to_onnx(
                network,
                [example],
                input_names=["image"],
                output_names=["logits"],
                filename=str(path),
                verify=optional_import("onnxruntime") is not None,
                use_ort=True,
                device=torch.device("cpu"),
                **_onnx_exporter(),
            )
            files["onnx"] = str(path)
    return files


def _onnx_exporter() -> dict:
    """``torch.onnx.export`` options: from torch 2.9 it exports with the dynamo exporter, which needs
    ``onnxscript``; without it (the ``[all]`` extra installs ``onnx`` only) the TorchScript-based
    exporter (``dynamo=False``) writes the file."""
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:  # torch < 2.5: one exporter
        return {}
    return {} if optional_import("onnxscript") is not None else {"dynamo": False}


@torch.no_grad()
def measure_latency(
    network: torch.nn.Module, input_shape: Sequence[int], device: str | torch.device = "cpu", repeats: int = 10, warmup: int = 2
) -> float:
    """Median wall time in milliseconds of one forward pass on a random ``input_shape`` batch."""
    device = torch.device(device)
    was_training = network.training
    network = network.eval().to(device)
    x = torch.rand(*[int(s) for s in input_shape], device=device)
    times = []
    for i in range(int(warmup) + max(1, int(repeats))):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        network(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    network.train(was_training)
    return 1000.0 * statistics.median(times)
