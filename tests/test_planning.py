"""The planner (docs/method.md §4): the paper's published check, the four cases, rounding and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_ccnet.accounting import DEFAULT_WIDTHS, MB, memory_bytes, stage_weights, total_weights
from monai_ccnet.planning import (
    CompressionPlan,
    DegradationModel,
    complexity_from_report,
    equations,
    load_degradation,
    pareto_table,
    plan_compression,
    predict_accuracy,
    predict_relative_accuracy,
)

# docs/method.md §1/§4: the paper's lymph-node ultrasound dataset and U-Net F1 model
PAPER_J = [0.1518, 0.0857, 0.0655, 0.0496, 0.0375]
PAPER_UNET = DegradationModel(lam=0.437, delta=0.0103, metric="f1", measure="jpeg", arch="unet")
PAPER_WIDTHS_95 = [30, 60, 120, 240, 480]
SMALL_SHAPE = (64, 64)  # main-memory property tests: small maps keep each count cheap

complexities = st.lists(st.floats(0.01, 0.5), min_size=5, max_size=5)


def test_full_unet_weight_count_and_paper_disk_example():
    assert total_weights("unet", DEFAULT_WIDTHS) == 31_023_808
    # the paper's 1 MB at 64-bit weights = 125,000 weights (MB = 10^6 bytes)
    assert equations.weights_for_disk_budget(1 * MB, 64) == 125_000
    plan = plan_compression("unet", PAPER_J, PAPER_UNET, disk_budget_mb=1, bits_per_weight=64)
    assert plan.constraint["budget_weights"] == 125_000
    assert plan.constraint["log10_budget_weights"] == pytest.approx(5.097, abs=5e-4)
    assert plan.weights <= 125_000 and plan.disk_bytes <= 1 * MB and plan.satisfied


def test_published_check_uniform_floor_95():
    """U-Net, lambda .437, delta .0103, J_0 = .1518, floor 95%: widths ~30-60-120-240-480, log10 theta = 6.834."""
    plan = plan_compression("unet", PAPER_J, PAPER_UNET, min_relative_accuracy=0.95)
    # the paper's widths count log10(theta) = 6.834 in our accounting
    assert math.log10(total_weights("unet", PAPER_WIDTHS_95)) == pytest.approx(6.834, abs=5e-4)
    # Eq. 16 on real numbers: 7.4917 - 0.05 / 0.07664 = 6.839 (the paper rounded to 30-60-...)
    assert plan.constraint["log10_weights_eq16"] == pytest.approx(6.834, abs=0.01)
    exact_widths = [a * b for a, b in zip(plan.equation_multipliers, DEFAULT_WIDTHS)]
    for exact, paper in zip(exact_widths, PAPER_WIDTHS_95):
        assert exact == pytest.approx(paper, rel=0.01)
    # honest rounding rounds up (30 channels in stage 0 would predict 0.9496 < 0.95)
    assert abs(plan.widths[0] - 30) <= 1
    assert all(0 <= w - e < 1 for w, e in zip(plan.widths, exact_widths))
    assert plan.log10_weights == pytest.approx(6.834, abs=0.01)
    assert plan.predicted_relative_accuracy >= 0.95 and plan.satisfied
    assert predict_relative_accuracy(PAPER_WIDTHS_95, DEFAULT_WIDTHS, PAPER_J, PAPER_UNET) < 0.95


def test_per_stage_floor_equalises_the_drop_eq17():
    plan = plan_compression("unet", PAPER_J, PAPER_UNET, min_relative_accuracy=0.95, layerwise=True)
    slopes = [PAPER_UNET.slope(c) for c in PAPER_J]
    for s, a in zip(slopes, plan.equation_multipliers):
        assert equations.stage_drop(s, a) == pytest.approx(0.05)
    assert plan.predicted_relative_accuracy >= 0.95 and plan.satisfied
    uniform = plan_compression("unet", PAPER_J, PAPER_UNET, min_relative_accuracy=0.95)
    assert plan.weights < uniform.weights  # less complex deep stages give up more channels


def test_per_stage_disk_plan_solves_eq13():
    theta_star = equations.weights_for_disk_budget(2 * MB, 32)
    plan = plan_compression("unet", PAPER_J, PAPER_UNET, disk_budget_mb=2, layerwise=True)
    theta_i = stage_weights("unet", DEFAULT_WIDTHS)
    alphas = plan.equation_multipliers
    assert sum(a * a * t for a, t in zip(alphas, theta_i)) == pytest.approx(theta_star, rel=1e-9)  # Eq. 13
    products = [PAPER_UNET.slope(c) * math.log10(a) for c, a in zip(PAPER_J, alphas)]
    assert max(products) == pytest.approx(min(products), rel=1e-9)  # Eq. 11
    assert plan.weights <= theta_star and plan.satisfied


def test_prediction_reduces_to_the_uniform_formula():
    alpha = 0.25
    widths = [int(w * alpha) for w in DEFAULT_WIDTHS]
    s0 = PAPER_UNET.slope(PAPER_J[0])
    expected = equations.relative_accuracy(s0, 0.0, 2 * math.log10(alpha))  # log10 theta* = log10 theta + 2 log10 alpha
    assert predict_relative_accuracy(widths, DEFAULT_WIDTHS, PAPER_J, PAPER_UNET) == pytest.approx(expected)
    assert PAPER_UNET.predict_relative_accuracy(DEFAULT_WIDTHS, DEFAULT_WIDTHS, PAPER_J) == 1.0
    assert predict_accuracy(widths, DEFAULT_WIDTHS, PAPER_J, PAPER_UNET, 0.8) == pytest.approx(0.8 * expected)


def test_main_memory_plans_exact_and_paper():
    kwargs = dict(memory_budget_mb=100, input_shape=(256, 256))
    exact = plan_compression("unet", PAPER_J, PAPER_UNET, **kwargs)
    paper = plan_compression("unet", PAPER_J, PAPER_UNET, memory_model="paper", **kwargs)
    for plan in (exact, paper):
        assert plan.memory_bytes == memory_bytes("unet", plan.widths, (256, 256))
        assert plan.memory_bytes <= 100 * MB and plan.satisfied
    # the exact solve uses the budget at least as well as Eq. 7 (which over-counts the weights' share)
    assert exact.memory_bytes >= paper.memory_bytes
    assert paper.constraint["approximation"] == "Eq. 7 (uniform)"
    # one channel more in the exact uniform plan would not fit
    bigger = [w + 1 for w in exact.widths]
    assert memory_bytes("unet", bigger, (256, 256)) > 100 * MB


@pytest.mark.parametrize("arch", ["unet", "cumedvision", "ucunet"])
def test_every_architecture_plans_and_round_trips(arch, tmp_path):
    plan = plan_compression(arch, PAPER_J, load_degradation(f"{arch}-f1-paper"), disk_budget_mb=1, layerwise=True,
                            input_shape=(128, 128), full_accuracy=0.8)
    assert plan.weights == total_weights(arch, plan.widths) and plan.satisfied
    assert plan.predicted_accuracy == pytest.approx(0.8 * plan.predicted_relative_accuracy)
    path = plan.save(tmp_path / "plan.json")
    loaded = CompressionPlan.load(path)
    assert loaded == plan
    with pytest.raises(ValueError, match="nope.json: cannot read the compression plan"):
        CompressionPlan.load(tmp_path / "nope.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json: not a compression plan"):
        CompressionPlan.load(tmp_path / "list.json")
    data = json.loads(path.read_text())
    # what monai_ccnet.nets builds a network from
    assert {k: data[k] for k in ("arch", "widths", "spatial_dims", "in_channels", "out_channels")} == {
        "arch": arch, "widths": plan.widths, "spatial_dims": 2, "in_channels": 1, "out_channels": 2}


def test_pareto_table_rows():
    rows = pareto_table("unet", PAPER_J, PAPER_UNET)
    uniform = [r for r in rows if r["kind"] == "uniform"]
    per_stage = [r for r in rows if r["kind"] == "layerwise"]
    assert len(uniform) == len(per_stage) == 25 and uniform[0]["predicted_relative_accuracy"] == 1.0
    weights = [r["weights"] for r in uniform]
    assert weights == sorted(weights, reverse=True)
    for u, p in zip(uniform, per_stage):  # same disk budget: per-stage predicts at least as well
        assert p["weights"] <= u["weights"]
        assert p["predicted_relative_accuracy"] >= u["predicted_relative_accuracy"] - 2e-3
    json.dumps(rows, allow_nan=False)


def test_complexity_from_report(tmp_path):
    report = {"settings": {"quality": 25, "reference": "raw", "colour": "keep", "scales": 6},
              "measures": {"jpeg": {"mean": PAPER_J + [0.03]}, "foreground": {"mean": [0.08] * 6}}}
    assert complexity_from_report(report, PAPER_UNET, 5) == PAPER_J
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    jb = complexity_from_report(path, "unet-iou-paper", 5)
    assert jb == pytest.approx([0.7 * j + 0.3 * 0.08 for j in PAPER_J])
    with pytest.raises(ValueError, match="reference='raw'.*reference='file'"):
        complexity_from_report(report, DegradationModel(lam=0.4, delta=0.01, variant={"reference": "file"}))
    with pytest.raises(ValueError, match="6 scale.*7 stages"):
        complexity_from_report(report, PAPER_UNET, 7)
    with pytest.raises(ValueError, match="measure 'edge'"):
        complexity_from_report(report, DegradationModel(lam=0.4, delta=0.01, measure="edge"))


# --- bad input: each a clear error saying what to change --------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(complexity=PAPER_J, degradation=DegradationModel(lam=-1.0, delta=0.01), disk_budget_mb=1),
         r"stage 0: lambda\*C \+ delta = .* <= 0, .*cannot be inverted"),
        (dict(disk_budget_mb=1e-4), r"smallest unet \(all widths 2\) has 842; raise the budget to at least 0.003368 MB"),
        (dict(disk_budget_mb=1e-4, allow_extrapolation=True),
         r"smallest unet \(all widths 1\) has 216; raise the budget to at least 0.000864 MB"),
        (dict(memory_budget_mb=0.01, input_shape=(256, 256)), r"below the smallest unet .* raise the budget to at least"),
        (dict(min_relative_accuracy=1.0), r"min_relative_accuracy must be in \(0, 1\)"),
        (dict(min_relative_accuracy=0.0), r"min_relative_accuracy must be in \(0, 1\)"),
        (dict(min_relative_accuracy=1.5), r"min_relative_accuracy must be in \(0, 1\)"),
        (dict(complexity=PAPER_J[:3], disk_budget_mb=1), r"complexity has 3 value\(s\) but the network has 5 stages"),
        (dict(), r"exactly one constraint.*got none"),
        (dict(disk_budget_mb=1, min_relative_accuracy=0.9), r"exactly one constraint"),
        (dict(memory_budget_mb=10), r"needs input_shape"),
        (dict(disk_budget_mb=-1), r"disk_budget_mb must be a finite number > 0"),
        (dict(arch="resnet", disk_budget_mb=1), r"unknown architecture 'resnet'"),
    ],
)
def test_bad_input(kwargs, message):
    args = {"arch": "unet", "complexity": PAPER_J, "degradation": PAPER_UNET, **kwargs}
    with pytest.raises(ValueError, match=message):
        plan_compression(args.pop("arch"), args.pop("complexity"), args.pop("degradation"), **args)


# --- properties (hypothesis) ----------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(j=complexities, small=st.floats(0.05, 20), factor=st.floats(1.0, 10.0), layerwise=st.booleans())
def test_larger_disk_budget_never_worse(j, small, factor, layerwise):
    a = plan_compression("unet", j, PAPER_UNET, disk_budget_mb=small, layerwise=layerwise)
    b = plan_compression("unet", j, PAPER_UNET, disk_budget_mb=small * factor, layerwise=layerwise)
    assert a.satisfied and b.satisfied
    assert a.disk_bytes <= small * MB and b.disk_bytes <= small * factor * MB
    assert b.weights >= a.weights
    assert b.predicted_relative_accuracy >= a.predicted_relative_accuracy - 1e-12


@settings(max_examples=15, deadline=None)
@given(j=complexities, small=st.floats(1.0, 30), factor=st.floats(1.0, 5.0), layerwise=st.booleans(),
       model=st.sampled_from(["exact", "paper"]))
def test_larger_memory_budget_never_worse_and_fits(j, small, factor, layerwise, model):
    kw = dict(input_shape=SMALL_SHAPE, layerwise=layerwise, memory_model=model)
    a = plan_compression("unet", j, PAPER_UNET, memory_budget_mb=small, **kw)
    b = plan_compression("unet", j, PAPER_UNET, memory_budget_mb=small * factor, **kw)
    assert a.memory_bytes <= small * MB and b.memory_bytes <= small * factor * MB
    assert a.satisfied and b.satisfied
    assert b.weights >= a.weights
    assert b.predicted_relative_accuracy >= a.predicted_relative_accuracy - 1e-12


@settings(max_examples=30, deadline=None)
@given(j=complexities, budget=st.floats(0.01, 50), floor=st.floats(0.5, 0.999))
def test_more_complex_stage_keeps_at_least_as_large_a_multiplier(j, budget, floor):
    for plan in (plan_compression("unet", j, PAPER_UNET, disk_budget_mb=budget, layerwise=True),
                 plan_compression("unet", j, PAPER_UNET, min_relative_accuracy=floor, layerwise=True)):
        for i in range(5):
            for k in range(5):
                if j[i] > j[k]:
                    assert plan.equation_multipliers[i] >= plan.equation_multipliers[k]


@pytest.mark.filterwarnings("ignore:the degradation model was calibrated for")  # one model, every arch
@settings(max_examples=30, deadline=None)
@given(j=complexities, floor=st.floats(0.3, 0.999), layerwise=st.booleans(),
       arch=st.sampled_from(["unet", "cumedvision", "ucunet"]))
def test_accuracy_plan_meets_its_floor(j, floor, layerwise, arch):
    plan = plan_compression(arch, j, PAPER_UNET, min_relative_accuracy=floor, layerwise=layerwise)
    assert plan.predicted_relative_accuracy >= floor and plan.satisfied
    # least memory: one channel fewer in a stage that can shrink breaks the floor or the minimum width
    # (2 channels: no narrower stage without allow_extrapolation)
    assert min(plan.widths) >= 2 and plan.extrapolation is None
    if layerwise:
        for i, w in enumerate(plan.widths):
            if w > 2:
                fewer = list(plan.widths)
                fewer[i] -= 1
                assert predict_relative_accuracy(fewer, DEFAULT_WIDTHS, j, PAPER_UNET) < floor


@settings(max_examples=20, deadline=None)
@given(c=st.floats(0.01, 0.5), budget=st.floats(0.05, 50), floor=st.floats(0.5, 0.99))
def test_uniform_and_per_stage_agree_for_equal_complexities(c, budget, floor):
    j = [c] * 5
    for kw in (dict(disk_budget_mb=budget), dict(min_relative_accuracy=floor),
               dict(memory_budget_mb=budget + 2, input_shape=SMALL_SHAPE)):
        uniform = plan_compression("unet", j, PAPER_UNET, **kw)
        per_stage = plan_compression("unet", j, PAPER_UNET, layerwise=True, **kw)
        assert per_stage.equation_multipliers == pytest.approx(uniform.equation_multipliers, rel=1e-6)
        assert per_stage.widths == uniform.widths


def test_planning_runs_without_torch_and_monai():
    code = (
        # torch and MONAI as if not installed: imports of them fail and they are not in sys.modules
        # (a None entry there would also break scipy, which looks torch up in sys.modules)
        "import sys\n"
        "class NotInstalled:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('torch', 'monai'):\n"
        "            raise ImportError(f'{name} is not installed')\n"
        "sys.meta_path.insert(0, NotInstalled())\n"
        "import monai_ccnet.planning as p\n"
        "plan = p.plan_compression('unet', [0.1518, 0.0857, 0.0655, 0.0496, 0.0375], 'unet-f1-paper',\n"
        "                          min_relative_accuracy=0.95, layerwise=True)\n"
        "assert plan.satisfied\n"
        "from monai_ccnet.__main__ import main\n"
        "sys.exit(main(['plan', '--arch', 'unet', '--complexity', '0.15', '0.08', '0.06', '0.05', '0.04',\n"
        "               '--degradation', 'unet-f1-paper', '--disk-budget-mb', '1', '--json']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["satisfied"] is True


def test_plan_warns_when_the_model_belongs_to_another_architecture():
    with pytest.warns(UserWarning, match="calibrated for 'ucunet'; planning 'unet'"):
        plan_compression("unet", PAPER_J, load_degradation("ucunet-f1-paper"), min_relative_accuracy=0.95)


def test_pareto_table_of_a_small_network_skips_per_stage_points_below_the_smallest_plan():
    # uniform rows go down to 1/64 of 4-8-16; the per-stage planner keeps stages >= 2 channels, so the
    # smallest budgets have no per-stage plan (compress's report.png crashed on them)
    from monai_ccnet.planning import pareto_table

    rows = pareto_table("unet", [0.3, 0.2, 0.1], load_degradation("unet-f1-cpu"), widths=[4, 8, 16])
    uniform = [r for r in rows if r["kind"] == "uniform"]
    layerwise = [r for r in rows if r["kind"] == "layerwise"]
    assert len(uniform) == 25 and 0 < len(layerwise) < 25 and all(min(r["widths"]) >= 2 for r in layerwise)
