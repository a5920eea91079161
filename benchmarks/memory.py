"""Feature-map memory: the accounting's estimate against what torch measures.

For every architecture and a few widths / input shapes it reports

- ``estimate``: :func:`monai_ccnet.accounting.feature_memory_bytes` (pure Python, no torch);
- ``tracked``: :func:`monai_ccnet.nets.memory.measure_feature_memory`, the storages torch
  actually holds (inference: peak of live op outputs + input; training: distinct tensors saved
  for backward), i.e. the same quantity measured;
- ``allocator`` (inference only): the allocator's peak during the forward (CPU: torch.profiler
  memory events; CUDA: ``torch.cuda.max_memory_allocated``) above the parameters, plus the input.
  It also contains backend workspaces (im2col, oneDNN reorders, cuDNN scratch) that the estimate
  leaves out, so it shows what a main-memory budget (docs/method.md §4.1) should keep in reserve.

Run (CPU, this machine)::

    python benchmarks/memory.py --output benchmarks/results/memory_cpu.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from monai_ccnet.accounting import ARCHITECTURES, DEFAULT_WIDTHS, MB, feature_memory_bytes, resolve_widths
from monai_ccnet.nets import build_network
from monai_ccnet.nets.memory import measure_feature_memory
from monai_ccnet.utils import atomic_write_json

#: (multiplier, spatial shape, batch, modes): full-width 2-D inference at 512x512, smaller training runs, 3-D
CASES = (
    (1.0, (512, 512), 1, ("inference",)),
    (0.25, (512, 512), 1, ("inference", "training")),
    (1.0, (128, 128), 2, ("inference", "training")),
    ((0.5, 0.4, 0.3, 0.25, 0.2), (256, 256), 1, ("inference", "training")),
    (0.125, (32, 64, 64), 1, ("inference", "training")),
)


def allocator_peak(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Allocator peak of one no-grad forward above what was allocated before it, plus the input."""
    input_bytes = x.untyped_storage().nbytes()
    with torch.no_grad():
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
            torch.cuda.reset_peak_memory_stats(x.device)
            before = torch.cuda.memory_allocated(x.device)
            net(x)
            torch.cuda.synchronize(x.device)
            return torch.cuda.max_memory_allocated(x.device) - before + input_bytes
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            net(x)
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns()
    )
    current = peak = 0
    for event in events:  # nbytes() < 0 for frees
        current += event.nbytes()
        peak = max(peak, current)
    return peak + input_bytes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    rows = []
    jobs = [(arch, *case) for arch in args.arch for case in CASES]
    for arch, multipliers, shape, batch, modes in tqdm(jobs, desc="networks", file=sys.stderr):
        widths = resolve_widths(DEFAULT_WIDTHS, multipliers)
        net = build_network(arch, len(shape), 1, 2, widths).to(device)
        x = torch.randn(batch, 1, *shape, device=device)
        net.eval()
        with torch.no_grad():
            net(x)  # warm-up: lazy backend initialisation is not the network's memory
        for mode in modes:
            estimate = feature_memory_bytes(arch, widths, shape, batch=batch, mode=mode)
            tracked = measure_feature_memory(net, x, mode)
            row = {
                "arch": arch,
                "widths": list(widths),
                "shape": list(shape),
                "batch": batch,
                "mode": mode,
                "estimate_MB": estimate / MB,
                "tracked_MB": tracked / MB,
                "error_vs_tracked": (estimate - tracked) / tracked,
            }
            if mode == "inference":
                net.eval()
                allocated = allocator_peak(net, x)
                row["allocator_MB"] = allocated / MB
                row["error_vs_allocator"] = (estimate - allocated) / allocated
            rows.append(row)
        del net, x

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\ndevice: {device_name}; torch {torch.__version__}; MB = 10^6 bytes; error = (estimate - measured) / measured")
    header = f"{'arch':<12} {'widths':<26} {'shape':<14} {'b':>2} {'mode':<10} {'estimate MB':>11} {'tracked MB':>10} {'error':>8} {'allocator MB':>12} {'error':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        alloc = f"{r['allocator_MB']:>12.2f} {r['error_vs_allocator']:>+8.1%}" if "allocator_MB" in r else f"{'-':>12} {'-':>8}"
        print(f"{r['arch']:<12} {str(r['widths']):<26} {'x'.join(map(str, r['shape'])):<14} {r['batch']:>2} {r['mode']:<10} "
              f"{r['estimate_MB']:>11.2f} {r['tracked_MB']:>10.2f} {r['error_vs_tracked']:>+8.2%} {alloc}")
    if args.output:
        atomic_write_json(args.output, {"device": device_name, "command": " ".join(sys.argv), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
