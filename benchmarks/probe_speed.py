"""Probe wall time: as shipped vs the same trainings on MONAI's plain path, one after another.

Both legs train the probe's networks (the full network once, stage-0 widths 4 and 2 with seeds 0
and 1: docs/method.md §7.3) on one real dataset with the prior's recipe (``unet-f1-cpu``: 64x64
patches of 128-px images, 10 epochs x 100 steps); only the execution differs:

- probe: ``Probe(...).run()`` as a user runs it (``workers`` one-thread processes, default 2:
  one per core; bf16 autocast where the CPU has native bf16, else fp32; the bit-identical
  speed-ups of ``monai_ccnet.workflows.recipe.FAST_PATHS``), timed from the constructor to the
  saved curve: data checks, complexity, worker start-up and the fit included;
- baseline: the same runs sequentially in this process with MONAI's ``SupervisedTrainer`` at
  torch's default threads, fp32, MONAI's default metadata tracking (``FAST_PATHS = False``):
  the trainings alone.

    python benchmarks/probe_speed.py --data ../shared/data/busi --output benchmarks/results/probe_speed_cpu.json

``--epochs 1`` is a quick check (the curve is then usually refused as unreliable; the times still
count). Without the dataset folder (``../shared/data`` is not part of the repository) it says so
and exits 0. Run it on an idle machine: the ratio only means something when nothing else competes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _machine() -> str:
    from monai_ccnet.workflows.runtime import cpu_supports_bf16

    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    simd = "AVX512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, {simd}, "
            f"native bf16: {cpu_supports_bf16()}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "busi"),
                        help="a dataset in the common layout (default ../shared/data/busi)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's max_epochs (quick runs)")
    parser.add_argument("--workers", type=int, default=2, help="the probe's worker processes (default 2)")
    parser.add_argument("--legs", nargs="+", default=["probe", "baseline"], choices=["probe", "baseline"])
    parser.add_argument("--output", default=None, help="JSON result file")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "split.json").is_file():
        print(f"probe_speed: skipped: no dataset in the common layout at {data} (../shared/data is not part of the repository)")
        return 0

    import torch

    from monai_ccnet.planning import load_degradation
    from monai_ccnet.workflows import recipe as recipe_module
    from monai_ccnet.workflows.probe import Probe, ProbeUnreliable

    default_threads = torch.get_num_threads()
    recipe = dict(load_degradation("unet-f1-cpu").provenance["recipe"])
    if args.epochs is not None:
        recipe["max_epochs"] = int(args.epochs)
    load_before = os.getloadavg()[0]
    legs: dict = {}
    runs: dict = {}
    if "probe" in args.legs:
        out = Path(tempfile.mkdtemp(prefix="ccnet_probe_speed_"))
        start = time.perf_counter()
        status = "ok"
        try:
            Probe(str(data), str(out), recipe=recipe, workers=args.workers, device="cpu", progress=False, plots=False).run()
        except ProbeUnreliable as error:  # a quick run's curve: the trainings still count
            status = f"unreliable: {error}"
        wall = time.perf_counter() - start
        records = json.loads((out / "records.json").read_text())
        legs["probe"] = {"wall_s": round(wall, 1), "workers": args.workers, "threads_per_worker": 1,
                         "precision": sorted({r["precision"] for r in records}), "fast_paths": True, "status": status}
        for r in records:
            runs.setdefault(r["key"], {"widths": r["widths"], "seed": r["seed"]})["probe"] = {
                "seconds": r["seconds"], "f1": r["f1"], "val_f1": r["val_f1"]}
        print(f"probe: {len(records)} runs in {wall:.1f} s wall ({status})", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    if "baseline" in args.legs:
        out = Path(tempfile.mkdtemp(prefix="ccnet_probe_speed_base_"))
        plain = {**recipe, "amp": False, "num_threads": None}
        probe = Probe(str(data), str(out), recipe=plain, workers=1, device="cpu", progress=False, plots=False)
        in_channels = probe._channels()
        torch.set_num_threads(default_threads)
        recipe_module.FAST_PATHS = False
        start = time.perf_counter()
        try:
            for run in probe.runs():
                record = probe._train_one(run, {}, in_channels)
                runs.setdefault(run["key"], {"widths": record["widths"], "seed": record["seed"]})["baseline"] = {
                    "seconds": record["seconds"], "f1": record["f1"], "val_f1": record["val_f1"]}
                print(f"baseline: {run['key']}: {record['seconds']} s", flush=True)
        finally:
            recipe_module.FAST_PATHS = True
        wall = time.perf_counter() - start
        legs["baseline"] = {"wall_s": round(wall, 1), "workers": 1, "threads": default_threads, "precision": "fp32",
                            "fast_paths": False}
        print(f"baseline: {len(probe.runs())} runs in {wall:.1f} s wall", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    probe_wall = legs.get("probe", {}).get("wall_s")
    baseline_wall = legs.get("baseline", {}).get("wall_s")
    ratio = round(baseline_wall / probe_wall, 2) if probe_wall and baseline_wall else None
    if ratio is not None:
        print(f"baseline / probe = {ratio}x (goals: probe <= 180 s, >= 3x)")
    report = {
        "command": "python benchmarks/probe_speed.py " + " ".join(
            f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items() if v is not None),
        "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "python": sys.version.split()[0],
        "torch": torch.__version__, "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "dataset": data.name, "recipe": recipe, "probe_wall_s": probe_wall, "baseline_wall_s": baseline_wall,
        "ratio": ratio, "legs": legs, "runs": [{"key": k, **v} for k, v in runs.items()],
    }
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
