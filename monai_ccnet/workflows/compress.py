"""The main job: complexity of a target dataset -> plan -> build -> train -> evaluate -> report -> export.

1. Measure the scale-wise complexity of the target's training split (METHOD §1).
2. Plan the widths for one constraint with a degradation model (METHOD §4): a disk budget
   (MB + bits per weight), a main-memory budget (MB + input shape) or an accuracy floor
   (fraction of the full network's accuracy); uniform or per stage.
3. Build the compressed network, train it with the shared recipe, evaluate F1 / IoU on the
   test split; with ``compare_full`` also train the full network (then the predicted absolute
   accuracy = predicted relative accuracy x the full network's achieved accuracy).
4. Report (JSON + Markdown: predicted vs achieved, weights, bytes, latency compressed vs full)
   and export the compressed network (TorchScript, ONNX when installed) and the plan to
   ``models/``.

Everything that can be wrong with the configuration (data, arch, degradation, infeasible
budget) is checked in :meth:`CompressWorkflow.plan`, before any training starts.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from monai.utils import set_determinism

from monai_ccnet.accounting import DEFAULT_WIDTHS, check_arch, disk_bytes, resolve_widths, total_weights
from monai_ccnet.utils import as_bool, atomic_write_json, atomic_write_text

from .common import build_model, measure_complexity
from .export import export_network, measure_latency
from .recipe import detect_in_channels, make_recipe, resolve_device, train_and_evaluate

__all__ = ["CompressWorkflow"]

logger = logging.getLogger(__name__)


class CompressWorkflow:
    """Plan, train, evaluate, report and export one compressed network.

    Args:
        data: ``{"name", "train": items, "test": items}`` (see :func:`~monai_ccnet.workflows.bundle_data`).
        output_dir: where ``complexity.json``, ``report.json``, ``report.md``, ``models/`` go.
        arch, widths: architecture and the full network's stage widths.
        degradation: a preset name (default ``"unet-f1-paper"``), a calibration JSON path, or a dict.
        constraint: which budget applies, ``"disk"``, ``"memory"`` or ``"accuracy"``; the other
            budgets' values are then ignored (so a config can keep defaults for all three).
            None: exactly one of the three budgets must be given.
        disk_budget_mb, bits_per_weight, memory_budget_mb, input_shape, batch, min_relative_accuracy,
            layerwise: the constraint, as in :func:`monai_ccnet.planning.plan_compression`.
        compare_full: also train and evaluate the full network.
        export: formats to write to ``models/`` (``"torchscript"``, ``"onnx"``); empty: none.
    """

    def __init__(
        self,
        data: Mapping,
        output_dir: str,
        arch: str = "unet",
        widths: Sequence[int] = DEFAULT_WIDTHS,
        degradation: Any = "unet-f1-paper",
        constraint: str | None = None,
        disk_budget_mb: float | None = None,
        bits_per_weight: float = 32,
        memory_budget_mb: float | None = None,
        input_shape: Sequence[int] | None = None,
        batch: int = 1,
        min_relative_accuracy: float | None = None,
        layerwise: bool = False,
        recipe: Mapping | None = None,
        device: Any = "auto",
        spatial_dims: int = 2,
        out_channels: int = 2,
        compare_full: bool = False,
        export: Sequence[str] = ("torchscript", "onnx"),
        complexity: Mapping | None = None,
        latency_repeats: int = 5,
        seed: int = 0,
        progress: bool = True,
    ):
        self.data = dict(data)
        if not self.data.get("test"):
            raise ValueError(f"dataset {self.data.get('name')!r} has no test split: compress evaluates on one.")
        self.output_dir = Path(output_dir)
        self.arch = check_arch(arch)
        self.widths = list(resolve_widths(widths))
        self.degradation = degradation
        if constraint is not None:
            kinds = {"disk": "disk_budget_mb", "memory": "memory_budget_mb", "accuracy": "min_relative_accuracy"}
            if constraint not in kinds:
                raise ValueError(f"constraint must be one of {sorted(kinds)}, got {constraint!r}.")
            budgets = {"disk_budget_mb": disk_budget_mb, "memory_budget_mb": memory_budget_mb,
                       "min_relative_accuracy": min_relative_accuracy}
            if budgets[kinds[constraint]] is None:
                raise ValueError(f"constraint {constraint!r} needs a value for {kinds[constraint]}.")
            disk_budget_mb, memory_budget_mb, min_relative_accuracy = (
                budgets[k] if k == kinds[constraint] else None for k in budgets
            )
        self.constraint = {
            "disk_budget_mb": disk_budget_mb,
            "bits_per_weight": bits_per_weight,
            "memory_budget_mb": memory_budget_mb,
            "input_shape": list(input_shape) if input_shape is not None else None,
            "batch": int(batch),
            "min_relative_accuracy": min_relative_accuracy,
            "layerwise": as_bool(layerwise, "layerwise"),
        }
        self.recipe = make_recipe(recipe)
        self.device = resolve_device(device)
        self.spatial_dims = int(spatial_dims)
        self.out_channels = int(out_channels)
        self.compare_full = as_bool(compare_full, "compare_full")
        self.export = [str(f).lower() for f in (export or ())]
        self.complexity = dict(complexity or {})
        self.latency_repeats = int(latency_repeats)
        self.seed = int(seed)
        self.progress = as_bool(progress, "progress")
        self.in_channels = detect_in_channels(self.data["train"])

    def plan(self):
        """Complexity of the training split + the plan; raises on an unusable or infeasible configuration."""
        from monai_ccnet.planning import complexity_from_report, load_degradation, plan_compression
        from monai_ccnet.planning.degradation import DegradationModel

        model = self.degradation
        if isinstance(model, Mapping):
            model = DegradationModel.from_dict(dict(model))
        elif not isinstance(model, DegradationModel):
            model = load_degradation(str(model))
        measures = {"jpeg", "foreground"} if model.measure == "jb" else {model.measure}
        report = measure_complexity(
            self.data["train"],
            scales=len(self.widths),
            cache_file=self.output_dir / "complexity.json",
            progress=self.progress,
            **{"measures": sorted(measures), **self.complexity},
        )
        complexity = complexity_from_report(report.to_dict(), model, len(self.widths))
        plan = plan_compression(
            self.arch,
            complexity,
            model,
            widths=self.widths,
            spatial_dims=self.spatial_dims,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            **self.constraint,
        )
        if not plan.satisfied:
            raise ValueError(f"infeasible constraint {plan.constraint}: the closest plan {plan.widths} does not meet it.")
        return plan, model

    def _network(self, widths: Sequence[int]):
        set_determinism(seed=self.seed)
        return build_model(self.arch, widths, None, self.spatial_dims, self.in_channels, self.out_channels)

    def _train(self, network, name: str) -> dict:
        logger.info(f"training the {name} network")
        return train_and_evaluate(
            network,
            self.data["train"],
            self.data["test"],
            self.recipe,
            self.device,
            self.in_channels,
            output_dir=str(self.output_dir / "checkpoints" / name),
            progress=self.progress,
            seed=self.seed,
        )

    def _describe(self, widths: Sequence[int], network, bits: float) -> dict:
        weights = total_weights(self.arch, widths, self.spatial_dims, self.in_channels, self.out_channels)
        shape = [1, self.in_channels, *self.recipe["patch_size"]]
        return {
            "widths": list(widths),
            "weights": weights,
            "parameters": int(sum(p.numel() for p in network.parameters())),
            "disk_bytes": disk_bytes(weights, bits),
            "latency_ms": round(measure_latency(network, shape, self.device, self.latency_repeats), 3),
            "latency_input": shape,
        }

    def run(self) -> dict:
        """Plan, train, evaluate, report, export; returns the report dict (also on disk)."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        plan, model = self.plan()  # every configuration error surfaces here, before training
        logger.info(
            f"plan: widths {plan.widths}, {plan.weights} weights, predicted relative {model.metric} "
            f"{plan.predicted_relative_accuracy:.4f} ({plan.constraint['kind']} constraint)"
        )
        models_dir = self.output_dir / "models"
        plan.save(models_dir / "plan.json")
        bits = float(self.constraint["bits_per_weight"])

        compressed = self._network(plan.widths)
        achieved = self._train(compressed, "compressed")
        compressed_info = {**self._describe(plan.widths, compressed, bits), **achieved}
        full_network = self._network(self.widths)
        full_info = self._describe(self.widths, full_network, bits)
        if self.compare_full:
            full_info.update(self._train(full_network, "full"))
        del full_network

        metric = model.metric
        rel = plan.predicted_relative_accuracy
        predicted = {"relative_accuracy": rel, "metric": metric}
        if full_info.get(metric) is not None:
            predicted[metric] = rel * full_info[metric]
            compressed_info[f"relative_{metric}"] = compressed_info[metric] / full_info[metric] if full_info[metric] > 0 else None
        report = {
            "dataset": self.data.get("name"),
            "arch": self.arch,
            "constraint": plan.constraint,
            "satisfied": plan.satisfied,
            "layerwise": plan.layerwise,
            "complexity": plan.complexity,
            "degradation": {
                "metric": model.metric,
                "measure": model.measure,
                "lam": model.lam,
                "delta": model.delta,
                "source": str(self.degradation) if not isinstance(self.degradation, Mapping) else "<dict>",
            },
            "predicted": predicted,
            "compressed": compressed_info,
            "full": full_info,
            "compression": {
                "weights_ratio": full_info["weights"] / compressed_info["weights"],
                "speedup": full_info["latency_ms"] / compressed_info["latency_ms"] if compressed_info["latency_ms"] > 0 else None,
            },
            "recipe": self.recipe,
            "device": str(self.device),
            "files": {"plan": str(models_dir / "plan.json")},
        }
        if self.export:
            shape = [1, self.in_channels, *self.recipe["patch_size"]]
            report["files"].update(export_network(compressed, shape, models_dir, formats=self.export))
        report_file = self.output_dir / "report.json"
        report["files"]["report"] = str(report_file)
        report["files"]["markdown"] = str(self.output_dir / "report.md")
        atomic_write_json(report_file, _finite(report))

        from .reports import compress_markdown

        atomic_write_text(self.output_dir / "report.md", compress_markdown(report))
        print(f"compress report: {report_file} (Markdown: {self.output_dir / 'report.md'})")
        return report


def _finite(obj):
    """JSON has no NaN / inf: such values become None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
