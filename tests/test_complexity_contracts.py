"""Complexity API contracts: real transform signatures, refused options, bugs are not per-image errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from PIL import Image

import monai_ccnet.complexity.analyzer as analyzer
from monai_ccnet.complexity import ComplexityInputError, analyze_dataset
from monai_ccnet.complexity import transforms as T

ARRAY_TRANSFORMS = [
    T.JPEGComplexity, T.ForegroundDensity, T.BoundaryDensity, T.ComponentDensity, T.ObjectThickness,
    T.SignalEnergy, T.EdgeInformation, T.KeypointDensity, T.FeatureCongestion, T.SubbandEntropy,
]


@pytest.mark.parametrize("array_transform", ARRAY_TRANSFORMS, ids=lambda t: t.__name__)
def test_dict_transforms_show_their_arguments(array_transform):
    dict_transform = getattr(T, array_transform.__name__ + "d")
    params = inspect.signature(dict_transform).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), params
    array_params = list(inspect.signature(array_transform).parameters)
    assert list(params) == ["keys", "output_key", "allow_missing_keys", *array_params]
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in array_params)


def test_a_measure_refuses_options_it_ignores():
    for make in (lambda: T.KeypointDensity(quality=90), lambda: T.SignalEnergy(reference="file"),
                 lambda: T.ForegroundDensity(intensity="minmax"), lambda: T.KeypointDensityd("image", quality=90)):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            make()
    assert T.EdgeInformation(edge_operator="scharr").settings.edge_operator == "scharr"
    assert T.JPEGComplexityd("image", quality=90).measurer.settings.quality == 90


def test_only_input_errors_become_per_image_errors(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(path)
    items = [{"image": str(path)}, {"image": str(path)}]
    measure = analyzer.analyze_item

    def bad_file_then_fine(item, *args):
        if bad_file_then_fine.first:
            bad_file_then_fine.first = False
            raise ComplexityInputError(f"{item['image']}: truncated")
        return measure(item, *args)

    bad_file_then_fine.first = True
    monkeypatch.setattr(analyzer, "analyze_item", bad_file_then_fine)
    report = analyze_dataset(items, scales=1, progress=False)
    assert [e["error"] for e in report.errors] == [f"{path}: truncated"] and len(report.images) == 1

    def bug(item, *args):
        raise TypeError("a bug in a measure")

    monkeypatch.setattr(analyzer, "analyze_item", bug)
    with pytest.raises(TypeError, match="a bug in a measure"):
        analyze_dataset(items, scales=1, progress=False)
