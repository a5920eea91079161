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

__all__ = ["EXPORT_RTOL", "EXPORT_ATOL", "export_network", "measure_latency"]

logger = logging.getLogger(__name__)

#: how far an export's outputs may differ from the network's when it is verified: float32 round-off
#: (a scripted or ONNX graph may sum in another order), so that outputs near zero (atol) and large
#: ones (rtol) both pass; MONAI's converters default to atol 0
EXPORT_RTOL = 1e-4
EXPORT_ATOL = 1e-5

_FILE_SUFFIX = {"torchscript": ".ts", "onnx": ".onnx"}


def export_network(
    network: torch.nn.Module,
    example_shape: Sequence[int],
    models_dir: str | os.PathLike,
    name: str = "model",
    formats: Sequence[str] = ("torchscript", "onnx"),
    errors: dict[str, str] | None = None,
) -> dict[str, str]:
    """Write ``<models_dir>/<name>.pt`` (state dict) and the requested formats; return their paths.

    ``example_shape`` is a full input shape (batch, channels, *spatial). Each export's outputs are
    compared with the network's (rtol :data:`EXPORT_RTOL`, atol :data:`EXPORT_ATOL`). ONNX is
    skipped with a log line when the ``onnx`` package is missing; its outputs are checked with
    ``onnxruntime`` when that is installed.

    ``errors``: None (default) raises when an export fails. A dict instead receives, for each
    format that failed (conversion or verification), one line saying why; the format's file is
    removed and the other formats are still written. The state dict is always written first.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    network = network.eval().cpu()
    example = torch.rand(*[int(s) for s in example_shape])
    files = {"state_dict": str(models_dir / f"{name}.pt")}
    torch.save(network.state_dict(), files["state_dict"])
    for kind in ("torchscript", "onnx"):
        if kind not in formats:
            continue
        if kind == "onnx" and optional_import("onnx") is None:
            logger.info("onnx not installed: skipping the ONNX export (pip install onnx).")
            continue
        path = models_dir / f"{name}{_FILE_SUFFIX[kind]}"
        try:
            _EXPORTERS[kind](network, example, path)
        except Exception as err:  # noqa: BLE001 - any failure of one format must not cost the others
            if errors is None:
                raise
            path.unlink(missing_ok=True)  # written before its outputs were checked
            errors[kind] = f"{path.name}: {_one_line(err)}"
            logger.warning(f"{kind} export failed, {path} not written: {errors[kind]}")
            continue
        files[kind] = str(path)
    return files


def _torchscript(network: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    # scripted, not traced: the networks' input-size checks survive; verify=True compares outputs
    convert_to_torchscript(
        network, str(path), verify=True, inputs=[example], device=torch.device("cpu"), rtol=EXPORT_RTOL, atol=EXPORT_ATOL
    )


def _onnx(network: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    convert_to_onnx(
        network,
        [example],
        input_names=["image"],
        output_names=["logits"],
        filename=str(path),
        verify=optional_import("onnxruntime") is not None,
        use_ort=True,
        device=torch.device("cpu"),
        rtol=EXPORT_RTOL,
        atol=EXPORT_ATOL,
        **_onnx_exporter(),
    )


_EXPORTERS = {"torchscript": _torchscript, "onnx": _onnx}


def _one_line(err: Exception, limit: int = 300) -> str:
    """``err`` as one line: its type and its message's lines joined (``assert_close`` spreads the
    differences over several), cut at ``limit`` characters."""
    text = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
