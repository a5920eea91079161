"""The constraint objects and the one monotone search they plan with (planning/constraints.py, search.py)."""

import math

import pytest

from monai_ccnet.accounting import MB, resolve_widths, total_weights
from monai_ccnet.planning import plan_compression
from monai_ccnet.planning.constraints import AccuracyFloor, DiskBudget, MemoryBudget, constraint_from, limit_check
from monai_ccnet.planning.search import boundary

COMPLEXITY = [0.3, 0.25, 0.2, 0.15, 0.1]
BASE = (16, 32, 64, 128, 256)


def _path(t):
    return tuple(resolve_widths(BASE, min(1.0, 10.0**t)))


def _brute_force(feasible, grow):
    """The extreme feasible widths on the uniform path, by walking it in tiny steps."""
    ts = [i / 20000 for i in range(-40000, 1)]  # t = log10(alpha) from -2 to 0
    widths = [_path(t) for t in ts]
    ok = [w for w in widths if feasible(w)]
    return max(ok, key=sum) if grow else min(ok, key=sum)


def test_boundary_finds_the_largest_fitting_and_the_smallest_meeting_widths_on_a_path():
    weights = lambda w: total_weights("unet", w)  # noqa: E731
    budget = 0.1 * weights(BASE)
    t = boundary(_path, lambda t: math.log(weights(_path(t)) / budget), -2.0, 0.0)
    assert _path(t) == _brute_force(lambda w: weights(w) <= budget, grow=True)
    need = 0.37 * weights(BASE)
    t = boundary(_path, lambda t: need - weights(_path(t)), 0.0, -2.0)
    assert _path(t) == _brute_force(lambda w: weights(w) >= need, grow=False)


def test_boundary_refuses_ends_on_the_wrong_side_and_bisects_through_infinite_excess():
    with pytest.raises(ValueError, match="does not hold at"):
        boundary(_path, lambda t: 1.0, 0.0, -2.0)
    with pytest.raises(ValueError, match="no boundary lies between"):
        boundary(_path, lambda t: -1.0, 0.0, -2.0)
    # infeasible side unmeasurable (inf, as a floor's score below the smallest measured network)
    t = boundary(_path, lambda t: -1.0 if t > -0.5 else math.inf, 0.0, -2.0)
    assert sum(_path(t)) - sum(_path(t - 1e-3)) <= 2 and t > -0.5


@pytest.mark.parametrize("layerwise", [False, True])
@pytest.mark.parametrize("kwargs", [
    dict(disk_budget_mb=0.2), dict(disk_budget_mb=0.05, bits_per_weight=8),
    dict(memory_budget_mb=5.0, input_shape=(128, 128)), dict(min_relative_accuracy=0.9),
    dict(min_relative_accuracy=0.9, confidence=0.9),
])
def test_each_constraint_object_checks_and_reports_the_plan_it_made(kwargs, layerwise):
    plan = plan_compression("unet", COMPLEXITY, "unet-f1-cpu", layerwise=layerwise, **kwargs)
    constraint = constraint_from(**kwargs)
    assert plan.constraint["kind"] == constraint.kind and plan.satisfied
    checks = constraint.prediction_checks(plan)
    assert checks and all(c["met"] for c in checks)
    budget = constraint.budget()
    assert budget["kind"] == constraint.kind and budget["counts"]


def test_constraint_from_takes_exactly_one_and_validates_its_values():
    assert isinstance(constraint_from(disk_budget_mb=1.0), DiskBudget)
    assert isinstance(constraint_from(memory_budget_mb=1.0, input_shape=(64, 64)), MemoryBudget)
    assert isinstance(constraint_from(min_relative_accuracy=0.9, confidence=0.8), AccuracyFloor)
    with pytest.raises(ValueError, match="exactly one constraint"):
        constraint_from(disk_budget_mb=1.0, min_relative_accuracy=0.9)
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        constraint_from(min_relative_accuracy=1.2)
    with pytest.raises(ValueError, match="disk_budget_mb must be a finite number > 0"):
        constraint_from(disk_budget_mb=float("nan"))
    with pytest.raises(ValueError, match="confidence applies to an accuracy floor"):
        constraint_from(disk_budget_mb=1.0, confidence=0.9)


def test_measurement_checks_count_only_the_files_the_budget_counts():
    disk = DiskBudget(0.5)
    rows = disk.measurement_checks({"model.pt": 400_000, "model.int8.onnx": 100_000}, lambda name: name.endswith(".onnx"),
                                   None, "f1")
    assert rows[0]["met"] is None and "not counted" in rows[0]["note"]
    assert rows[1] == limit_check("file models/model.int8.onnx", 0.1, 0.5, "MB")
    floor = AccuracyFloor(0.9)
    assert floor.measurement_checks({}, lambda name: False, None, "f1")[0]["met"] is None
    assert floor.measurement_checks({}, lambda name: False, 0.85, "f1")[0]["short"] == pytest.approx(0.05)
    memory = MemoryBudget(2.0, (64, 64))
    assert memory.measurement_checks({"model.pt": MB}, lambda name: True, None, "f1")[1]["note"] == "size only (a memory budget)"
