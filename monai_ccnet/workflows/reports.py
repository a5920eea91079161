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


def compress_markdown(report: Mapping) -> str:
    """Predicted vs achieved accuracy, size and latency of the compressed and full networks."""
    comp, full, pred = report["compressed"], report["full"], report["predicted"]
    metric = pred["metric"]
    c = report["constraint"]
    lines = [
        f"# Compression report: {report['arch']} on {report['dataset']}",
        "",
        f"Constraint: {c['kind']} = {c['value']} {c.get('unit', '')} ({'per stage' if report['layerwise'] else 'uniform'}); "
        f"satisfied: {report['satisfied']}.",
        f"Degradation model: {report['degradation']['source']} ({metric}, measure {report['degradation']['measure']}, "
        f"lambda {_fmt(report['degradation']['lam'])}, delta {_fmt(report['degradation']['delta'])}).",
        f"Complexity per stage: {_fmt(report['complexity'])}.",
        "",
        markdown_table(
            ["network", "widths", "weights", "disk MB", "latency ms", "F1", "IoU"],
            [
                ["compressed", comp["widths"], comp["weights"], comp["disk_bytes"] / 1e6, comp["latency_ms"], comp.get("f1"), comp.get("iou")],
                ["full", full["widths"], full["weights"], full["disk_bytes"] / 1e6, full["latency_ms"], full.get("f1"), full.get("iou")],
            ],
        ),
        "",
        markdown_table(
            ["", f"relative {metric}", metric],
            [
                ["predicted", pred["relative_accuracy"], pred.get(metric)],
                ["achieved", comp.get(f"relative_{metric}"), comp.get(metric)],
            ],
        ),
        "",
        f"Weights: {_fmt(report['compression']['weights_ratio'])}x fewer; latency: {_fmt(report['compression']['speedup'])}x "
        f"faster ({comp['latency_input']} on {report['device']}).",
    ]
    if full.get(metric) is None:
        lines.append("The absolute prediction needs the full network's accuracy: set `compare_full: true`.")
    lines += ["", "Files:", ""] + [f"- {k}: `{v}`" for k, v in report["files"].items()]
    return "\n".join(lines) + "\n"
