"""Networks in MONAI workflows: bundle configs, TorchScript, sliding windows, width plans, memory."""

from __future__ import annotations

import inspect
import json

import pytest
import torch
from monai.bundle import ConfigParser
from monai.inferers import sliding_window_inference
from monai.networks.utils import convert_to_torchscript

from monai_ccnet.accounting import ARCHITECTURES, feature_memory_bytes
from monai_ccnet.nets import ScalableUNet, build_network, network_from_plan
from monai_ccnet.nets.memory import measure_feature_memory


@pytest.mark.parametrize("target", ["ScalableUNet", "monai_ccnet.nets.ScalableUNet", "monai_ccnet.nets.ScalableUCUNet"])
def test_bundle_config_resolves_target(target):
    config = {
        "imports": ["$import monai_ccnet"],
        "network_def": {
            "_target_": target,
            "spatial_dims": 2,
            "in_channels": 1,
            "out_channels": 3,
            "widths": [8, 16, 32],
            "multipliers": 0.5,
        },
    }
    parser = ConfigParser(config)
    net = parser.get_parsed_content("network_def")
    assert type(net).__name__ == target.rsplit(".", 1)[-1]
    assert net.widths == (4, 8, 16)
    assert net(torch.randn(1, 1, 16, 16)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_torchscript_export_round_trip(arch, tmp_path):
    net = build_network(arch, 2, 1, 2, widths=(4, 8, 6)).eval()
    x = torch.randn(1, 1, 16, 24)
    path = tmp_path / f"{arch}.ts"
    convert_to_torchscript(net, path, verify=True, inputs=[x], device=torch.device("cpu"))
    loaded = torch.jit.load(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
        # the size check survives scripting
        with pytest.raises(Exception, match="must be multiples of 2\\*\\*\\(stages-1\\) = 4"):
            loaded(torch.randn(1, 1, 18, 24))


def test_sliding_window_inference_on_odd_sized_image():
    net = ScalableUNet(2, 1, 2, widths=(4, 8, 8, 8)).eval()
    image = torch.randn(1, 1, 45, 37)  # not divisible by 8: windows of 16x16 are
    with torch.no_grad():
        out = sliding_window_inference(image, roi_size=(16, 16), sw_batch_size=4, predictor=net, overlap=0.25)
    assert out.shape == (1, 2, 45, 37)


class _PlanLike:
    """Stands in for the planner's CompressionPlan (anything with .to_dict())."""

    def __init__(self, data):
        self.data = data

    def to_dict(self):
        return dict(self.data)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_plan_json_round_trip_builds_the_same_network(arch, tmp_path):
    net = build_network(arch, 3, 2, 3, widths=(5, 3, 4)).eval()
    plan = {**net.plan_dict(), "multipliers": [0.5, 0.5, 0.5], "constraint": {"kind": "disk"}}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    for source in (path, str(path), plan, _PlanLike(plan)):
        rebuilt = network_from_plan(source).eval()
        assert type(rebuilt) is type(net) and rebuilt.plan_dict() == net.plan_dict()  # multipliers not re-applied
        rebuilt.load_state_dict(net.state_dict())  # same parameter names and shapes
        x = torch.randn(1, 2, 8, 8, 4)
        with torch.no_grad():
            torch.testing.assert_close(rebuilt(x), net(x))
    assert network_from_plan(path, in_channels=4, norm="instance").in_channels == 4
    # a 2-D planner plan without the optional keys uses build_network's defaults
    assert network_from_plan({"arch": "unet", "widths": [2, 4]}).plan_dict()["spatial_dims"] == 2


NON_DEFAULT_OPTIONS = [
    dict(norm="instance", bias=True),
    dict(norm=("group", {"num_groups": 1}), act=("leakyrelu", {"negative_slope": 0.2}), dropout=0.25),
    dict(norm=None, bias=True, act="prelu"),
]


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("options", NON_DEFAULT_OPTIONS, ids=["instance-bias", "group-leaky-dropout", "no-norm-prelu"])
def test_plan_keeps_every_constructor_option(arch, options, tmp_path):
    """norm / act / dropout / bias survive plan_dict and the planner's plan (object and JSON)."""
    from monai_ccnet.planning import CompressionPlan, plan_compression

    net = build_network(arch, 2, 1, 2, widths=(4, 6, 8), **options).eval()
    default = build_network(arch, 2, 1, 2, widths=(4, 6, 8))
    assert net.plan_dict()["network_options"] != default.plan_dict()["network_options"]
    planned = plan_compression(arch, [0.15, 0.09, 0.07], {"lam": 0.437, "delta": 0.0103, "arch": arch}, widths=(4, 6, 8),
                               disk_budget_mb=1.0, network_options=options)
    assert planned.widths == [4, 6, 8]  # the budget holds the full network: same layers as ``net``
    (tmp_path / "net.json").write_text(json.dumps(net.plan_dict()))
    planned.save(tmp_path / "plan.json")
    sources = [net.plan_dict(), tmp_path / "net.json", planned, tmp_path / "plan.json", CompressionPlan.load(tmp_path / "plan.json")]
    x = torch.randn(1, 1, 8, 8)
    for source in sources:
        rebuilt = network_from_plan(source).eval()
        assert rebuilt.plan_dict() == net.plan_dict(), source
        rebuilt.load_state_dict(net.state_dict())  # strict: same parameter and buffer names and shapes
        with torch.no_grad():
            torch.testing.assert_close(rebuilt(x), net(x))


def test_plan_refuses_unknown_network_options():
    from monai_ccnet.planning import plan_compression

    with pytest.raises(ValueError, match=r"plan dict: unknown network option\(s\) \['kernel'\]"):
        network_from_plan({"arch": "unet", "widths": [2, 4], "network_options": {"kernel": 5}})
    with pytest.raises(ValueError, match=r"unknown network option\(s\) \['depth'\]"):
        plan_compression("unet", [0.1, 0.1], {"lam": 0.4, "delta": 0.01}, widths=(2, 4), disk_budget_mb=1,
                         network_options={"norm": "batch", "depth": 3})


def test_network_option_names_are_the_constructors():
    """The plan keeps exactly the constructor arguments that are not plan keys of their own."""
    from monai_ccnet.planning.plan import NETWORK_OPTIONS

    params = list(inspect.signature(ScalableUNet).parameters)
    assert params == ["spatial_dims", "in_channels", "out_channels", "widths", "multipliers", *NETWORK_OPTIONS]


def test_network_from_the_planners_memory_plan(tmp_path):
    """The planner's CompressionPlan (object and saved JSON) builds the network it budgeted for."""
    from monai_ccnet.accounting import memory_bytes
    from monai_ccnet.planning.planner import plan_compression

    plan = plan_compression(
        "unet", [0.15, 0.09, 0.07, 0.05], {"lam": 0.437, "delta": 0.0103}, widths=(16, 32, 64, 128),
        memory_budget_mb=5, input_shape=(64, 64), layerwise=True,
    )
    plan.save(tmp_path / "plan.json")
    for source in (plan, tmp_path / "plan.json"):
        net = network_from_plan(source)
        assert list(net.widths) == list(plan.widths)
        assert memory_bytes("unet", net.widths, (64, 64)) == plan.memory_bytes <= 5 * 10**6


def test_plan_errors_name_the_source(tmp_path):
    with pytest.raises(ValueError, match="lacks \\['widths'\\]"):
        network_from_plan({"arch": "unet"})
    with pytest.raises(ValueError, match="missing.json: cannot read the compression plan"):
        network_from_plan(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        network_from_plan(bad)
    with pytest.raises(ValueError, match="plan must be a dict"):
        network_from_plan(42)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("shape", [(32, 48), (8, 16, 8)])
def test_memory_estimate_matches_torch(arch, shape):
    """The accounting's feature-map memory against the storages torch holds (docs/networks.md)."""
    widths = (4, 8, 16, 6)[: 4 if len(shape) == 2 else 3]
    net = build_network(arch, len(shape), 1, 2, widths=widths)
    x = torch.randn(2, 1, *shape)
    for mode, tolerance in (("inference", 0.02), ("training", 0.01)):
        measured = measure_feature_memory(net, x, mode)
        estimated = feature_memory_bytes(arch, widths, shape, batch=2, mode=mode)
        assert abs(estimated - measured) <= tolerance * measured, (mode, estimated, measured)
    assert net.training  # the mode was restored


@pytest.mark.gpu
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_cuda_autocast_channels_last_and_compile(arch):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    net = build_network(arch, 2, 1, 2, widths=(8, 16, 32)).cuda().eval().to(memory_format=torch.channels_last)
    x = torch.randn(2, 1, 64, 64, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = net(x)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            eager = net(x)
            compiled = torch.compile(net)(x)
    assert eager.dtype == compiled.dtype == torch.bfloat16
    torch.testing.assert_close(compiled.float(), eager.float(), rtol=0.05, atol=0.05)
    torch.testing.assert_close(eager.float(), reference, rtol=0.05, atol=0.05)
    # the accounting's inference peak against the CUDA allocator (workspaces make it an upper bound check)
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.no_grad():
        net(x)
    measured = torch.cuda.max_memory_allocated() - before + x.untyped_storage().nbytes()
    assert feature_memory_bytes(arch, (8, 16, 32), (64, 64), batch=2) <= measured
