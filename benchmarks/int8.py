"""int8 against float32 on the shared real datasets: F1 change, file-size ratio, latency ratio (issue 19).

For each dataset: plan the U-Net at 1/16 of the base network's weights (a uniform disk plan of the
base 16-32-64-128-256, ``plan_compression``), train it with the real-data recipe (the committed
probe-plans runs' ``config.recipe``, ``docs/results/probe_plans/runs/busi__w4-8-16-31-63__s0.json``;
``--max-epochs`` shortens it), score it on the test split, quantise it to int8 with
:mod:`monai_ccnet.workflows.quantize` (calibrated on training patches; with and without
``reduce_range``), score every int8 file with the same evaluator (and the float ONNX file too, a check
that the ONNX Runtime path scores like the torch one), and time float32 and int8 ONNX Runtime sessions
round-robin on one sliding-window batch, one thread and all cores. First (once, ``<work>/overhead.json``)
it measures what an int8 file adds to one byte per weight on untrained networks of the three
architectures, the data behind the accounting's ``int8_file_bytes`` (docs/method.md §4.1).

Each dataset's result is written as soon as it is done (``<work>/<dataset>.json``, resumable: a
dataset with a result is not run again) and the table is rewritten to ``--output`` after each one.
Without ``../shared/data`` (or ``MONAI_CCNET_SHARED_DATA``) it says so and exits 0.

    python benchmarks/int8.py --max-epochs 4 --work /tmp/int8_bench --output benchmarks/results/int8_cpu.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE_RUN = REPO / "docs/results/probe_plans/runs/busi__w4-8-16-31-63__s0.json"
DATASETS = ("busi", "chase_db1", "dsb2018_nuclei", "hc18", "ph2")
BASE = (16, 32, 64, 128, 256)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("MONAI_CCNET_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--dataset-dir", help="one dataset folder instead of --data/--datasets (e.g. synthetic data)")
    parser.add_argument("--fraction", type=float, default=1 / 16, help="weights of the plan / the base network's")
    parser.add_argument("--max-epochs", type=int, default=None, help="shorten the recipe (default: its own)")
    parser.add_argument("--epoch-length", type=int, default=None)
    parser.add_argument("--patch", type=int, default=None, help="override the recipe's patch size (smoke tests)")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training (default 1)")
    parser.add_argument("--rounds", type=int, default=20, help="timed runs of each session, round-robin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "monai_ccnet_int8_bench"))
    parser.add_argument("--output", default=str(REPO / "benchmarks/results/int8_cpu.json"))
    parser.add_argument("--markdown", action="store_true", help="print --output's results as a Markdown table and exit")
    return parser.parse_args(argv)


def recipe_from(args) -> tuple[dict, str]:
    recipe = dict(json.loads(RECIPE_RUN.read_text())["config"]["recipe"])
    notes = []
    for key, value in (("max_epochs", args.max_epochs), ("epoch_length", args.epoch_length),
                       ("image_size", args.image_size)):
        if value is not None and value != recipe.get(key):
            notes.append(f"{key} {value} (recipe: {recipe.get(key)})")
            recipe[key] = value
    if args.patch is not None:
        notes.append(f"patch_size {args.patch} (recipe: {recipe['patch_size']})")
        recipe["patch_size"] = [args.patch, args.patch]
    recipe["num_threads"] = args.threads
    return recipe, ("shortened: " + ", ".join(notes)) if notes else "the committed recipe, unchanged"


def plan_widths(in_channels: int, fraction: float) -> list[int]:
    from monai_ccnet.accounting import MB, disk_bytes, total_weights
    from monai_ccnet.planning import plan_compression

    full = total_weights("unet", BASE, 2, in_channels, 2)
    plan = plan_compression("unet", [0.5] * len(BASE), "unet-f1-cpu", widths=BASE, in_channels=in_channels,
                            disk_budget_mb=disk_bytes(full, 32) * fraction / MB, allow_extrapolation=True)
    return list(plan.widths)


def round_robin(paths: dict, shape, threads, rounds: int) -> dict:
    """Median ms per session, the sessions timed in turn (machine drift hits all alike)."""
    import numpy as np

    from monai_ccnet.workflows.quantize import _session

    sessions = {k: _session(p, threads) for k, p in paths.items()}
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    times = {k: [] for k in sessions}
    for i in range(rounds + 2):
        for k, s in sessions.items():
            start = time.perf_counter()
            s.run(None, {"image": x})
            if i >= 2:
                times[k].append(1000 * (time.perf_counter() - start))
    return {k: round(statistics.median(v), 3) for k, v in times.items()}


def overhead_fit() -> dict:
    """What an int8 file adds to one byte per weight (docs/method.md §4.1): the files of untrained
    networks (parameters made distinct, as in ``quantize.int8_file_bytes``) of the three
    architectures, 2-D and 3-D, against the accounting's ``int8_file_bytes``; least squares of
    ``bytes - weights`` on (output channels, convolutions)."""
    import numpy as np
    import torch

    from monai_ccnet.accounting import INT8_CHANNEL_BYTES, INT8_LAYER_BYTES, conv_layers, int8_onnx_bytes, total_weights
    from monai_ccnet.workflows.inputs import build_model
    from monai_ccnet.workflows.quantize import int8_file_bytes

    widths_2d = ((2, 4, 8, 16, 32), (3, 6, 13, 25, 50), (4, 8, 16, 32, 64), (8, 16, 32, 64, 128), (16, 32, 64, 128, 256))
    rows = []
    for dims, grid in ((2, widths_2d), (3, widths_2d[:1] + widths_2d[2:4])):
        for arch in ("unet", "cumedvision", "ucunet"):
            for widths in grid:
                torch.manual_seed(0)
                layers = conv_layers(arch, widths)
                written = int8_file_bytes(build_model(arch, widths, spatial_dims=dims), [1, 1] + [32] * dims)
                rows.append({"arch": arch, "spatial_dims": dims, "widths": list(widths), "bytes": written,
                             "weights": total_weights(arch, widths, dims), "channels": sum(l.out_channels for l in layers),
                             "convolutions": len(layers), "accounting": int8_onnx_bytes(arch, widths, dims)})
    a = np.array([[r["channels"], r["convolutions"]] for r in rows], float)
    y = np.array([r["bytes"] - r["weights"] for r in rows], float)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    over = [r["accounting"] - r["bytes"] for r in rows]
    return {"rows": rows, "least_squares": {"bytes_per_channel": float(coef[0]), "bytes_per_convolution": float(coef[1]),
                                            "max_abs_residual": float(np.abs(y - a @ coef).max())},
            "accounting": {"bytes_per_channel": INT8_CHANNEL_BYTES, "bytes_per_convolution": INT8_LAYER_BYTES,
                           "min_over_bytes": min(over), "max_over_bytes": max(over),
                           "max_over_fraction": max(o / r["bytes"] for o, r in zip(over, rows))}}


def run_dataset(name: str, folder: Path, recipe: dict, args, work: Path) -> dict:
    import torch
    from monai.utils import set_determinism

    from monai_ccnet.accounting import total_weights
    from monai_ccnet.workflows import bundle_data
    from monai_ccnet.workflows import quantize as q
    from monai_ccnet.workflows.inputs import build_model
    from monai_ccnet.workflows.inputs import detect_in_channels
    from monai_ccnet.workflows.training import train_and_evaluate

    data = bundle_data(dataset_dir=str(folder))
    in_channels = detect_in_channels(data["train"])
    widths = plan_widths(in_channels, args.fraction)
    set_determinism(seed=args.seed)
    network = build_model("unet", widths, in_channels=in_channels)
    start = time.perf_counter()
    trained = train_and_evaluate(network, data["train"], data["test"], recipe, "cpu", in_channels,
                                 output_dir=str(work / name / "checkpoints"), progress=False, seed=args.seed)
    train_s = time.perf_counter() - start
    patch = [int(p) for p in recipe["patch_size"]]
    shape = [1, in_channels, *patch]
    out = work / name
    float_path = q.export_float_onnx(network, shape, out / "model.float.onnx")
    patches = q.calibration_patches(data["train"], recipe, in_channels, seed=args.seed)
    variants = {}
    for label, options in (("int8", {"reduce_range": False}), ("int8_reduce_range", {"reduce_range": True})):
        path = q.quantize_onnx(float_path, out / f"model.{label}.onnx", patches, **options)
        variants[label] = {"path": path, "bytes": path.stat().st_size, **q.evaluate_onnx(path, data["test"], recipe, in_channels, 1)}
    float_onnx = q.evaluate_onnx(float_path, data["test"], recipe, in_channels, 1)
    batch_shape = [int(recipe.get("sw_batch_size", 4)), in_channels, *patch]
    paths = {"float32": float_path, **{k: v["path"] for k, v in variants.items()}}
    latency = {"1_thread": round_robin(paths, batch_shape, 1, args.rounds),
               "all_cores": round_robin(paths, batch_shape, None, args.rounds)}
    torch_state = out / "model.pt"
    torch.save(network.state_dict(), torch_state)
    result = {
        "dataset": name, "widths": widths, "weights": total_weights("unet", widths, 2, in_channels, 2),
        "base_weights": total_weights("unet", BASE, 2, in_channels, 2), "in_channels": in_channels,
        "train": len(data["train"]), "test": len(data["test"]), "train_seconds": round(train_s, 1),
        "epochs": trained["epochs"], "steps": trained["steps"],
        "float32": {"f1": trained["f1"], "iou": trained["iou"], "onnx_f1": float_onnx["f1"],
                    "onnx_bytes": float_path.stat().st_size, "pt_bytes": torch_state.stat().st_size},
        "latency_input": batch_shape, "latency_ms": latency,
        "calibration_patches": len(patches),
    }
    for label, v in variants.items():
        result[label] = {
            "f1": v["f1"], "iou": v["iou"], "f1_change": v["f1"] - trained["f1"], "bytes": v["bytes"],
            "size_ratio": result["float32"]["onnx_bytes"] / v["bytes"],
            "latency_ratio_1_thread": latency["1_thread"]["float32"] / latency["1_thread"][label],
            "latency_ratio_all_cores": latency["all_cores"]["float32"] / latency["all_cores"][label],
        }
    return result


def markdown(table: dict) -> str:
    """The results as the Markdown table docs/RESULTS.md shows."""
    lines = ["| dataset | widths | weights | F1 float32 | F1 int8 | change | int8 reduce_range: F1, change | "
             "size float32 / int8 | latency float32 / int8, 1 thread | all cores |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in table["results"].items():
        a, b = r["int8"], r["int8_reduce_range"]
        lines.append(
            f"| {name} | {'-'.join(map(str, r['widths']))} | {r['weights']:,} | {r['float32']['f1']:.4f} | {a['f1']:.4f} | "
            f"{a['f1_change']:+.4f} | {b['f1']:.4f}, {b['f1_change']:+.4f} | {a['size_ratio']:.2f} "
            f"({r['float32']['onnx_bytes']:,} / {a['bytes']:,}) | {a['latency_ratio_1_thread']:.2f} "
            f"({r['latency_ms']['1_thread']['float32']:.2f} / {r['latency_ms']['1_thread']['int8']:.2f} ms) | "
            f"{a['latency_ratio_all_cores']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.output).read_text())))
        return 0
    logging.basicConfig(level=logging.WARNING)
    if args.dataset_dir:
        folders = {Path(args.dataset_dir).name: Path(args.dataset_dir)}
    else:
        folders = {n: Path(args.data) / n for n in args.datasets if (Path(args.data) / n / "images").is_dir()}
        if not folders:
            print(f"no shared datasets under {args.data} (set MONAI_CCNET_SHARED_DATA): nothing to benchmark")
            return 0
    from monai_ccnet.utils import atomic_write_json
    from monai_ccnet.workflows.quantize import require_int8

    require_int8("benchmarks/int8.py")
    import onnxruntime
    import torch

    recipe, recipe_note = recipe_from(args)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    overhead_file = work / "overhead.json"
    if not overhead_file.is_file():
        print("int8 file overhead: quantising untrained networks ...", flush=True)
        atomic_write_json(overhead_file, overhead_fit())
    overhead = json.loads(overhead_file.read_text())
    print(f"int8 file overhead: least squares {overhead['least_squares']}; accounting over by "
          f"{overhead['accounting']['min_over_bytes']}..{overhead['accounting']['max_over_bytes']} bytes", flush=True)
    results = {}
    for name, folder in folders.items():
        done = work / f"{name}.json"
        if done.is_file():
            results[name] = json.loads(done.read_text())
            print(f"{name}: done earlier ({done})", flush=True)
            continue
        print(f"{name}: training ...", flush=True)
        results[name] = run_dataset(name, folder, recipe, args, work)
        atomic_write_json(done, results[name])
        r = results[name]
        print(f"{name}: widths {r['widths']}, F1 float {r['float32']['f1']:.4f} int8 {r['int8']['f1']:.4f} "
              f"(reduce_range {r['int8_reduce_range']['f1']:.4f}), size x{r['int8']['size_ratio']:.2f}, "
              f"1-thread latency x{r['int8']['latency_ratio_1_thread']:.2f}", flush=True)
        table = {
            "command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]) if argv is None else None,
            "machine": "this project's 2-core AMD EPYC CPU dev machine (AVX2, no VNNI), shared with two training processes",
            "platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "recipe": recipe, "recipe_note": recipe_note, "plan": f"uniform disk plan at {args.fraction:g} of base {list(BASE)}",
            "quantisation": "onnxruntime quantize_static, QDQ, int8 per-channel weights, uint8 activations, min/max "
                            "calibration on training patches; int8_reduce_range: 7-bit weights (AVX2 saturation)",
            "latency": "ONNX Runtime CPU, median of round-robin runs on one sliding-window batch",
            "results": results,
            "int8_file_overhead": overhead,
        }
        atomic_write_json(Path(args.output), table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
