"""How long one plan takes (target: well under 10 ms per plan, docs/method.md §4 / issue 4).

Times ``plan_compression`` for every architecture x constraint x (uniform, per-stage) in one run,
median of ``--repeats`` calls each, and reports the ratio to the 10 ms target and to one exact
main-memory count (``accounting.memory_bytes`` of the full network, the planner's costliest step)
of the same architecture measured in the same run; also the wall time of the CLI from a cold
interpreter.

    python benchmarks/plan_speed.py [--repeats 50] [--json out.json]

Exits 1 if any plan's median reaches the target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from monai_ccnet.accounting import DEFAULT_WIDTHS, memory_bytes
from monai_ccnet.planning import load_degradation, plan_compression

TARGET_S = 0.010
J = [0.1518, 0.0857, 0.0655, 0.0496, 0.0375]  # docs/method.md §1: the paper's ultrasound dataset
CASES = {
    "disk 1 MB @ 64 bit": dict(disk_budget_mb=1, bits_per_weight=64),
    "memory 100 MB 256x256 exact": dict(memory_budget_mb=100, input_shape=(256, 256)),
    "memory 100 MB 256x256 paper": dict(memory_budget_mb=100, input_shape=(256, 256), memory_model="paper"),
    "accuracy floor 0.95": dict(min_relative_accuracy=0.95),
}


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} (other processes inflate every time below alike)")
    print(f"{'arch':12s} {'constraint':30s} {'plan':9s} {'median ms':>9s} {'/10 ms':>7s} {'/baseline':>9s}")
    rows, baselines = [], {}
    for arch in ("unet", "cumedvision", "ucunet"):
        baseline = baselines[arch] = median_seconds(lambda: memory_bytes(arch, DEFAULT_WIDTHS, (256, 256)), args.repeats)
        print(f"{arch:12s} baseline: one memory_bytes(full widths, 256x256) = {baseline * 1e3:.3f} ms")
        model = load_degradation(f"{arch}-f1-paper")
        for name, kwargs in CASES.items():
            for layerwise in (False, True):
                seconds = median_seconds(lambda: plan_compression(arch, J, model, layerwise=layerwise, **kwargs), args.repeats)
                rows.append({"arch": arch, "constraint": name, "layerwise": layerwise, "median_s": seconds,
                             "ratio_to_target": seconds / TARGET_S, "ratio_to_baseline": seconds / baseline})
                print(f"{arch:12s} {name:30s} {'per-stage' if layerwise else 'uniform':9s} {seconds * 1e3:9.3f} "
                      f"{seconds / TARGET_S:7.3f} {seconds / baseline:9.1f}")

    command = [sys.executable, "-m", "monai_ccnet", "plan", "--arch", "unet", "--complexity", *map(str, J),
               "--degradation", "unet-f1-paper", "--min-relative-accuracy", "0.95", "--json"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    cli_s = time.perf_counter() - start
    torch_free = [sys.executable, "-c", "import sys; sys.modules['torch'] = None; sys.modules['monai'] = None; "
                  "import monai_ccnet.planning"]
    start = time.perf_counter()
    subprocess.run(torch_free, check=True, capture_output=True)
    import_s = time.perf_counter() - start
    worst = max(r["median_s"] for r in rows)
    print(f"worst plan: {worst * 1e3:.3f} ms ({worst / TARGET_S:.2f} x the 10 ms target)")
    print(f"cold interpreter: `python -m monai_ccnet plan ...` {cli_s:.2f} s (imports the package, torch and MONAI "
          f"included); `import monai_ccnet.planning` with torch and MONAI blocked {import_s:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"baseline_s": baselines, "rows": rows, "cli_cold_s": cli_s, "planning_import_torch_free_s": import_s, "target_s": TARGET_S, "load": load}, f, indent=2)
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
