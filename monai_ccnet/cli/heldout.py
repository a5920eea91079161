"""``python -m monai_ccnet heldout plans|probe-plans``: check predictions against trained networks.

``plans``: for each calibration dataset, plan from the calibration *without* it (floors 0.95 /
0.90, disk 1/4 / 1/16 of the base network, uniform and per stage), train the planned networks
with the calibration's recipe and seeds (one-thread worker processes; resumable) and compare
predicted with achieved relative accuracy (``<output>/plans.json``, ``plans.png``).

``probe-plans``: the user's path held out - for each dataset of a calibration's committed
records, the probe (its identical runs), floor plans from it (0.95 / 0.90, with and without
confidence 0.9, uniform and per stage), every planned network trained with seeds 0, 1, 2
(``<output>/probe_plans.json``, ``probe_plans.png``; resumable).

``probe-plans --network-def FILE --datasets A B C``: the same check on the user's own MONAI network
(a bundle config with a ``network_def``, or the block): per dataset in turn, that network's probe
trained fresh (no calibration records), floor plans from it (0.95 / 0.90 at confidence 0.9,
uniform), every plan and the full network trained with seeds 0, 1; weights are the registry's
(``<output>/<dataset>/...``, ``<output>/probe_plans.json``, ``.md``, ``.png``; resumable).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("plans", "probe-plans"), help="which check")
    parser.add_argument("--calibration", default=None, help="plans: a finished calibrate output folder (with runs/)")
    parser.add_argument("--records", default="docs/results/calibration_cpu/records.json",
                        help="probe-plans: a calibration's records.json; default the committed CPU calibration")
    parser.add_argument("--data-root", default="../shared/data", help="probe-plans: folder holding each dataset by name")
    parser.add_argument("--prior", default="unet-f1-cpu", help="probe-plans: the calibration model whose recipe and base widths the runs use")
    parser.add_argument("--output", required=True, help="folder for the check's runs and results")
    parser.add_argument("--form", default="saturating", choices=("saturating", "linear"), help="plans: degradation form to plan with")
    parser.add_argument("--confidence", type=float, default=None, help="plans: meet floors with this confidence")
    parser.add_argument("--datasets", nargs="+", default=None, help="only these held-out datasets")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds; default 0 1 (plans), 0 1 2 (probe-plans)")
    parser.add_argument("--workers", type=int, default=2, help="one-thread training processes; default 2")
    parser.add_argument("--network-def", default=None, metavar="FILE",
                        help="probe-plans: check this MONAI network (a bundle config with a network_def, or the block) "
                             "instead of the calibration's U-Net; its probe is trained fresh; needs --datasets")
    parser.add_argument("--network-def-key", default="network_def", help="the config key of the network_def block")
    parser.add_argument("--probe-confidence", type=float, nargs="+", default=None,
                        help="probe-plans --network-def: confidences of the floor plans (default 0.9)")
    parser.add_argument("--central", action="store_true", help="probe-plans --network-def: also plan floors at the central prediction")
    parser.add_argument("--no-train", action="store_true",
                        help="probe-plans: train nothing, summarise the runs already in <output>/runs (an interrupted check)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if args.what == "plans":
        from ..workflows.heldout import PlanCheck

        if not args.calibration:
            raise SystemExit("heldout plans needs --calibration (a finished calibrate output folder with runs/)")
        check = PlanCheck(args.calibration, str(out), form=args.form, seeds=args.seeds or [0, 1],
                          confidence=args.confidence, datasets=args.datasets, workers=args.workers)
    elif args.network_def:
        from ..workflows.heldout import NetworkProbePlanCheck

        if not args.datasets:
            raise SystemExit("heldout probe-plans --network-def needs --datasets (folders under --data-root)")
        confidences = list(args.probe_confidence or [0.9]) + ([None] if args.central else [])
        check = NetworkProbePlanCheck(args.network_def, args.data_root, str(out), args.datasets, prior=args.prior,
                                      seeds=args.seeds or [0, 1], confidences=confidences, workers=args.workers,
                                      network_def_key=args.network_def_key)
        summary = check.run(train=not args.no_train)
        print(summary["summary"])
        return 0
    else:
        from ..workflows.heldout import ProbePlanCheck

        check = ProbePlanCheck(args.records, args.data_root, str(out), prior=args.prior, seeds=args.seeds or [0, 1, 2],
                               datasets=args.datasets, workers=args.workers)
        if args.no_train:
            done = [check._finished(r["key"]) for r in check.runs() if check._run_file(r["key"]).is_file()]
            print(f"{len(done)} of {len(check.runs())} runs trained; summarising those")
            summary = check.fit(done)
            print(summary["summary"])
            return 0
    summary = check.run()
    print(summary.get("summary", summary))
    return 0
