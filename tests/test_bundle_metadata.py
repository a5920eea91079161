"""The bundle's metadata.json as MONAI reads it: no deprecated key, nothing rewritten on the way."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

pytest.importorskip("monai")

from monai.bundle import ConfigParser  # noqa: E402
from monai.bundle.utils import DEPRECATED_ID_MAPPING  # noqa: E402

METADATA = Path(__file__).resolve().parents[1] / "bundles" / "ccnet_segmentation" / "configs" / "metadata.json"


def test_metadata_uses_no_deprecated_key():
    meta = json.loads(METADATA.read_text())
    assert not set(DEPRECATED_ID_MAPPING) & set(meta), f"{METADATA}: deprecated key(s), use {DEPRECATED_ID_MAPPING}"


def test_monai_reads_the_metadata_as_written():
    """MONAI renames a deprecated key on reading, over the key it maps to: ``optional_packages_version``
    replaced ``required_packages_version`` (with a warning on every bundle run)."""
    parser = ConfigParser()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parser.read_meta(str(METADATA))
    assert not [str(w.message) for w in caught if "deprecated" in str(w.message)]
    assert parser.get("_meta_") == json.loads(METADATA.read_text())
    assert "monai_ccnet" in parser.get("_meta_")["required_packages_version"]
