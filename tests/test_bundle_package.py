"""The bundle ships with the package: ``bundle_path``, ``python -m monai_ccnet bundle`` and the wheel's contents."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from monai_ccnet.__main__ import main
from monai_ccnet.bundled import bundle_path, write_bundle
from tests.conftest import REPO

BUNDLE = REPO / "bundles" / "ccnet_segmentation"


def test_checkout_uses_the_repository_bundle(capsys):
    assert bundle_path() == BUNDLE.resolve()
    assert main(["bundle"]) == 0 and main(["bundle", "--path"]) == 0
    assert capsys.readouterr().out.splitlines() == [str(BUNDLE.resolve())] * 2


def test_write_copies_the_bundle_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["bundle", "--write", str(tmp_path / "b")]) == 0
    assert f"wrote the ccnet_segmentation bundle to {tmp_path / 'b'}" in capsys.readouterr().out
    for name in ("configs/common.yaml", "configs/compress.yaml", "configs/metadata.json", "docs/README.md", "LICENSE"):
        assert (tmp_path / "b" / name).read_bytes() == (BUNDLE / name).read_bytes(), name
    assert main(["bundle", "--write", str(tmp_path / "b")]) == 2
    assert "exist(s) already" in capsys.readouterr().err
    write_bundle(tmp_path / "b", overwrite=True)


def test_wheel_carries_the_bundle(tmp_path):
    """A wheel built from the source tree holds every bundle file under monai_ccnet/bundle/."""
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "runs", "__pycache__", ".pytest_cache", ".hypothesis",
        "eval", "models", "cache", "compress", "calibration"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                           "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "No module named pip" in proc.stderr:
        pytest.skip("pip is not installed in this environment")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("monai_ccnet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"monai_ccnet/bundle/{p.relative_to(BUNDLE)}" for p in BUNDLE.rglob("*")
                if p.is_file() and p.relative_to(BUNDLE).parts[0] in ("configs", "docs", "LICENSE")}
    assert expected and expected <= names, sorted(expected - names)
    assert "monai_ccnet/bundled.py" in names and "monai_ccnet/presets/unet-f1-paper.json" in names
