"""Held-out checks of the product's predictions against trained networks (docs/RESULTS.md).

- :class:`PlanCheck`: for each calibration dataset, fit the degradation model on the *other*
  datasets (what a user with a new dataset gets), plan for accuracy floors and disk budgets
  (uniform and per stage), train every planned network with the calibration's recipe and seeds,
  and compare predicted with achieved relative accuracy (and whether each floor was met).
- :func:`probe_check`: for each dataset, the probe (:mod:`~monai_ccnet.workflows.probe`) fitted
  from its calibration runs at the probe's widths, predicting widths it did not train (the base
  network, twice the base where measured, the planned networks), against the complexity-only
  and the no-loss predictions anchored at the same measurement.

Runs are calibration runs (same recipe, same fingerprint, saved at once, resumable); a planned
network that equals a calibration network (same dataset, widths and seed) reuses its record.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from monai_ccnet.accounting import MB, disk_bytes, resolve_widths, total_weights
from monai_ccnet.utils import atomic_write_json, read_json, save_figure

from .calibrate import CalibrationSweep

__all__ = ["PLAN_CONSTRAINTS", "TARGET_KINDS", "PlanCheck", "probe_check", "load_run_records"]

logger = logging.getLogger(__name__)

#: the constraints each held-out dataset is planned for (issue 9): floors and disk fractions
PLAN_CONSTRAINTS = (
    {"name": "floor 0.95", "min_relative_accuracy": 0.95},
    {"name": "floor 0.90", "min_relative_accuracy": 0.90},
    {"name": "disk 1/4", "disk_fraction": 0.25},
    {"name": "disk 1/16", "disk_fraction": 0.0625},
)


#: held-out targets of the probe check, by where they lie against the probe's widths
TARGET_KINDS = ("base", "wider", "between", "narrower")


def load_run_records(folder: str | Path) -> list[dict]:
    """Every run record (with its ``config``) of a calibration's ``runs/`` folder."""
    records = [read_json(p, "calibration run record") for p in sorted(Path(folder).glob("*.json"))]
    if not records:
        raise ValueError(f"{folder}: no calibration run records.")
    return records


def _widths_key(dataset: str, widths: Sequence[int], seed: int) -> str:
    return f"{dataset}__w{'-'.join(str(int(w)) for w in widths)}__s{int(seed)}"


def _stage_complexity(record: Mapping, measure: str = "jpeg") -> list[float]:
    return [float(v) for v in record["complexity"][measure]]


class PlanCheck(CalibrationSweep):
    """Plan every held-out dataset from a calibration without it, train the plans, compare.

    Args:
        calibration_dir: a finished calibration's output folder (``runs/`` with its records).
        output_dir: where this check's ``runs/``, ``plans.json`` and ``plans.png`` go.
        form: the degradation form to plan with (``"saturating"`` or ``"linear"``).
        seeds: training seeds of every planned network.
        constraints: see :data:`PLAN_CONSTRAINTS`.
        confidence: plan floors at the interval's low end (None: the central prediction).
        datasets: restrict to these held-out datasets (default: all of the calibration's).
    """

    min_datasets = 1
    needs_full_width = False

    def __init__(
        self,
        calibration_dir: str,
        output_dir: str,
        form: str = "saturating",
        seeds: Sequence[int] = (0, 1),
        constraints: Sequence[Mapping] = PLAN_CONSTRAINTS,
        confidence: float | None = None,
        datasets: Sequence[str] | None = None,
        interval_bootstrap: int = 200,
        workers: int = 2,
        device: Any = "auto",
        progress: bool = False,
    ):
        self.calibration = load_run_records(Path(calibration_dir) / "runs")
        config = self.calibration[0]["config"]
        names = sorted({r["dataset"] for r in self.calibration})
        dirs = {r["dataset"]: r["dataset_dir"] for r in self.calibration}
        self.form, self.constraints, self.confidence = form, list(constraints), confidence
        self.interval_bootstrap = int(interval_bootstrap)
        self.held_out = list(datasets or names)
        super().__init__(
            datasets={n: dirs[n] for n in names}, output_dir=output_dir, arch=config["arch"],
            widths=config["base_widths"], multipliers=[1.0, 0.5], seeds=seeds, recipe=config["recipe"], device=device,
            spatial_dims=config["spatial_dims"], out_channels=config["out_channels"], fit_measures={},
            complexity={"measures": ["jpeg", "foreground"]}, bootstrap=0, workers=workers, progress=progress,
        )
        self.plans = self._plan_all()

    def _calibration_records(self, exclude: str | None = None) -> list[dict]:
        # the calibration's own design (uniform multipliers <= 1): what calibrate fits
        return [{k: v for k, v in r.items() if k != "config"} for r in self.calibration
                if r["dataset"] != exclude and r.get("multiplier") is not None and r["multiplier"] <= 1.0]

    def _plan_all(self) -> list[dict]:
        from monai_ccnet.planning import fit_degradation, plan_compression

        from .recipe import detect_in_channels

        plans = []
        for held in self.held_out:
            model = fit_degradation(self._calibration_records(exclude=held), form=self.form, arch=self.arch, bootstrap=0,
                                    interval_bootstrap=self.interval_bootstrap)
            mine = [r for r in self.calibration if r["dataset"] == held]
            complexity = _stage_complexity(mine[0])
            in_channels = detect_in_channels(self.data[held]["train"])
            counts = dict(spatial_dims=self.spatial_dims, in_channels=in_channels, out_channels=self.out_channels)
            base_weights = total_weights(self.arch, self.widths, **counts)
            for constraint in self.constraints:
                for layerwise in (False, True):
                    kwargs: dict[str, Any] = {}
                    if "disk_fraction" in constraint:
                        kwargs["disk_budget_mb"] = disk_bytes(base_weights * constraint["disk_fraction"], 32) / MB
                    else:
                        kwargs["min_relative_accuracy"] = constraint["min_relative_accuracy"]
                        kwargs["confidence"] = self.confidence
                    try:
                        plan = plan_compression(self.arch, complexity, model, widths=self.widths, layerwise=layerwise,
                                                **counts, **kwargs)
                    except ValueError as err:  # e.g. a floor no network meets with confidence
                        plans.append({"dataset": held, "constraint": constraint["name"], "layerwise": layerwise,
                                      "refused": str(err)})
                        continue
                    plans.append({
                        "dataset": held, "constraint": constraint["name"], "layerwise": layerwise,
                        "widths": plan.widths, "weights": plan.weights, "predicted": plan.predicted_relative_accuracy,
                        "interval": plan.predicted_interval, "floor": kwargs.get("min_relative_accuracy"),
                        "budget_weights": plan.constraint.get("budget_weights"),
                    })
        return plans

    def runs(self) -> list[dict]:
        seen, runs = set(), []
        for plan in self.plans:
            if "widths" not in plan:
                continue
            for seed in self.seeds:
                key = _widths_key(plan["dataset"], plan["widths"], seed)
                if key not in seen:
                    seen.add(key)
                    runs.append({"key": key, "dataset": plan["dataset"], "widths": plan["widths"], "seed": seed,
                                 "multiplier": None})
        return runs

    def run(self) -> dict:
        # a planned network the calibration already trained (same widths and seed) is its record
        (self.output_dir / "runs").mkdir(parents=True, exist_ok=True)
        by_key = {_widths_key(r["dataset"], r["widths"], r["seed"]): r for r in self.calibration}
        for run in self.runs():
            target = self._run_file(run["key"])
            if run["key"] in by_key and not target.is_file():
                atomic_write_json(target, {**by_key[run["key"]], "key": run["key"], "reused_from": by_key[run["key"]]["key"]})
        return super().run()

    def fit(self, records: list[dict]) -> dict:
        from monai_ccnet.planning.forms import robust_curves

        reference = {name: curve["reference"] for name, curve in robust_curves(self._calibration_records()).items()}
        achieved: dict[tuple, list[float]] = {}
        for r in records:
            achieved.setdefault((r["dataset"], tuple(r["widths"])), []).append(float(r["f1"]))
        rows = []
        for plan in self.plans:
            row = dict(plan)
            if "widths" in plan:
                values = achieved.get((plan["dataset"], tuple(plan["widths"])), [])
                rel = [v / reference[plan["dataset"]] for v in values]
                row["achieved_seeds"] = rel
                row["achieved"] = float(np.median(rel)) if rel else None
                row["error"] = row["achieved"] - row["predicted"] if rel else None
                if plan["floor"] is not None and rel:
                    row["floor_met"] = bool(row["achieved"] >= plan["floor"])
                if plan["interval"] and rel:
                    row["inside_interval"] = [bool(plan["interval"][0] <= v <= plan["interval"][1]) for v in rel]
            rows.append(row)
        errors = [abs(r["error"]) for r in rows if r.get("error") is not None]
        floors = [r["floor_met"] for r in rows if "floor_met" in r]
        inside = [v for r in rows for v in r.get("inside_interval", [])]
        summary = {
            "form": self.form, "confidence": self.confidence, "seeds": self.seeds, "plans": rows,
            "mae": float(np.mean(errors)) if errors else None,
            "floors_met": f"{sum(floors)}/{len(floors)}",
            "interval_coverage": float(np.mean(inside)) if inside else None,
            "references": reference,
        }
        atomic_write_json(self.output_dir / "plans.json", summary)
        png = plot_plan_check(rows, self.output_dir / "plans.png")
        print(f"plan check: MAE {summary['mae']}, floors met {summary['floors_met']}, interval coverage "
              f"{summary['interval_coverage']}; {self.output_dir / 'plans.json'}")
        return {"files": {"plans": str(self.output_dir / "plans.json"), "plot": str(png) if png else None},
                "summary": {k: v for k, v in summary.items() if k != "plans"}}


def plot_plan_check(rows: Sequence[Mapping], path) -> Path | None:
    """Predicted vs achieved relative accuracy of every trained plan (with interval bars)."""
    from monai.utils import optional_import

    if not optional_import("matplotlib")[1]:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    done = [r for r in rows if r.get("achieved") is not None]
    for layerwise, marker in ((False, "o"), (True, "s")):
        mine = [r for r in done if r["layerwise"] == layerwise]
        if not mine:
            continue
        x = [r["predicted"] for r in mine]
        y = [r["achieved"] for r in mine]
        if all(r["interval"] for r in mine):
            err = np.clip(np.array([[r["predicted"] - r["interval"][0], r["interval"][1] - r["predicted"]] for r in mine]).T,
                          0.0, None)
            ax.errorbar(x, y, xerr=err, fmt=marker, alpha=0.7, label="per-stage" if layerwise else "uniform")
        else:
            ax.plot(x, y, marker, label="per-stage" if layerwise else "uniform")
    lo = min([0.5] + [r["achieved"] for r in done] + [r["predicted"] for r in done])
    ax.plot([lo, 1.1], [lo, 1.1], "k--", linewidth=0.8)
    ax.set_xlabel("predicted relative F1 (held-out calibration)")
    ax.set_ylabel("achieved relative F1 (median of seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def probe_check(
    calibration_dir: str,
    plan_check_dir: str | None = None,
    extra_dirs: Sequence[str] = (),
    probe_multipliers: Sequence[float] = (0.5, 0.25, 0.125),
    probe_seeds: Sequence[int] = (0, 1),
    form: str = "saturating",
    level: float = 0.9,
) -> dict:
    """The probe against the complexity-only and no-loss predictions, on held-out widths.

    For each dataset: the probe is fitted from its calibration runs at ``probe_multipliers`` and
    ``probe_seeds`` (exactly the runs a probe trains: same recipe, seeds and widths), with the
    calibration *without that dataset* as the prior. Targets are the widths it did not train:
    the base network (median of the calibration's seeds), wider networks found in
    ``extra_dirs`` (e.g. twice the base) and the planned networks of ``plan_check_dir``. Errors
    are in units of relative accuracy (absolute error / the dataset's measured base accuracy).
    Complexity-only predicts ``A(w) = A(w_p) * r(w) / r(w_p)`` with ``w_p`` the probe's widest
    width and ``r`` the held-out calibration's relative prediction; no-loss predicts ``A(w_p)``.
    """
    from monai_ccnet.planning import fit_degradation
    from monai_ccnet.planning.forms import fit_probe_curve, probe_interval, robust_curves

    from .probe import prior_terms, probe_points

    calibration = load_run_records(Path(calibration_dir) / "runs")
    config = calibration[0]["config"]
    base = list(config["base_widths"])
    arch = config["arch"]
    design = [r for r in calibration if r.get("multiplier") is not None and r["multiplier"] <= 1.0]
    targets = list(calibration)
    for folder in [*extra_dirs, *( [plan_check_dir] if plan_check_dir else [])]:
        targets += [r for r in load_run_records(Path(folder) / "runs") if r.get("config") == config or "config" not in r]
    names = sorted({r["dataset"] for r in design})
    probe_widths = {tuple(int(max(1, round(b * m))) for b in base) for m in probe_multipliers}
    rows, per_dataset = [], {}
    for held in names:
        others = [{k: v for k, v in r.items() if k != "config"} for r in design if r["dataset"] != held]
        prior = fit_degradation(others, form=form, arch=arch, bootstrap=0, interval_bootstrap=200)
        probe_runs = [r for r in design if r["dataset"] == held and tuple(r["widths"]) in probe_widths
                      and r["seed"] in probe_seeds]
        curve = robust_curves(probe_runs)[held]
        complexity = float(probe_runs[0]["complexity"]["jpeg"][0])
        # the probe's own fit; unlike Probe.fit this check scores every dataset, even one a probe
        # would refuse (all five real datasets passed the refusal checks)
        fit = fit_probe_curve(*probe_points(curve), prior_terms(prior, complexity))
        reference = robust_curves([r for r in design if r["dataset"] == held])[held]["reference"]
        widest = curve["widths"][0]
        anchor_x, anchor_a = math.log10(widest["weights"]), widest["median"]
        # measured targets: every width vector of this dataset the probe did not train, failed
        # runs left out as in every fit (robust_curves)
        mine = [{k: v for k, v in r.items() if k != "config"} for r in targets
                if r["dataset"] == held and tuple(r["widths"]) not in probe_widths]
        unique = {(tuple(r["widths"]), r["seed"]): r for r in mine}  # a plan equal to a calibration run counts once
        groups = robust_curves(list(unique.values()))[held]["widths"] if unique else []
        smallest_probe = min(row["weights"] for row in curve["widths"])
        base_weights = max(r["weights"] for r in design if r["dataset"] == held and list(r["widths"]) == base)
        comp = [complexity] * len(base)
        r_anchor = prior.predict_relative_accuracy(list(widest["widths"]), base, comp)
        errs: dict[str, dict[str, list]] = {kind: {"probe": [], "complexity_only": [], "no_loss": []} for kind in TARGET_KINDS}
        inside = []
        for group in groups:
            widths, measured = list(group["widths"]), group["median"]
            kept = [v for s, v in group["values"].items() if int(s) not in group["failed"]]
            x = math.log10(group["weights"])
            central, low, high = probe_interval(fit, x, level)
            complexity_only = anchor_a * prior.predict_relative_accuracy(widths, base, comp) / r_anchor
            kind = ("base" if widths == base else "wider" if group["weights"] > base_weights
                    else "narrower" if group["weights"] < smallest_probe else "between")
            uniform = list(resolve_widths(base, widths[0] / base[0])) == widths
            row = {"dataset": held, "widths": widths, "weights": group["weights"], "per_stage": not uniform,
                   "measured": measured, "seeds": kept,
                   "failed_seeds": group["failed"], "probe": central, "probe_interval": [low, high],
                   "complexity_only": complexity_only, "no_loss": anchor_a, "kind": kind}
            for name in ("probe", "complexity_only", "no_loss"):
                errs[kind][name].append(abs(row[name] - measured) / reference)
            if kind != "narrower":
                inside += [low <= v <= high for v in kept]
            rows.append(row)
        # the targets: the base, wider networks and the planned ones between the probe's
        # widths; extrapolation below the probe's smallest width is reported apart
        main = {name: [e for kind in ("base", "wider", "between") for e in errs[kind][name]] for name in errs["base"]}
        per_dataset[held] = {name: float(np.mean(v)) if v else None for name, v in main.items()}
        per_dataset[held].update(
            by_kind={kind: {name: float(np.mean(v)) if v else None for name, v in e.items()} for kind, e in errs.items()},
            plateau=fit["plateau"], knee=fit["knee"], beta=fit["beta"], reference=reference,
            probe_train_seconds=round(sum(r["seconds"] for r in probe_runs), 1),
            interval_coverage=float(np.mean(inside)) if inside else None,
            n_targets=sum(len(errs[k]["probe"]) for k in ("base", "wider", "between")),
        )
    overall = {name: float(np.mean([d[name] for d in per_dataset.values() if d[name] is not None]))
               for name in ("probe", "complexity_only", "no_loss")}
    return {"per_dataset": per_dataset, "overall_mae": overall, "rows": rows, "level": level,
            "probe_widths": sorted(list(w) for w in probe_widths), "probe_seeds": list(probe_seeds)}
