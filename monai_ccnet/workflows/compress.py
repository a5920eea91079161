"""The main job: complexity of a target dataset -> plan -> build -> train -> evaluate -> report -> export.

1. Check the configuration: architecture, degradation model, constraint values and whether the
   budget can be met at all (it does not depend on the images), test split. A bad value raises
   :class:`~monai_ccnet.errors.ConfigError` before anything is measured or written.
2. Measure the scale-wise complexity of the target's training split (docs/method.md §1) and plan the
   widths for one constraint (docs/method.md §4): a disk budget (MB of weights, or of the exported files
   with ``disk_budget_counts="files"``), a main-memory budget (MB of weights + feature maps for an
   input shape) or an accuracy floor (fraction of the full network's accuracy); uniform or per stage.
3. Build the compressed network, train it with the shared recipe, evaluate F1 / IoU on the test
   split; with ``compare_full`` also train the full network.
4. Report (``report.json``, ``report.md``, ``report.png``): predicted and achieved accuracy in the
   same units (relative to the full network and absolute, whenever the full network's accuracy is
   known: ``compare_full`` or ``full_accuracy``), what each budget counts, the planned and the
   measured sizes (the real file sizes) against it, and separately whether the prediction and
   the measurement meet the constraint. Export the compressed network (state dict, TorchScript,
   ONNX when installed) and the plan to ``models/``.

**The user's own network** (``network_def_file``): a MONAI bundle config (or an extracted block) whose
``network_def`` is one of the registered architectures (:mod:`monai_ccnet.nets.registry`: MONAI's
UNet, BasicUNet, SegResNet, DynUNet, AttentionUnet, SwinUNETR, or ours) replaces ``arch`` and
``widths``: the planner counts and rounds through the registry (exact weights of that network, widths
that keep its constraints), the planned MONAI network is built, trained, evaluated and exported with
the same recipe, and ``<output_dir>/network_def.json`` = ``{"network_def": {...the block, planned
widths...}}`` is written, so that ::

    python -m monai.bundle run training --config_file "['configs/train.json','<output_dir>/network_def.json']"

trains the smaller network in the user's own bundle.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from monai.utils import set_determinism

from monai_ccnet.accounting import DEFAULT_WIDTHS, MB, check_arch, disk_bytes, resolve_widths, total_weights
from monai_ccnet.errors import ConfigError, config_errors
from monai_ccnet.planning import load_degradation, prediction_caveat
from monai_ccnet.planning.constraints import constraint_from, limit_check
from monai_ccnet.planning.planner import MIN_STAGE_WIDTH, min_plan_weights
from monai_ccnet.planning.search import boundary
from monai_ccnet.planning.degradation import component_measures
from monai_ccnet.utils import as_bool, atomic_write_json, atomic_write_text

from .inputs import build_model, detect_in_channels, measure_complexity
from .export import export_network, measure_latency
from .quantize import DEFAULT_INT8_TOLERANCE
from .recipe import make_recipe
from .runtime import resolve_device
from .training import train_and_evaluate

__all__ = ["CompressWorkflow", "CONSTRAINTS", "DISK_BUDGET_COUNTS", "EXPORT_FORMATS"]

logger = logging.getLogger(__name__)

#: constraint -> the key holding its value
PREDICTORS = ("calibration", "probe")
CONSTRAINTS = {"disk": "disk_budget_mb", "memory": "memory_budget_mb", "accuracy": "min_relative_accuracy"}
#: what a disk budget counts: every exported file (each must fit), or the weights at bits_per_weight (the paper's count)
DISK_BUDGET_COUNTS = ("files", "weights")
EXPORT_FORMATS = ("torchscript", "onnx")
_FILE_NAMES = {"state_dict": "model.pt", "torchscript": "model.ts", "onnx": "model.onnx", "int8": "model.int8.onnx"}
#: the configuration keys that make up the constraint object (``planning.constraints.constraint_from``)
_GOAL_KEYS = ("disk_budget_mb", "bits_per_weight", "memory_budget_mb", "input_shape", "batch", "min_relative_accuracy")
#: bits_per_weight that writes an int8 network (models/model.int8.onnx, ONNX Runtime, the [int8] extra)
INT8_BITS = 8


class CompressWorkflow:
    """Plan, train, evaluate, report and export one compressed network.

    Args:
        data: ``{"name", "train": items, "test": items}`` (see :func:`~monai_ccnet.workflows.bundle_data`).
        output_dir: where ``complexity.json``, ``report.json``, ``report.md``, ``report.png``, ``models/`` go.
        arch, widths: architecture and the full network's stage widths.
        degradation: a preset name (default ``"unet-f1-cpu"``, this project's real-data
            calibration), a calibration's or a probe's ``degradation.json``, or a dict.
        predictor: ``"calibration"`` plans with ``degradation`` from the dataset's complexity;
            ``"probe"`` first trains the probe's small networks on this dataset
            (:class:`~monai_ccnet.workflows.probe.Probe`, ``degradation`` as its prior) and plans
            with the measured curve, whose full network's measured accuracy also makes every
            prediction absolute.
        confidence: with an accuracy floor, meet it with this probability (e.g. 0.9): the one
            network trained reaches the floor that often (one-sided); every plan reports its
            two-sided interval at ``interval_level``.
        allow_extrapolation: plan stages narrower than 2 channels or networks smaller than any
            the predictions were measured on (the probe's narrowest); the report says how far.
        constraint: which budget applies, ``"disk"``, ``"memory"`` or ``"accuracy"``; the other
            budgets' values are then ignored (so a config can keep defaults for all three).
            None: exactly one of the three budgets must be given.
        disk_budget_mb, bits_per_weight, memory_budget_mb, input_shape, batch, min_relative_accuracy,
            layerwise: the constraint, as in :func:`monai_ccnet.planning.plan_compression`.
        disk_budget_counts: ``"weights"`` (default, as :func:`~monai_ccnet.planning.plan_compression`):
            the weights at ``bits_per_weight`` only (the paper's count); the report still gives
            the file sizes and by how much they exceed the budget. ``"files"`` (the bundle's
            default): every exported file (``model.pt``, ``model.ts``, ``model.onnx``) must fit,
            so the planner's weight budget is lowered by what the files add (biases,
            normalisation, TorchScript code, container); with ``bits_per_weight`` 8 the file counted is
            ``model.int8.onnx`` (the float32 files are the fallback and are not counted); other
            ``bits_per_weight`` values count the weights only.
        bits_per_weight: 32 (default) or any value the weights are counted at; 8 also quantises the
            trained network to int8 (``models/model.int8.onnx``: ONNX Runtime static quantisation
            calibrated on training patches, :mod:`monai_ccnet.workflows.quantize`; needs the
            ``[int8]`` extra), scores it on the test split like the float network and reports both.
        int8_tolerance: with ``bits_per_weight`` 8, the largest test F1 the int8 network may lose
            against the float network (default 0.01); beyond it the report says so and the float32
            export stays the deliverable.
        full_accuracy: the full network's accuracy (in the degradation model's metric) when known,
            e.g. from an earlier run: achieved accuracy is then also reported relative to it and
            the prediction in absolute terms. ``compare_full`` measures it instead (and wins).
        compare_full: also train and evaluate the full network.
        export: formats to write to ``models/`` besides the state dict (``"torchscript"``, ``"onnx"``); empty: none.
        plot: write ``report.png`` (Pareto curve with the plan, budget and achieved point; needs matplotlib).
        network_def_file: compress the user's own network instead of ``arch`` / ``widths``: a bundle
            config (JSON/YAML) with a ``network_def_key`` block, an extracted block or ``{"network_def":
            {...}}`` (:func:`monai_ccnet.nets.network_def.read_network_def`). Its class must be registered;
            its ``spatial_dims`` must equal ``spatial_dims`` (the data are checked and the synthetic data
            made for that) and its ``out_channels`` 2 (the recipe's background/foreground softmax).
            With ``predictor: probe`` the probe trains that network (its widths scaled and snapped to
            its constraints) and the plan reads the registry's weights of it throughout.
        network_def_key: the config key of that block.
        probe_workers: one-thread training processes of the probe (``predictor: probe``); 1 trains in this process.

    Raises:
        ConfigError: a bad configuration value, a budget no network meets, no test split; with
            ``network_def_file``: an unreadable file, an unregistered class (naming the registered
            ones), widths that break a constraint (naming it), a block that does not instantiate or
            refuses the recipe's patch size.
    """

    def __init__(
        self,
        data: Mapping,
        output_dir: str,
        arch: str = "unet",
        widths: Sequence[int] = DEFAULT_WIDTHS,
        degradation: Any = "unet-f1-cpu",
        predictor: str = "calibration",
        confidence: float | None = None,
        interval_level: float = 0.9,
        allow_extrapolation: bool = False,
        constraint: str | None = None,
        disk_budget_mb: float | None = None,
        bits_per_weight: float = 32,
        memory_budget_mb: float | None = None,
        input_shape: Sequence[int] | None = None,
        batch: int = 1,
        min_relative_accuracy: float | None = None,
        layerwise: bool = False,
        disk_budget_counts: str = "weights",
        full_accuracy: float | None = None,
        recipe: Mapping | None = None,
        device: Any = "auto",
        spatial_dims: int = 2,
        out_channels: int = 2,
        compare_full: bool = False,
        export: Sequence[str] = EXPORT_FORMATS,
        complexity: Mapping | None = None,
        latency_repeats: int = 5,
        seed: int = 0,
        progress: bool = True,
        plot: bool = True,
        network_def_file: str | os.PathLike | None = None,
        network_def_key: str = "network_def",
        probe_workers: int = 2,
        int8_tolerance: float = DEFAULT_INT8_TOLERANCE,
    ):
        with config_errors():
            self.data = dict(data)
            if not self.data.get("test"):
                raise ConfigError(f"dataset {self.data.get('name')!r} has no test split: compress evaluates on one.")
            self.output_dir = Path(output_dir)
            self.netdef = None
            if network_def_file:
                from monai_ccnet.nets.network_def import read_network_def

                self.netdef = read_network_def(network_def_file, key=network_def_key)
                self.spec = self.netdef.spec
                self.arch = self.spec.name
                self.widths = list(self.spec.base_widths)
                logger.info(f"compressing the network of {network_def_file} ({self.netdef.block['_target_']!r} = "
                            f"{self.spec.architecture.target}, widths {self.widths}); arch and widths are not used")
            else:
                self.arch = check_arch(arch)
                self.widths = list(resolve_widths(widths))
            self.model = load_degradation(degradation)
            self.degradation_source = str(degradation) if not isinstance(degradation, Mapping) else "<dict>"
            if predictor not in PREDICTORS:
                raise ConfigError(f"predictor must be one of {PREDICTORS}, got {predictor!r}.")
            self.predictor = predictor
            self.probe_workers = int(probe_workers)
            confidence = _number(confidence, "confidence")
            if confidence is not None and not 0 < confidence < 1:
                raise ConfigError(f"confidence must be in (0, 1), e.g. 0.9, got {confidence!r}.")
            if confidence is not None and predictor == "calibration" and not self.model.has_interval:
                raise ConfigError(
                    f"confidence needs a degradation model with a prediction spread; {self.degradation_source!r} has none "
                    "(the paper's presets give no interval): use unet-f1-cpu, a calibration's or a probe's model."
                )
            if constraint is not None:
                if constraint not in CONSTRAINTS:
                    raise ConfigError(f"constraint must be one of {sorted(CONSTRAINTS)}, got {constraint!r}.")
                budgets = {"disk_budget_mb": disk_budget_mb, "memory_budget_mb": memory_budget_mb,
                           "min_relative_accuracy": min_relative_accuracy}
                if budgets[CONSTRAINTS[constraint]] is None:
                    raise ConfigError(f"constraint {constraint!r} needs a value for {CONSTRAINTS[constraint]}.")
                disk_budget_mb, memory_budget_mb, min_relative_accuracy = (
                    budgets[k] if k == CONSTRAINTS[constraint] else None for k in budgets
                )
            self.constraint = {
                "disk_budget_mb": _number(disk_budget_mb, "disk_budget_mb"),
                "bits_per_weight": _number(bits_per_weight, "bits_per_weight"),
                "memory_budget_mb": _number(memory_budget_mb, "memory_budget_mb"),
                "input_shape": [int(s) for s in input_shape] if input_shape is not None else None,
                "batch": int(batch),
                "min_relative_accuracy": _number(min_relative_accuracy, "min_relative_accuracy"),
                "layerwise": as_bool(layerwise, "layerwise"),
                "interval_level": float(interval_level),
                "allow_extrapolation": as_bool(allow_extrapolation, "allow_extrapolation"),
            }
            self.confidence = confidence if self.constraint["min_relative_accuracy"] is not None else None
            # the constraint as one object: what the report's budget and checks come from
            self.goal = constraint_from(**{k: self.constraint[k] for k in _GOAL_KEYS}, confidence=self.confidence)
            if disk_budget_counts not in DISK_BUDGET_COUNTS:
                raise ConfigError(f"disk_budget_counts must be one of {DISK_BUDGET_COUNTS}, got {disk_budget_counts!r}.")
            self.disk_budget_counts = disk_budget_counts
            self.full_accuracy = _number(full_accuracy, "full_accuracy")
            if self.full_accuracy is not None and not 0 < self.full_accuracy <= 1:
                raise ConfigError(
                    f"full_accuracy must be the full network's {self.model.metric} in (0, 1], got {full_accuracy!r}."
                )
            self.recipe = make_recipe(recipe)
            self.device = resolve_device(device)
            self.spatial_dims = int(spatial_dims)
            self.out_channels = int(out_channels)
            self.compare_full = as_bool(compare_full, "compare_full")
            self.export = [str(f).lower() for f in (export or ())]
            unknown = sorted(set(self.export) - set(EXPORT_FORMATS))
            if unknown:
                raise ConfigError(f"export: unknown format(s) {unknown}; known: {list(EXPORT_FORMATS)}.")
            self.complexity = dict(complexity or {})
            self.latency_repeats = int(latency_repeats)
            self.seed = int(seed)
            self.progress = as_bool(progress, "progress")
            self.plot = as_bool(plot, "plot")
            self.int8 = self.constraint["bits_per_weight"] == INT8_BITS
            self.int8_tolerance = _number(int8_tolerance, "int8_tolerance")
            if self.int8_tolerance is None or self.int8_tolerance < 0:
                raise ConfigError(f"int8_tolerance must be a number >= 0 (an F1 difference, e.g. 0.01), got {int8_tolerance!r}.")
            if self.int8:
                from .quantize import require_int8

                require_int8("bits_per_weight 8 (int8 quantisation of the compressed network)")
            self.in_channels = detect_in_channels(self.data["train"])
            if self.netdef is not None:
                self._check_network_def()
            self._check_feasible()

    # ---------------------------------------------------------------------------------------
    # planning

    def _plan_for(self, complexity: Sequence[float], model, **overrides):
        """``plan_compression`` for this configuration; the planner's warnings become log lines."""
        from monai_ccnet.planning import plan_compression

        network = {"network": self.spec} if self.netdef is not None else {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = plan_compression(
                self.arch, complexity, model, widths=self.widths, spatial_dims=self.spatial_dims,
                in_channels=self.in_channels, out_channels=self.out_channels, **network, **{**self.constraint, **overrides},
            )
        return plan, [str(w.message) for w in caught]

    def _check_network_def(self) -> None:
        """The user's network fits this run: dimensions, output channels, image channels, and it
        instantiates and takes the recipe's patch (one forward pass on the meta device)."""
        import torch

        from monai_ccnet.nets.registry import instantiate_on_meta

        spec, source = self.spec, self.netdef.source
        key = self.netdef.key
        if spec.spatial_dims != self.spatial_dims:
            raise ConfigError(
                f"{source}: {key} is {spec.spatial_dims}-D (spatial_dims={spec.spatial_dims}) but this run's spatial_dims "
                f"is {self.spatial_dims}: set spatial_dims {spec.spatial_dims} (--spatial_dims {spec.spatial_dims}), so that "
                "the data are checked, and the synthetic data made, for that network."
            )
        if spec.out_channels != 2:
            raise ConfigError(
                f"{source}: {key}#out_channels is {spec.out_channels}; compress trains and scores background/foreground "
                "(2-channel softmax, the recipe's Dice+CE and F1): set out_channels 2."
            )
        if spec.in_channels != self.in_channels:
            if 1 not in (spec.in_channels, self.in_channels):
                raise ConfigError(
                    f"{source}: {key}#in_channels is {spec.in_channels} but the images have {self.in_channels} channels "
                    "(grey images can be repeated and colour turned grey, nothing else)."
                )
            logger.info(f"the images have {self.in_channels} channel(s), {key} takes {spec.in_channels}: the recipe "
                        + ("repeats grey images" if self.in_channels == 1 else "turns colour images grey (luma)"))
            self.in_channels = spec.in_channels
        self.out_channels = spec.out_channels
        if len(self.recipe["patch_size"]) != spec.spatial_dims:
            raise ConfigError(f"recipe patch_size {self.recipe['patch_size']} must give {spec.spatial_dims} sizes for the "
                              f"{spec.spatial_dims}-D network of {source}.")
        kwargs = spec.constructor_kwargs()
        try:
            network = instantiate_on_meta(spec.architecture.network_class, kwargs)
        except Exception as err:  # noqa: BLE001 - whatever the constructor raised: one line
            raise ConfigError(f"{source}: {key} does not instantiate: {spec.architecture.target}(...) raised "
                              f"{type(err).__name__}: {_first_line(err)}") from None
        shape = (1, spec.in_channels, *[int(p) for p in self.recipe["patch_size"]])
        try:
            with torch.no_grad():
                network.eval()(torch.empty(shape, device="meta"))
        except Exception as err:  # noqa: BLE001 - the network's own input rule
            raise ConfigError(
                f"{source}: {key} ({spec.architecture.target}) refuses the recipe's patch {list(shape[2:])} "
                f"({type(err).__name__}: {_first_line(err)}); set recipe#patch_size to sizes it takes "
                "(e.g. multiples of its total stride)."
            ) from None

    def _check_feasible(self) -> None:
        """Can any network meet the constraint? Answered before the images are measured: the
        smallest network's size and the constraint values do not depend on the complexity, so a
        plan with a neutral model (the same slope at every stage) raises the planner's own errors."""
        from monai_ccnet.planning import DegradationModel

        neutral = DegradationModel(lam=0.0, delta=0.1, metric=self.model.metric, measure=self.model.measure,
                                   arch=self.model.arch)  # no spread: feasibility ignores confidence
        _, messages = self._plan_for([0.0] * len(self.widths), neutral)
        for message in dict.fromkeys(messages):  # e.g. "calibrated for 'unet'; planning 'ucunet' with it": once, as a log line
            logger.warning(message)
        self.fit_files = self._fit_files()
        if self.fit_files:  # the files have a fixed part (TorchScript code, containers): can the smallest fit?
            smallest = self._smallest_widths()
            sizes = self._file_sizes(smallest, [1, self.in_channels, *self.recipe["patch_size"]])
            kind, largest = max(sizes.items(), key=lambda kv: kv[1])
            if largest > self.constraint["disk_budget_mb"] * MB:
                raise ConfigError(
                    f"a disk budget of {self.constraint['disk_budget_mb']:g} MB cannot hold the exported files: even the "
                    f"smallest {self.arch} (widths {'-'.join(map(str, smallest))}) writes a {_FILE_NAMES[kind]} of "
                    f"{largest:,} bytes; raise "
                    f"disk_budget_mb to at least {largest / MB:.4g}, export fewer formats, or set disk_budget_counts: weights "
                    "(count the weights only)."
                )

    def _smallest_widths(self) -> list[int]:
        """The smallest network the planner may plan: every stage at the planner's narrowest (2
        channels, 1 with ``allow_extrapolation``), rounded up to what the network_def's constraints allow."""
        narrowest = 1 if self.constraint["allow_extrapolation"] else MIN_STAGE_WIDTH
        smallest = [min(w, narrowest) for w in self.widths]
        return list(self.spec.snap(smallest, up=True)) if self.netdef is not None else smallest

    def _weights(self, widths: Sequence[int]) -> int:
        """The weights the planner counts (conv + linear weights without biases): the accounting for
        our networks, the registry (the module built on the meta device) for a network_def."""
        if self.netdef is not None:
            return self.spec.weights(widths)
        return total_weights(self.arch, widths, self.spatial_dims, self.in_channels, self.out_channels)

    def _fit_files(self) -> bool:
        """Whether the exported files must fit the disk budget (``disk_budget_counts`` "files"; 32-bit
        weights: the float files, 8-bit: the int8 file)."""
        if self.constraint["disk_budget_mb"] is None or self.disk_budget_counts != "files":
            return False
        if self.constraint["bits_per_weight"] not in (32, INT8_BITS):
            logger.warning(
                f"disk_budget_counts 'files' needs bits_per_weight 32 or 8 (the float32 or int8 files), got "
                f"{self.constraint['bits_per_weight']:g}: the budget counts the weights at that precision only."
            )
            return False
        return True

    def plan(self, **overrides):
        """Complexity of the training split + the plan; raises ConfigError on an infeasible constraint.

        ``overrides``: constraint keys replacing the configured ones (e.g. a lower ``disk_budget_mb``).
        """
        from monai_ccnet.planning import complexity_from_report

        model = self.probe_model() if self.predictor == "probe" else self.model
        measures = set(component_measures(model.measure))
        report = measure_complexity(
            self.data["train"],
            scales=len(self.widths),
            cache_file=self.output_dir / "complexity.json",
            progress=self.progress,
            **{"measures": sorted(measures), **self.complexity},
        )
        with config_errors():
            complexity = complexity_from_report(report.to_dict(), model, len(self.widths))
            if self.confidence is not None:
                overrides = {"confidence": self.confidence, **overrides}
            plan, _ = self._plan_for(complexity, model, **overrides)  # warnings were logged by _check_feasible
            if not plan.satisfied:
                raise ConfigError(
                    f"infeasible constraint {plan.constraint}: the closest plan {plan.widths} does not meet it."
                )
        return plan, model

    def probe_model(self):
        """Train (or resume) the probe on this dataset and return its degradation model."""
        from monai_ccnet.planning import load_degradation as load

        from .probe import Probe

        if getattr(self, "_probe_model", None) is None:
            # the probe trains with the prior calibration's recipe (its curve must match the prior's);
            # a prior that records none (a hand-made model) gets this run's recipe
            recipe = (self.model.provenance or {}).get("recipe") or self.recipe
            network = {"network": self.spec} if self.netdef is not None else {"arch": self.arch}
            probe = Probe(self.data, str(self.output_dir / "probe"), prior=self.model, recipe=recipe,
                          target_widths=self.widths, level=self.constraint["interval_level"], device=self.device,
                          spatial_dims=self.spatial_dims, out_channels=self.out_channels, progress=self.progress,
                          plots=self.plot, workers=self.probe_workers, **network)
            summary = probe.run()
            self._probe_model = load(summary["files"]["degradation"])
            self.degradation_source = f"probe of this dataset ({summary['files']['probe']}; prior {self.degradation_source})"
        return self._probe_model

    def _files_fit(self, plan, shape: Sequence[int]):
        """For ``disk_budget_counts="files"``: the plan of the largest weight budget whose exported
        files all fit the disk budget (the files add a part that grows with the widths, e.g.
        TorchScript's code, and a fixed part). The planner's own monotone search
        (:func:`monai_ccnet.planning.search.boundary`) runs over the weight budget in MB, between the
        smallest plannable network (its files fit: checked by ``_check_feasible``) and ``plan``.
        Returns (plan, file sizes)."""
        limit = self.constraint["disk_budget_mb"] * MB
        sizes = self._file_sizes(plan.widths, shape)
        if max(sizes.values()) <= limit:
            return plan, sizes
        plans = functools.lru_cache(maxsize=None)(lambda t: self.plan(disk_budget_mb=t)[0])
        file_sizes = functools.lru_cache(maxsize=None)(lambda widths: self._file_sizes(widths, shape))

        def widths_at(t: float) -> tuple:
            return tuple(plans(t).widths)

        def excess(t: float) -> float:  # close to linear in t: a file is the weights plus a slowly growing rest
            return math.log(max(file_sizes(widths_at(t)).values()) / limit)

        model = self.probe_model() if self.predictor == "probe" else self.model
        smallest = min_plan_weights(self._weights(self._smallest_widths()), model, self.constraint["allow_extrapolation"])
        # (a hair above the smallest count, so that float rounding of MB cannot put it below the planner's limit)
        lo, hi = disk_bytes(smallest, self.constraint["bits_per_weight"]) / MB * (1 + 1e-9), plan.disk_bytes / MB
        if excess(lo) > 0:  # only a probe's narrowest measured network can be too large here
            raise ConfigError(
                f"a disk budget of {self.constraint['disk_budget_mb']:g} MB cannot hold the exported files of the smallest "
                f"network the planner may plan ({smallest:,} weights, widths {'-'.join(map(str, widths_at(lo)))}: "
                f"{max(file_sizes(widths_at(lo)).values()):,} bytes); raise disk_budget_mb, allow_extrapolation, or set "
                "disk_budget_counts: weights."
            )
        t = boundary(widths_at, excess, lo, hi, bisect_every=3)
        return plans(t), file_sizes(widths_at(t))

    def _file_sizes(self, widths: Sequence[int], shape: Sequence[int]) -> dict[str, int]:
        """Bytes of each exported file the budget counts, for an (untrained: same size) network of
        ``widths``; with ``bits_per_weight`` 8, the int8 file (quantised on random inputs: its size
        does not depend on the calibration)."""
        if self.int8:  # with INT8_SIZE_SLACK bytes of room: the trained network's ranges may add a few bytes
            from .quantize import INT8_SIZE_SLACK, int8_file_bytes

            try:
                return {"int8": int8_file_bytes(self._network(widths), shape) + INT8_SIZE_SLACK}
            except Exception as err:  # noqa: BLE001 - before training: one line, not a traceback
                raise ConfigError(
                    f"bits_per_weight 8: the {self.arch} network (widths {'-'.join(map(str, widths))}) does not quantise "
                    f"to int8 with ONNX Runtime ({type(err).__name__}: {_first_line(err)}); use bits_per_weight 32."
                ) from None
        with tempfile.TemporaryDirectory() as folder:
            failed: dict[str, str] = {}
            files = export_network(self._network(widths), shape, folder, formats=self.export, errors=failed)
            if failed:  # before training: one line, not a traceback
                raise ConfigError(
                    f"disk_budget_counts 'files': the {self.arch} network (widths {'-'.join(map(str, widths))}) does not "
                    f"export to {', '.join(sorted(failed))} ({'; '.join(failed.values())}); leave that format out of "
                    "export, or count the weights (disk_budget_counts 'weights')."
                )
            return {kind: os.path.getsize(path) for kind, path in files.items()}

    # ---------------------------------------------------------------------------------------
    # training and measuring

    def _network(self, widths: Sequence[int]):
        set_determinism(seed=self.seed)
        if self.netdef is not None:
            return self.spec.build(widths)
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
        weights = self._weights(widths)
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
        shape = [1, self.in_channels, *self.recipe["patch_size"]]
        plan, model = self.plan()
        fit_files = self.fit_files
        if fit_files:
            plan, _ = self._files_fit(plan, shape)
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

        files = {"plan": str(models_dir / "plan.json")}
        # a failed export (conversion or its output check) costs that file only, not the trained
        # network (models/model.pt is written first) nor the report, which names what failed
        export_errors: dict[str, str] = {}
        files.update(export_network(compressed, shape, models_dir, formats=self.export, errors=export_errors))
        int8 = None
        if self.int8:
            int8 = self._quantize(compressed, models_dir, compressed_info, export_errors)
            if int8.get("file"):
                files["int8"] = int8["file"]
        sizes = {kind: os.path.getsize(path) for kind, path in files.items() if kind in _FILE_NAMES}
        report = self._report(plan, model, compressed_info, full_info, files, sizes, fit_files)
        report["export_errors"] = export_errors or None
        if int8 is not None:
            report["int8"] = int8
        if self.netdef is not None:
            report["network_def"] = self._network_def_report(plan, model)
            report["files"]["network_def"] = report["network_def"]["override"]
            report["predicted"]["count"] = report["network_def"]["prediction_count"]

        report_file = self.output_dir / "report.json"
        report["files"]["report"] = str(report_file)
        report["files"]["markdown"] = str(self.output_dir / "report.md")
        if self.plot:
            from .plots import plot_compression

            figure = plot_compression(report, self._pareto(plan, model), self.output_dir / "report.png")
            if figure is not None:
                report["files"]["plot"] = str(figure)
        atomic_write_json(report_file, _finite(report))

        from .markdown import compress_markdown

        atomic_write_text(self.output_dir / "report.md", compress_markdown(report))
        print(f"compress report: {report_file} (Markdown: {self.output_dir / 'report.md'})")
        if self.netdef is not None:
            print(f"network_def override written to {report['network_def']['override']}; train the planned network "
                  f"with: {report['network_def']['train_command']}")
        for kind, why in export_errors.items():
            print(f"{kind} export failed (the report's export_errors; models/model.pt holds the network): {why}")
        if int8 is not None and int8.get("note"):
            print(f"int8: {int8['note']}")
        return report

    def _quantize(self, network, models_dir: Path, float_info: Mapping, errors: dict) -> dict:
        """The int8 network: quantised, scored, timed and checked (:func:`~monai_ccnet.workflows.quantize.int8_step`);
        a failure is one line in ``errors["int8"]`` and costs nothing else."""
        import torch

        from .quantize import int8_step

        budget = self.constraint["disk_budget_mb"] * MB if self.constraint["disk_budget_mb"] is not None else None
        section = int8_step(network, self.data["train"], self.data["test"], self.recipe, self.in_channels, models_dir,
                            float_info, tolerance=self.int8_tolerance, budget_bytes=budget,
                            latency_repeats=self.latency_repeats, threads=torch.get_num_threads(), seed=self.seed,
                            errors=errors)
        if self.netdef is not None:  # the accounting models our architectures' files, not a network_def's
            section.pop("planned_bytes", None)
        return section

    # ---------------------------------------------------------------------------------------
    # the report

    def _network_def_report(self, plan, model) -> dict:
        """What the report says about the user's network: the block, the original and planned width
        argument and counts, the override written and the command that trains it, and which weight
        count the prediction used."""
        from monai_ccnet.nets.network_def import write_network_def
        from monai_ccnet.planning.network_plan import training_command

        spec, netdef = self.spec, self.netdef
        arg = spec.architecture.widths.arg
        override = write_network_def(netdef, plan.widths, self.output_dir)

        def side(widths):
            counts = spec.counts(widths)
            return {arg: spec.values(widths)[arg], "widths": list(widths), "weights": counts.weights,
                    "parameters": counts.parameters}

        return {
            "source": netdef.source,
            "key": netdef.key,
            "target": netdef.block["_target_"],
            "architecture": spec.name,
            "class": spec.architecture.target,
            "width_argument": arg,
            "original": side(self.widths),
            "planned": side(plan.widths),
            "override": str(override),
            "train_command": training_command(netdef.config_path, override),
            "prediction_count": self._prediction_count(plan, model),
        }

    def _prediction_count(self, plan, model) -> str:
        """Which weight count the degradation model's prediction read, in one sentence."""
        if model.form == "linear":
            return (f"the linear form (Eq. 3) predicts from the per-stage width ratios (planned / original), not from a "
                    f"weight count; it applies to the {self.arch} widths as to ours")
        if model.arch == self.spec.name:  # a probe of this very network: its curve is in the registry's weights
            return (f"the {model.form} form reads log10(weights) of the network it was measured on, this {self.arch} "
                    f"(the registry count: {plan.weights:,} planned, {self._weights(self.widths):,} original), the same "
                    "count as the budget and the weights reported here")
        counts = dict(spatial_dims=self.spatial_dims, in_channels=self.in_channels, out_channels=self.out_channels)
        ours = total_weights(model.arch, plan.widths, **counts) if model.arch else None
        ours_base = total_weights(model.arch, self.widths, **counts) if model.arch else None
        return (f"the {model.form} form reads log10(weights) of the architecture it was calibrated on, {model.arch!r}, at "
                f"these widths ({ours:,} planned, {ours_base:,} original): a proxy, not the {self.arch} registry count "
                f"({plan.weights:,} planned, {self._weights(self.widths):,} original) that the budget and the weights "
                "reported here use" if ours is not None else
                f"the {model.form} form reads log10(weights) of an unnamed architecture's accounting at these widths")

    def _pareto(self, plan, model) -> list[dict]:
        from monai_ccnet.planning import pareto_table

        # a network_def's curve: uniform only (its registry counts and constraints), as before
        network = {"network": self.spec, "layerwise": False} if self.netdef is not None else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an arch / model mismatch was logged once by _check_feasible
            return pareto_table(
                self.arch, plan.complexity, model, widths=self.widths, spatial_dims=self.spatial_dims,
                in_channels=self.in_channels, out_channels=self.out_channels, bits_per_weight=plan.bits_per_weight,
                interval_level=self.constraint["interval_level"], **network,
            )

    def _mismatch(self, model) -> str | None:
        """One line when the model was calibrated with another recipe or base widths than this run's."""
        provenance = model.provenance or {}
        notes = []
        if provenance.get("recipe"):
            theirs, ours = _recipe_signature(provenance["recipe"]), _recipe_signature(self.recipe)
            differ = {k: (theirs[k], ours[k]) for k in theirs if theirs[k] != ours[k]}
            if differ:
                notes.append("recipe " + ", ".join(f"{k} {a} (calibration) vs {b} (here)" for k, (a, b) in differ.items()))
        if provenance.get("base_widths") and list(provenance["base_widths"]) != list(self.widths):
            why = ("the saturating form counts absolute weights, so it still applies, but accuracy was never measured "
                   "at these widths" if model.form == "saturating" else "the linear form is relative to the base network")
            notes.append(f"base widths {provenance['base_widths']} (calibration) vs {self.widths} (here): {why}")
        if not notes:
            return None
        line = "the degradation model was calibrated differently from this run: " + "; ".join(notes) + "."
        logger.warning(line)
        return line

    def _reference(self, full_info: Mapping) -> dict:
        """The full network's accuracy and where it comes from (None when unknown)."""
        metric = self.model.metric
        if full_info.get(metric) is not None:
            if self.full_accuracy is not None:
                logger.info(f"compare_full measured the full network's {metric}; full_accuracy {self.full_accuracy} is not used.")
            return {"accuracy": full_info[metric], "source": "compare_full: the full network trained and tested here"}
        if self.full_accuracy is not None:
            return {"accuracy": self.full_accuracy, "source": "full_accuracy (given in the configuration)"}
        return {"accuracy": None, "source": None}

    def _report(self, plan, model, comp: dict, full: dict, files: dict, sizes: dict, fit_files: bool) -> dict:
        metric = model.metric
        reference = self._reference(full)
        full_acc = reference["accuracy"]
        rel = plan.predicted_relative_accuracy
        # absolute predictions need a reference: the full network's measured accuracy, else the
        # probe's measurement of the full network (then predicted and achieved compare in absolute units)
        anchor = full_acc or model.reference_accuracy
        predicted = {"metric": metric, "relative_accuracy": rel, metric: rel * anchor if anchor else None,
                     "interval_level": plan.interval_level,
                     "relative_interval": plan.predicted_interval,
                     f"{metric}_interval": [v * anchor for v in plan.predicted_interval]
                     if anchor and plan.predicted_interval else None,
                     "absolute_from": ("the full network's accuracy" if full_acc else
                                       "the probe's full network" if anchor else None)}
        comp[f"relative_{metric}"] = comp[metric] / full_acc if full_acc else None
        c = plan.constraint
        goal = self.goal  # the configured constraint (a files-fit search may have planned with a lower weight budget)
        int8_counted = fit_files and self.int8
        if goal.kind == "disk":
            counts = ("the int8 file models/model.int8.onnx as written (the float32 files are the fallback, not counted)"
                      if int8_counted else "every exported file (model.pt, model.ts, model.onnx as written)" if fit_files
                      else None)
            budget = {**goal.budget(counts), "disk_budget_counts": "files" if fit_files else "weights",
                      "planned_weights_mb": c["value"]}
        else:
            budget = goal.budget(metric=metric)
        prediction = goal.prediction_checks(plan)
        if int8_counted and self.netdef is None:  # the accounting models our architectures' files
            from .quantize import planned_int8_bytes

            prediction.append(limit_check("int8 file (accounting)", planned_int8_bytes(self._network(plan.widths)) / MB,
                                          budget["value_mb"], "MB"))
        measurement = goal.measurement_checks(
            {_FILE_NAMES[kind]: size for kind, size in sizes.items()},
            counted=lambda name: not int8_counted or name == _FILE_NAMES["int8"],
            relative_accuracy=comp[f"relative_{metric}"] if full_acc else None, metric=metric,
        )
        judged = None
        if not full_acc and model.reference_accuracy:
            name = {"f1": "F1", "iou": "IoU"}.get(metric, metric)
            judged = (
                f"Judged in absolute {name}: predicted {rel * model.reference_accuracy:.4g} (from the probe's full network, "
                f"{model.reference_accuracy:.4g}) against {comp[metric]:.4g} achieved. Relative values need the full "
                "network's accuracy (compare_full: true or full_accuracy)."
            )
        elif not full_acc:
            name = {"f1": "F1", "iou": "IoU"}.get(metric, metric)
            judged = (
                f"The prediction cannot be checked: the full network's {name} is unknown, so the achieved {name} "
                f"{comp[metric]:.4g} cannot be put relative to it (nor the predicted relative {name} {rel:.4g} made "
                f"absolute). Set full_accuracy: <the full network's {name}> or compare_full: true."
            )
        return {
            "dataset": self.data.get("name"),
            "arch": self.arch,
            "constraint": c,
            "budget": budget,
            "satisfied": plan.satisfied,
            "checks": {"prediction": prediction, "measurement": measurement},
            "layerwise": plan.layerwise,
            "complexity": plan.complexity,
            "degradation": {"metric": metric, "measure": model.measure, "form": model.form, **model.params,
                            "arch": model.arch, "source": self.degradation_source, "predictor": self.predictor},
            "caveat": prediction_caveat(model),
            "extrapolation": _extrapolation_line(plan),
            "calibration_mismatch": self._mismatch(model),
            "reference": reference,
            "predicted": predicted,
            "achieved": {metric: comp[metric], f"relative_{metric}": comp[f"relative_{metric}"]},
            "cannot_judge": judged,
            "compressed": comp,
            "full": full,
            "compression": {
                "weights_ratio": full["weights"] / comp["weights"],
                "speedup": full["latency_ms"] / comp["latency_ms"] if comp["latency_ms"] > 0 else None,
            },
            "recipe": self.recipe,
            "device": str(self.device),
            "files": files,
            "file_bytes": {_FILE_NAMES[k]: v for k, v in sizes.items()},
        }


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _extrapolation_line(plan) -> str | None:
    """One line when the plan lies outside what its predictions were measured on, else None."""
    out = plan.extrapolation
    if not out:
        return None
    parts = []
    if out.get("narrow_stages"):
        parts.append(f"stage(s) {out['narrow_stages']} have fewer than 2 channels")
    if out.get("decades_below_measured"):
        parts.append(f"{out['decades_below_measured']:.2f} decades of weights below the smallest measured network")
    return "the plan extrapolates (allow_extrapolation): " + "; ".join(parts) + "; its prediction is not a measurement"


def _recipe_signature(recipe: Mapping) -> dict:
    # what changes accuracy between a calibration and this run (loading details do not)
    keys = ("patch_size", "image_size", "num_samples", "batch_size", "max_epochs", "epoch_length", "learning_rate", "loss")
    return {k: recipe.get(k) for k in keys}


def _number(value, name: str) -> float | None:
    """A configuration number (command-line overrides may arrive as text); None stays None."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, got {value!r}.")
    return number


def _finite(obj):
    """JSON has no NaN / inf: such values become None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
