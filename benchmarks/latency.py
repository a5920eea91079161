"""Forward latency of full vs compressed width-scalable networks, as ratios measured in one run.

Compares, per architecture, the full network (multiplier 1) with uniform multipliers (default
0.5, 0.25, 0.0625), a per-stage multiplier vector, and optionally planner plans (``--plan``).
Every configuration is timed round-robin (one forward of each per round) so that machine drift
hits all of them alike; the report gives the median, the speed-up over the full network and the
MACs ratio (``monai_ccnet.accounting.macs``).

CPU (this machine)::

    python benchmarks/latency.py --arch unet cumedvision ucunet --size 512 --rounds 5

GPU (bf16 autocast, channels_last, eager and ``torch.compile`` side by side)::

    python benchmarks/latency.py --device cuda --bf16 --channels-last --compile --rounds 50 --warmup 10

``--output latency.json`` writes the table as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from monai_ccnet.accounting import ARCHITECTURES, DEFAULT_WIDTHS, macs, resolve_widths, total_weights
from monai_ccnet.nets import build_network, network_from_plan
from monai_ccnet.utils import atomic_write_json

DEFAULT_MULTIPLIERS = (1.0, 0.5, 0.25, 0.0625)
#: a per-stage plan shaped like the planner's (Eq. 11): the early, more complex scales keep more channels
DEFAULT_STAGE_MULTIPLIERS = (0.5, 0.4, 0.3, 0.25, 0.2)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["unet"], choices=ARCHITECTURES)
    parser.add_argument("--size", type=int, default=512, help="square input size (default 512)")
    parser.add_argument("--spatial-dims", type=int, default=2, choices=(2, 3))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--in-channels", type=int, default=1)
    parser.add_argument("--out-channels", type=int, default=2)
    parser.add_argument("--multipliers", type=float, nargs="+", default=list(DEFAULT_MULTIPLIERS),
                        help="uniform multipliers; 1.0 (the full network, the ratios' baseline) is always added")
    parser.add_argument("--stage-multipliers", type=float, nargs="*", default=list(DEFAULT_STAGE_MULTIPLIERS),
                        help="one per-stage multiplier vector (empty: none)")
    parser.add_argument("--plan", nargs="*", default=[], help="planner plan JSON files to time as well (their arch must be in --arch)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--channels-last", action="store_true", help="channels_last(_3d) memory format for model and input")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd models (eager rows are kept)")
    parser.add_argument("--rounds", type=int, default=5, help="timed forwards per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forwards per configuration (compile happens here)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def configurations(args) -> list[dict]:
    """(arch, label, widths) for every network to time, full width first per architecture."""
    configs = []
    multipliers = [1.0] + [m for m in args.multipliers if m != 1.0]
    for arch in args.arch:
        for m in multipliers:
            configs.append({"arch": arch, "label": f"x{m:g}", "widths": resolve_widths(DEFAULT_WIDTHS, m)})
        if args.stage_multipliers:
            stage = tuple(args.stage_multipliers)
            configs.append({"arch": arch, "label": "stages " + ",".join(f"{m:g}" for m in stage),
                            "widths": resolve_widths(DEFAULT_WIDTHS, stage)})
    for path in args.plan:
        plan = json.loads(Path(path).read_text())
        if plan["arch"] not in args.arch:
            raise SystemExit(f"plan {path} is for arch {plan['arch']!r}, not in --arch {args.arch}.")
        configs.append({"arch": plan["arch"], "label": f"plan {Path(path).name}", "widths": tuple(plan["widths"]), "plan": path})
    return configs


def prepare(config: dict, args, device: torch.device, compiled: bool):
    """The network for ``config`` on ``device`` in eval mode, in the requested format, compiled or not."""
    if "plan" in config:
        net = network_from_plan(config["plan"], spatial_dims=args.spatial_dims, in_channels=args.in_channels, out_channels=args.out_channels)
    else:
        net = build_network(config["arch"], args.spatial_dims, args.in_channels, args.out_channels, config["widths"])
    net = net.to(device).eval()
    if args.channels_last:
        net = net.to(memory_format=memory_format(args.spatial_dims))
    return torch.compile(net) if compiled else net


def memory_format(spatial_dims: int) -> torch.memory_format:
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device.")
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = (args.size,) * args.spatial_dims
    x = torch.randn(args.batch, args.in_channels, *shape, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=memory_format(args.spatial_dims))
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    )

    rows = [
        {**config, "compiled": compiled}
        for config in configurations(args)
        for compiled in ((False, True) if args.compile else (False,))
    ]
    nets = []
    with torch.inference_mode(), autocast:
        for row in tqdm(rows, desc="build + warm-up", file=sys.stderr):
            net = prepare(row, args, device, row["compiled"])
            for _ in range(args.warmup):
                net(x)
            synchronize(device)
            nets.append(net)
        times = [[] for _ in rows]
        for _ in tqdm(range(args.rounds), desc="timed rounds", file=sys.stderr):
            for net, samples in zip(nets, times):  # round-robin: drift hits every configuration alike
                synchronize(device)
                start = time.perf_counter()
                net(x)
                synchronize(device)
                samples.append(time.perf_counter() - start)

    baseline = {}
    for row, samples in zip(rows, times):
        row["median_ms"] = 1000 * statistics.median(samples)
        row["min_ms"] = 1000 * min(samples)
        row["weights"] = total_weights(row["arch"], row["widths"], args.spatial_dims, args.in_channels, args.out_channels)
        row["gmacs"] = args.batch * macs(row["arch"], row["widths"], shape, args.in_channels, args.out_channels) / 1e9
        row["widths"] = list(row["widths"])
        if row["label"] == "x1":
            baseline[(row["arch"], row["compiled"])] = row
    for row in rows:
        full = baseline[(row["arch"], row["compiled"])]
        row["speedup"] = full["median_ms"] / row["median_ms"]
        row["macs_ratio"] = full["gmacs"] / row["gmacs"]

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"\ndevice: {device_name}; input {args.batch}x{args.in_channels}x{'x'.join(map(str, shape))}; "
          f"bf16={args.bf16} channels_last={args.channels_last}; median of {args.rounds} rounds; torch {torch.__version__}")
    header = f"{'arch':<12} {'network':<28} {'compiled':<8} {'widths':<28} {'weights':>11} {'GMACs':>8} {'ms':>9} {'speed-up':>8} {'MACs ratio':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['arch']:<12} {row['label']:<28} {str(row['compiled']):<8} {str(row['widths']):<28} {row['weights']:>11,} "
              f"{row['gmacs']:>8.2f} {row['median_ms']:>9.1f} {row['speedup']:>7.2f}x {row['macs_ratio']:>9.1f}x")
    if args.output:
        atomic_write_json(args.output, {"device": device_name, "command": " ".join(sys.argv), "args": {k: str(v) for k, v in vars(args).items()}, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
