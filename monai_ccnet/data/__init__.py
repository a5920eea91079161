"""Dataset discovery (common folder layout, MONAI datalists) and built-in synthetic data."""

from .layout import IMAGE_SUFFIXES, find_datasets, find_pairs, load_datalist, load_dataset_dir, resolve_data
from .synthetic import SYNTHETIC_KINDS, make_synthetic_dataset, make_synthetic_datasets, synthetic_pair

__all__ = [
    "IMAGE_SUFFIXES",
    "find_datasets",
    "find_pairs",
    "load_datalist",
    "load_dataset_dir",
    "resolve_data",
    "SYNTHETIC_KINDS",
    "make_synthetic_dataset",
    "make_synthetic_datasets",
    "synthetic_pair",
]
