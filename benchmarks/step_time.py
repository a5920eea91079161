"""Compute-only training-step time per U-Net width vector (issue 18: are odd widths slow?).

One step = forward, Dice+CE loss, backward and Adam on 16 random 1x64x64 patches (the probe
recipe's batch), plain tensors, no data loading; the networks are timed round-robin and the
minimum over ``--rounds`` is printed (one JSON line per network and mode), with the forward MACs
per patch (``monai_ccnet.accounting.macs``). ``--modes default cl`` adds channels-last (which
changes trained numbers).

    python benchmarks/step_time.py --threads 1 --widths 4-8-16-32-64 4-8-15-31-62 9-13-20-31-46 16-32-64-128-256
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=["default"], choices=["default", "cl"])
    parser.add_argument("--widths", nargs="+", default=["4-8-16-32-64", "4-8-15-31-62", "9-13-20-31-46", "16-32-64-128-256"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import torch
    from monai.utils import set_determinism

    from monai_ccnet.accounting import macs
    from monai_ccnet.workflows.inputs import build_model
    from monai_ccnet.workflows.recipe import loss_function

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 64, 64, generator=generator)
    y = (torch.rand(16, 1, 64, 64, generator=generator) > 0.7).float()
    loss = loss_function("dicece")
    nets = {}
    for text in args.widths:
        widths = [int(v) for v in text.split("-")]
        for mode in args.modes:
            set_determinism(seed=0)
            net, inputs = build_model("unet", widths, 1.0, 2, 1, 2), x
            if mode == "cl":
                net, inputs = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
            nets[(text, mode)] = (net, inputs, torch.optim.Adam(net.parameters(), 1e-3))

    def step(key):
        net, inputs, opt = nets[key]
        opt.zero_grad()
        loss(net(inputs), y).backward()
        opt.step()

    for key in nets:  # warm-up
        step(key), step(key)
    best: dict = {}
    for _ in range(args.rounds):
        for key in nets:
            n = 3 if macs("unet", [int(v) for v in key[0].split("-")], (64, 64)) > 1e8 else 6
            start = time.perf_counter()
            for _ in range(n):
                step(key)
            best[key] = min(best.get(key, float("inf")), (time.perf_counter() - start) / n)
    for (text, mode), seconds in best.items():
        gmac = macs("unet", [int(v) for v in text.split("-")], (64, 64), in_channels=1, out_channels=2) / 1e9
        print(json.dumps({"widths": text, "mode": mode, "threads": args.threads, "min_s_per_step": round(seconds, 4),
                          "fwd_gmac_per_patch": round(gmac, 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
