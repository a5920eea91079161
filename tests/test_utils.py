"""Shared helpers: atomic writes, JSON reading, config flags."""

from __future__ import annotations

import os

import pytest

from monai_ccnet.utils import as_bool, atomic_write_json, read_json


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), (None, False), (1, True), (0, False),
                                             ("false", False), ("False", False), ("no", False), ("true", True),
                                             (" YES ", True), ("1", True)])
def test_as_bool_parses_command_line_words(value, expected):
    assert as_bool(value, "flag") is expected


@pytest.mark.parametrize("value", ["maybe", 2, 0.5, [True]])
def test_as_bool_refuses_anything_else(value):
    with pytest.raises(ValueError, match=r"layerwise must be true or false, got"):
        as_bool(value, "layerwise")


def test_atomic_json_round_trip_and_errors(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "a.json", {"a": [1, 2]})
    assert read_json(path) == {"a": [1, 2]}
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]  # no temporary file left
    with pytest.raises(ValueError, match="nan"):
        atomic_write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not (tmp_path / "nan.json").exists() and not list(tmp_path.glob(".nan.json*"))
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json", "plan")
    with pytest.raises(ValueError, match="missing.json: cannot read the plan"):
        read_json(tmp_path / "missing.json", "plan")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
