"""``python -m monai_ccnet plan``: JSON and readable output, files, and one-line errors."""

from __future__ import annotations

import json

import pytest

from monai_ccnet.__main__ import main
from monai_ccnet.planning import CompressionPlan, plan_compression
from monai_ccnet.utils import optional_import

J = ["0.1518", "0.0857", "0.0655", "0.0496", "0.0375"]
BASE = ["plan", "--arch", "unet", "--complexity", *J]


def run(capsys, *args):
    code = main([*BASE, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_matches_the_api(capsys):
    code, out, _ = run(capsys, "--degradation", "unet-f1-paper", "--min-relative-accuracy", "0.95", "--layerwise", "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("widths", "multipliers", "weights", "log10_weights", "predicted_relative_accuracy", "constraint", "satisfied"):
        assert key in data
    expected = plan_compression("unet", [float(j) for j in J], "unet-f1-paper", min_relative_accuracy=0.95, layerwise=True)
    assert data["widths"] == expected.widths and data["weights"] == expected.weights
    assert data["constraint"]["kind"] == "accuracy" and data["satisfied"] is True


def test_json_carries_the_caution_of_the_text_output(capsys, tmp_path):
    from monai_ccnet.planning import DegradationModel, load_degradation, prediction_caveat

    caveat = prediction_caveat(load_degradation("unet-f1-paper"))
    assert caveat  # the paper's presets were never checked on held-out datasets
    args = ("--degradation", "unet-f1-paper", "--disk-budget-mb", "1")
    assert run(capsys, *args)[1].splitlines()[-1] == f"caution: {caveat}."
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0 and json.loads(out)["caution"] == caveat
    # a probe's model is measured on the user's data: no caution, and the key is still there
    probe = DegradationModel(lam=0.4, delta=0.01, arch="unet", provenance={"source": "probe of this dataset"})
    assert prediction_caveat(probe) is None
    code, out, _ = run(capsys, "--degradation", str(probe.save(tmp_path / "probe.json")), "--disk-budget-mb", "1", "--json")
    data = json.loads(out)
    assert code == 0 and "caution" in data and data["caution"] is None


def test_readable_summary_shows_both_plans(capsys):
    code, out, _ = run(capsys, "--lam", "0.437", "--delta", "0.0103", "--memory-budget-mb", "50", "--input-shape", "128", "128",
                       "--full-accuracy", "0.83")
    assert code == 0
    assert "uniform *" in out and "per-stage" in out
    for row in ("widths", "weights", "log10(weights)", "main memory MB", "predicted relative accuracy",
                "predicted accuracy", "constraint met"):
        assert row in out
    uniform = plan_compression("unet", [float(j) for j in J], {"lam": 0.437, "delta": 0.0103}, memory_budget_mb=50,
                               input_shape=(128, 128))
    assert "-".join(map(str, uniform.widths)) in out


def test_report_save_and_pareto_files(capsys, tmp_path):
    report = tmp_path / "complexity.json"
    report.write_text(json.dumps({"settings": {"quality": 25}, "measures": {"jpeg": {"mean": [float(j) for j in J]}}}))
    args = ["plan", "--arch", "ucunet", "--complexity-report", str(report), "--degradation", "ucunet-f1-paper",
            "--disk-budget-mb", "1", "--bits-per-weight", "64", "--save", str(tmp_path / "plan.json"),
            "--pareto", str(tmp_path / "pareto.json"), "--json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = CompressionPlan.load(tmp_path / "plan.json")
    assert saved.to_dict() == {k: v for k, v in printed.items() if k != "caution"}
    assert saved.arch == "ucunet" and saved.weights <= 125_000
    rows = json.loads((tmp_path / "pareto.json").read_text())
    assert {r["kind"] for r in rows} == {"uniform", "layerwise"}
    if optional_import("matplotlib") is not None:
        assert (tmp_path / "pareto.png").read_bytes().startswith(b"\x89PNG")


def test_list_presets(capsys):
    with pytest.raises(SystemExit) as done:  # like --help: no --arch needed
        main(["plan", "--list-presets"])
    assert done.value.code == 0 and "unet-f1-paper" in capsys.readouterr().out


def _report(tmp_path, **extra):
    path = tmp_path / "complexity.json"
    content = {"settings": {"quality": 25}, "measures": {"jpeg": {"mean": [float(j) for j in J]}}, "images": [{}] * 4}
    for key, value in extra.items():
        (content["settings"] if key == "channels" else content)[key] = value
    path.write_text(json.dumps(content))
    return ["plan", "--arch", "unet", "--complexity-report", str(path), "--degradation", "unet-f1-paper",
            "--disk-budget-mb", "1", "--json"]


def test_channels_come_from_the_report(capsys, tmp_path):
    assert main(_report(tmp_path, channels=3)) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["in_channels"] == 3 and out.err == ""
    assert main(_report(tmp_path, channels=3) + ["--in-channels", "1"]) == 0, "the flag wins"
    assert json.loads(capsys.readouterr().out)["in_channels"] == 1
    assert main(_report(tmp_path)) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["in_channels"] == 1
    assert out.err.count("\n") == 1 and "does not record the images' channel count" in out.err and "--in-channels 3" in out.err


def test_report_with_image_errors_warns(capsys, tmp_path):
    errors = [{"image": "a.png", "error": "a.png: cannot read the file"}]
    assert main(_report(tmp_path, channels=1, errors=errors)) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "1 image(s) that could not be measured (first: a.png: cannot read the file)" in err


def test_arch_mismatch_is_one_warning_line(capsys):
    code, out, err = run(capsys, "--degradation", "ucunet-f1-paper", "--disk-budget-mb", "1")
    assert code == 0 and out
    assert err == "warning: the degradation model was calibrated for 'ucunet'; planning 'unet' with it.\n"


def test_files_written_are_named(capsys, tmp_path):
    code, out, err = run(capsys, "--lam", "0.4", "--delta", "0.01", "--disk-budget-mb", "1", "--json",
                         "--save", str(tmp_path / "p.json"), "--pareto", str(tmp_path / "pareto.json"))
    assert code == 0 and json.loads(out)
    assert f"plan written to {tmp_path / 'p.json'}" in err and f"Pareto table written to {tmp_path / 'pareto.json'}" in err


def test_help_and_version(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = capsys.readouterr().out
    usage, groups = text.split("\n\n", 1)
    assert "[-h] (--arch {unet,cumedvision,ucunet} | --network-def FILE)" in " ".join(usage.split()), \
        "--arch (or --network-def) is required, not optional"
    constraint = groups.split("constraint (exactly one):", 1)[1].split("\n\n", 1)[0]
    options = [line.split()[0] for line in constraint.splitlines() if line.startswith("  --")]
    assert options == ["--disk-budget-mb", "--memory-budget-mb", "--min-relative-accuracy"], "modifiers sit elsewhere"
    flat = " ".join(text.split())
    for flag, words in (("--spatial-dims {1,2,3}", "2 for images"), ("--in-channels N", "image channels"),
                        ("--out-channels N", "output channels"), ("--batch N", "images per forward pass")):
        assert f"{flag} {words}" in flat, f"{flag} has no help"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out, "no raw reStructuredText"
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("monai_ccnet ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--degradation", "unet-f1-paper"], "exactly one constraint"),
        (["--lam", "0.4", "--disk-budget-mb", "1"], "give both --lam and --delta"),
        (["--degradation", "unet-f1-paper", "--lam", "0.4", "--disk-budget-mb", "1"], "not both"),
        (["--degradation", "nope", "--disk-budget-mb", "1"], "neither a file nor a preset"),
        (["--lam", "0.4", "--delta", "0.01", "--min-relative-accuracy", "95"], r"must be in (0, 1)"),
        (["--lam", "0.4", "--delta", "0.01", "--disk-budget-mb", "0.0001"], "raise the budget to at least"),
        (["--lam", "0.4", "--delta", "0.01", "--memory-budget-mb", "10"], "needs input_shape"),
        (["--lam", "-1", "--delta", "0.01", "--disk-budget-mb", "1"], "cannot be inverted"),
        (["--lam", "0.4", "--delta", "0.01", "--disk-budget-mb", "1", "--in-channels", "0"], "in_channels must be an integer >= 1"),
        (["--lam", "0.4", "--delta", "0.01", "--disk-budget-mb", "1", "--save", "/proc/no/plan.json"], "cannot write /proc/no/plan.json"),
    ],
)
def test_errors_exit_2_with_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_complexity_sources_are_exclusive(capsys):
    code = main(["plan", "--arch", "unet", "--lam", "0.4", "--delta", "0.01", "--disk-budget-mb", "1"])
    assert code == 2 and "exactly one of --complexity" in capsys.readouterr().err
