"""``python -m monai_ccnet plan``: widths for a disk budget, a main-memory budget or an accuracy floor.

Without ``--json`` it prints the uniform and the per-stage plan side by side; with ``--json`` one
JSON object (the chosen plan, ``CompressionPlan.to_dict()``, and ``caution``: the text output's
caution line, null when there is none). Bad input exits with status 2 and one line saying what to
change. Imports neither torch nor MONAI, except ``--network-def FILE`` (a MONAI bundle's own network,
counted through ``monai_ccnet.nets.registry``; ``--save-network-def DIR`` writes the override that
trains the planned network).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ..accounting import ARCHITECTURES, DEFAULT_WIDTHS, MB
from ..planning import (
    CompressionPlan,
    DegradationModel,
    complexity_from_report,
    list_presets,
    load_degradation,
    pareto_table,
    plan_compression,
    plot_pareto,
    prediction_caveat,
)
from ..planning.network_plan import describe_network_def, network_def_rows, plan_network_def, training_command
from ..utils import atomic_write_json

#: the model used when none is given: this project's real-data calibration (docs/RESULTS.md)
DEFAULT_DEGRADATION = "unet-f1-cpu"


def describe_model(model: DegradationModel) -> str:
    """One line naming a model's form and parameters."""
    if model.form == "measured":
        curve = model.curve
        return (f"measured (a probe): {len(curve['x'])} widths from {10 ** curve['x'][0]:,.0f} to {10 ** curve['x'][-1]:,.0f} "
                f"weights, interpolated; seed noise {curve['noise']:.3g} of the full network's accuracy "
                f"({curve['noise_dof']} dof); full network {model.reference_accuracy:.4g}")
    if model.form == "saturating":
        return (f"saturating: knee = {model.kappa:g} * C + {model.mu:g} log10(weights), fall {model.beta:g} per decade"
                + (f", plateau {model.reference_accuracy:.4g}" if model.reference_accuracy is not None else ""))
    return f"linear (Eq. 3): lambda = {model.lam:g}, delta = {model.delta:g}"

__all__ = ["add_arguments", "run"]


class _ListPresets(argparse.Action):
    """``--list-presets``: print the shipped degradation models and exit (like ``--help``, before
    the required options are checked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        for name in list_presets():
            m = load_degradation(name)
            interval = "interval" if m.has_interval else "no interval"
            print(f"{name:24s} {m.metric:4s} {m.measure:5s} {interval:12s} {describe_model(m)}")
        parser.exit(0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("network")
    which = net.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", choices=ARCHITECTURES, help="architecture to compress (ours)")
    which.add_argument("--network-def", metavar="FILE",
                       help="instead of --arch: plan the network a MONAI bundle config defines - a train.json/yaml "
                            "with a network_def (MONAI's UNet, BasicUNet, SegResNet, DynUNet, AttentionUnet, SwinUNETR "
                            "or ours; docs/networks.md), or that block alone; its spatial dims, channels and widths "
                            "are read from it, and weights are counted from the module it builds")
    net.add_argument("--network-def-key", default="network_def", metavar="KEY",
                     help="config key of the network block in --network-def (default: %(default)s)")
    net.add_argument("--spatial-dims", type=int, default=2, choices=(1, 2, 3),
                     help="2 for images, 3 for volumes (default: %(default)s)")
    net.add_argument("--in-channels", type=int, default=None, metavar="N",
                     help="image channels (1 grey, 3 RGB); default: the complexity report's channel count when it "
                          "records one, else 1")
    net.add_argument("--out-channels", type=int, default=2, metavar="N",
                     help="output channels (classes incl. background; default: %(default)s)")
    net.add_argument("--widths", type=int, nargs="+", default=list(DEFAULT_WIDTHS), metavar="W",
                     help="the full network's stage widths (default: %(default)s)")

    data = parser.add_argument_group("dataset complexity (one of)")
    data.add_argument("--complexity", type=float, nargs="+", metavar="J",
                      help="per-stage complexity J_0 .. J_K (same measure as the degradation model)")
    data.add_argument("--complexity-report", metavar="FILE",
                      help="JSON written by `python -m monai_ccnet complexity` (the model's measure is read from it)")

    model = parser.add_argument_group("degradation model (one of)")
    model.add_argument("--degradation", metavar="FILE_OR_PRESET",
                       help=f"a fitted model (JSON: a calibration's or a probe's degradation.json) or a preset: "
                            f"{', '.join(list_presets())}; default {DEFAULT_DEGRADATION} (this project's real-data "
                            "calibration)")
    model.add_argument("--lam", type=float, help="lambda of Eq. 3 (with --delta)")
    model.add_argument("--delta", type=float, help="delta of Eq. 3 (with --lam)")
    model.add_argument("--list-presets", action=_ListPresets, help="list the shipped degradation models and exit")

    constraint = parser.add_argument_group("constraint (exactly one)")
    constraint.add_argument("--disk-budget-mb", type=float, metavar="MB",
                            help="disk budget, MB = 10^6 bytes, for the weights at --bits-per-weight")
    constraint.add_argument("--memory-budget-mb", type=float, metavar="MB",
                            help="main-memory budget (weights + peak feature maps; needs --input-shape)")
    constraint.add_argument("--min-relative-accuracy", type=float, metavar="FRACTION",
                            help="accuracy floor as a fraction of the full network's, e.g. 0.95")

    options = parser.add_argument_group("constraint options")
    options.add_argument("--bits-per-weight", type=float, default=32, metavar="BITS",
                         help="bits per stored weight, for the disk size (default: 32)")
    options.add_argument("--input-shape", type=int, nargs="+", metavar="N",
                         help="spatial input size for the memory budget, e.g. 256 256")
    options.add_argument("--batch", type=int, default=1, metavar="N",
                         help="images per forward pass, for the memory budget (default: %(default)s)")
    options.add_argument("--dtype-bytes", type=int, default=4, metavar="BYTES",
                         help="bytes per value in memory (default: 4, float32)")
    options.add_argument("--memory-model", choices=("exact", "paper"), default="exact",
                         help="exact accounting solved numerically, or the paper's Eq. 7 / Eq. 14 approximation")
    options.add_argument("--layerwise", action="store_true", help="the chosen plan uses per-stage multipliers")
    options.add_argument("--confidence", type=float, metavar="LEVEL",
                         help="with --min-relative-accuracy: the one network you train meets the floor with this "
                              "probability, e.g. 0.9 (one-sided; needs a model with a spread: a calibration's or a probe's)")
    options.add_argument("--allow-extrapolation", action="store_true",
                         help="allow stages under 2 channels and networks smaller than any the model measured "
                              "(a probe's narrowest); the plan says how far it extrapolates")
    options.add_argument("--interval-level", type=float, default=0.9, metavar="LEVEL",
                         help="level of the reported prediction interval (default: %(default)s)")

    out = parser.add_argument_group("output")
    out.add_argument("--full-accuracy", type=float, help="the full network's accuracy, for absolute predictions")
    out.add_argument("--json", action="store_true",
                     help="print the chosen plan as one JSON object (with 'caution': how far to trust its prediction, "
                          "or null)")
    out.add_argument("--save", metavar="FILE", help="also write the chosen plan (JSON) there")
    out.add_argument("--pareto", metavar="FILE", help="also write the Pareto table (JSON list) there, and a PNG beside it when matplotlib is installed; "
                          "with --network-def, that network's (registry counts, widths its constraints allow)")
    out.add_argument("--save-network-def", metavar="DIR",
                     help="with --network-def: write DIR/network_def.json, the full network_def block with the chosen "
                          "plan's widths; train with python -m monai.bundle run training --config_file "
                          "\"['configs/train.json','DIR/network_def.json']\" (the later file's network_def replaces the "
                          "earlier one; everything else stays)")


def _report_notes(path: str) -> tuple[int | None, list[str]]:
    """The channel count a complexity report records (None if it records none) and warnings about it."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None, []  # complexity_from_report names the problem
    if not isinstance(report, dict):
        return None, []
    settings = report.get("settings") or {}
    notes = []
    errors = report.get("errors") or []
    if errors:
        first = errors[0].get("error", errors[0]) if isinstance(errors[0], dict) else errors[0]
        used = len(report.get("images") or []) or "the other"
        notes.append(f"{path} lists {len(errors)} image(s) that could not be measured (first: {first}); "
                     f"its complexity is the mean over {used} image(s) only.")
    channels = settings.get("channels", settings.get("in_channels"))
    if isinstance(channels, list):  # one entry per distinct channel count found
        if len(set(channels)) > 1:
            notes.append(f"{path}: the images have different channel counts {sorted(set(channels))}; give --in-channels.")
            return None, notes
        channels = channels[0] if channels else None
    return (int(channels) if isinstance(channels, (int, float)) else None), notes


def _degradation(args) -> tuple[DegradationModel, str]:
    if args.degradation is not None and (args.lam is not None or args.delta is not None):
        raise ValueError("give either --degradation or --lam and --delta, not both.")
    if args.degradation is not None:
        return load_degradation(args.degradation), args.degradation
    if args.lam is None and args.delta is None:
        return load_degradation(DEFAULT_DEGRADATION), f"{DEFAULT_DEGRADATION} (default)"
    if args.lam is None or args.delta is None:
        raise ValueError("give both --lam and --delta (Eq. 3), or --degradation FILE_OR_PRESET.")
    model = DegradationModel(lam=args.lam, delta=args.delta, arch=args.arch, provenance={"source": "command line"})
    return model, f"--lam {args.lam:g} --delta {args.delta:g}"


def _plans(args) -> tuple[CompressionPlan, CompressionPlan, DegradationModel, str]:
    if args.arch is None:
        raise ValueError(f"--arch is required (one of {', '.join(ARCHITECTURES)}).")
    model, model_name = _degradation(args)
    if (args.complexity is None) == (args.complexity_report is None):
        raise ValueError("give exactly one of --complexity J0 J1 ... and --complexity-report FILE.")
    if args.complexity is not None:
        complexity = args.complexity
    else:
        complexity = complexity_from_report(args.complexity_report, model, len(args.widths))
        channels, notes = _report_notes(args.complexity_report)
        for note in notes:
            _warn(note)
        if args.in_channels is None:
            if channels is None:
                _warn(f"{args.complexity_report} does not record the images' channel count: planning for 1 input "
                      "channel (give --in-channels 3 for RGB images).")
            args.in_channels = channels
    if args.in_channels is None:
        args.in_channels = 1
    common = dict(
        disk_budget_mb=args.disk_budget_mb, bits_per_weight=args.bits_per_weight, memory_budget_mb=args.memory_budget_mb,
        input_shape=args.input_shape, batch=args.batch, dtype_bytes=args.dtype_bytes,
        min_relative_accuracy=args.min_relative_accuracy, widths=args.widths, spatial_dims=args.spatial_dims,
        in_channels=args.in_channels, out_channels=args.out_channels, memory_model=args.memory_model,
        full_accuracy=args.full_accuracy, interval_level=args.interval_level,
        allow_extrapolation=args.allow_extrapolation,
    )
    if args.confidence is not None:
        common["confidence"] = args.confidence
    with warnings.catch_warnings(record=True) as caught:  # e.g. a model calibrated for another arch
        warnings.simplefilter("always")
        uniform = plan_compression(args.arch, complexity, model, layerwise=False, **common)
        per_stage = plan_compression(args.arch, complexity, model, layerwise=True, **common)
    for message in dict.fromkeys(str(w.message) for w in caught):
        _warn(message)
    return uniform, per_stage, model, model_name


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _constraint_text(c: dict) -> str:
    if c["kind"] == "disk":
        return (f"disk <= {c['value']:g} MB at {c['bits_per_weight']:g} bits/weight "
                f"(theta* = {c['budget_weights']:,.0f} weights, log10 = {c['log10_budget_weights']:.3f})")
    if c["kind"] == "memory":
        shape = "x".join(str(v) for v in c["input_shape"])
        return (f"main memory <= {c['value']:g} MB for input {shape}, batch {c['batch']}, {c['dtype_bytes']} bytes/value "
                f"({c['memory_model']} memory model)")
    sure = (f" for one trained network with probability {c['confidence']:g} (its bound {c['lower_bound']:.4g})"
            if c.get("confidence") else "")
    return f"predicted accuracy >= {c['value']:.4g} x the full network's{sure}"


def _extrapolation_text(out: dict | None) -> str:
    if not out:
        return "no"
    parts = [f"stage(s) {out['narrow_stages']} < 2 channels"] if out.get("narrow_stages") else []
    if out.get("decades_below_measured"):
        parts.append(f"{out['decades_below_measured']:.2f} decades below measured")
    return "; ".join(parts)


def summary(uniform: CompressionPlan, per_stage: CompressionPlan, model: DegradationModel, model_name: str, chosen_layerwise: bool) -> str:
    """The readable report: the uniform and the per-stage plan side by side."""
    base = uniform.base_widths
    full = uniform.inputs
    lines = [
        f"plan for {uniform.arch} ({uniform.spatial_dims}-D, {full['in_channels']} -> {full['out_channels']} channels), "
        f"full widths {'-'.join(map(str, base))}",
        f"complexity ({model.measure}) per stage: {' '.join(f'{c:.4g}' for c in uniform.complexity)}",
        f"degradation: {describe_model(model)} ({model.metric}, {model.measure}; {model_name})",
        f"constraint: {_constraint_text(uniform.constraint)}",
        "",
    ]
    rows = [
        ("widths", lambda p: "-".join(map(str, p.widths))),
        ("weights", lambda p: f"{p.weights:,}"),
        ("log10(weights)", lambda p: f"{p.log10_weights:.3f}"),
        (f"disk MB @ {uniform.bits_per_weight:g} bit", lambda p: f"{p.disk_bytes / MB:.4g}"),
    ]
    if uniform.memory_bytes is not None:
        rows.append(("main memory MB", lambda p: f"{p.memory_bytes / MB:.4g}"))
    rows.append(("predicted relative accuracy", lambda p: f"{p.predicted_relative_accuracy:.4f}"))
    if uniform.predicted_interval is not None:
        rows.append((f"{uniform.interval_level:.0%} interval", lambda p: f"{p.predicted_interval[0]:.3f} .. {p.predicted_interval[1]:.3f}"))
    if uniform.predicted_accuracy is not None:
        rows.append(("predicted accuracy", lambda p: f"{p.predicted_accuracy:.4f}"))
    rows.append(("constraint met", lambda p: "yes" if p.satisfied else "NO"))
    if uniform.extrapolation or per_stage.extrapolation:
        rows.append(("extrapolates", lambda p: _extrapolation_text(p.extrapolation)))
    heads = ("uniform" + (" *" if not chosen_layerwise else ""), "per-stage" + (" *" if chosen_layerwise else ""))
    cells = [(name, f(uniform), f(per_stage)) for name, f in rows]
    w0 = max(len(c[0]) for c in cells)
    w1 = max(len(heads[0]), *(len(c[1]) for c in cells))
    lines.append(f"{'':<{w0}}  {heads[0]:<{w1}}  {heads[1]}")
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in cells]
    lines.append("")
    lines.append("* the chosen plan (--layerwise picks per-stage); predictions are the model's, not measurements.")
    if uniform.predicted_interval is None:
        lines.append("this model gives no prediction interval (it carries no spread: the paper's presets do not).")
    caveat = prediction_caveat(model)
    if caveat:
        lines.append(f"caution: {caveat}.")
    return "\n".join(lines)


def _write_pareto(table: list[dict], path: str, name: str) -> str:
    """Write ``--pareto``'s JSON table and its plot beside it; the line saying where they went."""
    written = f"Pareto table written to {atomic_write_json(path, table)}"
    figure = plot_pareto(table, Path(path).with_suffix(".png"), title=f"{name}: predicted accuracy vs size")
    return written + (f" (plot: {figure})" if figure is not None else " (no plot: matplotlib is not installed)")


def _run_network_def(args: argparse.Namespace) -> int:
    """``plan --network-def FILE``: plan the network a bundle config defines, counted through the
    architecture registry (imports torch and MONAI; ``--arch`` plans stay torch-free)."""
    # here, not at the top: monai_ccnet.nets imports torch, and plans without --network-def stay torch-free
    from ..nets.network_def import OVERRIDE_NAME, read_network_def, write_network_def

    written = []
    try:
        netdef = read_network_def(args.network_def, key=args.network_def_key)
        spec = netdef.spec
        if args.layerwise and spec.uniform_only:
            raise ValueError(f"{spec.name} scales its widths by one number ({netdef.architecture.widths.arg}), so only "
                             "uniform plans exist; drop --layerwise.")
        ignored = [flag for flag, given in (("--widths", args.widths != list(DEFAULT_WIDTHS)),
                                            ("--in-channels", args.in_channels is not None),
                                            ("--spatial-dims", args.spatial_dims != 2 and args.spatial_dims != spec.spatial_dims))
                   if given]
        if ignored:
            _warn(f"{', '.join(ignored)} ignored: the network_def block sets them ({netdef.source}).")
        args.arch = spec.name  # for a --lam/--delta model's record
        model, model_name = _degradation(args)
        n = len(spec.base_widths)
        if (args.complexity is None) == (args.complexity_report is None):
            raise ValueError(f"give exactly one of --complexity J0 .. J{n - 1} ({n} stages) and --complexity-report FILE.")
        if args.complexity is not None:
            complexity = args.complexity
        else:
            complexity = complexity_from_report(args.complexity_report, model, n)
            channels, notes = _report_notes(args.complexity_report)
            for note in notes:
                _warn(note)
            if channels is not None and channels != spec.in_channels:
                _warn(f"{args.complexity_report} measured {channels}-channel images but the network_def takes "
                      f"in_channels={spec.in_channels}.")
        common = dict(
            disk_budget_mb=args.disk_budget_mb, bits_per_weight=args.bits_per_weight, memory_budget_mb=args.memory_budget_mb,
            input_shape=args.input_shape, batch=args.batch, dtype_bytes=args.dtype_bytes,
            min_relative_accuracy=args.min_relative_accuracy, memory_model=args.memory_model,
            full_accuracy=args.full_accuracy, interval_level=args.interval_level,
        )
        if args.confidence is not None:
            common["confidence"] = args.confidence
        if getattr(args, "allow_extrapolation", False):
            common["allow_extrapolation"] = True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plans = {"uniform": plan_network_def(netdef, complexity, model, layerwise=False, **common)}
            if not spec.uniform_only:
                plans["per-stage"] = plan_network_def(netdef, complexity, model, layerwise=True, **common)
        for message in dict.fromkeys(str(w.message) for w in caught):
            _warn(message)
        chosen_name = "per-stage" if args.layerwise else "uniform"
        chosen = plans[chosen_name]
        if args.save:
            written.append(f"plan written to {chosen.save(args.save)}")
        if args.save_network_def:
            path = write_network_def(netdef, chosen.widths, args.save_network_def, OVERRIDE_NAME)
            written.append(f"network_def override written to {path}; train the planned network with: "
                           f"{training_command(netdef.config_path, path)}")
        if args.pareto:  # the network's own curve: registry counts, widths its constraints allow
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # already shown above
                table = pareto_table(
                    spec.name, chosen.complexity, model, widths=spec.base_widths, spatial_dims=spec.spatial_dims,
                    in_channels=spec.in_channels, out_channels=spec.out_channels, bits_per_weight=chosen.bits_per_weight,
                    full_accuracy=args.full_accuracy, interval_level=args.interval_level, network=spec,
                )
            written.append(_write_pareto(table, args.pareto, spec.name))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:  # + the block the override holds
        print(json.dumps({**chosen.to_dict(), "caution": prediction_caveat(model),
                          "network_def": netdef.with_widths(chosen.widths)}))
    else:
        lines = describe_network_def(netdef) + [
            f"complexity ({model.measure}) per stage: {' '.join(f'{c:.4g}' for c in chosen.complexity)}",
            f"degradation: {describe_model(model)} ({model.metric}, {model.measure}; {model_name})",
            f"constraint: {_constraint_text(chosen.constraint)}",
            "",
        ]
        rows = network_def_rows(netdef, plans)
        rows[0] = ("", [h + (" *" if h == chosen_name else "") for h in rows[0][1]])
        w0 = max(len(name) for name, _ in rows)
        widths = [max(len(cells[k]) for _, cells in rows) for k in range(len(rows[0][1]))]
        lines += [f"{name:<{w0}}  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths)).rstrip() for name, cells in rows]
        lines += ["", "* the chosen plan (--layerwise picks per-stage); weights count conv/linear weights without biases "
                      "(parameters: all of them); predictions are the model's, not measurements."]
        if spec.uniform_only:
            lines.append(f"{spec.name} scales by one number ({netdef.architecture.widths.arg}): uniform plans only.")
        caveat = prediction_caveat(model)
        if caveat:
            lines.append(f"caution: {caveat}.")
        print("\n".join(lines))
    for line in written:  # on stderr: with --json, stdout stays one JSON object
        print(line, file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "network_def", None) is not None:
        return _run_network_def(args)
    try:
        uniform, per_stage, model, model_name = _plans(args)
        chosen = per_stage if args.layerwise else uniform
        written = []
        if args.save:
            written.append(f"plan written to {chosen.save(args.save)}")
        if args.pareto:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # already shown by _plans
                table = pareto_table(
                    chosen.arch, chosen.complexity, model, widths=chosen.base_widths, spatial_dims=chosen.spatial_dims,
                    in_channels=chosen.in_channels, out_channels=chosen.out_channels,
                    bits_per_weight=chosen.bits_per_weight, full_accuracy=args.full_accuracy,
                    interval_level=args.interval_level,
                )
            written.append(_write_pareto(table, args.pareto, chosen.arch))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**chosen.to_dict(), "caution": prediction_caveat(model)}))
    else:
        print(summary(uniform, per_stage, model, model_name, args.layerwise))
    for line in written:  # on stderr: with --json, stdout stays one JSON object
        print(line, file=sys.stderr)
    return 0
