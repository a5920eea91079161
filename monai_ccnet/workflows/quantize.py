"""Post-training static int8 quantisation with ONNX Runtime, and scoring of the int8 network.

The float network is exported to ONNX (dynamic batch, so MONAI's ``SlidingWindowInferer`` may send
any ``sw_batch_size``), pre-processed (``quant_pre_process``: shape inference, BatchNorm folded into
the convolutions) and quantised by ``onnxruntime.quantization.quantize_static``: QDQ format, int8
weights per output channel (symmetric), uint8 activations whose ranges are calibrated (min/max) on
patches of the *training* images as the evaluator sees them (the recipe's loading and scaling,
patch-size windows). ONNX Runtime's CPU provider fuses the QDQ pairs into integer kernels
(``QLinearConv``) when it loads the file.

:class:`OrtNetwork` wraps an ``InferenceSession`` as a ``torch.nn.Module``, so the int8 file is scored
by :func:`~monai_ccnet.workflows.training.evaluate_network`, the same sliding window, inverse resize and
foreground F1 / IoU as the float network.

Needs the ``[int8]`` extra (``onnx``, ``onnxruntime``); without it :func:`require_int8` raises a
:class:`~monai_ccnet.errors.ConfigError` naming it. Why ONNX Runtime and not PyTorch's PT2E x86
quantiser: docs/RESULTS.md §8.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from monai_ccnet.errors import ConfigError
from monai_ccnet.utils import optional_import

__all__ = [
    "INT8_EXTRA",
    "DEFAULT_INT8_TOLERANCE",
    "require_int8",
    "int8_available",
    "export_float_onnx",
    "calibration_patches",
    "quantize_onnx",
    "quantize_network",
    "int8_file_bytes",
    "INT8_SIZE_SLACK",
    "planned_int8_bytes",
    "int8_step",
    "OrtNetwork",
    "ort_latency",
    "evaluate_onnx",
]

logger = logging.getLogger(__name__)

#: the install line a missing extra names
INT8_EXTRA = 'pip install "monai_ccnet[int8]"'
#: default largest F1 the int8 network may lose against the float network before the float export is kept
DEFAULT_INT8_TOLERANCE = 0.01
#: ONNX opset of the float export that is quantised (QDQ per-channel needs >= 13)
OPSET = 17
#: room the budget fit keeps: a file quantised with other calibration ranges may differ by a few bytes
#: (protobuf stores some calibrated scalars in fewer bytes than others), so the fit sizes the file with
#: random ranges and asks for this much less than the budget
INT8_SIZE_SLACK = 256


def int8_available() -> bool:
    """Whether ``onnx`` and ``onnxruntime`` (with its quantisation tools) import."""
    return optional_import("onnx") is not None and optional_import("onnxruntime.quantization") is not None


def require_int8(why: str = "int8 quantisation (bits_per_weight 8)") -> None:
    """Raise one :class:`ConfigError` line naming the extra when ``onnx`` / ``onnxruntime`` are missing."""
    missing = [name for name in ("onnx", "onnxruntime") if optional_import(name) is None]
    if not missing and optional_import("onnxruntime.quantization") is None:
        missing = ["onnxruntime.quantization"]
    if missing:
        raise ConfigError(f"{why} needs {' and '.join(missing)}, not installed: {INT8_EXTRA}")


# ---------------------------------------------------------------------------------------------
# export and quantisation


def export_float_onnx(network: torch.nn.Module, example_shape: Sequence[int], path: str | os.PathLike) -> Path:
    """The float network as ONNX with a dynamic batch axis (input ``image``, output ``logits``)."""
    from .export import _onnx_exporter

    path = Path(path)
    network = network.eval().cpu()
    example = torch.rand(*[int(s) for s in example_shape])
    with torch.no_grad():
        torch.onnx.export(
            network, (example,), str(path), input_names=["image"], output_names=["logits"], opset_version=OPSET,
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, **_onnx_exporter(),
        )
    return path


class _Reader:
    """ONNX Runtime calibration reader over a list of ``(1, C, *patch)`` arrays, in batches."""

    def __init__(self, patches: Sequence[np.ndarray], batch: int = 8, input_name: str = "image"):
        self.batches = [np.concatenate(patches[i:i + batch]).astype(np.float32) for i in range(0, len(patches), batch)]
        self.input_name = input_name
        self.index = 0

    def get_next(self):
        if self.index >= len(self.batches):
            return None
        self.index += 1
        return {self.input_name: self.batches[self.index - 1]}

    def rewind(self):
        self.index = 0


def calibration_patches(
    items: Sequence[Mapping],
    recipe: Mapping | None = None,
    in_channels: int = 1,
    images: int = 16,
    per_image: int = 4,
    seed: int = 0,
) -> list[np.ndarray]:
    """Patch-size windows of up to ``images`` training images (evenly spread over the split), loaded
    and scaled as the evaluator loads them (:func:`~monai_ccnet.workflows.recipe.load_transforms`,
    no augmentation), padded to the patch where smaller: ``per_image`` random windows each, as
    ``(1, C, *patch)`` float32 arrays. Deterministic for a ``seed``."""
    from monai.transforms import Compose, RandSpatialCropSamplesd, SpatialPadd

    from .recipe import load_transforms, make_recipe

    recipe = make_recipe(recipe)
    items = list(items)
    if not items:
        raise ValueError("int8 calibration needs training images; the split is empty.")
    step = max(1, len(items) // max(1, int(images)))
    chosen = items[::step][: max(1, int(images))]
    patch = [int(p) for p in recipe["patch_size"]]
    transform = Compose(
        load_transforms(in_channels, with_label=False, recipe=recipe)
        + [SpatialPadd(keys="image", spatial_size=patch),
           RandSpatialCropSamplesd(keys="image", roi_size=patch, num_samples=int(per_image), random_size=False)]
    )
    transform.set_random_state(seed=seed)
    patches = []
    for item in chosen:
        for sample in transform({"image": item["image"]}):
            patches.append(np.asarray(sample["image"].detach().cpu().numpy() if hasattr(sample["image"], "detach")
                                      else sample["image"], dtype=np.float32)[None])
    return patches


@contextlib.contextmanager
def _working_directory(folder):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def quantize_onnx(
    float_path: str | os.PathLike,
    int8_path: str | os.PathLike,
    patches: Sequence[np.ndarray],
    per_channel: bool = True,
    reduce_range: bool = True,
    batch: int = 8,
) -> Path:
    """``quantize_static`` of a float ONNX file (QDQ, int8 per-channel weights, uint8 activations
    calibrated min/max on ``patches``) to ``int8_path``, after ``quant_pre_process``.

    ``reduce_range`` (default True): 7-bit weights. ONNX Runtime's uint8 x int8 kernels on x86 CPUs
    without VNNI (AVX2, AVX-512 without VNNI) sum pairs of products in 16 bits, which saturates with
    full-range weights; on this project's AVX2 machine busi's int8 network lost 0.0135 test F1 with
    8-bit weights and 0.0014 with 7-bit ones (benchmarks/results/int8_cpu.json, docs/RESULTS.md §8)."""
    require_int8()
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Reader, CalibrationDataReader):
        pass

    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        # in the temporary folder: a failed symbolic shape inference saves its model (and external data
        # files) to the working directory
        with _working_directory(folder):
            try:
                quant_pre_process(str(Path(float_path).resolve()), str(prepared))
            except Exception as err:  # noqa: BLE001 - e.g. "Incomplete symbolic shape inference" (MONAI's SegResNet)
                logger.info(f"quant_pre_process with symbolic shape inference failed ({type(err).__name__}: {err}); "
                            "pre-processing without it")
                quant_pre_process(str(Path(float_path).resolve()), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(int8_path), Reader(list(patches), batch),
            quant_format=QuantFormat.QDQ, per_channel=bool(per_channel), reduce_range=bool(reduce_range),
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )
    return int8_path


def quantize_network(
    network: torch.nn.Module,
    example_shape: Sequence[int],
    int8_path: str | os.PathLike,
    patches: Sequence[np.ndarray] | None = None,
    **options,
) -> Path:
    """Export ``network`` to ONNX and quantise it to ``int8_path``. ``patches`` None: random inputs
    of ``example_shape`` (enough to size the file, whose bytes do not depend on the ranges)."""
    require_int8()
    if patches is None:
        generator = np.random.default_rng(0)
        patches = [generator.random((1, *[int(s) for s in example_shape[1:]]), dtype=np.float32) for _ in range(2)]
    with tempfile.TemporaryDirectory() as folder:
        float_path = export_float_onnx(network, example_shape, Path(folder) / "float.onnx")
        return quantize_onnx(float_path, int8_path, patches, **options)


def int8_file_bytes(network: torch.nn.Module, example_shape: Sequence[int], **options) -> int:
    """Bytes of the int8 file ``network`` quantises to (written to a temporary folder), with every
    parameter made distinct first, as training leaves them: the exporters store identical constants
    once (an untrained network's norm scales of 1, biases of 0, PReLU slopes of 0.25), which would
    size the file of an untrained network a few kB below the trained one's."""
    import copy

    sized = copy.deepcopy(network).eval().cpu()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in sized.parameters():
            parameter.add_(1e-2 * torch.rand(parameter.shape, generator=generator, dtype=parameter.dtype))
    with tempfile.TemporaryDirectory() as folder:
        return os.path.getsize(quantize_network(sized, example_shape, Path(folder) / "model.int8.onnx", **options))


# ---------------------------------------------------------------------------------------------
# running and scoring


def _session(path: str | os.PathLike, threads: int | None = None):
    require_int8()
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OrtNetwork(torch.nn.Module):
    """An ONNX file run by ONNX Runtime (CPU), as a ``torch.nn.Module``: ``forward`` takes and returns
    tensors (the output on the input's device), so MONAI's inferers and evaluators score it like the
    float network. ``threads`` None: ONNX Runtime's default (all cores)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        super().__init__()
        self.path = str(path)
        self.session = _session(path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        out = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(out).to(x.device)


def ort_latency(path: str | os.PathLike, input_shape: Sequence[int], threads: int | None = None,
                repeats: int = 10, warmup: int = 2) -> float:
    """Median wall time in ms of one ONNX Runtime run on a random ``input_shape`` batch
    (``threads`` 1: one thread; None: all cores)."""
    session = _session(path, threads)
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).random([int(s) for s in input_shape], dtype=np.float32)
    times = []
    for i in range(int(warmup) + max(1, int(repeats))):
        start = time.perf_counter()
        session.run(None, {name: x})
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def evaluate_onnx(path: str | os.PathLike, items: Sequence[Mapping], recipe: Mapping | None = None,
                  in_channels: int = 1, threads: int | None = None) -> dict[str, float]:
    """Foreground F1 / IoU of an ONNX file on ``items``: :func:`~monai_ccnet.workflows.training.evaluate_network`
    (sliding window, inverse resize, MONAI's confusion-matrix metrics) with the file as the network."""
    from .recipe import make_recipe
    from .training import evaluate_network

    return evaluate_network(OrtNetwork(path, threads), items, make_recipe(recipe), "cpu", in_channels)


# ---------------------------------------------------------------------------------------------
# the compress step


def _network_terms(network: torch.nn.Module, spatial_dims: int) -> tuple[int, int, int]:
    """(weights, output channels, convolutions) of a torch network's conv layers (for :func:`int8_file_bytes`)."""
    weights = channels = layers = 0
    for module in network.modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd):
            weights += module.weight.numel()
            channels += module.out_channels
            layers += 1
    return weights, channels, layers


def planned_int8_bytes(network: torch.nn.Module, spatial_dims: int = 2) -> int:
    """The accounting's int8 file size (:func:`monai_ccnet.accounting.int8_file_bytes`) of any torch network."""
    from monai_ccnet.accounting import int8_file_bytes as model_bytes

    return model_bytes(*_network_terms(network, spatial_dims))


def int8_step(
    network: torch.nn.Module,
    train_items: Sequence[Mapping],
    test_items: Sequence[Mapping],
    recipe: Mapping,
    in_channels: int,
    models_dir: str | os.PathLike,
    float_metrics: Mapping,
    tolerance: float = DEFAULT_INT8_TOLERANCE,
    budget_bytes: float | None = None,
    latency_repeats: int = 5,
    threads: int | None = None,
    seed: int = 0,
    errors: dict[str, str] | None = None,
    calibration_images: int = 16,
) -> dict:
    """Quantise the trained float ``network`` to ``<models_dir>/model.int8.onnx`` (calibrated on
    ``train_items``), score it on ``test_items`` like the float network (``float_metrics``: its
    ``f1`` / ``iou``), time both with ONNX Runtime (one thread and all cores), check the file against
    ``budget_bytes`` and the F1 change against ``tolerance``.

    Returns the report's ``int8`` section. ``deliverable`` is ``"int8"`` when the int8 network keeps
    the float F1 within ``tolerance``, else ``"float32"`` (the float export stays the network to use).
    ``errors``: None raises; a dict receives ``errors["int8"]``, one line, and the section then says
    only what failed (the float network, its files and the report are unaffected)."""
    from .export import _one_line

    models_dir = Path(models_dir)
    path = models_dir / "model.int8.onnx"
    shape = [1, int(in_channels), *[int(p) for p in recipe["patch_size"]]]
    section: dict = {"file": str(path), "tolerance": float(tolerance)}
    try:
        require_int8()
        spatial_dims = len(shape) - 2
        section["planned_bytes"] = planned_int8_bytes(network, spatial_dims)
        patches = calibration_patches(train_items, recipe, in_channels, images=calibration_images, seed=seed)
        with tempfile.TemporaryDirectory() as folder:
            float_path = export_float_onnx(network, shape, Path(folder) / "float.onnx")
            quantize_onnx(float_path, path, patches)
            section["bytes"] = os.path.getsize(path)
            section["float_onnx_bytes"] = os.path.getsize(float_path)
            section["calibration"] = {
                "images": min(len(train_items), calibration_images), "patches": len(patches), "method": "min/max",
                "format": "QDQ", "weights": "int8 with a 7-bit range (reduce_range), per output channel, symmetric",
                "activations": "uint8, per tensor",
                "tool": "onnxruntime.quantization.quantize_static", "split": "train"}
            latency = {}
            for name, file in (("int8", path), ("float32", float_path)):
                latency[name] = {"1_thread": round(ort_latency(file, shape, 1, latency_repeats), 3),
                                 "all_cores": round(ort_latency(file, shape, None, latency_repeats), 3)}
        section["latency_ms"] = latency
        section["latency_input"] = shape
        section["latency_ratio"] = {k: latency["float32"][k] / latency["int8"][k] if latency["int8"][k] > 0 else None
                                    for k in ("1_thread", "all_cores")}
        section["size_ratio"] = section["float_onnx_bytes"] / section["bytes"]
        metrics = evaluate_onnx(path, test_items, recipe, in_channels, threads)
        section.update(metrics)
        section["float_f1"], section["float_iou"] = float_metrics.get("f1"), float_metrics.get("iou")
        change = metrics["f1"] - float_metrics["f1"] if float_metrics.get("f1") is not None else None
        section["f1_change"] = change
        section["within_tolerance"] = change is not None and change >= -float(tolerance)
        if budget_bytes is not None:
            section["budget_bytes"] = float(budget_bytes)
            section["fits_budget"] = section["bytes"] <= budget_bytes
        section["deliverable"] = "int8" if section["within_tolerance"] else "float32"
        if not section["within_tolerance"]:
            section["note"] = (
                f"the int8 network loses {-change:.4f} F1 (test F1 {metrics['f1']:.4f} against the float network's "
                f"{float_metrics['f1']:.4f}), more than int8_tolerance {tolerance:g}: the float32 export (models/model.pt, "
                "model.ts, model.onnx) is the deliverable; model.int8.onnx is kept for inspection only")
            logger.warning(section["note"])
    except Exception as err:  # noqa: BLE001 - a failed quantisation must not cost the float network or the report
        if errors is None:
            raise
        path.unlink(missing_ok=True)
        errors["int8"] = f"{path.name}: {_one_line(err)}"
        logger.warning(f"int8 quantisation failed, {path} not written: {errors['int8']}")
        return {"file": None, "error": errors["int8"], "deliverable": "float32", "tolerance": float(tolerance)}
    return section
