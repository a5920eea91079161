"""Find image/label pairs: the common folder layout, a folder pair, or a MONAI datalist.

Pure Python at import (no torch; ``load_datalist`` reads with MONAI's Decathlon loader). Every
function returns a list of MONAI-style data dicts ``{"image": path, "label": path | absent, "id":
str}`` with absolute paths, and raises a clear error naming the file, key or value when the input
is unusable. Nothing is read from the images here: checks that need pixels (size mismatch,
non-binary labels) belong to the readers.

The common layout (the one of ``../shared/data/<name>``)::

    <dataset_dir>/images/<id>.png
    <dataset_dir>/labels/<id>.png      (0 = background, 1 = foreground)
    <dataset_dir>/split.json           {"train": [ids], "test": [ids]}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "find_pairs", "load_datalist", "load_dataset_dir", "resolve_data"]

#: file suffixes recognised as images when a folder is scanned (NIfTI for 3-D volumes).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".nii", ".nii.gz")


def _stem(path: Path) -> str | None:
    name = path.name
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def _scan(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        stem = _stem(path)
        if stem is None or not path.is_file():
            continue
        if stem in found:
            raise ValueError(f"{folder}: two images share the id {stem!r}: {found[stem].name} and {path.name}.")
        found[stem] = path
    return found


def find_pairs(images_dir: str | os.PathLike, labels_dir: str | os.PathLike | None = None) -> list[dict]:
    """Pair ``images_dir/<id>.<ext>`` with ``labels_dir/<id>.<ext>`` by id (file stem).

    Raises:
        FileNotFoundError: a folder does not exist.
        ValueError: no image found, or an image without a label (all such ids are listed).
    """
    images = Path(images_dir).expanduser().resolve()
    if not images.is_dir():
        raise FileNotFoundError(f"images folder {'is a file, not a folder' if images.exists() else 'not found'}: {images}")
    image_files = _scan(images)
    if not image_files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {images}: the dataset is empty.")
    label_files: dict[str, Path] = {}
    if labels_dir is not None:
        labels = Path(labels_dir).expanduser().resolve()
        if not labels.is_dir():
            raise FileNotFoundError(f"labels folder not found: {labels}")
        label_files = _scan(labels)
        missing = sorted(set(image_files) - set(label_files))
        if missing:
            raise ValueError(f"{len(missing)} image(s) in {images} have no label in {labels}: {missing[:10]}")
    items = []
    for key, path in image_files.items():
        item = {"image": str(path), "id": key}
        if labels_dir is not None:
            item["label"] = str(label_files[key])
        items.append(item)
    return items


def load_dataset_dir(dataset_dir: str | os.PathLike, split: str | None = "train") -> list[dict]:
    """Data dicts of one split of a dataset in the common layout.

    Args:
        dataset_dir: folder holding ``images/``, optionally ``labels/`` and ``split.json``.
        split: key of ``split.json`` to use (``"train"``, ``"test"``, ...); ``None`` (or no
            ``split.json``) takes every image.

    Raises:
        FileNotFoundError: the folder, ``images/`` or a listed file does not exist.
        ValueError: ``split.json`` is malformed, lacks ``split``, lists no id, or lists ids
            whose files are missing.
    """
    root = Path(dataset_dir).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset_dir not found: {root}")
    labels_dir = root / "labels"
    items = find_pairs(root / "images", labels_dir if labels_dir.is_dir() else None)
    split_file = root / "split.json"
    if split is None or not split_file.is_file():
        return items
    try:
        splits = json.loads(split_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{split_file}: cannot read the split file ({err}).") from err
    if not isinstance(splits, dict) or split not in splits:
        keys = sorted(splits) if isinstance(splits, dict) else type(splits).__name__
        raise ValueError(f"{split_file}: no split {split!r} (found {keys}).")
    ids = splits[split]
    if not isinstance(ids, list) or not ids:
        raise ValueError(f"{split_file}: split {split!r} lists no image ids; the dataset is empty.")
    by_id = {item["id"]: item for item in items}
    missing = [str(i) for i in ids if str(i) not in by_id]
    if missing:
        raise ValueError(f"{split_file}: split {split!r} names {len(missing)} id(s) without an image: {missing[:10]}")
    return [by_id[str(i)] for i in ids]


def load_datalist(
    datalist: str | os.PathLike, key: str = "training", base_dir: str | os.PathLike | None = None
) -> list[dict]:
    """Data dicts from a MONAI/Decathlon datalist JSON (``{"training": [{"image": ..., "label": ...}]}``).

    Read by ``monai.data.load_decathlon_datalist`` (relative paths resolved against ``base_dir``,
    default: the datalist's folder; the ``test`` list may give bare image paths), after checks that
    name the file, key and entry of what is wrong; every listed image and label must exist.

    Raises:
        FileNotFoundError: the datalist or a listed file does not exist.
        ValueError: malformed JSON, missing ``key``, empty list, or an entry without ``image``.
    """
    path = Path(datalist).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"datalist not found: {path}")
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}).") from err
    if not isinstance(content, dict) or key not in content:
        keys = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise ValueError(f"{path}: no key {key!r} (found {keys}).")
    entries = content[key]
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: {key!r} lists no entries; the dataset is empty.")
    # the Decathlon format: dicts, or for "test" only, a list of bare image paths
    bare = key == "test" and not isinstance(entries[0], dict)
    for n, entry in enumerate(entries):
        if bare and not isinstance(entry, str):
            raise ValueError(f"{path}: {key}[{n}] is not an image path like {key}[0]: {entry!r}")
        if not bare and (not isinstance(entry, dict) or "image" not in entry):
            hint = " (only the 'test' list may give bare image paths)" if isinstance(entry, str) else ""
            raise ValueError(f"{path}: {key}[{n}] has no 'image' key{hint}: {entry!r}")
        image = entry if bare else entry["image"]
        paths = [image] if isinstance(image, str) else image if isinstance(image, list) else []
        if not paths or not all(isinstance(i, str) for i in paths):
            raise ValueError(f"{path}: {key}[{n}].image must be a path or a list of paths (channels): {image!r}")

    from monai.data import load_decathlon_datalist  # monai imports torch: monai_ccnet.data stays torch-free

    base = Path(base_dir).expanduser().resolve() if base_dir is not None else path.parent
    items = load_decathlon_datalist(path, is_segmentation=True, data_list_key=key, base_dir=base)
    missing = []
    for n, item in enumerate(items):
        for field in ("image", "label"):
            files = item.get(field)
            for file in [files] if isinstance(files, str) else files if isinstance(files, list) else []:
                if not Path(file).exists():
                    missing.append(f"{key}[{n}].{field} = {file}")
        first = Path(item["image"] if isinstance(item["image"], str) else item["image"][0])
        item.setdefault("id", _stem(first) or first.name)
    if missing:  # every missing file at once, so one fix covers them all
        listing = "; ".join(missing[:10]) + ("; ..." if len(missing) > 10 else "")
        raise FileNotFoundError(f"{path}: {len(missing)} listed file(s) not found: {listing}")
    return items


def resolve_data(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    images: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    split: str | None = "train",
    datalist_key: str | None = None,
) -> list[dict]:
    """One entry point for the three ways of naming data; exactly one of them must be given.

    ``split`` picks the ``split.json`` key of a ``dataset_dir``; for a ``datalist`` the key is
    ``datalist_key`` or, by default, ``"training"`` for ``split="train"`` and ``split`` otherwise.
    """
    given = [name for name, value in (("dataset_dir", dataset_dir), ("datalist", datalist), ("images", images)) if value]
    if len(given) != 1:
        raise ValueError(f"give exactly one of dataset_dir, datalist or images (got {given or 'none'}).")
    if dataset_dir:
        return load_dataset_dir(dataset_dir, split)
    if datalist:
        key = datalist_key or ("training" if split in (None, "train") else str(split))
        return load_datalist(datalist, key)
    return find_pairs(images, labels)


def find_datasets(root: str | os.PathLike) -> dict[str, str]:
    """``{name: folder}`` of every dataset in the common layout directly under ``root``
    (sub-folders with ``images/`` and ``split.json``), sorted by name: the calibration's input.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: ``root`` holds no dataset in the common layout.
    """
    folder = Path(root).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"datasets root not found: {folder}")
    found = {
        sub.name: str(sub)
        for sub in sorted(folder.iterdir())
        if (sub / "images").is_dir() and (sub / "split.json").is_file()
    }
    if not found:
        raise ValueError(f"{folder}: no dataset in the common layout (sub-folders with images/ and split.json).")
    return found
