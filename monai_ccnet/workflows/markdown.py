"""Markdown renderings of the calibration and compression results (the JSON files are the data)."""

from __future__ import annotations

from typing import Mapping, Sequence

__all__ = ["markdown_table", "calibration_markdown", "compress_markdown"]


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "-".join(_fmt(v, digits) for v in value)
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def calibration_markdown(records: Sequence[dict], models: Mapping, ranking: Mapping) -> str:
    """Runs, fitted models and measure ranking of one calibration."""
    parts = ["# Calibration", ""]
    rows = [
        [r["dataset"], r["multiplier"], r["widths"], r["weights"], r["seed"], r["f1"], r["iou"], r.get("epochs")]
        for r in sorted(records, key=lambda r: (r["dataset"], -r["multiplier"], r["seed"]))
    ]
    parts += ["## Runs", "", markdown_table(["dataset", "multiplier", "widths", "weights", "seed", "F1", "IoU", "epochs"], rows), ""]
    parts += ["## Degradation models (Eq. 3: slope = lambda * C + delta)", ""]
    rows = [[m, model.measure, model.lam, model.delta, model.r2, model.n_datasets, model.n_points] for m, model in models.items()]
    parts += [markdown_table(["metric", "measure", "lambda", "delta", "R^2", "datasets", "runs"], rows), ""]
    for metric, model in models.items():
        rows = [[d["dataset"], d["complexity"], d["slope"], d["full_accuracy"], d["residual"]] for d in model.datasets]
        parts += [f"### Per-dataset slopes ({metric})", "", markdown_table(["dataset", "C", "slope", f"full {metric}", "residual"], rows), ""]
    parts += ["## Candidate complexity measures, ranked by R^2", ""]
    for metric, rows in ranking.items():
        table = [[r["measure"], r["r2"], r["lam"], r["delta"]] for r in rows]
        parts += [f"### {metric}", "", markdown_table(["measure", "R^2", "lambda", "delta"], table), ""]
    return "\n".join(parts)


def _met(check: Mapping) -> str:
    if check.get("met") is None:
        return "not judged" + (f" ({check['note']})" if check.get("note") else "")
    if check["met"]:
        return "yes"
    unit = f" {check['unit']}" if check.get("unit") else ""
    if "over" in check:
        return f"**no**: {_fmt(check['over'])}{unit} over"
    return f"**no**: {_fmt(check['short'])}{unit} short"


def compress_markdown(report: Mapping) -> str:
    """Whether the constraint is met (by the prediction, by the measurement), predicted vs achieved
    accuracy in the same units, what the budget counts, sizes and latency of both networks."""
    comp, full, pred = report["compressed"], report["full"], report["predicted"]
    metric = pred["metric"]
    c = report["constraint"]
    # reports written before budgets said what they count have only the constraint
    budget = report.get("budget") or {"kind": c["kind"], "value": c["value"], "value_mb": c["value"], "counts": "-"}
    name = {"f1": "F1", "iou": "IoU"}.get(metric, metric)
    if budget["kind"] == "accuracy":
        goal = f"relative {name} >= {_fmt(budget['value'])} (counted: {budget['counts']})"
    else:
        goal = f"{budget['kind']} <= {_fmt(budget['value_mb'])} MB, counting {budget['counts']}"
    lines = [
        f"# Compression report: {report['arch']} on {report['dataset']}",
        "",
        f"**Goal**: {goal}.",
        f"**Plan** ({'per stage' if report['layerwise'] else 'uniform'}): widths {_fmt(comp['widths'])}, "
        f"{comp['weights']:,} weights, {_fmt(report['compression']['weights_ratio'])}x fewer than the full "
        f"{_fmt(full['widths'])} ({full['weights']:,}).",
    ]
    netdef = report.get("network_def")
    if netdef:
        arg = netdef["width_argument"]
        lines += [
            "",
            f"**Your network**: `{netdef['key']}` of `{netdef['source']}` (`_target_` {netdef['target']!r} = "
            f"`{netdef['class']}`, registered as `{netdef['architecture']}`): `{arg}` "
            f"{_fmt(netdef['original'][arg])} -> **{_fmt(netdef['planned'][arg])}**, weights "
            f"{netdef['original']['weights']:,} -> {netdef['planned']['weights']:,}, parameters "
            f"{netdef['original']['parameters']:,} -> {netdef['planned']['parameters']:,} (the registry's counts).",
            f"Override written: `{netdef['override']}`; train the planned network in your bundle with "
            f"`{netdef['train_command']}`.",
        ]
    if budget.get("disk_budget_counts") == "files" and budget["planned_weights_mb"] < budget["value_mb"]:
        lines.append(
            f"The planner's weight budget was lowered to {_fmt(budget['planned_weights_mb'])} MB so that every exported "
            "file fits (the files add biases, normalisation and their container to the weights)."
        )
    rows = [[check["what"], by, _value(check), _limit(check), _met(check)]
            for by in ("prediction", "measurement") for check in report.get("checks", {}).get(by, [])]
    lines += [
        "",
        "## Is the constraint met?",
        "",
        "The prediction is the planner's count for the planned widths; the measurement is what this run "
        "wrote or scored.",
        "",
        markdown_table(["quantity", "by", "value", "limit", "met"], rows),
        "",
        f"## Accuracy ({name} on the test split)",
        "",
        markdown_table(
            ["", "relative to the full network", f"absolute {name}"],
            [
                ["predicted", pred["relative_accuracy"], pred.get(metric)],
                ["achieved", comp.get(f"relative_{metric}"), comp.get(metric)],
            ],
        ),
        "",
    ]
    if pred.get("relative_interval"):
        absolute = pred.get(f"{metric}_interval")
        lines.append(
            f"Predicted {_fmt(pred['interval_level'])} interval: relative {name} {_fmt(pred['relative_interval'][0])} .. "
            f"{_fmt(pred['relative_interval'][1])}"
            + (f", absolute {_fmt(absolute[0])} .. {_fmt(absolute[1])} (from {pred.get('absolute_from')})" if absolute else "")
            + "."
        )
    elif "relative_interval" in pred:
        lines.append("The degradation model gives no prediction interval (it carries no spread: the paper's presets do not).")
    if pred.get("count"):
        lines.append(f"Which weight count the prediction used: {pred['count']}.")
    reference = report.get("reference") or {}
    if reference.get("accuracy") is not None:
        lines.append(f"Full network's {name}: {_fmt(reference['accuracy'])} ({reference['source']}).")
    if report.get("cannot_judge"):
        lines.append(report["cannot_judge"])
    for key in ("caveat", "calibration_mismatch", "extrapolation"):
        if report.get(key):
            lines.append(f"**Caution**: {report[key]}")
    lines += [
        "",
        "## Size and speed",
        "",
        markdown_table(
            ["network", "widths", "weights", f"weights MB @ {_fmt(c.get('bits_per_weight', 32))} bit", "latency ms", "F1", "IoU"],
            [
                ["compressed", comp["widths"], comp["weights"], comp["disk_bytes"] / 1e6, comp["latency_ms"], comp.get("f1"), comp.get("iou")],
                ["full", full["widths"], full["weights"], full["disk_bytes"] / 1e6, full["latency_ms"], full.get("f1"), full.get("iou")],
            ],
        ),
        "",
        f"Latency: {_fmt(report['compression']['speedup'])}x faster ({comp['latency_input']} on {report['device']}).",
        f"Degradation model: {report['degradation']['source']} ({metric}, measure {report['degradation']['measure']}, "
        f"{_model_text(report['degradation'])}).",
        f"Complexity per stage: {_fmt(report['complexity'])}.",
        "",
        *_int8_lines(report.get("int8")),
        "## Files",
        "",
    ]
    sizes = report.get("file_bytes", {})
    for key, path in report["files"].items():
        size = sizes.get(path.rsplit("/", 1)[-1]) if key in ("state_dict", "torchscript", "onnx", "int8") else None
        lines.append(f"- {key}: `{path}`" + (f" ({size:,} bytes)" if size is not None else ""))
    return "\n".join(lines) + "\n"


def _int8_lines(int8: Mapping | None) -> list[str]:
    """The int8 network against the float one (``report["int8"]``, bits_per_weight 8): F1, sizes, latency."""
    if not int8:
        return []
    lines = ["## int8 network (bits_per_weight 8)", ""]
    if int8.get("error"):
        return lines + [f"Quantisation failed: {int8['error']}. The float32 export is the deliverable.", ""]
    lat, flat = int8["latency_ms"]["int8"], int8["latency_ms"]["float32"]
    lines += [
        markdown_table(
            ["network", "file", "bytes", "test F1", "test IoU", "ms, 1 thread", "ms, all cores"],
            [["float32", "model.onnx (dynamic batch)", int8["float_onnx_bytes"], int8.get("float_f1"), int8.get("float_iou"),
              flat["1_thread"], flat["all_cores"]],
             ["int8", "model.int8.onnx", int8["bytes"], int8.get("f1"), int8.get("iou"), lat["1_thread"], lat["all_cores"]]],
        ),
        "",
        f"F1 change {_fmt(int8.get('f1_change'))} (tolerance {_fmt(int8['tolerance'])}); "
        f"{_fmt(int8['size_ratio'])}x smaller; float32 / int8 latency {_fmt(int8['latency_ratio']['1_thread'])} on one "
        f"thread, {_fmt(int8['latency_ratio']['all_cores'])} on all cores (above 1: int8 is faster; ONNX Runtime CPU, "
        f"input {int8['latency_input']}).",
        (f"Accounting's int8 file size: {int8['planned_bytes']:,} bytes, written {int8['bytes']:,}"
         if int8.get("planned_bytes") is not None else f"Written: {int8['bytes']:,} bytes")
        + (f"; budget {int8['budget_bytes']:,.0f} bytes: {'met' if int8['fits_budget'] else '**not met**'}"
           if int8.get("budget_bytes") is not None else "") + ".",
        f"Calibration: {int8['calibration']['patches']} patches of {int8['calibration']['images']} training images, "
        f"{int8['calibration']['method']}, {int8['calibration']['format']} ({int8['calibration']['tool']}).",
        ("**Deliverable: the int8 network** (models/model.int8.onnx)." if int8.get("deliverable") == "int8"
         else f"**Deliverable: the float32 export**: {int8.get('note', '')}"),
        "",
    ]
    return lines


def _model_text(degradation: Mapping) -> str:
    if degradation.get("form") == "saturating":
        return (f"saturating form: knee {_fmt(degradation['kappa'])} * C + {_fmt(degradation['mu'])} log10(weights), "
                f"fall {_fmt(degradation['beta'])} per decade")
    return f"lambda {_fmt(degradation.get('lam'))}, delta {_fmt(degradation.get('delta'))}"


def _value(check: Mapping) -> str:
    return "-" if check.get("value") is None else f"{_fmt(check['value'])} {check.get('unit', '')}".strip()


def _limit(check: Mapping) -> str:
    if check.get("limit") is None:
        return "-"
    return f"{check.get('compare', '<=')} {_fmt(check['limit'])} {check.get('unit', '')}".strip()
