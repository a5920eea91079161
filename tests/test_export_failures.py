"""An export must not cost a finished compress run: float32 round-off passes the output check, and
a format that still fails is named in the report while model.pt and the report are written."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from monai_ccnet.data.synthetic import make_synthetic_dataset  # noqa: E402
from monai_ccnet.workflows import CompressWorkflow, bundle_data, export_network  # noqa: E402
from monai_ccnet.workflows import export as export_module  # noqa: E402


class NearZero(torch.nn.Module):
    """Outputs of ~1e-6 whose scripted graph differs from eager by 1e-7, float32 round-off in size
    (summation order): a relative difference of ~10 %, which only an absolute tolerance accepts."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        y = self.conv(x) * 1e-6
        if torch.jit.is_scripting():
            y = y + 1e-7
        return y


def test_outputs_near_zero_pass_the_torchscript_check(tmp_path):
    network = NearZero()
    with pytest.raises(AssertionError, match="Greatest absolute difference"):  # MONAI's default, atol 0
        from monai.networks.utils import convert_to_torchscript

        convert_to_torchscript(network, str(tmp_path / "atol0.ts"), verify=True, inputs=[torch.rand(1, 1, 16, 16)],
                               device=torch.device("cpu"))
    files = export_network(network, (1, 1, 16, 16), tmp_path / "models", formats=("torchscript",))
    assert sorted(files) == ["state_dict", "torchscript"]


def test_onnx_check_gets_the_same_tolerance(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(export_module, "optional_import", lambda name: object())  # onnx and onnxruntime "installed"
    monkeypatch.setattr(export_module, "convert_to_onnx", lambda *args, **kwargs: seen.update(kwargs))
    files = export_network(NearZero(), (1, 1, 16, 16), tmp_path, formats=("onnx",))
    assert "onnx" in files and seen["verify"] is True
    assert (seen["rtol"], seen["atol"]) == (export_module.EXPORT_RTOL, export_module.EXPORT_ATOL) == (1e-4, 1e-5)


def _fail_check(*args, **kwargs):
    filename = args[1] if len(args) > 1 else kwargs["filename_or_obj"]
    open(filename, "wb").close()  # MONAI writes the file before it compares the outputs
    raise AssertionError("Tensor-likes are not close!\n\nMismatched elements: 3 / 2048 (0.1%)\n"
                         "Greatest absolute difference: 0.5 at index (0, 1, 2, 3) (up to 1e-05 allowed)")


def test_a_failed_export_raises_by_default_and_is_one_line_when_collected(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "convert_to_torchscript", _fail_check)
    with pytest.raises(AssertionError, match="not close"):
        export_network(NearZero(), (1, 1, 16, 16), tmp_path, formats=("torchscript",))
    errors = {}
    files = export_network(NearZero(), (1, 1, 16, 16), tmp_path, formats=("torchscript",), errors=errors)
    assert sorted(files) == ["state_dict"] and (tmp_path / "model.pt").is_file()
    assert not (tmp_path / "model.ts").exists(), "a file that failed its output check is not left behind"
    assert list(errors) == ["torchscript"] and "\n" not in errors["torchscript"]
    assert errors["torchscript"].startswith("model.ts: AssertionError: Tensor-likes are not close!")
    assert "Greatest absolute difference: 0.5" in errors["torchscript"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return bundle_data(dataset_dir=str(make_synthetic_dataset(tmp_path_factory.mktemp("d"), "discs", num_images=4, size=32)))


def test_compress_keeps_the_network_and_the_report_when_an_export_fails(data, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("Could not export Python function call 'helper'")

    monkeypatch.setattr(export_module, "convert_to_torchscript", broken)
    workflow = CompressWorkflow(data, str(tmp_path), widths=[4, 8, 16], disk_budget_mb=0.02, export=["torchscript"],
                                recipe={"patch_size": [32, 32]}, progress=False, plot=False, latency_repeats=1)
    monkeypatch.setattr(workflow, "_train", lambda network, name: {"f1": 0.6, "iou": 0.5})  # no training
    report = workflow.run()
    assert (tmp_path / "models" / "model.pt").is_file() and not (tmp_path / "models" / "model.ts").exists()
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["export_errors"] == report["export_errors"] == {
        "torchscript": "model.ts: RuntimeError: Could not export Python function call 'helper'"}
    assert "torchscript" not in saved["files"] and (tmp_path / "report.md").is_file()
    out = capsys.readouterr().out
    assert "torchscript export failed" in out and "Could not export Python function call 'helper'" in out

    monkeypatch.undo()  # an export that works: no errors
    workflow = CompressWorkflow(data, str(tmp_path / "ok"), widths=[4, 8, 16], disk_budget_mb=0.02,
                                export=["torchscript"], recipe={"patch_size": [32, 32]}, progress=False, plot=False,
                                latency_repeats=1)
    monkeypatch.setattr(workflow, "_train", lambda network, name: {"f1": 0.6, "iou": 0.5})
    assert workflow.run()["export_errors"] is None and (tmp_path / "ok" / "models" / "model.ts").is_file()


def test_a_network_that_does_not_export_stops_file_sizing_with_one_line(data, tmp_path, monkeypatch):
    """With disk_budget_counts 'files' the budget is sized by exporting candidates, before training:
    a format the network cannot export to is one ConfigError line naming it, not a traceback."""
    from monai_ccnet.errors import ConfigError

    def broken(*args, **kwargs):
        raise RuntimeError("Could not export Python function call 'helper'")

    monkeypatch.setattr(export_module, "convert_to_torchscript", broken)
    with pytest.raises(ConfigError) as caught:  # the feasibility check, when the workflow is built
        CompressWorkflow(data, str(tmp_path), widths=[4, 8, 16], disk_budget_mb=0.05, disk_budget_counts="files",
                         export=["torchscript"], recipe={"patch_size": [32, 32]}, progress=False, plot=False)
    message = str(caught.value)
    assert "\n" not in message and "does not export to torchscript" in message
    assert "Could not export Python function call 'helper'" in message and "disk_budget_counts 'weights'" in message
