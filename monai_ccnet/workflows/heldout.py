"""Held-out checks of the product's predictions against trained networks (docs/RESULTS.md).

- :class:`PlanCheck`: for each calibration dataset, fit the degradation model on the *other*
  datasets (what a user with a new dataset gets), plan for accuracy floors and disk budgets
  (uniform and per stage), train every planned network with the calibration's recipe and seeds,
  and compare predicted with achieved relative accuracy (and whether each floor was met).
- :class:`ProbePlanCheck`: the user's path on each dataset - the probe from its identical
  calibration runs, floor plans from it (with and without confidence, uniform and per stage),
  every plan trained with three seeds - with four probe designs scored on the same targets
  (:func:`candidate_comparison`).
- :class:`NetworkProbePlanCheck`: the same path on the user's own MONAI network (a ``network_def``):
  per dataset the probe of that network trained fresh, floor plans from it in the registry's
  weights, every plan and the full network trained with seeds 0 and 1.

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

from . import probe as probe_mod
from monai_ccnet.planning.planner import MIN_STAGE_WIDTH

from .calibrate import CalibrationSweep
from .inputs import detect_in_channels

__all__ = ["PLAN_CONSTRAINTS", "PlanCheck", "ProbePlanCheck", "NetworkProbePlanCheck", "summarize_probe_plans", "load_run_records"]

logger = logging.getLogger(__name__)

#: the constraints each held-out dataset is planned for (issue 9): floors and disk fractions
PLAN_CONSTRAINTS = (
    {"name": "floor 0.95", "min_relative_accuracy": 0.95},
    {"name": "floor 0.90", "min_relative_accuracy": 0.90},
    {"name": "disk 1/4", "disk_fraction": 0.25},
    {"name": "disk 1/16", "disk_fraction": 0.0625},
)


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


class _PlanTraining(CalibrationSweep):
    """Trains a held-out check's planned networks (``self.plans``, with the calibration's records in
    ``self.calibration``): every plan with every seed, plans made with confidence first, seed by
    seed within each group; a planned network the calibration trained
    (same dataset, widths and seed) is its record (runs are deterministic)."""

    min_datasets = 1
    needs_full_width = False
    plans: list
    calibration: list

    def runs(self) -> list[dict]:
        # plans made with confidence first (their promise needs every seed), then the others,
        # seed by seed within each: an interrupted check has whole groups
        seen, runs = set(), []
        groups = ([p for p in self.plans if p.get("confidence") is not None],
                  [p for p in self.plans if p.get("confidence") is None])
        for group in groups:
            for seed in self.seeds:
                for plan in group:
                    if "widths" not in plan:
                        continue
                    key = _widths_key(plan["dataset"], plan["widths"], seed)
                    if key not in seen:
                        seen.add(key)
                        runs.append({"key": key, "dataset": plan["dataset"], "widths": plan["widths"], "seed": seed,
                                     "multiplier": None})
        return runs

    def run(self) -> dict:
        (self.output_dir / "runs").mkdir(parents=True, exist_ok=True)
        by_key = {_widths_key(r["dataset"], r["widths"], r["seed"]): r for r in self.calibration}
        for run in self.runs():
            target = self._run_file(run["key"])
            if run["key"] in by_key and not target.is_file():
                atomic_write_json(target, {**by_key[run["key"]], "key": run["key"], "reused_from": by_key[run["key"]]["key"],
                                           "config": self._fingerprint()})
        return super().run()


class PlanCheck(_PlanTraining):
    """Plan every held-out dataset from a calibration without it, train the plans, compare.

    Args:
        calibration_dir: a finished calibration's output folder (``runs/`` with its records).
        output_dir: where this check's ``runs/``, ``plans.json`` and ``plans.png`` go.
        form: the degradation form to plan with (``"saturating"`` or ``"linear"``).
        seeds: training seeds of every planned network.
        constraints: see :data:`PLAN_CONSTRAINTS`.
        confidence: plan floors so one trained network meets them with this probability (None:
            at the central prediction).
        datasets: restrict to these held-out datasets (default: all of the calibration's).
    """

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
        distinct = _distinct_plans(rows)  # a plan that two settings both chose counts once
        errors = [abs(r["error"]) for r in distinct if r.get("error") is not None]
        floors = [r["floor_met"] for r in distinct if "floor_met" in r]
        inside = [v for r in distinct for v in r.get("inside_interval", [])]
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


def _distinct_plans(rows: Sequence[Mapping]) -> list[Mapping]:
    """One row per (dataset, constraint, widths): when uniform and per-stage planning (or two
    settings) chose the same network for the same constraint, it is one trained network and one
    outcome, so it counts once in the summaries."""
    seen, out = set(), []
    for row in rows:
        key = (row["dataset"], row.get("constraint", row.get("floor")), tuple(row.get("widths") or ()), "refused" in row)
        if "widths" in row and key in seen:
            continue
        seen.add(key)
        out.append(row)
    return out


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


#: the probe-plans check's plans: floors, with and without confidence, uniform and per stage
PROBE_PLAN_FLOORS = (0.95, 0.90)
PROBE_PLAN_CONFIDENCE = (None, 0.9)


class ProbePlanCheck(_PlanTraining):
    """The user's path, held out: probe each dataset, plan floors from the probe, train the plans.

    For each dataset of a finished calibration (its committed ``records.json``): the probe's
    runs are the calibration's identical runs (the full network with seed 0, stage-0 widths 4
    and 2 with seeds 0 and 1 - runs are deterministic, a retrained run is bit-identical to its
    record); the probe's only input from other datasets, the seed-noise prior, comes from the
    calibration *without* that dataset. Plans for floors of 0.95 and 0.90, with and without
    ``confidence`` 0.9, uniform and per stage, are trained with ``seeds`` (a plan equal to a
    calibration network reuses its records). The full network's accuracy is the median of the
    calibration's base seeds. Results: ``probe_plans.json`` and ``probe_plans.png``.
    """

    def __init__(
        self,
        records: str,
        data_root: str,
        output_dir: str,
        prior: Any = "unet-f1-cpu",
        seeds: Sequence[int] = (0, 1, 2),
        floors: Sequence[float] = PROBE_PLAN_FLOORS,
        confidences: Sequence[float | None] = PROBE_PLAN_CONFIDENCE,
        probe_multipliers: Sequence[float] = (1.0, 0.25, 0.125),
        probe_seeds: Sequence[int] = (0, 1),
        base_seeds: Sequence[int] = (0,),
        datasets: Sequence[str] | None = None,
        workers: int = 2,
        device: Any = "auto",
        progress: bool = False,
    ):
        from monai_ccnet.planning import load_degradation

        self.calibration = [r for r in read_json(records, "calibration records") if r.get("multiplier") is not None]
        if not self.calibration:
            raise ValueError(f"{records}: no calibration records.")
        provenance = load_degradation(prior).provenance or {}
        names = sorted({r["dataset"] for r in self.calibration})
        self.held_out = list(datasets or names)
        unknown = sorted(set(self.held_out) - set(names))
        if unknown:
            raise ValueError(f"datasets {unknown} are not in {records} (have {names}).")
        self.floors, self.confidences = [float(f) for f in floors], list(confidences)
        self.probe_design = {"multipliers": [float(m) for m in probe_multipliers], "seeds": [int(s) for s in probe_seeds],
                             "base_seeds": [int(s) for s in base_seeds]}
        super().__init__(
            datasets={n: str(Path(data_root) / n) for n in self.held_out}, output_dir=output_dir,
            arch=self.calibration[0]["arch"], widths=provenance["base_widths"], multipliers=[1.0, 0.5], seeds=seeds,
            recipe=provenance["recipe"], device=device, spatial_dims=2, out_channels=2, fit_measures={},
            complexity={"measures": ["jpeg", "foreground"]}, bootstrap=0, workers=workers, progress=progress,
        )
        self.trivial = {n: probe_mod.label_trivial_f1(self.data[n]["test"]) for n in self.held_out}
        self.probes = {n: self._probe(n) for n in self.held_out}
        self.plans = [plan for n in self.held_out for plan in self._plans(n)]

    def _mine(self, name: str) -> list[dict]:
        return [r for r in self.calibration if r["dataset"] == name]

    def _probe(self, name: str) -> dict:
        """The probe of ``name`` from its calibration runs, with the other datasets' seed noise as prior."""
        from monai_ccnet.planning import probe as stats
        from monai_ccnet.planning.forms import curve_points, robust_curves

        others = [r for r in self.calibration if r["dataset"] != name]
        curves = robust_curves(others)
        prior_sd, prior_dof = stats.calibration_seed_noise(curve_points(curves, {n: 0.0 for n in curves}))
        design = self.probe_design
        runs = [r for r in self._mine(name) if any(math.isclose(r["multiplier"], m) for m in design["multipliers"])
                and r["seed"] in (design["base_seeds"] if math.isclose(r["multiplier"], 1.0) else design["seeds"])]
        curve = stats.measured_curve(runs, self.trivial[name], prior_noise=prior_sd)
        return {"curve": curve, "runs": runs, "prior_seed_sd": prior_sd, "prior_seed_dof": prior_dof,
                "reason": stats.unreliable_reason(curve), "train_seconds": round(sum(r["seconds"] for r in runs), 1)}

    def _plans(self, name: str) -> list[dict]:
        from monai_ccnet.planning import plan_compression

        probe = self.probes[name]
        mine = self._mine(name)
        complexity = _stage_complexity(mine[0])
        in_channels = detect_in_channels(self.data[name]["train"])
        counts = dict(spatial_dims=self.spatial_dims, in_channels=in_channels, out_channels=self.out_channels)
        full = float(np.median([r["f1"] for r in mine if list(r["widths"]) == self.widths]))
        model = probe_mod.probe_model(probe["curve"], self.arch, "f1", probe["curve"]["full_accuracy"],
                                      {"source": "monai_ccnet probe (held-out check)", "dataset": name})
        plans = []
        for floor in self.floors:
            for confidence in self.confidences:
                for layerwise in (False, True):
                    row = {"dataset": name, "floor": floor, "confidence": confidence, "layerwise": layerwise,
                           "full_accuracy": full}
                    if probe["reason"]:
                        plans.append({**row, "refused": f"probe unreliable: {probe['reason']}"})
                        continue
                    try:
                        plan = plan_compression(self.arch, complexity, model, widths=self.widths, layerwise=layerwise,
                                                min_relative_accuracy=floor, confidence=confidence, **counts)
                    except ValueError as err:
                        plans.append({**row, "refused": str(err)})
                        continue
                    plans.append({**row, "widths": plan.widths, "weights": plan.weights,
                                  "predicted": plan.predicted_relative_accuracy, "interval": plan.predicted_interval,
                                  "lower_bound": plan.constraint.get("lower_bound")})
        return plans

    def fit(self, records: list[dict]) -> dict:
        return summarize_probe_plans(self, records)


def _score_seeds(row: dict, plan: Mapping, seeds: Mapping[int, float], full: float, wanted: Sequence[int]) -> bool:
    """Fill ``row`` with a trained plan's relative accuracy per seed (of ``wanted``) against ``full``:
    the seed median, its error against the prediction, floors met per seed and by the median, and
    which seeds fell inside the interval. Returns whether any wanted seed was trained."""
    rel = {s: v / full for s, v in sorted(seeds.items()) if s in wanted}
    row["achieved_seeds"] = rel
    if not rel:
        return False
    row["achieved"] = float(np.median(list(rel.values())))
    row["error"] = row["achieved"] - plan["predicted"]
    row["met_seeds"] = {s: bool(v >= plan["floor"]) for s, v in rel.items()}
    row["met_median"] = bool(row["achieved"] >= plan["floor"])
    row["inside_interval"] = [bool(plan["interval"][0] <= v <= plan["interval"][1]) for v in rel.values()]
    return True


def summarize_probe_plans(check: "ProbePlanCheck", records: Sequence[Mapping]) -> dict:
    """Floors met (per seed and by the seed median), weights against the oracle, prediction errors
    and interval coverage of a :class:`ProbePlanCheck`; writes ``probe_plans.json`` / ``.png``."""
    achieved: dict[tuple, dict] = {}
    for r in [*check.calibration, *records]:  # every network of each dataset ever trained: the oracle's pool
        entry = achieved.setdefault((r["dataset"], tuple(r["widths"])), {"weights": r["weights"], "seeds": {}})
        entry["seeds"][int(r["seed"])] = float(r["f1"])
    rows = []
    for plan in check.plans:
        row = dict(plan)
        full = plan["full_accuracy"]
        # the oracle: the smallest network in the records whose seed median meets the floor
        meeting = [(v["weights"], min(w)) for (d, w), v in achieved.items()
                   if d == plan["dataset"] and np.median(list(v["seeds"].values())) / full >= plan["floor"]]
        row["oracle_weights"] = min(m[0] for m in meeting) if meeting else None
        # the same among the networks the planner may plan (no stage under 2 channels)
        allowed = [m[0] for m in meeting if m[1] >= MIN_STAGE_WIDTH]
        row["oracle_allowed_weights"] = min(allowed) if allowed else None
        if "widths" in plan:
            seeds = achieved.get((plan["dataset"], tuple(plan["widths"])), {"seeds": {}})["seeds"]
            if _score_seeds(row, plan, seeds, full, check.seeds):
                row["weights_vs_oracle"] = plan["weights"] / row["oracle_weights"] if row["oracle_weights"] else None
                row["weights_vs_allowed_oracle"] = (plan["weights"] / row["oracle_allowed_weights"]
                                                    if row["oracle_allowed_weights"] else None)
        rows.append(row)

    def summary(selected: list[dict]) -> dict:
        done = [r for r in _distinct_plans(selected) if r.get("achieved") is not None]
        seeds = [m for r in done for m in r["met_seeds"].values()]
        ratios = [r["weights_vs_oracle"] for r in done if r.get("weights_vs_oracle")]
        allowed = [r["weights_vs_allowed_oracle"] for r in done if r.get("weights_vs_allowed_oracle")]
        return {
            "plans": len(selected), "refused": sum("refused" in r for r in selected), "trained": len(done),
            "met_by_median": f"{sum(r['met_median'] for r in done)}/{len(done)}",
            "met_by_median_fraction": float(np.mean([r["met_median"] for r in done])) if done else None,
            "met_single_seeds": f"{sum(seeds)}/{len(seeds)}",
            "met_single_seeds_fraction": float(np.mean(seeds)) if seeds else None,
            "median_abs_error": float(np.median([abs(r["error"]) for r in done])) if done else None,
            "interval_coverage": float(np.mean([v for r in done for v in r["inside_interval"]])) if done else None,
            "weights_vs_oracle_median": float(np.median(ratios)) if ratios else None,
            "weights_vs_oracle_max": float(np.max(ratios)) if ratios else None,
            "weights_vs_allowed_oracle_median": float(np.median(allowed)) if allowed else None,
            "weights_vs_allowed_oracle_max": float(np.max(allowed)) if allowed else None,
        }

    result = {
        "candidates": candidate_comparison(check, rows),
        "design": {**check.probe_design, "seeds_trained": check.seeds, "floors": check.floors,
                   "confidences": check.confidences, "recipe": check.recipe, "base_widths": check.widths},
        "probes": {n: {"curve": p["curve"], "prior_seed_sd": p["prior_seed_sd"], "prior_seed_dof": p["prior_seed_dof"],
                       "reason": p["reason"], "train_seconds": p["train_seconds"], "trivial_f1": check.trivial[n]}
                   for n, p in check.probes.items()},
        "plans": rows,
        "summary": {
            "with_confidence": summary([r for r in rows if r["confidence"] is not None]),
            "without_confidence": summary([r for r in rows if r["confidence"] is None]),
        },
    }
    out = check.output_dir
    atomic_write_json(out / "probe_plans.json", result)
    (out / "probe_plans.md").write_text(probe_plans_markdown(result))
    png = plot_probe_plans(rows, out / "probe_plans.png")
    for name, s in result["summary"].items():
        print(f"{name}: floors met by the seed median {s['met_by_median']}, single seeds {s['met_single_seeds']}, "
              f"refused {s['refused']}, median |error| {s['median_abs_error']}, weights/oracle {s['weights_vs_oracle_median']}")
    return {"files": {"results": str(out / "probe_plans.json"), "plot": str(png) if png else None},
            "summary": result["summary"]}


#: probe designs compared on the same held-out targets (issue 16): the shipped one, the earlier
#: hinge, and two without the full network's run
CANDIDATES = {
    "measured 16+4+2 (shipped)": "the full network (seed 0) and stage-0 widths 4, 2 (seeds 0, 1), interpolated",
    "hinge 8+4+2 (earlier probe)": "stage-0 widths 8, 4, 2 (seeds 0, 1), Eq. P1 hinge with the held-out calibration's knee/fall prior",
    "measured 8+4+2": "stage-0 widths 8, 4, 2 (seeds 0, 1), interpolated, flat above width 8",
    "no loss from width 8": "the width-8 networks' mean F1 for every wider network; relative 1 for every plan",
}


def candidate_comparison(check: "ProbePlanCheck", rows: Sequence[Mapping]) -> dict:
    """Every candidate probe design's error on the same held-out targets: the full network's F1
    (target: the median of its seeds the shipped probe did not train, 1 and 2) and each trained
    plan's relative F1 (target: its seeds' median over the full network's 3-seed median). Errors
    in units of the full network's F1. The hinge's prior is fitted without the held-out dataset."""
    from monai_ccnet.planning import fit_degradation
    from monai_ccnet.planning import probe as stats
    from monai_ccnet.planning.forms import fit_probe_curve, probe_accuracy, robust_curves

    errors = {name: {"full_network": [], "plans": []} for name in CANDIDATES}
    per_dataset = {}
    for name in check.held_out:
        mine = check._mine(name)
        base = [r for r in mine if list(r["widths"]) == check.widths]
        full = float(np.median([r["f1"] for r in base]))
        target_full = float(np.median([r["f1"] for r in base if r["seed"] != 0]))
        x_full = math.log10(base[0]["weights"])
        small = [r for r in mine if any(math.isclose(r["multiplier"], m) for m in (0.5, 0.25, 0.125)) and r["seed"] in (0, 1)]
        curve8 = stats.measured_curve(small, check.trivial[name])
        others = [r for r in check.calibration if r["dataset"] != name]
        prior = fit_degradation(others, form="saturating", arch=check.arch, bootstrap=0, interval_bootstrap=200)
        kept = robust_curves(small)[name]["widths"]
        xs = [math.log10(row["weights"]) for row in kept for s in row["values"] if int(s) not in row["failed"]]
        ys = [v for row in kept for s, v in row["values"].items() if int(s) not in row["failed"]]
        hinge = fit_probe_curve(xs, ys, stats.hinge_prior(prior, float(mine[0]["complexity"]["jpeg"][0])))
        width8 = float(np.mean([r["f1"] for r in small if math.isclose(r["multiplier"], 0.5)]))
        shipped = check.probes[name]["curve"]

        def relative(candidate: str, x: float) -> float:
            if candidate.startswith("measured 16"):
                return stats.curve_prediction(shipped, x)["central"]
            if candidate.startswith("hinge"):
                return float(probe_accuracy(hinge, x) / probe_accuracy(hinge, x_full))
            if candidate.startswith("measured 8"):
                return stats.curve_prediction(curve8, x, x_full, extrapolate=True)["central"]
            return 1.0

        predicted_full = {
            "measured 16+4+2 (shipped)": shipped["full_accuracy"], "hinge 8+4+2 (earlier probe)": float(hinge["plateau"]),
            "measured 8+4+2": curve8["full_accuracy"], "no loss from width 8": width8,
        }
        mine_rows = {}
        for candidate in CANDIDATES:
            e_full = abs(predicted_full[candidate] - target_full) / full
            e_plans = [abs(relative(candidate, math.log10(r["weights"])) - r["achieved"]) for r in rows
                       if r["dataset"] == name and r.get("achieved") is not None]
            errors[candidate]["full_network"].append(e_full)
            errors[candidate]["plans"] += e_plans
            mine_rows[candidate] = {"full_network": e_full, "plans_mae": float(np.mean(e_plans)) if e_plans else None}
        per_dataset[name] = mine_rows
    return {
        "description": CANDIDATES,
        "per_dataset": per_dataset,
        "overall": {c: {"full_network_mae": float(np.mean(e["full_network"])),
                        "plans_mae": float(np.mean(e["plans"])) if e["plans"] else None,
                        "plans_median_error": float(np.median(e["plans"])) if e["plans"] else None}
                    for c, e in errors.items()},
        "targets": "full network: median F1 of its seeds 1 and 2 (seed 0 is the shipped probe's run); plans: every "
                   "trained plan's seed median; errors over the full network's 3-seed median F1",
    }


def probe_plans_markdown(result: Mapping) -> str:
    """The probe-plans check as Markdown tables (docs/RESULTS.md §6 pastes them)."""
    from .markdown import markdown_table

    def f(v, fmt="{:.3f}"):
        return "-" if v is None else fmt.format(v)

    plans = []
    for r in result["plans"]:
        if "refused" in r:
            why = "seed noise" if "seed noise" in r["refused"] else r["refused"][:60]
            plans.append([r["dataset"], f"{r['floor']:g}", f(r["confidence"], "{:g}"), "per-stage" if r["layerwise"] else "uniform",
                          f"refused ({why})", "-", "-", "-", "-", "-", "-"])
            continue
        seeds = ", ".join(f"{v:.3f}" for v in r.get("achieved_seeds", {}).values())
        met = f"{sum(r['met_seeds'].values())}/{len(r['met_seeds'])}" if r.get("met_seeds") else "-"
        plans.append([r["dataset"], f"{r['floor']:g}", f(r["confidence"], "{:g}"), "per-stage" if r["layerwise"] else "uniform",
                      "-".join(map(str, r["widths"])), f"{r['weights']:,}", f(r["predicted"]) + (
                          f" (>= {r['lower_bound']:.3f})" if r.get("lower_bound") is not None else ""),
                      f(r.get("achieved")) + (f" ({seeds})" if seeds else ""), met,
                      "yes" if r.get("met_median") else "no" if "met_median" in r else "-",
                      f(r.get("weights_vs_oracle"), "{:.2f}") + " / " + f(r.get("weights_vs_allowed_oracle"), "{:.2f}")])
    lines = [markdown_table(["dataset", "floor", "confidence", "stages", "widths", "weights", "predicted (bound)",
                             "achieved median (seeds)", "seeds met", "median met", "weights / oracle (any / stages >= 2)"], plans), ""]
    summ = [[name, s["plans"], s["refused"], s["trained"], s["met_by_median"], s["met_single_seeds"],
             f(s["median_abs_error"]), f(s["interval_coverage"], "{:.2f}"),
             f(s["weights_vs_oracle_median"], "{:.2f}") + " / " + f(s["weights_vs_allowed_oracle_median"], "{:.2f}"),
             f(s["weights_vs_oracle_max"], "{:.2f}") + " / " + f(s["weights_vs_allowed_oracle_max"], "{:.2f}")]
            for name, s in result["summary"].items()]
    lines += [markdown_table(["plans", "n", "refused", "trained", "floor met (median)", "floor met (single seeds)",
                              "median abs error", "90% interval coverage", "weights/oracle median (any / stages >= 2)",
                              "max"], summ), ""]
    cands = [[name, f(c["full_network_mae"]), f(c["plans_mae"]), f(c["plans_median_error"])]
             for name, c in result["candidates"]["overall"].items()]
    lines += [markdown_table(["probe design", "full network MAE", "plans MAE", "plans median error"], cands), ""]
    return "\n".join(lines)


def plot_probe_plans(rows: Sequence[Mapping], path) -> Path | None:
    """Achieved relative F1 (each seed, and the median) of every trained plan against its floor."""
    from monai.utils import optional_import

    if not optional_import("matplotlib")[1]:
        return None
    from matplotlib.figure import Figure

    done = [r for r in rows if r.get("achieved") is not None]
    if not done:
        return None
    fig = Figure(figsize=(max(6, 0.35 * len(done)), 4))
    ax = fig.subplots()
    for i, r in enumerate(done):
        colour = "C0" if r["confidence"] is None else "C1"
        ax.plot([i] * len(r["achieved_seeds"]), list(r["achieved_seeds"].values()), ".", color=colour, alpha=0.6)
        ax.plot([i], [r["achieved"]], "o" if not r["layerwise"] else "s", color=colour)
        ax.plot([i - 0.4, i + 0.4], [r["floor"]] * 2, "k-", linewidth=1)
        ax.plot([i], [r["predicted"]], "x", color="0.3")
    ax.set_xticks(range(len(done)))
    ax.set_xticklabels([f"{r['dataset'][:6]} {r['floor']:g}{' c' if r['confidence'] else ''}{' ps' if r['layerwise'] else ''}"
                        for r in done], rotation=90, fontsize=6)
    ax.set_ylabel("achieved F1 / full network's (seed median)")
    ax.set_title("probe plans, held out: floors (lines), seeds (dots), median (o uniform, s per stage), predicted (x);\n"
                 "blue: central prediction, orange: confidence 0.9", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


# ------------------------------------------------------------------------------------------
# the probe-plans check on the user's own network (issue 17): a MONAI network_def


class _NetworkPlanTraining(_PlanTraining):
    """Trains one dataset's planned networks of a registered network (``network``, a NetworkSpec);
    a plan equal to a probe network with the same seed reuses the probe's record (``calibration``)."""

    def __init__(self, network, plans: list, probe_records: list, **kwargs):
        self.network, self.plans, self.calibration = network, plans, probe_records
        super().__init__(**kwargs)

    def _check_complexities(self, complexity: Mapping[str, Mapping]) -> None:
        return None  # one dataset, nothing fitted across complexities

    def fit(self, records: list[dict]) -> dict:
        return {"records": records}


class NetworkProbePlanCheck:
    """The probe-plans check on a MONAI network (a bundle's ``network_def``), held out per dataset.

    For each dataset, in turn (a finished dataset is a complete case before the next starts): the
    probe of that network is trained fresh (:class:`~monai_ccnet.workflows.probe.Probe` with
    ``network``: its widths x 1, 0.25, 0.125 snapped to its constraints, full network seed 0,
    the others seeds 0 and 1, weights counted by the registry), floors are planned from the
    probe (uniform by default, ``confidences``), and every planned network and the full network
    are trained with ``seeds`` (a network the probe trained with that seed reuses its record). The
    full network's accuracy is the median of its ``seeds``. The network's ``in_channels`` is set
    to each dataset's image channels (the user's network for that data).

    Results: ``<output>/<dataset>/probe/`` (the probe's own output), ``<output>/<dataset>/plans/runs/``,
    ``<output>/probe_plans.json``, ``probe_plans.md``, ``probe_plans.png``. Rerunning resumes.
    """

    def __init__(
        self,
        network_def: Any,
        data_root: str,
        output_dir: str,
        datasets: Sequence[str],
        prior: Any = "unet-f1-cpu",
        seeds: Sequence[int] = (0, 1),
        floors: Sequence[float] = PROBE_PLAN_FLOORS,
        confidences: Sequence[float | None] = (0.9,),
        layerwise: Sequence[bool] = (False,),
        probe_multipliers: Sequence[float] = probe_mod.PROBE_MULTIPLIERS,
        probe_seeds: Sequence[int] = (0, 1),
        base_seeds: Sequence[int] = (0,),
        workers: int = 2,
        device: Any = "auto",
        progress: bool = False,
        network_def_key: str = "network_def",
    ):
        from monai_ccnet.nets.network_def import NetworkDef, read_network_def
        from monai_ccnet.planning import load_degradation

        self.netdef = network_def if isinstance(network_def, NetworkDef) else read_network_def(network_def, key=network_def_key)
        if not datasets:
            raise ValueError("give the datasets to check (names of folders under data_root).")
        self.data_root, self.output_dir = Path(data_root), Path(output_dir)
        self.datasets = list(datasets)
        missing = [n for n in self.datasets if not (self.data_root / n).is_dir()]
        if missing:
            raise ValueError(f"datasets {missing} are not folders of {self.data_root}.")
        self.prior = load_degradation(prior)
        self.prior_name = str(prior) if isinstance(prior, (str, Path)) else (self.prior.provenance or {}).get("name")
        self.recipe = (self.prior.provenance or {}).get("recipe")
        self.seeds = [int(s) for s in seeds]
        self.floors, self.confidences = [float(f) for f in floors], list(confidences)
        self.layerwise = [bool(v) for v in layerwise]
        self.probe_design = {"multipliers": [float(m) for m in probe_multipliers], "seeds": [int(s) for s in probe_seeds],
                             "base_seeds": [int(s) for s in base_seeds]}
        self.workers, self.device, self.progress = int(workers), device, progress

    def spec(self, name: str):
        """The network on dataset ``name``: the network_def with ``in_channels`` = the images' channels."""
        from .inputs import bundle_data

        data = bundle_data(dataset_dir=str(self.data_root / name))
        channels = detect_in_channels(data["train"])
        return self.netdef.architecture.configure({**self.netdef.kwargs, "in_channels": channels}), data

    def run_case(self, name: str) -> dict:
        """Probe, plan and train one dataset (resumable); returns its case (also ``<output>/<name>/case.json``)."""
        import time

        from monai_ccnet.planning import load_degradation, plan_compression

        spec, data = self.spec(name)
        data = {**data, "name": name}
        folder = self.output_dir / name
        start = time.perf_counter()
        probe = probe_mod.Probe(
            data, str(folder / "probe"), prior=self.prior, network=spec, recipe=self.recipe,
            multipliers=self.probe_design["multipliers"], seeds=self.probe_design["seeds"],
            base_seeds=self.probe_design["base_seeds"], workers=self.workers, device=self.device,
            progress=self.progress, plots=True,
        )
        reason, model = None, None
        try:
            probe.run()
            model = load_degradation(folder / "probe" / "degradation.json")
        except probe_mod.ProbeUnreliable as err:
            reason = str(err)
        result = read_json(folder / "probe" / "probe.json", "probe result")
        probe_records = read_json(folder / "probe" / "records.json", "probe records")
        probe_wall = time.perf_counter() - start
        complexity = _stage_complexity(probe_records[0])
        base = list(spec.base_widths)
        plans = []
        for floor in self.floors:
            for confidence in self.confidences:
                for layerwise in self.layerwise:
                    row = {"dataset": name, "floor": floor, "confidence": confidence, "layerwise": layerwise}
                    if model is None:
                        plans.append({**row, "refused": f"probe unreliable: {reason}"})
                        continue
                    try:
                        plan = plan_compression(spec.name, complexity, model, network=spec, widths=base,
                                                spatial_dims=spec.spatial_dims, in_channels=spec.in_channels,
                                                out_channels=spec.out_channels, layerwise=layerwise,
                                                min_relative_accuracy=floor, confidence=confidence)
                    except ValueError as err:
                        plans.append({**row, "refused": str(err)})
                        continue
                    plans.append({**row, "widths": list(plan.widths), "weights": plan.weights,
                                  "parameters": spec.parameters(plan.widths),
                                  spec.architecture.widths.arg: spec.values(plan.widths)[spec.architecture.widths.arg],
                                  "predicted": plan.predicted_relative_accuracy, "interval": plan.predicted_interval,
                                  "lower_bound": plan.constraint.get("lower_bound")})
        # the full network with every seed: the reference the achieved relative accuracy divides by
        reference = [{"dataset": name, "widths": base, "confidence": None, "reference": True}] if model else []
        start = time.perf_counter()
        training = _NetworkPlanTraining(
            spec, plans + reference, probe_records, datasets={name: str(self.data_root / name)},
            output_dir=str(folder / "plans"), multipliers=[1.0, 0.5], seeds=self.seeds, recipe=self.recipe,
            device=self.device, spatial_dims=spec.spatial_dims, out_channels=spec.out_channels, fit_measures={},
            complexity={"measures": ["jpeg", "foreground"]}, bootstrap=0, workers=self.workers, progress=self.progress,
        )
        records = (training.run().get("records") or []) if reference else []
        train_wall = time.perf_counter() - start
        case = self._case(name, spec, result, probe_records, plans, records, reason)
        case["wall_seconds_this_invocation"] = {"probe": round(probe_wall, 1), "plans": round(train_wall, 1)}
        atomic_write_json(folder / "case.json", case)
        return case

    def _case(self, name, spec, probe_result, probe_records, plans, records, reason) -> dict:
        base = tuple(spec.base_widths)
        achieved: dict[tuple, dict] = {}
        for r in [*probe_records, *records]:
            achieved.setdefault(tuple(r["widths"]), {"weights": r["weights"], "seeds": {}, "seconds": {}})
            achieved[tuple(r["widths"])]["seeds"][int(r["seed"])] = float(r["f1"])
            if "reused_from" not in r:
                achieved[tuple(r["widths"])]["seconds"][int(r["seed"])] = float(r["seconds"])
        full_seeds = {s: v for s, v in achieved.get(base, {"seeds": {}})["seeds"].items() if s in self.seeds}
        full = float(np.median(list(full_seeds.values()))) if full_seeds else None
        rows = []
        for plan in plans:
            row = dict(plan, full_accuracy=full, full_weights=spec.weights(base))
            if "widths" in plan and full:
                _score_seeds(row, plan, achieved.get(tuple(plan["widths"]), {"seeds": {}})["seeds"], full, self.seeds)
                row["weights_vs_full"] = plan["weights"] / spec.weights(base)
                # the smallest network this check trained (probe or plan) whose seed median meets the floor
                meeting = [v["weights"] for v in achieved.values()
                           if len(v["seeds"]) > 1 and np.median(list(v["seeds"].values())) / full >= plan["floor"]]
                row["smallest_trained_meeting"] = min(meeting) if meeting else None
            rows.append(row)
        arg = spec.architecture.widths.arg
        return {
            "dataset": name, "architecture": spec.name, "class": spec.architecture.target, "width_argument": arg,
            "network": spec.fingerprint()["kwargs"], "base": {arg: spec.values(base)[arg], "widths": list(base),
                                                             "weights": spec.weights(base), "parameters": spec.parameters(base)},
            "full_accuracy": full, "full_seeds": full_seeds,
            "probe": {k: probe_result.get(k) for k in ("status", "reason", "probe_widths", "network", "curve",
                                                       "full_accuracy", "trivial_f1", "train_seconds", "runs")},
            "probe_unreliable": reason,
            "plans": rows,
            "train_seconds": {"-".join(map(str, w)): v["seconds"] for w, v in achieved.items() if v["seconds"]},
        }

    def run(self, train: bool = True) -> dict:
        """Every dataset in turn (``train=False``: summarise the cases already written), then the summary."""
        cases = []
        for name in self.datasets:
            if train:
                cases.append(self.run_case(name))
            elif (self.output_dir / name / "case.json").is_file():
                cases.append(read_json(self.output_dir / name / "case.json", "case"))
        return self.summarize(cases)

    def summarize(self, cases: Sequence[Mapping]) -> dict:
        rows = [r for c in cases for r in c["plans"]]
        done = [r for r in _distinct_plans(rows) if r.get("achieved") is not None]
        seeds = [m for r in done for m in r["met_seeds"].values()]
        arch = cases[0]["architecture"] if cases else self.netdef.architecture.name
        result = {
            "architecture": arch, "class": self.netdef.architecture.target, "network_def": self.netdef.source,
            "design": {"probe": self.probe_design, "seeds_trained": self.seeds, "floors": self.floors,
                       "confidences": self.confidences, "layerwise": self.layerwise, "recipe": self.recipe,
                       "prior": self.prior_name, "prior_seed_sd": (self.prior.spread or {}).get("seed_sd"),
                       "prior_seed_dof_used": probe_mod.stats.PRIOR_NOISE_DOF},
            "cases": list(cases),
            "summary": {
                "datasets": [c["dataset"] for c in cases], "plans": len(rows), "refused": sum("refused" in r for r in rows),
                "trained": len(done), "met_by_median": f"{sum(r['met_median'] for r in done)}/{len(done)}",
                "met_single_seeds": f"{sum(seeds)}/{len(seeds)}",
                "median_abs_error": float(np.median([abs(r["error"]) for r in done])) if done else None,
                "interval_coverage": float(np.mean([v for r in done for v in r["inside_interval"]])) if done else None,
            },
        }
        out = self.output_dir
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "probe_plans.json", result)
        (out / "probe_plans.md").write_text(network_probe_plans_markdown(result))
        png = plot_probe_plans(rows, out / "probe_plans.png")
        s = result["summary"]
        print(f"{arch}: floors met by the seed median {s['met_by_median']}, single seeds {s['met_single_seeds']}, "
              f"refused {s['refused']} of {s['plans']}, median |error| {s['median_abs_error']}; {out / 'probe_plans.json'}")
        return {"files": {"results": str(out / "probe_plans.json"), "plot": str(png) if png else None}, "summary": s}


def network_probe_plans_markdown(result: Mapping) -> str:
    """The network probe-plans check as Markdown tables (docs/RESULTS.md pastes them)."""
    from .markdown import markdown_table

    def f(v, fmt="{:.3f}"):
        return "-" if v is None else fmt.format(v)

    probes, plans = [], []
    for case in result["cases"]:
        probe = case["probe"]
        trained = "; ".join(f"{'-'.join(map(str, w))}" for w in probe.get("probe_widths") or [])
        seeds = ", ".join(f"{v:.3f}" for v in case["full_seeds"].values())
        probes.append([case["dataset"], case["architecture"], f"{case['base']['weights']:,}", trained,
                       f(probe.get("full_accuracy")), f"{f(case['full_accuracy'])} ({seeds})",
                       probe.get("status"), f(probe.get("train_seconds"), "{:.0f}")])
        for r in case["plans"]:
            head = [case["dataset"], f"{r['floor']:g}", f(r["confidence"], "{:g}"), "per-stage" if r["layerwise"] else "uniform"]
            if "refused" in r:
                plans.append(head + [f"refused: {r['refused'][:120]}", "-", "-", "-", "-", "-"])
                continue
            achieved = ", ".join(f"{v:.3f}" for v in r.get("achieved_seeds", {}).values())
            met = f"{sum(r['met_seeds'].values())}/{len(r['met_seeds'])}" if r.get("met_seeds") else "-"
            plans.append(head + ["-".join(map(str, r["widths"])), f"{r['weights']:,} ({f(r.get('weights_vs_full'), '{:.2f}')})",
                                 f(r["predicted"]) + (f" (>= {r['lower_bound']:.3f})" if r.get("lower_bound") is not None else ""),
                                 achieved or "-", met, "yes" if r.get("met_median") else "no" if "met_median" in r else "-"])
    lines = [markdown_table(["dataset", "network", "full weights", "probe networks (widths)", "probe full F1 (seed 0)",
                             "full F1, seed median (seeds)", "probe", "probe train s"], probes), ""]
    lines += [markdown_table(["dataset", "floor", "confidence", "stages", "widths", "weights (x full)", "predicted (bound)",
                              "achieved relative F1 per seed", "seeds met", "median met"], plans), ""]
    s = result["summary"]
    lines += [markdown_table(["plans", "refused", "trained", "floor met (median)", "floor met (single seeds)",
                              "median abs error", "90% interval coverage"],
                             [[s["plans"], s["refused"], s["trained"], s["met_by_median"], s["met_single_seeds"],
                               f(s["median_abs_error"]), f(s["interval_coverage"], "{:.2f}")]]), ""]
    return "\n".join(lines)
