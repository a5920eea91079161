"""Pieces shared by the bundle runs: data resolution, complexity, networks, torch.distributed."""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from monai_ccnet.accounting import ARCHITECTURES, resolve_widths

__all__ = [
    "bundle_data",
    "measure_complexity",
    "stage_complexity",
    "build_model",
    "check_arch",
    "distributed_context",
    "barrier",
    "model_widths",
    "save_metrics",
    "complexity_run",
]

logger = logging.getLogger(__name__)


def _split(dataset_dir: str | None, datalist: str | None, split: str, datalist_key: str) -> list[dict]:
    from monai_ccnet.data.layout import load_datalist, load_dataset_dir

    if dataset_dir:
        return load_dataset_dir(dataset_dir, split)
    return load_datalist(datalist, datalist_key)


def bundle_data(
    dataset_dir: str | None = None,
    datalist: str | None = None,
    synthetic_dir: str | None = None,
    synthetic: Mapping | None = None,
    target: str = "cells",
    train_key: str = "training",
    test_key: str = "test",
    need_test: bool = True,
) -> dict[str, Any]:
    """The data of a bundle run: ``{"name", "dataset_dir", "train": items, "test": items}``.

    ``dataset_dir`` (common layout, ``split.json`` with ``train`` and ``test``) or ``datalist``
    (MONAI JSON with ``train_key`` and ``test_key`` lists); with neither, the built-in synthetic
    dataset ``target`` is written to ``synthetic_dir`` (settings from ``synthetic``) and used.

    Raises:
        FileNotFoundError / ValueError: naming the missing folder, file or split, before any
            training starts.
    """
    if dataset_dir and datalist:
        raise ValueError(f"give dataset_dir or datalist, not both (got {dataset_dir!r} and {datalist!r}).")
    name = None
    if not dataset_dir and not datalist:
        from monai_ccnet.data.synthetic import make_synthetic_dataset

        if not synthetic_dir:
            raise ValueError("no dataset_dir or datalist given and no synthetic_dir to write built-in data to.")
        settings = {k: v for k, v in dict(synthetic or {}).items() if k != "kinds"}
        dataset_dir = str(make_synthetic_dataset(synthetic_dir, target, **settings))
        name = f"synthetic-{target}"
        logger.info(f"no dataset_dir/datalist given: using the built-in synthetic dataset {target!r} ({dataset_dir})")
    elif dataset_dir and not Path(dataset_dir).expanduser().is_dir():
        raise FileNotFoundError(f"dataset_dir not found: {Path(dataset_dir).expanduser().resolve()}")
    source = dataset_dir or datalist
    train = _split(dataset_dir, datalist, "train", train_key)
    test: list[dict] = []
    if need_test:
        try:
            test = _split(dataset_dir, datalist, "test", test_key)
        except ValueError as err:
            raise ValueError(
                f"{source}: this run evaluates on a held-out test split, but none was found ({err}). "
                "Add a 'test' list to split.json (or the datalist)."
            ) from err
        missing = [item["id"] for item in test if "label" not in item]
        if missing:
            raise ValueError(f"{source}: test image(s) without a label cannot be scored: {missing[:10]}")
        overlap = sorted({i["image"] for i in train} & {i["image"] for i in test})
        if overlap:
            raise ValueError(f"{source}: {len(overlap)} image(s) are in both train and test: {overlap[:5]}")
    return {"name": name or Path(str(source)).stem, "dataset_dir": dataset_dir, "train": train, "test": test}


def measure_complexity(
    items: Sequence[Mapping],
    scales: int,
    cache_file: str | os.PathLike | None = None,
    measures: Sequence[str] | None = None,
    progress: bool = True,
    **settings,
):
    """``analyze_dataset`` over ``items``, cached in ``cache_file`` (reused when its settings match)."""
    from monai_ccnet.complexity import ComplexityReport, analyze_dataset

    kwargs: dict[str, Any] = dict(settings)
    if measures is not None:
        kwargs["measures"] = tuple(measures)
    if cache_file is not None and Path(cache_file).is_file():
        report = ComplexityReport.load(cache_file)
        same_images = report.settings.get("images") == len(items)
        same_scales = int(report.settings.get("scales", -1)) == int(scales)
        same_measures = measures is None or set(measures) <= set(report.measures)
        if same_images and same_scales and same_measures:
            return report
    report = analyze_dataset(list(items), scales=int(scales), progress=progress, **kwargs)
    if cache_file is not None:
        report.save(cache_file)
    return report


def stage_complexity(report, degradation) -> list[float]:
    """C_0 .. C_{K-1} of the degradation model's measure (JB = w * jpeg + (1 - w) * foreground)."""
    measure = degradation.measure
    if measure == "jb":
        w = float(degradation.variant.get("w", 1.0))
        return [w * j + (1 - w) * b for j, b in zip(report.mean("jpeg"), report.mean("foreground"))]
    return [float(c) for c in report.mean(measure)]


def check_arch(arch: str) -> str:
    arch = str(arch).lower()
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose one of {ARCHITECTURES}.")
    return arch


def build_model(
    arch: str,
    widths: Sequence[int],
    multipliers: float | Sequence[float] | None = None,
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    **kwargs,
) -> torch.nn.Module:
    """The width-scalable network of ``monai_ccnet.nets`` at ``resolve_widths(widths, multipliers)``."""
    from monai_ccnet.nets import build_network

    return build_network(
        check_arch(arch),
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=out_channels,
        widths=list(resolve_widths(widths, multipliers)),
        **kwargs,
    )


def distributed_context(timeout_minutes: float = 24 * 60) -> tuple[int, int]:
    """(rank, world size). Under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is created
    here when the config did not: NCCL on GPUs, gloo on CPU. The timeout is long because the
    ranks wait at a barrier for each other's training runs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def barrier() -> None:
    """Wait for every rank (no-op outside torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def model_widths(
    widths: Sequence[int], multipliers: float | Sequence[float] | None = None, plan_file: str | None = None
) -> list[int]:
    """Stage widths of the network to train / evaluate / infer: a plan's widths (``plan_file``, as
    written by ``compress`` to ``models/plan.json``) or ``resolve_widths(widths, multipliers)``."""
    if plan_file:
        from monai_ccnet.planning import CompressionPlan

        return [int(w) for w in CompressionPlan.load(plan_file).widths]
    return list(resolve_widths(widths, multipliers))


def save_metrics(engine, path: str | os.PathLike) -> dict:
    """Write an ignite engine's final metrics to a JSON file (atomically) and return them."""
    from monai_ccnet.utils import atomic_write_json

    metrics = {k: float(v) for k, v in engine.state.metrics.items()}
    atomic_write_json(path, metrics)
    print(f"metrics {metrics} written to {path}")
    return metrics


def complexity_run(
    data: Mapping, output_dir: str | os.PathLike, scales: int = 5, measures: Sequence[str] | None = None, progress: bool = True, **settings
):
    """The bundle's ``complexity`` run: analyse the training split, save the report, log its table."""
    from monai_ccnet.complexity import analyze_dataset

    kwargs = dict(settings)
    if measures is not None:
        kwargs["measures"] = tuple(measures)
    report = analyze_dataset(list(data["train"]), scales=int(scales), progress=progress, **kwargs)
    path = Path(output_dir) / "complexity.json"
    report.save(path)
    logger.info(f"complexity of {data.get('name')} (training split):\n{report.table()}")
    print(f"complexity report: {path}")
    return report
