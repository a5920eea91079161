"""Compute-only training-step time per U-Net width vector (issue 18: are odd widths slow? do
``torch.compile`` or batched seeds pay?).

One step = forward, Dice+CE loss, backward and Adam on 16 random 1x64x64 patches (the probe
recipe's batch), plain tensors, no data loading; the networks are timed round-robin and the
minimum over ``--rounds`` is printed (one JSON line per network and mode), with the forward MACs
per patch (``monai_ccnet.accounting.macs``). Modes:

- ``default``: eager fp32, as the recipe trains (the baseline of every ratio);
- ``cl``: channels-last (changes trained numbers);
- ``compile``: the network wrapped by ``torch.compile`` (``--compile-backend``, default inductor;
  if it fails, the error is recorded and ``aot_eager`` is tried), loss and Adam eager; the first
  two steps (compilation) are reported apart from the steady state;
- ``vmapK`` (``vmap2``, ``vmap4``): K seeds of the network trained as one batched model
  (``torch.func.stack_module_state`` + ``functional_call`` + ``vmap`` over the stacked
  parameters and BatchNorm buffers, per-seed inputs, one Adam over the stacked parameters, the
  per-seed losses summed); its time is divided by K (``s_per_seed_step``) to compare with K
  sequential ``default`` steps.

Non-default modes are also checked against eager from the same init (``--check-steps`` steps on
the same inputs: per-step losses, max abs parameter/buffer difference) before the timing.

    python benchmarks/step_time.py --threads 1 --widths 4-8-16-32-64 4-8-15-31-62 9-13-20-31-46 16-32-64-128-256
    python benchmarks/step_time.py --threads 1 --modes default compile vmap2 vmap4 --widths 16-32-64-128-256 4-8-16-32-64 2-4-8-16-32 --output benchmarks/results/step_time_levers_cpu.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path


def _machine() -> str:
    model, flags = "", ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = text
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    simd = "AVX512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, {simd}, native bf16: {bf16}"


def _mode_seeds(mode: str) -> int:
    return int(mode[4:]) if mode.startswith("vmap") else 1


def _error_text(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: " + (" | ".join(lines[:6]) if lines else "")[:1500]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=["default"],
                        choices=["default", "cl", "compile", "vmap2", "vmap4"])
    parser.add_argument("--widths", nargs="+", default=["4-8-16-32-64", "4-8-15-31-62", "9-13-20-31-46", "16-32-64-128-256"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of --modes compile")
    parser.add_argument("--check-steps", type=int, default=5, help="steps of the eager-equivalence check (0: none)")
    parser.add_argument("--output", default=None, help="JSON result file (machine, command, load, results)")
    args = parser.parse_args(argv)
    modes = list(dict.fromkeys(args.modes))
    if any(m != "default" for m in modes) and "default" not in modes:
        modes.insert(0, "default")  # every ratio is against eager, measured in the same run

    load_start = os.getloadavg()
    import torch
    from monai.utils import set_determinism
    from torch.func import functional_call, stack_module_state, vmap

    from monai_ccnet.accounting import macs
    from monai_ccnet.workflows.inputs import build_model
    from monai_ccnet.workflows.recipe import loss_function

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 64, 64, generator=generator)
    y = (torch.rand(16, 1, 64, 64, generator=generator) > 0.7).float()
    k_max = max([_mode_seeds(m) for m in modes])
    xs = torch.rand(k_max, 16, 1, 64, 64, generator=generator)  # per-seed inputs of the batched modes
    ys = (torch.rand(k_max, 16, 1, 64, 64, generator=generator) > 0.7).float()
    loss = loss_function("dicece")
    info: dict = {}

    def build(widths, seed=0):
        set_determinism(seed=seed)
        return build_model("unet", widths, 1.0, 2, 1, 2)

    # ---- the timed entries: key (widths, mode) -> (step function, seeds) ----------------------
    entries: dict = {}
    for text in args.widths:
        widths = [int(v) for v in text.split("-")]
        for mode in modes:
            info[(text, mode)] = {}
            if mode in ("default", "cl", "compile"):
                net, inputs = build(widths), x
                if mode == "cl":
                    net, inputs = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
                opt = torch.optim.Adam(net.parameters(), 1e-3)
                if mode == "compile":
                    info[(text, mode)]["eager_net"] = net
                    net = torch.compile(net, backend=args.compile_backend, dynamic=False)
                    info[(text, mode)]["backend"] = args.compile_backend
                state = {"net": net, "inputs": inputs, "opt": opt}

                def step(state=state):
                    state["opt"].zero_grad()
                    value = loss(state["net"](state["inputs"]), y)
                    value.backward()
                    state["opt"].step()
                    return [value.detach()]
            else:
                k = _mode_seeds(mode)
                state = batched_state([build(widths, seed) for seed in range(k)], stack_module_state, torch)

                def step(state=state, k=k):
                    return batched_step(state, xs[:k], ys[:k], loss, functional_call, vmap, torch)
            entries[(text, mode)] = (step, _mode_seeds(mode), state)

    # ---- warm-up (compilation for compile), with the aot_eager fallback -----------------------
    for key, (step, _, state) in entries.items():
        times = []
        for _ in range(2):
            start = time.perf_counter()
            try:
                step()
            except Exception as error:  # noqa: BLE001 - record why a lever cannot run here
                if key[1] != "compile" or info[key]["backend"] == "aot_eager":
                    raise
                info[key]["compile_error"] = _error_text(error)
                print(f"{key}: {info[key]['backend']} failed: {info[key]['compile_error']}", file=sys.stderr)
                traceback.print_exc(limit=3)
                state["net"] = torch.compile(info[key]["eager_net"], backend="aot_eager", dynamic=False)
                info[key]["backend"] = "aot_eager"
                start = time.perf_counter()
                step()
            times.append(time.perf_counter() - start)
        info[key]["warmup_s"] = [round(t, 3) for t in times]
        print(f"warm-up {key}: {info[key]['warmup_s']}", file=sys.stderr, flush=True)

    # ---- equivalence with eager from the same init -------------------------------------------
    if args.check_steps > 0:
        for (text, mode), (_, k, _) in entries.items():
            if mode == "default":
                continue
            widths = [int(v) for v in text.split("-")]
            info[(text, mode)]["check"] = check(mode, widths, k, build, info[(text, mode)], x, y, xs, ys, loss,
                                                args.check_steps, stack_module_state, functional_call, vmap, torch)
            print(f"check {(text, mode)}: {info[(text, mode)]['check']}", file=sys.stderr, flush=True)

    # ---- timing: round-robin, minimum over rounds ---------------------------------------------
    best: dict = {}
    for _ in range(args.rounds):
        for key, (step, k, _) in entries.items():
            work = k * macs("unet", [int(v) for v in key[0].split("-")], (64, 64))
            n = 3 if work > 1e8 else 6
            start = time.perf_counter()
            for _ in range(n):
                step()
            best[key] = min(best.get(key, float("inf")), (time.perf_counter() - start) / n)
    load_end = os.getloadavg()

    results = []
    for (text, mode), seconds in best.items():
        k = entries[(text, mode)][1]
        gmac = macs("unet", [int(v) for v in text.split("-")], (64, 64), in_channels=1, out_channels=2) / 1e9
        row = {"widths": text, "mode": mode, "threads": args.threads, "seeds": k, "min_s_per_step": round(seconds, 4),
               "s_per_seed_step": round(seconds / k, 4), "fwd_gmac_per_patch": round(gmac, 4)}
        base = best.get((text, "default"))
        if mode != "default" and base:
            row["speedup_vs_default"] = round(base / (seconds / k), 3)
        extra = info[(text, mode)]
        for name in ("backend", "compile_error", "warmup_s", "check"):
            if name in extra:
                row[name] = extra[name]
        results.append(row)
        print(json.dumps(row))
    if args.output:
        report = {
            "machine": _machine(),
            "command": "python benchmarks/step_time.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "python": sys.version.split()[0], "torch": torch.__version__,
            "loadavg": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in load_end]},
            "results": results,
        }
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def batched_state(nets, stack_module_state, torch):
    """K networks as one: stacked parameters (leaves, one Adam) and stacked BatchNorm buffers
    (batched, so that vmap can update the running statistics in place)."""
    params, buffers = stack_module_state(copy.deepcopy(nets))
    base = copy.deepcopy(nets[0]).to("meta")
    return {"params": params, "buffers": buffers, "base": base,
            "opt": torch.optim.Adam(list(params.values()), 1e-3)}


def batched_step(state, xs, ys, loss, functional_call, vmap, torch):
    base = state["base"]

    def forward(params, buffers, inputs):
        return functional_call(base, (params, buffers), (inputs,))

    state["opt"].zero_grad()
    out = vmap(forward)(state["params"], state["buffers"], xs)
    losses = [loss(out[i], ys[i]) for i in range(out.shape[0])]  # the loss per seed, as eager computes it
    torch.stack(losses).sum().backward()
    state["opt"].step()
    return [value.detach() for value in losses]


def check(mode, widths, k, build, extra, x, y, xs, ys, loss, steps, stack_module_state, functional_call, vmap, torch):
    """``steps`` steps of the mode and of eager from the same init on the same inputs."""

    def eager_run(net, inputs, target, forward=None):
        """``steps`` Adam steps of ``net``; ``forward`` (e.g. its compiled wrapper) runs it when given."""
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        forward = forward or net
        values = []
        for _ in range(steps):
            opt.zero_grad()
            value = loss(forward(inputs), target)
            value.backward()
            opt.step()
            values.append(value.item())
        return values

    def max_diff(a, b):
        return max((float((u.detach().float() - v.detach().float()).abs().max()) for u, v in zip(a, b)), default=0.0)

    if mode in ("cl", "compile"):
        ref = build(widths)
        ref_losses = eager_run(ref, x, y)
        net = build(widths)
        inputs = x
        if mode == "cl":
            net, inputs = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        run = torch.compile(net, backend=extra.get("backend", "inductor"), dynamic=False) if mode == "compile" else net
        losses = eager_run(net, inputs, y, forward=run)
        return {"steps": steps, "eager_losses": ref_losses, "mode_losses": losses,
                "bit_identical_losses": losses == ref_losses,
                "max_abs_loss_diff": max(abs(a - b) for a, b in zip(losses, ref_losses)),
                "max_abs_param_diff": max_diff(list(net.parameters()), list(ref.parameters())),
                "max_abs_buffer_diff": max_diff(list(net.buffers()), list(ref.buffers()))}
    nets = [build(widths, seed) for seed in range(k)]
    state = batched_state(nets, stack_module_state, torch)
    batched = [[float(v) for v in batched_step(state, xs[:k], ys[:k], loss, functional_call, vmap, torch)]
               for _ in range(steps)]
    separate = [eager_run(nets[i], xs[i], ys[i]) for i in range(k)]
    per_seed = [[batched[s][i] for s in range(steps)] for i in range(k)]
    params = [v[i] for v in state["params"].values() for i in range(k)]
    ref_params = [dict(nets[i].named_parameters())[name] for name in state["params"] for i in range(k)]
    buffers = [v[i] for v in state["buffers"].values() for i in range(k)]
    ref_buffers = [dict(nets[i].named_buffers())[name] for name in state["buffers"] for i in range(k)]
    return {"steps": steps, "seeds": k, "eager_losses": separate, "mode_losses": per_seed,
            "bit_identical_losses": per_seed == separate,
            "max_abs_loss_diff": max(abs(a - b) for u, v in zip(per_seed, separate) for a, b in zip(u, v)),
            "max_abs_param_diff": max_diff(params, ref_params), "max_abs_buffer_diff": max_diff(buffers, ref_buffers)}


if __name__ == "__main__":
    raise SystemExit(main())
