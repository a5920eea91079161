"""``python -m monai_ccnet heldout plans|probe``: check predictions against trained networks.

``plans``: for each calibration dataset, plan from the calibration *without* it (floors 0.95 /
0.90, disk 1/4 / 1/16 of the base network, uniform and per stage), train the planned networks
with the calibration's recipe and seeds (one-thread worker processes; resumable) and compare
predicted with achieved relative accuracy (``<output>/plans.json``, ``plans.png``).

``probe``: the probe fitted from each dataset's calibration runs at the probe's widths against
the widths it did not train, next to the complexity-only and no-loss predictions
(``<output>/probe_check.json``, ``probe_check.png``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from monai_ccnet.utils import atomic_write_json, save_figure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("plans", "probe"), help="which check")
    parser.add_argument("--calibration", required=True, help="a finished calibrate output folder (with runs/)")
    parser.add_argument("--output", required=True, help="folder for the check's runs and results")
    parser.add_argument("--form", default="saturating", choices=("saturating", "linear"), help="degradation form to plan with")
    parser.add_argument("--confidence", type=float, default=None, help="plans: meet floors at this interval level's low end")
    parser.add_argument("--datasets", nargs="+", default=None, help="plans: only these held-out datasets")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="plans: training seeds; default 0 1")
    parser.add_argument("--workers", type=int, default=2, help="plans: one-thread training processes; default 2")
    parser.add_argument("--plan-check", default=None, help="probe: a 'heldout plans' output whose networks are targets too")
    parser.add_argument("--extra", nargs="*", default=[], help="probe: more calibrate outputs with target networks (e.g. twice the base)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if args.what == "plans":
        from .heldout import PlanCheck

        check = PlanCheck(args.calibration, str(out), form=args.form, seeds=args.seeds, confidence=args.confidence,
                          datasets=args.datasets, workers=args.workers)
        summary = check.run()
        print(summary.get("summary", summary))
        return 0
    from .heldout import probe_check

    result = probe_check(args.calibration, plan_check_dir=args.plan_check, extra_dirs=args.extra, form=args.form)
    path = atomic_write_json(out / "probe_check.json", result)
    for name, row in result["per_dataset"].items():
        print(f"{name:<16} probe {row['probe']:.4f}  complexity-only {row['complexity_only']:.4f}  no-loss {row['no_loss']:.4f}"
              f"  ({row['n_targets']} targets, probe training {row['probe_train_seconds']} s, "
              f"coverage {row['interval_coverage']})")
    print("overall MAE (relative accuracy units):", {k: round(v, 4) for k, v in result["overall_mae"].items()})
    print(f"wrote {path}")
    png = plot_probe_check(result, out / "probe_check.png")
    if png:
        print(f"wrote {png}")
    return 0


def plot_probe_check(result: dict, path) -> Path | None:
    """Per dataset: measured accuracy of the held-out widths vs the three predictions."""
    from monai.utils import optional_import

    if not optional_import("matplotlib")[1]:
        return None
    from matplotlib.figure import Figure

    names = sorted(result["per_dataset"])
    fig = Figure(figsize=(3.2 * len(names), 3.4))
    axes = fig.subplots(1, len(names), sharey=False)
    for ax, name in zip(axes if len(names) > 1 else [axes], names):
        rows = sorted((r for r in result["rows"] if r["dataset"] == name), key=lambda r: r["weights"])
        x = [math.log10(r["weights"]) for r in rows]
        ax.fill_between(x, [r["probe_interval"][0] for r in rows], [r["probe_interval"][1] for r in rows], alpha=0.2,
                        color="C1", linewidth=0)
        ax.plot(x, [r["probe"] for r in rows], "o-", color="C1", markersize=3, label="probe")
        ax.plot(x, [r["complexity_only"] for r in rows], "s--", color="C0", markersize=3, label="complexity-only")
        ax.plot(x, [r["no_loss"] for r in rows], ":", color="0.5", label="no loss")
        ax.plot(x, [r["measured"] for r in rows], "k*", markersize=7, label="measured (median)")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log10(weights)")
        ax.grid(alpha=0.3)
    (axes[0] if len(names) > 1 else axes).set_ylabel("test F1")
    (axes[0] if len(names) > 1 else axes).legend(fontsize=6)
    return save_figure(fig, path)
