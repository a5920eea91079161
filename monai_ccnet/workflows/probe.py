"""The probe (docs/method.md §7.3): a dataset's own accuracy-vs-width curve from its smallest networks.

Complexity alone did not predict how accuracy falls with width on this project's real data
(docs/RESULTS.md), but the narrow networks that carry most of a curve are the cheap ones. A
probe trains the architecture at a few small widths (default stage-0 widths 8, 4 and 2 of the
calibration's base 16, two seeds) with the calibration's recipe, then fits the saturating curve
``A(x) = P * (1 - beta * max(0, knee - x))`` (x = log10 weights) to them, with the real-data
calibration as the prior on the knee and the fall (:func:`~monai_ccnet.planning.forms.fit_probe_curve`).
It predicts the plateau ``P`` (the wide network's accuracy) and every width's absolute and
relative accuracy with an interval, and saves a degradation model the planner takes like any
other (the saturating form: per-stage width vectors count by their weights).

Runs are :class:`~monai_ccnet.workflows.calibrate.CalibrationSweep` runs (each saved at once;
a rerun resumes), trained in one-thread worker processes. A probe whose runs failed, whose
accuracies do not grow with width beyond seed noise, or whose seeds disagree too much says so in
``probe.json`` (``status: "unreliable"``, ``reason``) and writes no model.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from monai_ccnet.accounting import resolve_widths, total_weights
from monai_ccnet.errors import ConfigError, config_errors
from monai_ccnet.utils import atomic_write_json, save_figure

from .calibrate import CalibrationSweep

__all__ = ["Probe", "PROBE_MULTIPLIERS", "ProbeUnreliable", "prior_terms", "probe_points", "fit_probe", "unreliable_reason"]

logger = logging.getLogger(__name__)

#: stage-0 widths 8, 4, 2 of a base-16 U-Net: most of a dataset's curve, and cheap to train
PROBE_MULTIPLIERS = (0.5, 0.25, 0.125)
#: seed noise (s.d. of single runs' accuracy) above which a probe is too noisy to extrapolate
MAX_NOISE = 0.1
#: a width whose median accuracy is below this trained nothing
MIN_ACCURACY = 0.05
#: cap of the calibration refits' contribution to the prior's widths (decades; fall per decade)
MAX_PRIOR_SD = 0.5


def prior_terms(prior, complexity: float) -> dict:
    """The calibration's knee and fall at a dataset's complexity, with their spreads: the
    calibration datasets' own knees around the model (``spread["knee_sd"]``) and the refits'."""
    knee = prior.kappa * complexity + prior.mu
    boots = prior.bootstrap or []
    boot_knees = [b["kappa"] * complexity + b["mu"] for b in boots]
    boot_betas = [b["beta"] for b in boots]
    # the refits' spread is capped: with complexities close together kappa is ill-determined and
    # its refits would swamp the prior; the datasets' own scatter around the model is the width
    knee_sd = math.hypot(float(prior.spread.get("knee_sd", 0.3)), min(MAX_PRIOR_SD, float(np.std(boot_knees))) if boots else 0.0)
    beta_sd = math.hypot(float(prior.spread.get("beta_sd", 0.1)), min(MAX_PRIOR_SD, float(np.std(boot_betas))) if boots else 0.0)
    return {"knee": knee, "knee_sd": max(knee_sd, 0.05), "beta": prior.beta, "beta_sd": max(beta_sd, 0.02)}


def unreliable_reason(curve: Mapping, metric: str = "f1") -> str | None:
    """Why a probe's runs (one dataset of :func:`~monai_ccnet.planning.forms.robust_curves`,
    widest first) cannot support a curve, or None: a width that trained nothing, or accuracy
    falling as the network widens beyond seed noise."""
    rows = curve["widths"]
    dead = [row["widths"][0] for row in rows if not (row["median"] >= MIN_ACCURACY)]
    if dead:
        return (f"training failed at stage-0 width(s) {dead} (median {metric} below {MIN_ACCURACY} over the "
                "seeds that did not collapse); the data may be too small, or the recipe too short for it")
    values = [v for row in rows for v in row["values"].values()]
    noise = max(0.01, float(np.std(values)) / 4)
    widest, narrowest = rows[0]["median"], rows[-1]["median"]
    if widest < narrowest - 2 * noise:
        return (f"accuracy falls as the network widens ({metric} {narrowest:.3f} at width "
                f"{rows[-1]['widths'][0]} vs {widest:.3f} at {rows[0]['widths'][0]}) beyond seed noise: "
                "the probe's widths are not ordered, so there is no curve to extrapolate")
    return None


def probe_points(curve: Mapping) -> tuple[list[float], list[float]]:
    """``(log10 weights, accuracy)`` of every run of a robust curve that did not fail."""
    kept = [(math.log10(row["weights"]), v) for row in curve["widths"]
            for s, v in row["values"].items() if int(s) not in row["failed"]]
    return [x for x, _ in kept], [v for _, v in kept]


def fit_probe(curve: Mapping, prior, complexity: float, metric: str = "f1") -> tuple[dict | None, dict, str | None]:
    """The probe's fit of its runs: ``(fit, prior terms, reason)``; ``fit`` is None and ``reason``
    says why when the runs cannot support a curve (:func:`unreliable_reason`, or seeds that
    disagree by more than ``MAX_NOISE``)."""
    from monai_ccnet.planning.forms import fit_probe_curve

    terms = prior_terms(prior, complexity)
    reason = unreliable_reason(curve, metric)
    if reason is not None:
        return None, terms, reason
    fit = fit_probe_curve(*probe_points(curve), terms)
    if fit["noise"] > MAX_NOISE:
        return None, terms, (f"the seeds disagree by {fit['noise']:.3f} {metric} (s.d.), more than {MAX_NOISE}: "
                             "too noisy to extrapolate; train more seeds or a longer recipe")
    return fit, terms, None


class ProbeUnreliable(ConfigError):
    """The probe's runs cannot support a prediction (the message says why); a bundle run ends
    with that one line, like any bad input."""


class Probe(CalibrationSweep):
    """Train small widths on one dataset and fit its own accuracy curve.

    Args:
        data: the dataset, as :func:`~monai_ccnet.workflows.bundle_data` returns it
            (``{"name", "train", "test", ...}``), or a folder in the common layout.
        output_dir: where ``runs/``, ``probe.json``, ``degradation.json`` and ``probe.png`` go.
        prior: the real-data calibration (a saturating :class:`DegradationModel`, its preset
            name or file) whose knee and fall are the fit's priors; its recipe and base widths
            are the probe's unless ``recipe`` / ``widths`` are given.
        multipliers: of the base widths, the probe's networks (default stage-0 8, 4, 2).
        seeds: per width (>= 2, so failed trainings can be told from narrow networks).
        target_widths: the full network the user will plan from (default: the base widths);
            ``probe.json`` predicts its uniform multipliers.
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
    ):
        from monai_ccnet.planning import load_degradation

        self.prior = load_degradation(prior)
        if self.prior.form != "saturating":
            raise ValueError(
                f"the probe's prior must be a saturating degradation model (a real-data calibration such as "
                f"'unet-f1-cpu'), got the {self.prior.form!r} form."
            )
        if len(seeds) < 2:
            raise ValueError(f"a probe needs >= 2 seeds per width to tell a failed training from a narrow network, got {seeds}.")
        provenance = self.prior.provenance or {}
        if isinstance(data, (str, Path)):
            from .common import bundle_data

            data = bundle_data(dataset_dir=str(data), spatial_dims=spatial_dims)
        self._given = {"train": list(data["train"]), "test": list(data["test"]),
                       "dataset_dir": str(data.get("dataset_dir") or data.get("name") or "probe")}
        self.name = str(data.get("name") or "probe")
        self.metric = metric
        self.level = float(level)
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
        probe_widths = [resolve_widths(self.widths, m) for m in self.multipliers]
        if len(set(probe_widths)) < len(probe_widths) or min(w[0] for w in probe_widths) < 2:
            raise ConfigError(
                f"the probe's multipliers {self.multipliers} of base widths {self.widths} give widths "
                f"{[list(w) for w in probe_widths]}: they must be distinct networks with stage-0 widths >= 2 (width-1 "
                "networks collapse too often to be measured); use larger base widths or other multipliers."
            )

    def _load(self, name: str, folder: str, spatial_dims: int | None = None) -> dict:
        return self._given

    def _check_complexities(self, complexity: Mapping[str, Mapping]) -> None:
        return None  # one dataset: there is no fit across complexities to protect

    # ------------------------------------------------------------------------------------ fit
    def fit(self, records: list[dict]) -> dict:
        """Fit the probe's curve and save ``probe.json`` (+ ``degradation.json``, ``probe.png``).

        Raises:
            ProbeUnreliable: failed trainings, accuracies not growing with width beyond seed
                noise, or seeds that disagree by more than ``MAX_NOISE`` (``probe.json`` says so too).
        """
        from monai_ccnet.planning import DegradationModel
        from monai_ccnet.planning.forms import probe_interval, robust_curves

        out = self.output_dir
        clean = [{k: v for k, v in r.items() if k != "config"} for r in records]
        atomic_write_json(out / "records.json", clean)
        curve = robust_curves(clean, self.metric)[self.name]
        complexity = float(clean[0]["complexity"]["jpeg"][0])
        fit, prior, reason = fit_probe(curve, self.prior, complexity, self.metric)
        result: dict[str, Any] = {
            "dataset": self.name, "metric": self.metric, "arch": self.arch, "complexity": {"jpeg": complexity},
            "probe_widths": [row["widths"] for row in curve["widths"]], "seeds": self.seeds, "recipe": self.recipe,
            "prior": {**prior, "model": self.prior.provenance.get("name", "calibration")},
            "runs": [{"widths": r["widths"], "weights": r["weights"], "seed": r["seed"], self.metric: r[self.metric],
                      "seconds": r["seconds"]} for r in clean],
            "failed_runs": [{"widths": row["widths"], "seeds": row["failed"]} for row in curve["widths"] if row["failed"]],
            "train_seconds": round(sum(r["seconds"] for r in clean), 1),
        }
        if reason is not None:
            result.update(status="unreliable", reason=reason)
            atomic_write_json(out / "probe.json", result)
            raise ProbeUnreliable(f"probe of {self.name!r} is unreliable: {reason} (see {out / 'probe.json'})")

        counts = dict(spatial_dims=self.spatial_dims, in_channels=self._channels(), out_channels=self.out_channels)
        predictions = []
        for m in (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125):
            widths = list(resolve_widths(self.target_widths, m))
            weights = total_weights(self.arch, widths, **counts)
            central, low, high = probe_interval(fit, math.log10(weights), self.level)
            predictions.append({"multiplier": m, "widths": widths, "weights": weights, "accuracy": central,
                                "interval": [low, high]})
        model = self._model(fit, complexity, DegradationModel)
        model_path = model.save(out / "degradation.json")
        result.update(
            status="ok", reason=None,
            fit={k: v for k, v in fit.items()}, plateau=fit["plateau"],
            plateau_interval=list(probe_interval(fit, math.inf, self.level)[1:]),  # above every knee
            level=self.level, target_widths=self.target_widths, predictions=predictions,
            degradation=str(model_path),
        )
        atomic_write_json(out / "probe.json", result)
        files = {"probe": str(out / "probe.json"), "degradation": str(model_path), "records": str(out / "records.json")}
        if self.plots:
            png = plot_probe(result, fit, out / "probe.png")
            if png:
                files["plot"] = str(png)
        logger.info(f"probe {self.name}: plateau {self.metric} {fit['plateau']:.3f}, knee log10(weights) "
                    f"{fit['knee']:.2f}, fall {fit['beta']:.3f}/decade ({result['train_seconds']} s of training)")
        print(f"probe finished: predicted full-width {self.metric} {fit['plateau']:.3f} "
              f"({self.level:.0%} interval {result['plateau_interval'][0]:.3f} .. {result['plateau_interval'][1]:.3f}); "
              f"{out / 'probe.json'}")
        return {"files": files, "probe": result}

    def _channels(self) -> int:
        from .recipe import detect_in_channels

        return detect_in_channels(self._given["train"])


    def _model(self, fit: Mapping, complexity: float, model_class):
        """The probe as a degradation model: the saturating form with this dataset's own knee
        (kappa = 0), its plateau as the reference accuracy, and parameter draws for intervals."""
        rng = np.random.default_rng(0)
        draws = rng.multivariate_normal([fit["plateau"], fit["knee"], fit["beta"]], np.asarray(fit["cov"]), size=200)
        return model_class(
            form="saturating", beta=fit["beta"], kappa=0.0, mu=fit["knee"], metric=self.metric, measure="jpeg",
            arch=self.arch, n_datasets=1, n_points=fit["n"], reference_accuracy=fit["plateau"],
            spread={"s0": fit["noise"] / max(fit["plateau"], 1e-6), "s1": 0.0, "n": fit["n"] + 2,
                    "method": "probe: seed noise of its runs"},
            bootstrap=[{"beta": max(0.0, float(b)), "kappa": 0.0, "mu": float(k)} for _, k, b in draws],
            provenance={"source": "monai_ccnet probe", "dataset": self.name, "complexity_jpeg": complexity,
                        "probe_widths": [list(resolve_widths(self.widths, m)) for m in self.multipliers],
                        "seeds": self.seeds, "recipe": self.recipe, "base_widths": self.widths,
                        "prior": self.prior.provenance.get("name")},
        )


def plot_probe(result: Mapping, fit: Mapping, path, marks: Sequence[Mapping] = ()) -> Path | None:
    """Measured probe runs, the fitted curve and its band, and optional ``marks`` (``{"weights",
    "accuracy", "label"}``, e.g. the chosen plan or measured wide networks). Needs matplotlib."""
    from monai.utils import optional_import

    if not optional_import("matplotlib")[1]:
        return None
    from matplotlib.figure import Figure

    from monai_ccnet.planning.forms import probe_interval

    runs = result["runs"]
    xs = [math.log10(r["weights"]) for r in runs]
    grid = np.linspace(min(xs) - 0.3, max(math.log10(p["weights"]) for p in result["predictions"]) + 0.2, 120)
    bands = np.array([probe_interval(fit, x, result["level"]) for x in grid])
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.fill_between(grid, bands[:, 1], bands[:, 2], alpha=0.2, label=f"{result['level']:.0%} interval")
    ax.plot(grid, bands[:, 0], "-", label="probe fit")
    failed = {(tuple(f["widths"]), int(seed)) for f in result.get("failed_runs", []) for seed in f["seeds"]}
    is_failed = [(tuple(r["widths"]), int(r["seed"])) in failed for r in runs]
    for flag, style, label in ((False, "o", "probe runs"), (True, "x", "failed runs (left out)")):
        chosen = [(x, r[result["metric"]]) for x, r, f in zip(xs, runs, is_failed) if f == flag]
        if chosen:
            ax.plot(*zip(*chosen), style, label=label)
    for mark in marks:
        ax.plot([math.log10(mark["weights"])], [mark["accuracy"]], "*", markersize=10, label=mark.get("label"))
    ax.set_xlabel("log10(weights)")
    ax.set_ylabel(f"test {result['metric']}")
    ax.set_title(f"probe: {result['dataset']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
