"""Dataset discovery (common folder layout, MONAI datalists) and built-in synthetic data."""

from .layout import IMAGE_SUFFIXES, find_pairs, load_datalist, load_dataset_dir, resolve_data

__all__ = ["IMAGE_SUFFIXES", "find_pairs", "load_datalist", "load_dataset_dir", "resolve_data"]
