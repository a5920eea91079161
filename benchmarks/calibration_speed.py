"""Calibration sweep throughput: as shipped vs the plain sequential SupervisedTrainer loop.

Both train the same runs (one dataset, the CPU profile's widths and seeds, the same fixed step
budget) through ``CalibrationSweep``; only the execution differs:

- shipped: ``calibrate_cpu.yaml``'s settings: bf16 autocast where the CPU has native bf16 (else
  fp32), one torch thread per worker, ``workers`` one-thread processes (default 2: one per core),
  and the bit-identical speed-ups of ``monai_ccnet.workflows.recipe.FAST_PATHS`` (random training
  transforms on plain tensors, each image decoded once per worker process);
- baseline: fp32, torch's default threads (all cores in one process), one run after another,
  MONAI's default metadata tracking and per-run loading (``FAST_PATHS = False``).

Reports training images per second (optimizer steps x patches per step / wall time, data
caching and evaluation included) and the ratio, measured in one invocation on this machine.

    python benchmarks/calibration_speed.py --data ../shared/data/hc18 ../shared/data/ph2 --steps 100 --output benchmarks/results/calibration_speed_cpu.json

Run it on an idle machine: the ratio is only meaningful when nothing else competes for the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "bundles" / "ccnet_segmentation" / "configs" / "calibrate_cpu.yaml"


def _simd() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return "AVX512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, nargs=2, help="two datasets in the common layout (a sweep needs two)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per run (the profile uses 1000); default 200")
    parser.add_argument("--multipliers", type=float, nargs="+", default=[1.0, 0.25, 0.0625])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", default=None, help="JSON result file")
    args = parser.parse_args()

    from monai_ccnet.workflows import CalibrationSweep
    from monai_ccnet.workflows import recipe as recipe_module
    from monai_ccnet.workflows.runtime import cpu_supports_bf16

    profile = yaml.safe_load(PROFILE.read_text())
    recipe = dict(profile["recipe"])
    recipe.update(max_epochs=1, epoch_length=args.steps, val_interval=1)
    patches_per_step = recipe["batch_size"] * recipe["num_samples"]
    # both legs train the same runs: two datasets x multipliers x seeds
    datasets = {Path(d).name: d for d in args.data}
    runs_per_leg = len(datasets) * len(args.multipliers) * len(args.seeds)
    results = {}
    load_before = os.getloadavg()[0]
    for leg, overrides, workers in (
        ("baseline", {"amp": False, "num_threads": None}, 1),
        ("shipped", {"amp": True, "num_threads": 1}, args.workers),
    ):
        out = Path(tempfile.mkdtemp(prefix=f"ccnet_speed_{leg}_"))
        sweep = CalibrationSweep(
            datasets, str(out), widths=profile["widths"], multipliers=args.multipliers, seeds=args.seeds,
            recipe={**recipe, **overrides}, device="cpu", progress=False, plots=False, bootstrap=0, workers=workers,
            interval_bootstrap=0,
            complexity={"measures": ["jpeg", "foreground"]},
        )
        for name in datasets:  # complexity is measured before the clock starts (cached for run())
            sweep._complexity(name)
        recipe_module.FAST_PATHS = leg != "baseline"  # the baseline trains in this process (workers=1)
        start = time.perf_counter()
        try:
            summary = sweep.run()
        finally:
            recipe_module.FAST_PATHS = True
        wall = time.perf_counter() - start
        images = runs_per_leg * args.steps * patches_per_step
        results[leg] = {"wall_s": round(wall, 1), "images_per_s": round(images / wall, 1), "runs": runs_per_leg,
                        "workers": workers, **overrides, "fast_paths": leg != "baseline", "status": summary["status"]}
        print(f"{leg}: {runs_per_leg} runs x {args.steps} steps x {patches_per_step} patches in {wall:.1f} s "
              f"= {images / wall:.1f} images/s")
        shutil.rmtree(out, ignore_errors=True)
    ratio = results["shipped"]["images_per_s"] / results["baseline"]["images_per_s"]
    print(f"shipped / baseline = {ratio:.2f}x (goal >= 3x)")
    report = {
        "command": "python benchmarks/calibration_speed.py " + " ".join(
            f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items() if v is not None),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {_simd()}, native bf16: {cpu_supports_bf16()}",
        "date": time.strftime("%Y-%m-%d"), "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "steps": args.steps, "patches_per_step": patches_per_step, "legs": results, "ratio": round(ratio, 2),
    }
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
