"""The calibration sweep (docs/method.md §3): datasets x multipliers x seeds, then (lambda, delta).

Every (dataset, multiplier, seed) run trains the architecture with the shared recipe
(:mod:`monai_ccnet.workflows.recipe`, run by :mod:`monai_ccnet.workflows.training`), scores F1 and IoU on the dataset's test split, and is
written atomically to ``<output_dir>/runs/<key>.json`` the moment it ends. Rerunning the same
command skips runs whose file exists, so a crash or kill loses at most the run in progress.

Under ``torchrun`` the runs are sharded across ranks (rank ``r`` takes ``runs[r::world]``; one
GPU each, or CPU processes); rank 0 fits once every rank is done. The ranks coordinate through
a ``TCPStore`` (:class:`~monai_ccnet.workflows.distributed.RankBarrier`) rather than a process group,
because inside a process group MONAI's metrics all-gather across ranks (each rank would score
the others' networks). On one CPU node, ``workers`` one-thread processes do the same without
torchrun. The fit writes the calibration records (the planner's input format), the F1 and IoU
degradation models in both forms with their held-out check, the ranking of the candidate
complexity measures by R^2 (the paper's Fig. 2 question) and plots in the style of Fig. 6.

**The user's own network** (``network_def_file``: a MONAI bundle config whose ``network_def`` is a
registered architecture, :mod:`monai_ccnet.nets.registry`): the sweep trains that network instead
of ``arch`` / ``widths``, its widths x ``multipliers`` moved to the nearest widths its constraints
allow (multipliers that land on the same network train it once), counts weights as the registry
does, and the fitted models name its architecture (``arch``, e.g. ``"monai.UNet"``), so that they
plan that network (``plan --network-def``) and planning another one with them warns or refuses.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from monai.utils import set_determinism

from monai_ccnet.accounting import DEFAULT_WIDTHS, check_arch, resolve_widths, total_weights
from monai_ccnet.planning.degradation import component_measures
from monai_ccnet.errors import config_errors
from monai_ccnet.utils import as_bool, atomic_write_json, atomic_write_text

from .distributed import RankBarrier, shard_context
from .inputs import build_model, bundle_data, detect_in_channels, measure_complexity
from .recipe import make_recipe
from .runtime import free_cores
from .training import train_and_evaluate

__all__ = ["DEFAULT_MULTIPLIERS", "run_key", "CalibrationSweep"]

logger = logging.getLogger(__name__)

#: reaches where accuracy falls (docs/method.md §3: the paper's set stops at 1/16, where real data barely degrades)
DEFAULT_MULTIPLIERS = (1.0, 0.25, 0.0625, 0.03125, 0.015625)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ["MONAI_CCNET_WORKER_THREADS"] = str(threads)


def _heldout_record(lodo: Mapping, form: str) -> dict:
    """What a model's leave-one-dataset-out check found, kept in its provenance so every plan made
    with it can say how far to trust it (:func:`monai_ccnet.planning.degradation.prediction_caveat`)."""
    return {
        "mae": lodo["models"][form]["mae"], "no_loss_mae": lodo["models"]["no_loss"]["mae"],
        "datasets": lodo["datasets"], "coverage": lodo["intervals"].get(form, {}).get("coverage"),
        "level": lodo["intervals"].get(form, {}).get("level"), "check": "leave-one-dataset-out (calibrate)",
    }


def portable_dir(folder: str | os.PathLike) -> str:
    """``folder`` as run records and provenance store it: relative to the working directory (e.g.
    ``../shared/data/busi``), so that committed results do not carry one machine's absolute paths
    and a later run from the same directory (``PlanCheck`` reading the records) still finds the data.
    A relative ``folder`` is kept as given; one that has no relative form (another drive) is
    reduced to its folder name."""
    path = Path(folder).expanduser()
    if not path.is_absolute():
        return str(folder)
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:  # Windows: another drive
        return path.name


def run_key(dataset: str, multiplier: float, seed: int) -> str:
    """File-name-safe id of one calibration run, e.g. ``cells__m0.0625__s1``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(dataset))
    return f"{safe}__m{float(multiplier):.6g}__s{int(seed)}"


class CalibrationSweep:
    """Train every (dataset, multiplier, seed), then fit the degradation models.

    Args:
        datasets: ``{name: dataset_dir}`` (common layout with ``train`` and ``test`` splits).
        output_dir: where ``runs/``, ``complexity/``, the fits and plots go.
        arch, widths: the architecture and its full (multiplier 1) stage widths.
        multipliers: uniform channel multipliers; must include 1 (the reference accuracy). For a
            registered network, the widths each gives are snapped to its constraints, and
            multipliers that give the same network are one network (trained under the widest).
        seeds: training seeds per (dataset, multiplier).
        recipe: overrides of :data:`~monai_ccnet.workflows.recipe.DEFAULT_RECIPE`.
        fit_measures: ``{metric: measure}`` for the saved models (paper: F1 with J, IoU with JB).
        complexity: settings of :func:`~monai_ccnet.complexity.analyze_dataset` (``measures`` ...).
        bootstrap: resamples for the confidence intervals of Eq. 3's line.
        interval_bootstrap: refits kept in each model for prediction intervals (docs/method.md §7.2).
        max_new_runs: stop after training this many runs in this invocation (None: all); the
            rest are trained by the next invocation. Useful to bound a job's wall time.
        workers: train this process's runs in this many one-thread worker processes (CPU: one
            per free core beats threads in one process; under torchrun keep 1 per rank).
        network_def_file: sweep the user's own network instead of ``arch`` / ``widths`` (which are
            then not used): a bundle config (JSON/YAML) holding a ``network_def_key`` block, the block
            alone, or such a dict (:func:`monai_ccnet.nets.network_def.read_network_def`). Its class
            must be registered, its ``spatial_dims`` this sweep's and its ``out_channels`` 2.
        network_def_key: the config key of that block.
    """

    #: the fit compares datasets (Eq. 3 across complexities) and normalises by the full network
    min_datasets = 2
    needs_full_width = True
    #: a registered network to train instead of ``arch`` (a ``monai_ccnet.nets.registry.NetworkSpec``; None: ours)
    network = None

    @config_errors()  # bad input reads as one line in bundle runs (monai_ccnet.errors)
    def __init__(
        self,
        datasets: Mapping[str, str],
        output_dir: str,
        arch: str = "unet",
        widths: Sequence[int] = DEFAULT_WIDTHS,
        multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
        seeds: Sequence[int] = (0, 1),
        recipe: Mapping | None = None,
        device: Any = "auto",
        spatial_dims: int = 2,
        out_channels: int = 2,
        fit_measures: Mapping[str, str] | None = None,
        complexity: Mapping | None = None,
        bootstrap: int = 1000,
        interval_bootstrap: int = 200,
        max_new_runs: int | None = None,
        workers: int = 1,
        progress: bool = True,
        plots: bool = True,
        network_def_file: str | os.PathLike | Mapping | None = None,
        network_def_key: str = "network_def",
    ):
        if network_def_file is not None:
            from monai_ccnet.nets.network_def import read_network_def

            self.network = read_network_def(network_def_file, key=network_def_key).spec
            self._check_network(spatial_dims, out_channels)
            logger.info(f"{type(self).__name__}: sweeping the network of {network_def_file} ({self.network.name}, "
                        f"widths {list(self.network.base_widths)}); arch and widths are not used")
        if not datasets or len(datasets) < self.min_datasets:
            raise ValueError(
                f"{type(self).__name__} needs at least {self.min_datasets} "
                f"{'datasets of different complexity' if self.min_datasets > 1 else 'dataset'}, got {sorted(datasets or {})}."
            )
        self.datasets = {str(k): str(v) for k, v in datasets.items()}
        self.output_dir = Path(output_dir)
        # a registered network (``network``, a NetworkSpec: set by subclasses, e.g. the probe of a MONAI
        # network) replaces ``arch`` and ``widths``; runs build and count it through the registry
        self.arch = self.network.name if self.network is not None else check_arch(arch)
        self.widths = list(self.network.base_widths) if self.network is not None else list(resolve_widths(widths))
        self.multipliers = [float(m) for m in multipliers]
        if self.needs_full_width and not any(math.isclose(m, 1.0) for m in self.multipliers):
            raise ValueError(f"multipliers must include 1 (the full network's accuracy normalises the others): {self.multipliers}")
        resolve_widths(self.widths, min(self.multipliers))  # checks positivity / finiteness
        if len({self._widths_at(m) for m in self.multipliers}) < 2:
            snapped = f" (snapped to {self.network.name}'s constraints)" if self.network is not None else ""
            raise ValueError(
                f"multipliers {self.multipliers} give fewer than 2 distinct networks of widths {self.widths}{snapped}; "
                "the fit needs a slope per dataset: add multipliers where accuracy falls (e.g. 0.25, 0.0625, 0.015625)."
            )
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ValueError("seeds must list at least one seed.")
        self.recipe = make_recipe(recipe)
        self.device = device
        self.spatial_dims = int(spatial_dims)
        self.out_channels = int(out_channels)
        self.fit_measures = dict(fit_measures or {"f1": "jpeg", "iou": "jb"})
        self.complexity = dict(complexity or {})
        self.bootstrap = int(bootstrap)
        self.interval_bootstrap = int(interval_bootstrap)
        self.max_new_runs = None if max_new_runs is None else int(max_new_runs)
        self.workers = int(workers)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}.")
        self.progress = as_bool(progress, "progress")
        self.plots = bool(plots)
        self.data = {name: self._load(name, folder, self.spatial_dims) for name, folder in self.datasets.items()}

    def _check_network(self, spatial_dims: int, out_channels: int) -> None:
        """Refuse a registered network this sweep cannot train: other dimensions than the data's,
        or other than the recipe's two classes (background / foreground)."""
        if self.network.spatial_dims != int(spatial_dims):
            raise ValueError(
                f"the network_def's network ({self.network.name}) is {self.network.spatial_dims}-D but spatial_dims is "
                f"{spatial_dims}: set spatial_dims {self.network.spatial_dims} (the data are read for it).")
        if self.network.out_channels != int(out_channels):
            raise ValueError(
                f"the network_def's network ({self.network.name}) has out_channels {self.network.out_channels}; the "
                f"recipe trains and scores {out_channels} classes (background/foreground): set it to {out_channels}.")

    @staticmethod
    def _load(name: str, folder: str, spatial_dims: int | None = None) -> dict:
        data = bundle_data(dataset_dir=folder, spatial_dims=spatial_dims)
        return {"train": data["train"], "test": data["test"], "dataset_dir": folder}

    # ----------------------------------------------------------------------------------- runs
    def runs(self) -> list[dict]:
        """Every run of the sweep, in a fixed order (the order ranks shard); a registered network's
        runs carry their snapped ``widths``."""
        if self.network is not None:
            return [
                {"key": run_key(d, m, s), "dataset": d, "multiplier": m, "seed": s, "widths": list(widths)}
                for d in self.datasets
                for m, widths in self.widths_by_multiplier().items()
                for s in self.seeds
            ]
        return [
            {"key": run_key(d, m, s), "dataset": d, "multiplier": m, "seed": s}
            for d in self.datasets
            for m in self.multipliers
            for s in self.seeds
        ]

    def widths_by_multiplier(self) -> dict[float, tuple[int, ...]]:
        """Multiplier -> the widths its runs train. Multipliers that give the same network are one
        network, under the widest of them (multiplier 1 first: it normalises the fit), so that no
        network is trained twice under two names and weighs twice in the fit; the others are
        logged. Our networks are not snapped: every multiplier is its own network, as before."""
        if self.network is None:
            return {m: self._widths_at(m) for m in self.multipliers}
        networks: dict[float, tuple[int, ...]] = {}
        for m in sorted(self.multipliers, key=lambda m: (not math.isclose(m, 1.0), -m)):
            widths = self._widths_at(m)
            same = next((kept for kept, w in networks.items() if w == widths), None)
            if same is None:
                networks[m] = widths
            else:
                logger.info(f"multiplier {m:g} gives the network of multiplier {same:g} once snapped to "
                            f"{self.network.name}'s constraints (widths {list(widths)}): trained once, under {same:g}")
        return networks

    def _widths_at(self, multiplier: float) -> tuple[int, ...]:
        """The network a multiplier of the base widths trains: ours by ``resolve_widths``, a
        registered network snapped to the widths its constraints allow."""
        if self.network is not None:
            return self.network.scaled_widths(multiplier)
        return resolve_widths(self.widths, multiplier)

    def _fingerprint(self) -> dict:
        # what must not change between a run and its resumption (else results would mix)
        return {
            "arch": self.arch,
            "base_widths": self.widths,
            "spatial_dims": self.spatial_dims,
            "out_channels": self.out_channels,
            # how the data is loaded (workers, caching) and the thread count do not change the results
            "recipe": {k: v for k, v in self.recipe.items() if k not in ("num_workers", "cache_rate", "num_threads")},
            **({"network": self.network.fingerprint()} if self.network is not None else {}),
        }

    def _run_file(self, key: str) -> Path:
        return self.output_dir / "runs" / f"{key}.json"

    def _finished(self, key: str) -> dict | None:
        path = self._run_file(key)
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        if record.get("config") != self._fingerprint():
            raise ValueError(
                f"{path} was produced with another configuration ({record.get('config')}) than this sweep "
                f"({self._fingerprint()}); use a new output_dir or delete the old runs."
            )
        return record

    def _complexity(self, name: str) -> dict:
        data = self.data[name]
        report = measure_complexity(
            data["train"],
            scales=len(self.widths),
            cache_file=self.output_dir / "complexity" / f"{name}.json",
            progress=self.progress,
            **self.complexity,
        )
        return {measure: report.mean(measure) for measure in report.measures}

    def _check_complexities(self, complexity: Mapping[str, Mapping]) -> None:
        """Refuse, before any training, datasets that the fit could not separate: every dataset
        with the same input-scale complexity of a fitted measure (JB: of both J and B)."""
        for measure in sorted(set(self.fit_measures.values())):
            parts = list(component_measures(measure))
            values = {p: {name: c[p][0] for name, c in complexity.items() if p in c} for p in parts}
            if all(len(v) == len(complexity) and len(set(v.values())) == 1 for v in values.values()):
                raise ValueError(
                    f"every calibration dataset has the same complexity {measure!r} ({values}): the fit of "
                    "slope = lambda * C + delta would be degenerate. Calibrate on datasets of different complexity."
                )

    def _train_one(self, run: dict, complexity: dict, in_channels: int) -> dict:
        data = self.data[run["dataset"]]
        # a run is a uniform multiplier of the base widths, or (plan checks) its own width vector
        widths = list(run["widths"]) if run.get("widths") else list(self._widths_at(run["multiplier"]))
        if self.network is not None:  # the registered network takes its own channels (the recipe converts grey/colour)
            in_channels = self.network.in_channels
        set_determinism(seed=run["seed"])  # same initial weights for the same (width, seed)
        network = self._build_network(widths, in_channels)
        start = time.perf_counter()
        result = train_and_evaluate(
            network, data["train"], data["test"], self.recipe, self.device, in_channels, progress=self.progress, seed=run["seed"]
        )
        return {
            "dataset": run["dataset"],
            "complexity": complexity,
            "multiplier": run.get("multiplier"),
            "widths": widths,
            "weights": self._count_weights(widths, in_channels),
            # what the state dict stores (weights, biases, norms): the module trained, counted
            "parameters": sum(p.numel() for p in network.parameters()),
            "seed": run["seed"],
            "f1": result["f1"],
            "iou": result["iou"],
            "arch": self.arch,
            "key": run["key"],
            "val_f1": result["val_f1"],
            "epochs": result["epochs"],
            "best_epoch": result["best_epoch"],
            "seconds": round(time.perf_counter() - start, 3),
            "device": result["device"],
            "precision": result["precision"],
            "dataset_dir": portable_dir(data["dataset_dir"]),
            "config": self._fingerprint(),
        }

    def _build_network(self, widths: Sequence[int], in_channels: int):
        """The network of one run: ours (``arch``) or the registered ``network`` at ``widths``."""
        if self.network is not None:
            return self.network.build(widths)
        return build_model(self.arch, widths, 1.0, self.spatial_dims, in_channels, self.out_channels)

    def _count_weights(self, widths: Sequence[int], in_channels: int) -> int:
        """Its weights (conv + linear weights without biases): the accounting, or the registry's count."""
        if self.network is not None:
            return self.network.weights(widths)
        return total_weights(self.arch, widths, self.spatial_dims, in_channels, self.out_channels)

    def run(self) -> dict:
        """Train this rank's unfinished runs, then (rank 0, all runs done) fit and save.

        Returns a summary ``{"status": "complete" | "incomplete", "trained", "skipped", ...}``
        with the output paths when complete.
        """
        rank, world = shard_context()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        ranks = RankBarrier(rank, world, name=str(self.output_dir.resolve()))
        if rank == 0:  # before the other ranks start (they wait in ranks.open())
            # half-written results of a killed run (atomic writes never leave a partial .json)
            for stale in (self.output_dir / "runs").glob(".*.tmp"):
                stale.unlink(missing_ok=True)
            # complexity once, before the other ranks read it from the cache
            for name in self.datasets:
                self._complexity(name)
        ranks.open()
        complexity = {name: self._complexity(name) for name in self.datasets}
        self._check_complexities(complexity)
        channels = {name: detect_in_channels(self.data[name]["train"]) for name in self.datasets}

        runs = self.runs()
        mine = runs[rank::world]
        skipped = [run["key"] for run in mine if self._finished(run["key"]) is not None]
        todo = [run for run in mine if run["key"] not in skipped]
        if self.max_new_runs is not None and len(todo) > self.max_new_runs:
            logger.info(f"rank {rank}: max_new_runs={self.max_new_runs} reached; rerun to train the rest.")
            todo = todo[: self.max_new_runs]
        trained = self._train_all(todo, complexity, channels, rank)
        ranks.wait("trained", {"trained": trained, "skipped": skipped})
        ranks.close()
        summary: dict[str, Any] = {"status": "incomplete", "rank": rank, "trained": trained, "skipped": skipped}
        if rank != 0:
            return summary
        missing = [run["key"] for run in runs if not self._run_file(run["key"]).is_file()]
        if missing:
            logger.warning(f"calibration incomplete: {len(missing)} of {len(runs)} runs missing; rerun the same command to resume.")
            summary["missing"] = missing
            return summary
        records = [self._finished(run["key"]) for run in runs]
        summary.update(self.fit(records))
        summary["status"] = "complete"
        return summary

    def _train_and_save(self, run: dict, complexity: dict, in_channels: int, label: str) -> str:
        logger.info(f"{label}: calibration run {run['key']}")
        record = self._train_one(run, complexity, in_channels)
        atomic_write_json(self._run_file(run["key"]), record)
        logger.info(f"{label}: {run['key']}: F1 {record['f1']:.4f}, IoU {record['iou']:.4f} ({record['seconds']} s)")
        return run["key"]

    def _train_all(self, todo: list[dict], complexity: dict, channels: dict, rank: int) -> list[str]:
        """Train ``todo`` here, or in ``workers`` one-thread processes of this node (each run is
        saved by the process that trained it, so a crash still loses at most the runs in flight)."""
        args = [(run, complexity[run["dataset"]], channels[run["dataset"]]) for run in todo]
        if self.workers <= 1 or len(todo) <= 1:
            return [self._train_and_save(*a, label=f"rank {rank}") for a in args]
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        # spawn: a fresh interpreter per worker (fork would copy torch's thread pools and locks)
        threads = max(1, self._free_cores() // self.workers)
        logger.info(f"rank {rank}: {len(todo)} runs in {self.workers} worker processes, {threads} torch thread(s) each")
        with ProcessPoolExecutor(
            self.workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(threads,)
        ) as pool:
            futures = [pool.submit(self._train_and_save, *a, label=f"rank {rank} worker") for a in args]
            return [f.result() for f in futures]

    @staticmethod
    def _free_cores() -> int:
        return free_cores()

    # ------------------------------------------------------------------------------------ fit
    def fit(self, records: list[dict]) -> dict:
        """Fit and save: records.json, degradation_<metric>_<form>.json for both forms, the held-out
        check lodo_<metric>.json (>= 3 datasets), degradation_<metric>.json (the form that predicted
        held-out datasets better), measure_ranking.json, plots, summary.md."""
        from monai_ccnet.planning import fit_degradation, rank_measures
        from monai_ccnet.planning.forms import FORMS
        from monai_ccnet.planning.lodo import leave_one_dataset_out

        from .plots import plot_degradation
        from .markdown import calibration_markdown

        out = self.output_dir
        clean = [{k: v for k, v in r.items() if k != "config"} for r in records]
        atomic_write_json(out / "records.json", clean)
        models, ranking, files = {}, {}, {"records": str(out / "records.json")}
        provenance = {
            "source": "monai_ccnet calibrate", "datasets": {k: portable_dir(v) for k, v in self.datasets.items()},
            "recipe": self.recipe, "arch": self.arch, "base_widths": self.widths, "multipliers": self.multipliers, "seeds": self.seeds,
            "precision": sorted({str(r.get("precision")) for r in clean}), "device": sorted({str(r.get("device")) for r in clean}),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
            **({"network": self.network.fingerprint()} if self.network is not None else {}),
        }
        for metric, measure in self.fit_measures.items():
            fitted = {
                form: fit_degradation(clean, metric=metric, measure=measure, arch=self.arch, bootstrap=self.bootstrap,
                                      provenance=provenance, form=form, interval_bootstrap=self.interval_bootstrap)
                for form in FORMS
            }
            for form, model in fitted.items():
                files[f"degradation_{metric}_{form}"] = str(model.save(out / f"degradation_{metric}_{form}.json"))
            # the default form is the one that predicts held-out datasets better (>= 3 datasets)
            default, why = "linear", "fewer than 3 datasets: no held-out check; Eq. 3 (the paper's form)"
            if len(self.datasets) >= 3:
                complexity = {d["dataset"]: d["complexity"] for d in fitted["linear"].datasets}
                lodo = leave_one_dataset_out(clean, complexity, metric, models=("linear", "saturating", "no_loss"),
                                             bootstrap=min(self.interval_bootstrap, 100), arch=self.arch,
                                             network=self.network)
                files[f"lodo_{metric}"] = str(atomic_write_json(out / f"lodo_{metric}.json", lodo))
                default = lodo["default"]
                maes = {m: round(v["mae"], 4) for m, v in lodo["models"].items()}
                why = f"leave-one-dataset-out MAE {maes}"
                logger.info(f"{metric}: held-out MAE {maes}; default form {default}")
                for form, model in fitted.items():  # every model carries its own held-out record
                    model.provenance = {**model.provenance, "heldout": _heldout_record(lodo, form)}
            chosen = fitted[default]
            chosen.provenance = {**chosen.provenance, "default_form": default, "default_form_because": why}
            files[f"degradation_{metric}"] = str(chosen.save(out / f"degradation_{metric}.json"))
            model = fitted["linear"]  # the plots and the summary table show Eq. 3's slopes
            models[metric] = model
            ranking[metric] = [
                {"measure": m, "r2": r2, "lam": lam, "delta": delta} for m, r2, lam, delta in rank_measures(clean, metric)
            ]
            if self.plots:
                png = plot_degradation(clean, model, out / f"degradation_{metric}.png")
                if png:
                    files[f"plot_{metric}"] = str(png)
            logger.info(f"{metric}: lambda={model.lam:.4g} delta={model.delta:.4g} R^2={model.r2:.3f} ({measure})")
        atomic_write_json(out / "measure_ranking.json", ranking)
        files["measure_ranking"] = str(out / "measure_ranking.json")
        atomic_write_text(out / "summary.md", calibration_markdown(clean, models, ranking))
        files["summary"] = str(out / "summary.md")
        print(f"calibration finished: degradation models in {out}")
        return {"files": files, "models": {m: model.to_dict() for m, model in models.items()}}
