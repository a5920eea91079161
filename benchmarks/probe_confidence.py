"""Does 'confidence 0.9' mean 0.9? The probe's floor plans on simulated curves with known seed noise.

For each seed-noise level and floor: draw the probe's five runs (full network once, stage-0
widths 4 and 2 twice) from a known curve plus Gaussian noise, plan the floor at the given
confidence with the shipped planner, then draw the one network a user would train at the plan
and check it against the floor times the full network's *expected* accuracy. Reports the
fraction that met the floor among the plans made, and how many were refused. Pure arithmetic
(no training): seconds on a CPU.

    python benchmarks/probe_confidence.py --trials 300 --output benchmarks/results/probe_confidence_sim.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import numpy as np

from monai_ccnet.accounting import resolve_widths, total_weights
from monai_ccnet.planning import plan_compression
from monai_ccnet.planning import probe as stats
from monai_ccnet.workflows.probe import PROBE_MULTIPLIERS, probe_model

BASE = [16, 32, 64, 128, 256]


def weights(m: float) -> int:
    return total_weights("unet", list(resolve_widths(BASE, m)), 2, 1, 2)


X_FULL = math.log10(weights(1.0))


def curve(x: float) -> float:
    """Still rising at the full network, falling fast below stage-0 width ~4 (concave in x)."""
    return 0.9 - 0.02 * (X_FULL - x) - 0.25 * max(0.0, 4.6 - x) ** 2


def trial(rng, sigma: float, floor: float, confidence: float) -> bool | None:
    runs = [{"weights": weights(m), "seed": s, "f1": curve(math.log10(weights(m))) + rng.normal(0.0, sigma)}
            for m in PROBE_MULTIPLIERS for s in ((0,) if m == 1.0 else (0, 1))]
    measured = stats.measured_curve(runs, trivial=0.1)
    if stats.unreliable_reason(measured):
        return None
    model = probe_model(measured, "unet", "f1", measured["full_accuracy"], {"source": "simulation"})
    try:
        plan = plan_compression("unet", [0.5] * 5, model, min_relative_accuracy=floor, widths=BASE, confidence=confidence)
    except ValueError:  # refused: even the full network misses the floor too often
        return None
    return bool(curve(plan.log10_weights) + rng.normal(0.0, sigma) >= floor * curve(X_FULL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.005, 0.012, 0.03])
    parser.add_argument("--floors", type=float, nargs="+", default=[0.9, 0.95])
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--output", default="benchmarks/results/probe_confidence_sim.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for sigma in args.sigmas:
        for floor in args.floors:
            outcomes = [trial(rng, sigma, floor, args.confidence) for _ in range(args.trials)]
            made = [o for o in outcomes if o is not None]
            rows.append({"seed_noise": sigma, "seed_noise_relative": sigma / curve(X_FULL), "floor": floor,
                         "plans": len(made), "refused": len(outcomes) - len(made),
                         "met_fraction": float(np.mean(made)) if made else None})
            print(f"seed noise {sigma:.3f} ({sigma / curve(X_FULL):.3f} relative), floor {floor:g}: "
                  f"met {rows[-1]['met_fraction']} of {len(made)} plans, refused {rows[-1]['refused']}")
    result = {"confidence": args.confidence, "trials": args.trials, "rows": rows,
              "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
              "command": f"python benchmarks/probe_confidence.py --trials {args.trials} --output {args.output}"}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
