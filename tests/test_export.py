"""Export with MONAI's converters: TorchScript always, ONNX when ``onnx`` is installed (else skipped)."""

from __future__ import annotations

import inspect
import logging

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from monai_ccnet.workflows import build_model, export_network  # noqa: E402
from monai_ccnet.workflows import export as export_module  # noqa: E402


@pytest.fixture
def network():
    return build_model("unet", [4, 8, 16], spatial_dims=2, in_channels=1, out_channels=2)


def test_export_writes_the_state_dict_and_torchscript(network, tmp_path):
    files = export_network(network, (1, 1, 32, 32), tmp_path, formats=("torchscript",))
    assert sorted(files) == ["state_dict", "torchscript"]
    scripted = torch.jit.load(files["torchscript"])
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(scripted(x), network(x), atol=1e-5)


def test_onnx_export_or_a_clear_skip(network, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger=export_module.__name__):
        files = export_network(network, (1, 1, 32, 32), tmp_path, formats=("onnx",))
    if export_module.optional_import("onnx") is None:
        assert "onnx" not in files and "onnx not installed: skipping the ONNX export" in caplog.text
        return
    import onnx

    model = onnx.load(files["onnx"])
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["logits"]


def test_onnx_without_onnxscript_uses_the_torchscript_exporter(monkeypatch):
    real = export_module.optional_import
    monkeypatch.setattr(export_module, "optional_import", lambda name: None if name == "onnxscript" else real(name))
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    assert export_module._onnx_exporter() == ({"dynamo": False} if has_dynamo else {})
    monkeypatch.setattr(export_module, "optional_import", lambda name: object())
    assert export_module._onnx_exporter() == {}
