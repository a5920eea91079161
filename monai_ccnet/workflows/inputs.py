"""What a bundle run starts from: its data (:func:`bundle_data`, the file check's messages
:func:`summarize_file_errors`, the images' channels :func:`detect_in_channels`), the complexity
report of its training split (:func:`measure_complexity`, cached on its exact inputs; the bundle's
``complexity`` run :func:`complexity_run`) and the network it trains (:func:`build_model` at
:func:`model_widths`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from monai_ccnet.accounting import check_arch, resolve_widths
from monai_ccnet.utils import as_bool

__all__ = [
    "bundle_data",
    "summarize_file_errors",
    "detect_in_channels",
    "measure_complexity",
    "complexity_run",
    "build_model",
    "model_widths",
]

logger = logging.getLogger(__name__)


def _split(dataset_dir: str | None, datalist: str | None, split: str, datalist_key: str) -> list[dict]:
    from monai_ccnet.data.layout import load_datalist, load_dataset_dir

    if dataset_dir:
        return load_dataset_dir(dataset_dir, split)
    return load_datalist(datalist, datalist_key)


def bundle_data(
    dataset_dir: str | None = None,
    datalist: str | None = None,
    synthetic_dir: str | None = None,
    synthetic: Mapping | None = None,
    target: str = "cells",
    train_key: str = "training",
    test_key: str = "test",
    need_test: bool = True,
    spatial_dims: int | None = None,
    check_files: bool = True,
) -> dict[str, Any]:
    """The data of a bundle run: ``{"name", "dataset_dir", "train": items, "test": items}``.

    ``dataset_dir`` (common layout, ``split.json`` with ``train`` and ``test``) or ``datalist``
    (MONAI JSON with ``train_key`` and ``test_key`` lists); with neither, the built-in synthetic
    dataset ``target`` is written to ``synthetic_dir`` (settings from ``synthetic``) and used: 2-D
    PNGs, or NIfTI volumes when ``spatial_dims`` is 3.

    With ``check_files`` every train and test file is read once and checked (readable, label
    size = image size, binary label, no NaN/Inf, 1/3/4 channels, ``spatial_dims`` spatial
    dimensions when given; :func:`monai_ccnet.complexity.check_items`), so a bad file stops the
    run here, with every bad file named, not in the middle of training. Files with the same
    problem are summarised in one line (how many, the first few, what is wrong and the fix:
    :func:`summarize_file_errors`).

    Raises:
        FileNotFoundError / ValueError: naming the missing folder, file or split, or the bad
            files, before any training starts.
    """
    if dataset_dir and datalist:
        raise ValueError(f"give dataset_dir or datalist, not both (got {dataset_dir!r} and {datalist!r}).")
    name = None
    if not dataset_dir and not datalist:
        from monai_ccnet.data.synthetic import make_synthetic_dataset

        if not synthetic_dir:
            raise ValueError("no dataset_dir or datalist given and no synthetic_dir to write built-in data to.")
        settings = {k: v for k, v in dict(synthetic or {}).items() if k != "kinds"}
        dims = 3 if spatial_dims is not None and int(spatial_dims) == 3 else 2
        dataset_dir = str(make_synthetic_dataset(synthetic_dir, target, spatial_dims=dims, **settings))
        name = f"synthetic-{target}" + ("-3d" if dims == 3 else "")
        logger.info(f"no dataset_dir/datalist given: using the built-in synthetic dataset {target!r} "
                    f"({'3-D NIfTI volumes' if dims == 3 else '2-D PNGs'}, {dataset_dir})")
    elif dataset_dir and not Path(dataset_dir).expanduser().is_dir():
        raise FileNotFoundError(f"dataset_dir not found: {Path(dataset_dir).expanduser().resolve()}")
    source = dataset_dir or datalist
    train = _split(dataset_dir, datalist, "train", train_key)
    test: list[dict] = []
    if need_test:
        try:
            test = _split(dataset_dir, datalist, "test", test_key)
        except ValueError as err:
            raise ValueError(
                f"{err} This run evaluates on a held-out test split: add a 'test' list to split.json (or the datalist)."
            ) from err
        missing = [item["id"] for item in test if "label" not in item]
        if missing:
            raise ValueError(f"{source}: test image(s) without a label cannot be scored: {missing[:10]}")
        overlap = sorted({i["image"] for i in train} & {i["image"] for i in test})
        if overlap:
            raise ValueError(f"{source}: {len(overlap)} image(s) are in both train and test: {overlap[:5]}")
    if check_files:
        from monai_ccnet.complexity import check_items

        errors = check_items(train + test, spatial_dims=spatial_dims)
        if errors:
            raise ValueError(_bad_files_error(str(source), errors, dataset_dir or os.path.dirname(str(datalist))))
    return {"name": name or Path(str(source)).stem, "dataset_dir": dataset_dir, "train": train, "test": test}


def _group_file_errors(errors: Sequence[Mapping], root: str | os.PathLike | None) -> list[tuple[list[str], str, bool]]:
    """``[(files, message, numbers_differ)]``: errors whose messages differ only in the file and in
    numbers (sizes, counts) grouped, in order of first appearance; files relative to ``root``."""
    import re

    def name(path: str) -> str:
        if root:
            relative = os.path.relpath(path, root)
            if not relative.startswith(".."):
                return relative
        return path

    groups: dict[str, list[tuple[str, str]]] = {}
    for error in errors:
        message, path = str(error["error"]), str(error.get("image"))
        for candidate in (error.get("image"), error.get("label")):
            if candidate and message.startswith(f"{candidate}: "):
                path, message = str(candidate), message[len(str(candidate)) + 2:]
                break
        groups.setdefault(re.sub(r"\d+", "#", message), []).append((name(path), message))
    return [([f for f, _ in members], members[0][1], any(m != members[0][1] for _, m in members))
            for members in groups.values()]


def _files_text(files: Sequence[str], shown: int) -> str:
    more = f", ... and {len(files) - shown} more" if len(files) > shown else ""
    return ", ".join(files[:shown]) + more


def summarize_file_errors(errors: Sequence[Mapping], root: str | os.PathLike | None = None, shown: int = 3) -> list[str]:
    """:func:`~monai_ccnet.complexity.check_items`'s errors as lines, one per problem: files whose
    messages differ only in the file and in numbers (sizes, counts) share a line, ``"<n> files
    (<first> files, ... and <k> more): <the first one's message>"`` (the message carries the fix,
    e.g. "use 3-D data or set spatial_dims=2"); a problem of one file keeps ``"<file>: <message>"``.
    Files are named relative to ``root`` when they lie under it."""
    lines = []
    for files, message, differ in _group_file_errors(errors, root):
        if len(files) == 1:
            lines.append(f"{files[0]}: {message}")
        else:
            note = " (the numbers differ between files: these are the first's)" if differ else ""
            lines.append(f"{len(files)} files ({_files_text(files, shown)}): {message}{note}")
    return lines


def _bad_files_error(source: str, errors: Sequence[Mapping], root: str | os.PathLike | None) -> str:
    """The message of :func:`bundle_data`'s file check: one line when every bad file has the same
    problem, else a header and one line per problem (:func:`summarize_file_errors`)."""
    head = f"{source}: {len(errors)} bad file(s) in the train/test splits"
    fix = "fix them or leave them out of the split before training"
    groups = _group_file_errors(errors, root)
    if len(groups) == 1 and len(errors) > 1:
        files, message, differ = groups[0]
        note = " (the numbers differ between files: these are the first's)" if differ else ""
        return f"{head}, all with one problem ({_files_text(files, 3)}): {message.rstrip('.')}{note}. {fix.capitalize()}."
    lines = summarize_file_errors(errors, root)
    if len(lines) == 1:
        return f"{head}: {lines[0].rstrip('.')}. {fix.capitalize()}."
    listing = "\n  ".join(lines[:20]) + (f"\n  ... and {len(lines) - 20} more problems" if len(lines) > 20 else "")
    return f"{head}; {fix}:\n  {listing}"


def detect_in_channels(items: Sequence[Mapping]) -> int:
    """Channels of the first image (1 for grey, 3 for RGB), read with MONAI's ``LoadImage``."""
    if not items:
        raise ValueError("cannot detect the number of image channels: the dataset is empty.")
    from monai.transforms import LoadImage

    image = LoadImage(image_only=True, ensure_channel_first=True)(items[0]["image"])
    return int(image.shape[0])


def _file_identity(path: Any) -> dict | None:
    """A file as the cache sees it: absolute path, size and modification time (None: no file given)."""
    if path is None:
        return None
    path = os.path.abspath(os.fspath(path))
    try:
        stat = os.stat(path)
    except OSError:  # missing: the analysis will report it, and the key changes once it appears
        return {"path": path, "size": None, "mtime_ns": None}
    return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _complexity_cache_key(items: Sequence[Mapping], scales: int, measures: Sequence[str] | None, **settings) -> str:
    """SHA-256 of everything a complexity report depends on, for :func:`measure_complexity`'s cache.

    Every image and label file (path, size, mtime_ns, in order), the measures, and every analysis
    setting after defaults (``ComplexitySettings.to_dict()``: quality, reference, colour, scales,
    intensity, ..., the JPEG encoder's version), and the package version (the measures' code).
    Settings that do not change a number (``workers``, ``strict``, ``progress``) are left out.
    """
    from monai_ccnet import __version__
    from monai_ccnet.complexity import DEFAULT_MEASURES
    from monai_ccnet.complexity.measures import ComplexitySettings

    names = {f.name for f in dataclasses.fields(ComplexitySettings)}
    config = ComplexitySettings(scales=int(scales), **{k: v for k, v in settings.items() if k in names})
    content = {
        "monai_ccnet": __version__,
        "settings": config.to_dict(),
        "measures": list(DEFAULT_MEASURES if measures is None else measures),
        "files": [[_file_identity(item.get("image")), _file_identity(item.get("label"))] for item in items],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def measure_complexity(
    items: Sequence[Mapping],
    scales: int,
    cache_file: str | os.PathLike | None = None,
    measures: Sequence[str] | None = None,
    progress: bool = True,
    **settings,
):
    """``analyze_dataset`` over ``items``, cached in ``cache_file``.

    The cached report is reused only when it was made from exactly these inputs: the same files
    (path, size, mtime) and settings (:func:`_complexity_cache_key`, kept in the report's
    ``settings["cache_key"]``); anything else recomputes and overwrites it.
    """
    from monai_ccnet.complexity import ComplexityReport, analyze_dataset

    kwargs: dict[str, Any] = dict(settings)
    if measures is not None:
        kwargs["measures"] = tuple(measures)
    key = _complexity_cache_key(items, scales, measures, **settings) if cache_file is not None else None
    if cache_file is not None and Path(cache_file).is_file():
        try:
            report = ComplexityReport.load(cache_file)
        except ValueError:  # unreadable: recompute
            report = None
        if report is not None and report.settings.get("cache_key") == key:
            return report
    report = analyze_dataset(list(items), scales=int(scales), progress=progress, **kwargs)
    if cache_file is not None:
        report.settings["cache_key"] = key
        report.save(cache_file)
    return report


def complexity_run(
    data: Mapping, output_dir: str | os.PathLike, scales: int = 5, measures: Sequence[str] | None = None, progress: bool = True, **settings
):
    """The bundle's ``complexity`` run: analyse the training split, save the report, log its table."""
    from monai_ccnet.complexity import analyze_dataset

    kwargs = dict(settings)
    if measures is not None:
        kwargs["measures"] = tuple(measures)
    report = analyze_dataset(list(data["train"]), scales=int(scales), progress=as_bool(progress, "progress"), **kwargs)
    path = Path(output_dir) / "complexity.json"
    report.save(path)
    logger.info(f"complexity of {data.get('name')} (training split):\n{report.table()}")
    print(f"complexity report: {path}")
    return report


def build_model(
    arch: str,
    widths: Sequence[int],
    multipliers: float | Sequence[float] | None = None,
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    **kwargs,
) -> torch.nn.Module:
    """The width-scalable network of ``monai_ccnet.nets`` at ``resolve_widths(widths, multipliers)``."""
    from monai_ccnet.nets import build_network

    return build_network(
        check_arch(arch),
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=out_channels,
        widths=list(resolve_widths(widths, multipliers)),
        **kwargs,
    )


def model_widths(
    widths: Sequence[int], multipliers: float | Sequence[float] | None = None, plan_file: str | None = None
) -> list[int]:
    """Stage widths of the network to train / evaluate / infer: a plan's widths (``plan_file``, as
    written by ``compress`` to ``models/plan.json``) or ``resolve_widths(widths, multipliers)``."""
    if plan_file:
        from monai_ccnet.planning import CompressionPlan

        try:
            return [int(w) for w in CompressionPlan.load(plan_file).widths]
        except ValueError as err:
            raise ValueError(f"plan_file: {err} Give the models/plan.json that compress wrote.") from None
    return list(resolve_widths(widths, multipliers))
