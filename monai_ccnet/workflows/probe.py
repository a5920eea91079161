"""The probe (docs/method.md §7.3): a dataset's own accuracy-vs-width curve, measured.

Complexity alone did not predict how accuracy falls with width on this project's real data
(docs/RESULTS.md), and a curve fitted through small widths alone extrapolated the full network's
accuracy too low on new datasets. So the probe trains the user's full (base) network once and
stage-0 widths 4 and 2 of it twice (the real-data calibration's recipe), and interpolates
between them (:mod:`monai_ccnet.planning.probe`: the statistics live there; this module runs the
trainings). It predicts every width between its networks with an interval and a one-sided bound
for one trained network, and saves a degradation model of the ``measured`` form that the planner
takes like any other; the planner stays inside the measured widths unless told otherwise.

**The user's own network** (``network``: a MONAI bundle's ``network_def``, or any entry of
:mod:`monai_ccnet.nets.registry`): the probe trains that network, its widths scaled by the probe's
multipliers and moved to the nearest widths its constraints allow (e.g. SegResNet's GroupNorm
groups; ``probe.json`` says what was trained), and counts weights as the registry does, so the
measured curve and the plans made from it are in that network's own weights.

Runs are :class:`~monai_ccnet.workflows.calibrate.CalibrationSweep` runs (each saved at once;
a rerun resumes), trained in one-thread worker processes. A probe whose full network trained
nothing, that has no replicate runs, or whose seeds disagree too much says so in
``probe.json`` (``status: "unreliable"``, ``reason``) and writes no model.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from monai_ccnet.accounting import resolve_widths
from monai_ccnet.errors import ConfigError, config_errors
from monai_ccnet.planning import probe as stats
from monai_ccnet.utils import atomic_write_json, save_figure

from .calibrate import CalibrationSweep, run_key

__all__ = ["Probe", "PROBE_MULTIPLIERS", "ProbeUnreliable", "label_trivial_f1", "probe_model", "network_spec"]

logger = logging.getLogger(__name__)

#: the full network and stage-0 widths 4, 2 of a base-16 U-Net: the full network anchors every
#: relative prediction, and widths 4 -> 2 are where the real datasets' curves fell
PROBE_MULTIPLIERS = (1.0, 0.25, 0.125)


def label_trivial_f1(items: Sequence[Mapping]) -> float:
    """Eq. P0 on a split's labels: the F1 of the best constant mask (all foreground), averaged
    over the images with foreground - the score below which a trained network learned nothing."""
    from monai.transforms import LoadImage

    load = LoadImage(image_only=True)
    fractions = []
    for item in items:
        label = np.asarray(load(item["label"]))
        fractions.append(float(np.mean(label > 0)))
    return stats.trivial_f1(fractions)


def probe_model(curve: Mapping, arch: str, metric: str, reference_accuracy: float, provenance: Mapping):
    """A measured curve as a :class:`~monai_ccnet.planning.DegradationModel` (``measured`` form)."""
    from monai_ccnet.planning import DegradationModel

    return DegradationModel(form="measured", curve=dict(curve), metric=metric, measure="jpeg", arch=arch,
                            n_datasets=1, n_points=int(sum(curve["n"])), reference_accuracy=float(reference_accuracy),
                            provenance=dict(provenance))


def network_spec(network: Any, key: str = "network_def"):
    """A registry :class:`~monai_ccnet.nets.registry.NetworkSpec` from a spec, a
    :class:`~monai_ccnet.nets.network_def.NetworkDef` or what
    :func:`~monai_ccnet.nets.network_def.read_network_def` reads (a bundle config path, a dict).

    Raises:
        ConfigError: an unreadable file, an unregistered class, widths that break a constraint (one line).
    """
    from monai_ccnet.nets.network_def import NetworkDef, read_network_def
    from monai_ccnet.nets.registry import NetworkSpec

    if isinstance(network, NetworkSpec):
        return network
    if isinstance(network, NetworkDef):
        return network.spec
    try:
        return read_network_def(network, key=key).spec
    except ValueError as err:
        raise ConfigError(str(err)) from None


class ProbeUnreliable(ConfigError):
    """The probe's runs cannot support a prediction (the message says why); a bundle run ends
    with that one line, like any bad input."""


class Probe(CalibrationSweep):
    """Train the full network and a few narrower ones on one dataset and measure its own curve.

    Args:
        data: the dataset, as :func:`~monai_ccnet.workflows.bundle_data` returns it
            (``{"name", "train", "test", ...}``), or a folder in the common layout.
        output_dir: where ``runs/``, ``probe.json``, ``degradation.json`` and ``probe.png`` go.
        prior: the real-data calibration (a :class:`DegradationModel`, its preset name or file):
            its recipe and base widths are the probe's unless ``recipe`` / ``widths`` are given,
            and its seed noise (``spread["seed_sd"]``) is the prior of the probe's (Eq. P2).
        multipliers: of the base widths, the probe's networks (default: the full network and
            stage-0 widths 4, 2 of base 16).
        seeds: per narrower width (>= 2: replicate runs measure the seed noise).
        base_seeds: of the full network (multiplier 1), default one.
        target_widths: the full network the user will plan from (default: the base widths).
        network: train the user's own network instead of ``arch`` / ``widths`` / the prior's base
            widths: a registry ``NetworkSpec``, a ``NetworkDef``, or a bundle config / network_def
            file or dict (:func:`network_spec`). Its widths x ``multipliers`` are snapped to its
            constraints (networks that coincide are trained once); weights are the registry's
            counts. Its ``spatial_dims`` must be this probe's and its ``out_channels`` 2.
        network_def_key: the config key of the block in a ``network`` file.
        level: interval level.
        workers: one-thread training processes (default 2: one per core of a 2-core CPU).
        Remaining arguments are :class:`CalibrationSweep`'s.
    """

    min_datasets = 1
    needs_full_width = False

    @config_errors()
    def __init__(
        self,
        data: Mapping | str,
        output_dir: str,
        prior: Any = "unet-f1-cpu",
        arch: str | None = None,
        widths: Sequence[int] | None = None,
        multipliers: Sequence[float] = PROBE_MULTIPLIERS,
        seeds: Sequence[int] = (0, 1),
        base_seeds: Sequence[int] = (0,),
        recipe: Mapping | None = None,
        target_widths: Sequence[int] | None = None,
        level: float = 0.9,
        metric: str = "f1",
        workers: int = 2,
        device: Any = "auto",
        spatial_dims: int = 2,
        out_channels: int = 2,
        progress: bool = True,
        plots: bool = True,
        network: Any = None,
        network_def_key: str = "network_def",
    ):
        from monai_ccnet.planning import load_degradation

        if network is not None:
            self.network = network_spec(network, network_def_key)
            if self.network.spatial_dims != int(spatial_dims):
                raise ConfigError(
                    f"the probe's network ({self.network.name}) is {self.network.spatial_dims}-D but spatial_dims is "
                    f"{spatial_dims}: set spatial_dims {self.network.spatial_dims} (the data are read for it).")
            if self.network.out_channels != int(out_channels):
                raise ConfigError(f"the probe's network ({self.network.name}) has out_channels {self.network.out_channels}; "
                                  f"the recipe trains and scores {out_channels} classes (background/foreground): set it to {out_channels}.")

        self.prior = load_degradation(prior)
        if len(seeds) < 2:
            raise ValueError(f"a probe needs >= 2 seeds per narrower width to measure the seed noise, got {list(seeds)}.")
        if not base_seeds:
            raise ValueError("base_seeds must list at least one seed (the full network anchors every prediction).")
        provenance = self.prior.provenance or {}
        if isinstance(data, (str, Path)):
            from .inputs import bundle_data

            data = bundle_data(dataset_dir=str(data), spatial_dims=spatial_dims)
        self._given = {"train": list(data["train"]), "test": list(data["test"]),
                       "dataset_dir": str(data.get("dataset_dir") or data.get("name") or "probe")}
        self.name = str(data.get("name") or "probe")
        self.metric = metric
        self.level = float(level)
        self.base_seeds = [int(s) for s in base_seeds]
        super().__init__(
            datasets={self.name: self._given["dataset_dir"]},
            output_dir=output_dir,
            arch=arch or self.prior.arch,
            widths=widths or provenance.get("base_widths") or (16, 32, 64, 128, 256),
            multipliers=multipliers,
            seeds=seeds,
            recipe=recipe if recipe is not None else provenance.get("recipe"),
            device=device,
            spatial_dims=spatial_dims,
            out_channels=out_channels,
            fit_measures={},
            complexity={"measures": ["jpeg", "foreground"]},
            bootstrap=0,
            workers=workers,
            progress=progress,
            plots=plots,
        )
        self.target_widths = list(resolve_widths(target_widths or self.widths))
        if self.network is not None:
            try:
                self.network.architecture.check(self.network.kwargs, self.target_widths)
            except ValueError as err:
                raise ConfigError(f"target_widths: {err}") from None
        probe_widths = list(self.probe_networks.values())
        collapsed = len(probe_widths) < len(self.multipliers)
        if (collapsed and self.network is None) or len(probe_widths) < 2 or min(w[0] for w in probe_widths) < 2:
            snapped = f" (snapped to {self.network.name}'s constraints)" if self.network is not None else ""
            raise ConfigError(
                f"the probe's multipliers {self.multipliers} of base widths {self.widths} give widths "
                f"{[list(self._widths_at(m)) for m in sorted(self.multipliers, reverse=True)]}{snapped}: they must be "
                "distinct networks with stage-0 widths >= 2 (width-1 networks collapse too often to be measured); use "
                "larger base widths or other multipliers."
            )
        if collapsed:
            logger.info(f"probe of {self.network.name}: multipliers {self.multipliers} give {len(probe_widths)} distinct "
                        f"networks once snapped to its constraints: {probe_widths}")

    @property
    def probe_networks(self) -> dict[float, list[int]]:
        """Multiplier -> the widths it trains, widest first; for a registered network snapped to its
        constraints, multipliers that land on the same network being one network (under the first)."""
        networks: dict[float, list[int]] = {}
        for m in sorted(self.multipliers, reverse=True):
            widths = list(self._widths_at(m))
            if widths not in networks.values():
                networks[m] = widths
        return networks

    def runs(self) -> list[dict]:
        """The probe's trainings, the full network first (the longest: it starts while the others run)."""
        return [{"key": run_key(self.name, m, s), "dataset": self.name, "multiplier": m, "seed": s, "widths": widths}
                for m, widths in self.probe_networks.items() for s in self.seeds_of(m)]

    def seeds_of(self, multiplier: float) -> list[int]:
        """The seeds a probe network trains: ``base_seeds`` for the full network, ``seeds`` for the
        others - and where snapping merged k narrower multipliers into one network, k times as many
        (the next seeds): the probe keeps its number of trainings and its replicate runs, which
        measure the seed noise."""
        if math.isclose(multiplier, 1.0):
            return list(self.base_seeds)
        widths = self.probe_networks[multiplier]
        merged = sum(1 for m in self.multipliers if not math.isclose(m, 1.0) and list(self._widths_at(m)) == widths)
        extra = [max(self.seeds) + 1 + i for i in range(len(self.seeds) * (merged - 1))]
        return list(self.seeds) + extra

    def _load(self, name: str, folder: str, spatial_dims: int | None = None) -> dict:
        return self._given

    def _check_complexities(self, complexity: Mapping[str, Mapping]) -> None:
        return None  # one dataset: there is no fit across complexities to protect

    # ------------------------------------------------------------------------------------ fit
    def fit(self, records: list[dict]) -> dict:
        """Measure the curve and save ``probe.json`` (+ ``degradation.json``, ``probe.png``).

        Raises:
            ProbeUnreliable: the full network trained nothing, no width has replicate runs, or
                the seeds disagree by more than ``planning.probe.MAX_NOISE`` (``probe.json`` says so too).
        """
        out = self.output_dir
        clean = [{k: v for k, v in r.items() if k != "config"} for r in records]
        atomic_write_json(out / "records.json", clean)
        trivial = label_trivial_f1(self._given["test"]) if self.metric == "f1" else 0.0
        prior_noise = (self.prior.spread or {}).get("seed_sd")
        curve = stats.measured_curve(clean, trivial, prior_noise=prior_noise, metric=self.metric)
        reason = stats.unreliable_reason(curve)
        in_channels = self._channels()
        x_target = math.log10(self._count_weights(self.target_widths, in_channels))
        result: dict[str, Any] = {
            "dataset": self.name, "metric": self.metric, "arch": self.arch,
            "complexity": {"jpeg": float(clean[0]["complexity"]["jpeg"][0])},
            "probe_widths": [list(w) for w in self.probe_networks.values()],
            "network": self._network_section(),
            "seeds": self.seeds, "base_seeds": self.base_seeds, "recipe": self.recipe,
            "prior": {"model": (self.prior.provenance or {}).get("name", "calibration"), "seed_sd": prior_noise},
            "trivial_f1": trivial,
            "runs": [{"widths": r["widths"], "weights": r["weights"], "seed": r["seed"], self.metric: r[self.metric],
                      "seconds": r["seconds"]} for r in clean],
            "failed_runs": [{"weights": w, "seeds": f} for w, f in zip(curve["weights"], curve["failed"]) if f],
            "curve": curve,
            "train_seconds": round(sum(r["seconds"] for r in clean), 1),
        }
        if reason is not None:
            result.update(status="unreliable", reason=reason)
            atomic_write_json(out / "probe.json", result)
            raise ProbeUnreliable(f"probe of {self.name!r} is unreliable: {reason} (see {out / 'probe.json'})")

        full = stats.curve_prediction(curve, x_target)["central"] * curve["full_accuracy"]
        predictions = []
        seen = set()
        for m in (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125):
            widths = list(resolve_widths(self.target_widths, m))
            if self.network is not None:  # the widths its constraints allow; coinciding networks once
                widths = list(self.network.snap(widths))
                if tuple(widths) in seen:
                    continue
                seen.add(tuple(widths))
            weights = self._count_weights(widths, in_channels)
            pred = stats.curve_prediction(curve, math.log10(weights), x_target, level=self.level, extrapolate=True)
            predictions.append({"multiplier": m, "widths": widths, "weights": weights, "relative": pred["central"],
                                "accuracy": pred["central"] * full, "interval": pred["interval"],
                                "extrapolated": pred["extrapolated"]})
        model = probe_model(curve, self.arch, self.metric, full, {
            "source": "monai_ccnet probe", "dataset": self.name, "complexity_jpeg": result["complexity"]["jpeg"],
            "probe_widths": result["probe_widths"], "seeds": self.seeds, "base_seeds": self.base_seeds,
            "recipe": self.recipe, "base_widths": self.widths, "prior": result["prior"]["model"],
            **({"network": self.network.fingerprint()} if self.network is not None else {})})
        model_path = model.save(out / "degradation.json")
        result.update(status="ok", reason=None, full_accuracy=full, level=self.level, target_widths=self.target_widths,
                      predictions=predictions, degradation=str(model_path))
        atomic_write_json(out / "probe.json", result)
        files = {"probe": str(out / "probe.json"), "degradation": str(model_path), "records": str(out / "records.json")}
        if self.plots:
            png = plot_probe(result, out / "probe.png")
            if png:
                files["plot"] = str(png)
        logger.info(f"probe {self.name}: full network {self.metric} {full:.3f}, seed noise {curve['noise']:.4f} "
                    f"(relative s.d., {curve['noise_dof']} dof), trivial {trivial:.3f} ({result['train_seconds']} s of training)")
        print(f"probe finished: full network {self.metric} {full:.3f}; relative {self.metric} at stage-0 widths "
              + ", ".join(f"{p['widths'][0]}: {p['relative']:.3f}" for p in predictions if not p["extrapolated"])
              + f"; {out / 'probe.json'}")
        return {"files": files, "probe": result}

    def _channels(self) -> int:
        from .inputs import detect_in_channels

        if self.network is not None:  # the network's own (the recipe converts grey / colour images)
            return self.network.in_channels
        return detect_in_channels(self._given["train"])

    def _network_section(self) -> dict | None:
        """What ``probe.json`` says about a registered network: its class, width argument, the
        widths each multiplier trained (after snapping) and how weights were counted."""
        if self.network is None:
            return None
        spec = self.network
        arg = spec.architecture.widths.arg
        step, minimum, rules = spec.architecture.rule(spec.kwargs)
        return {
            "architecture": spec.name, "class": spec.architecture.target, "width_argument": arg,
            "base": {arg: spec.values(spec.base_widths)[arg], "widths": list(spec.base_widths)},
            "trained": [{"multiplier": m, arg: spec.values(w)[arg], "widths": list(w), "seeds": self.seeds_of(m),
                         "weights": spec.weights(w), "parameters": spec.parameters(w)}
                        for m, w in self.probe_networks.items()],
            "requested": {str(m): list(resolve_widths(spec.base_widths, m)) for m in sorted(self.multipliers, reverse=True)},
            "constraints": rules or None,
            "weights_counted": "monai_ccnet.nets.registry: conv, transposed-conv and linear weights without biases "
                               "(the paper's theta); parameters = sum(p.numel())",
            "kwargs": spec.fingerprint()["kwargs"],
        }


def plot_probe(result: Mapping, path, marks: Sequence[Mapping] = ()) -> Path | None:
    """Measured probe runs, the interpolated curve and its band, and optional ``marks``
    (``{"weights", "accuracy", "label"}``, e.g. the chosen plan or measured wide networks). Needs matplotlib."""
    from monai.utils import optional_import

    if not optional_import("matplotlib")[1]:
        return None
    from matplotlib.figure import Figure

    curve, level = result["curve"], result["level"]
    full = curve["full_accuracy"]
    grid = np.linspace(curve["x"][0], curve["x"][-1], 120)
    preds = [stats.curve_prediction(curve, x, level=level) for x in grid]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.fill_between(grid, [p["interval"][0] * full for p in preds], [p["interval"][1] * full for p in preds], alpha=0.2,
                    label=f"{level:.0%} interval (one network)")
    ax.plot(grid, [p["central"] * full for p in preds], "-", label="measured curve (interpolated)")
    failed = {(int(f["weights"]), str(seed)) for f in result.get("failed_runs", []) for seed in f["seeds"]}
    for flag, style, label in ((False, "o", "probe runs"), (True, "x", "failed runs (no better than trivial masks)")):
        chosen = [(math.log10(r["weights"]), r[result["metric"]]) for r in result["runs"]
                  if ((int(r["weights"]), str(r["seed"])) in failed) == flag]
        if chosen:
            ax.plot(*zip(*chosen), style, label=label)
    ax.axhline(result.get("trivial_f1", 0.0), color="0.6", linestyle=":", label="trivial masks")
    for mark in marks:
        ax.plot([math.log10(mark["weights"])], [mark["accuracy"]], "*", markersize=10, label=mark.get("label"))
    ax.set_xlabel("log10(weights)")
    ax.set_ylabel(f"test {result['metric']}")
    ax.set_title(f"probe: {result['dataset']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
