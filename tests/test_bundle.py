"""Every run of the ccnet_segmentation bundle end to end, as a user runs it:
``python -m monai.bundle run <id> --config_file [...]`` in a subprocess, on tiny synthetic data on CPU.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

BUNDLE = REPO / "bundles" / "ccnet_segmentation"
CONFIGS = BUNDLE / "configs"

#: tiny but learnable: 32 x 32 images, a 3-stage U-Net of widths 4-8-16, a few epochs
TINY = {
    "widths": "[4,8,16]",
    "synthetic_target": "discs",
    "synthetic#size": "32",
    "synthetic#num_images": "8",
    "recipe#patch_size": "[32,32]",
    "recipe#max_epochs": "10",
    "recipe#val_interval": "2",
    "recipe#batch_size": "2",
    "recipe#num_samples": "4",
    "recipe#learning_rate": "0.01",
    "recipe#early_stop_patience": "0",
    "progress": "False",
}


def bundle_command(run_id: str, workflow: str, bundle_root: Path, launcher=None, **overrides) -> tuple[list[str], dict]:
    """The command line and environment of one bundle workflow run on the TINY settings."""
    files = [str(CONFIGS / "common.yaml"), str(CONFIGS / f"{workflow}.yaml")]
    args = {**TINY, **{k.replace("__", "#"): str(v) for k, v in overrides.items()}}
    cmd = list(launcher or [sys.executable]) + ["-m", "monai.bundle", "run", run_id, "--config_file", repr(files)]
    cmd += ["--bundle_root", str(bundle_root)]
    for key, value in args.items():
        cmd += [f"--{key}", value]
    # one thread per process: the same arithmetic in every process (resume and gloo runs compare exactly)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return cmd, env


def run_bundle(run_id: str, workflow: str, bundle_root: Path, check: bool = True, launcher=None, **overrides):
    """Run one bundle workflow in a subprocess; return the CompletedProcess (stdout + stderr in .stdout)."""
    cmd, env = bundle_command(run_id, workflow, bundle_root, launcher=launcher, **overrides)
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{run_id} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    root = tmp_path_factory.mktemp("compress")
    # 0.01 MB of weights: the exported files (TorchScript adds ~40 KB of code) exceed it, which the report must say
    proc = run_bundle("compress", "compress", root, disk_budget_mb=0.01, disk_budget_counts="weights", compare_full="True")
    return root, proc


def test_compress_end_to_end(compressed):
    root, proc = compressed
    out = root / "compress"
    assert f"compress report: {out / 'report.json'}" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    plan = json.loads((out / "models" / "plan.json").read_text())
    # the plan respects the 0.01 MB budget at 32 bits per weight: <= 2500 weights
    assert plan["weights"] <= 0.01e6 * 8 / 32 and plan["satisfied"]
    assert report["compressed"]["widths"] == plan["widths"] and report["full"]["widths"] == [4, 8, 16]
    assert report["compressed"]["weights"] < report["full"]["weights"]
    # predicted and achieved numbers, both in [0, 1]
    assert 0 < report["predicted"]["relative_accuracy"] <= 1
    for key in ("f1", "iou"):
        assert 0 <= report["compressed"][key] <= 1 and 0 <= report["full"][key] <= 1
    assert report["full"]["f1"] > 0.3, "the full tiny network should learn the synthetic discs"
    assert report["predicted"]["f1"] == pytest.approx(report["predicted"]["relative_accuracy"] * report["full"]["f1"])
    assert report["compressed"]["latency_ms"] > 0 and report["full"]["latency_ms"] > 0
    # the exported TorchScript loads and predicts 2 channels at the input size
    scripted_model = torch.jit.load(str(out / "models" / "model.ts"))
    assert tuple(scripted_model(torch.rand(2, 1, 32, 32)).shape) == (2, 2, 32, 32)
    # predicted and achieved in the same units: relative to the full network trained here, and absolute
    assert report["reference"]["accuracy"] == report["full"]["f1"] and report["cannot_judge"] is None
    assert report["compressed"]["relative_f1"] == pytest.approx(report["compressed"]["f1"] / report["full"]["f1"])
    # what the budget counts; prediction and measurement judged apart; the real file sizes
    assert report["budget"]["disk_budget_counts"] == "weights" and "weights only" in report["budget"]["counts"]
    assert [c["met"] for c in report["checks"]["prediction"]] == [True]
    sizes = {name: (out / "models" / name).stat().st_size for name in ("model.pt", "model.ts")}
    assert all(report["file_bytes"][name] == size for name, size in sizes.items())
    measured = {c["what"]: c for c in report["checks"]["measurement"]}
    ts = measured["file models/model.ts"]
    assert ts["met"] is False and ts["over"] == pytest.approx(sizes["model.ts"] / 1e6 - 0.01)
    markdown = (out / "report.md").read_text()
    assert "predicted" in markdown and "achieved" in markdown and "## Is the constraint met?" in markdown
    assert f"| file models/model.ts | measurement | {sizes['model.ts'] / 1e6:.4g} MB | <= 0.01 MB | **no**" in markdown
    assert f"({sizes['model.ts']:,} bytes)" in markdown
    pytest.importorskip("matplotlib")
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG" and report["files"]["plot"] == str(out / "report.png")


def test_compress_files_fit_the_disk_budget(tmp_path):
    """The bundle's default: every exported file fits the disk budget; a known full-network F1
    (full_accuracy) puts predicted and achieved in the same units without training the full network."""
    run_bundle("compress", "compress", tmp_path, disk_budget_mb=0.07, full_accuracy=0.8, recipe__max_epochs=2)
    out = tmp_path / "compress"
    report = json.loads((out / "report.json").read_text())
    assert report["budget"]["disk_budget_counts"] == "files" and report["budget"]["planned_weights_mb"] < 0.07
    for name in ("model.pt", "model.ts"):
        assert 0 < (out / "models" / name).stat().st_size <= 0.07e6, name
    assert all(c["met"] for c in report["checks"]["measurement"])
    assert report["reference"] == {"accuracy": 0.8, "source": "full_accuracy (given in the configuration)"}
    assert report["predicted"]["f1"] == pytest.approx(0.8 * report["predicted"]["relative_accuracy"])
    assert report["compressed"]["relative_f1"] == pytest.approx(report["compressed"]["f1"] / 0.8)
    assert "f1" not in report["full"], "the full network was not trained"


def test_train_evaluate_inference_from_plan(compressed, tmp_path):
    plan_file = compressed[0] / "compress" / "models" / "plan.json"
    run_bundle("training", "train", tmp_path, plan_file=plan_file)
    checkpoint = tmp_path / "models" / "model.pt"
    assert checkpoint.is_file()
    widths = json.loads(plan_file.read_text())["widths"]
    state = torch.load(checkpoint, map_location="cpu")
    first_conv = next(v for k, v in state.items() if v.ndim == 4)
    assert first_conv.shape[0] == widths[0], "train must build the plan's widths"

    run_bundle("evaluate", "evaluate", tmp_path, plan_file=plan_file)
    metrics = json.loads((tmp_path / "eval" / "evaluate" / "metrics.json").read_text())
    assert set(metrics) == {"f1", "iou"} and all(0 <= v <= 1 for v in metrics.values())

    run_bundle("inference", "inference", tmp_path, plan_file=plan_file)
    masks = sorted((tmp_path / "eval" / "inference").glob("*_seg.png"))
    split = json.loads((tmp_path / "cache" / "synthetic" / "discs" / "split.json").read_text())
    assert len(masks) == len(split["test"])
    from PIL import Image

    mask = np.asarray(Image.open(masks[0]))
    assert mask.shape == (32, 32) and set(np.unique(mask)) <= {0, 1}


def test_complexity_run(tmp_path):
    proc = run_bundle("complexity", "complexity", tmp_path, complexity_settings__measures="['jpeg','foreground','edge']")
    report = json.loads((tmp_path / "eval" / "complexity.json").read_text())
    assert set(report["measures"]) == {"jpeg", "foreground", "edge"}
    jpeg = report["measures"]["jpeg"]["mean"]
    assert len(jpeg) == 3 and all(0 < j < 1 for j in jpeg)
    assert "complexity report:" in proc.stdout


CALIBRATE = {
    "synthetic_kinds": "['discs','clutter']",
    "multipliers_sweep": "[1,0.5]",
    "seeds": "[0]",
    "bootstrap": "20",
    "complexity_settings__measures": "['jpeg','foreground','edge']",
}


def _runs(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / "calibration" / "runs").glob("*.json"))}


# slow (71 s on 2 cores: two torchrun ranks train twice): resume alone is covered by
# test_calibrate_resumes_after_sigkill, two-rank payloads by tests/test_rank_barrier.py
@pytest.mark.slow
def test_calibrate_resume_and_gloo_sharding(tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    # interrupted: stops after 2 of the 4 runs, fits nothing
    proc = run_bundle("calibrate", "calibrate", single, max_new_runs=2, **CALIBRATE)
    first = _runs(single)
    assert len(first) == 2 and not (single / "calibration" / "degradation_f1.json").exists()
    assert "rerun the same command to resume" in proc.stdout
    # resumed: the 2 finished runs are not retrained (files untouched), the other 2 are, then the fit
    run_bundle("calibrate", "calibrate", single, **CALIBRATE)
    second = _runs(single)
    assert len(second) == 4 and all(second[name] == text for name, text in first.items())
    out = single / "calibration"
    for name in ("records.json", "degradation_f1.json", "degradation_iou.json", "measure_ranking.json", "summary.md"):
        assert (out / name).is_file(), name
    records = json.loads((out / "records.json").read_text())
    assert len(records) == 4 and {r["dataset"] for r in records} == {"discs", "clutter"}
    assert all(set(r) >= {"dataset", "complexity", "multiplier", "widths", "weights", "seed", "f1", "iou"} for r in records)
    f1_model = json.loads((out / "degradation_f1.json").read_text())
    ranking = json.loads((out / "measure_ranking.json").read_text())
    assert {row["measure"] for row in ranking["f1"]} >= {"jpeg", "foreground", "edge", "jb"}
    pytest.importorskip("matplotlib")
    assert (out / "degradation_f1.png").stat().st_size > 1000

    # the same sweep sharded over 2 gloo processes: each rank trains its share, rank 0 fits;
    # the runs (hence the fit) match the single-process, resumed sweep
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517"]
    proc = run_bundle("calibrate", "calibrate", sharded, launcher=torchrun, **CALIBRATE)
    assert "calibration finished" in proc.stdout
    sharded_runs = _runs(sharded)
    assert sorted(sharded_runs) == sorted(second)
    ranks = {json.loads(text)["key"]: json.loads(text) for text in sharded_runs.values()}
    for text in second.values():
        record = json.loads(text)
        assert ranks[record["key"]]["f1"] == pytest.approx(record["f1"], abs=1e-6)
    sharded_model = json.loads((sharded / "calibration" / "degradation_f1.json").read_text())
    assert sharded_model["lam"] == pytest.approx(f1_model["lam"], abs=1e-6)
    assert sharded_model["delta"] == pytest.approx(f1_model["delta"], abs=1e-6)


def test_calibrate_resumes_after_sigkill(tmp_path):
    """A crash, not a polite stop: SIGKILL the sweep while it trains its second run, then rerun it."""
    runs_dir = tmp_path / "calibration" / "runs"
    cmd, env = bundle_command("calibrate", "calibrate", tmp_path, **CALIBRATE)
    log = tmp_path / "killed.log"  # a file, not a pipe: nothing blocks on a full pipe while we poll
    # a session of its own: the kill reaches the whole process group (any data-loader workers too)
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(runs_dir.glob("*.json")):
            if proc.poll() is not None:
                raise AssertionError(f"calibrate ended ({proc.returncode}) before the kill:\n{log.read_text()[-6000:]}")
            assert time.monotonic() < deadline, "no calibration run finished within 300 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the sweep must have been killed, not have finished"
    assert not (tmp_path / "calibration" / "degradation_f1.json").exists()

    # what the kill left: finished runs are whole JSON records named by their key; anything else
    # (an atomic write cut short) is a hidden .tmp file, which must not pass for a finished run
    finished = {}
    for path in sorted(runs_dir.iterdir()):
        if path.name.endswith(".tmp"):
            assert path.name.startswith("."), path.name
            continue
        assert path.suffix == ".json", f"unexpected file {path.name} after the kill"
        record = json.loads(path.read_text())
        assert f"{record['key']}.json" == path.name and 0 <= record["f1"] <= 1
        finished[path.name] = (path.read_bytes(), path.stat().st_mtime_ns)
    assert 1 <= len(finished) < 4, sorted(finished)
    # a write killed mid-way for a run that did not finish (deterministic stand-in for the race)
    every = {f"{d}__m{m}__s0.json" for d in ("discs", "clutter") for m in ("1", "0.5")}
    unfinished = sorted(every - set(finished))
    (runs_dir / f".{unfinished[-1]}.kill.tmp").write_text('{"key": "trunc')

    # rerun the same command: the runs finished before the kill are skipped (bytes and mtime
    # untouched), the others are trained, then the fit
    proc = run_bundle("calibrate", "calibrate", tmp_path, **CALIBRATE)
    assert "calibration finished" in proc.stdout
    after = {p.name: p for p in runs_dir.glob("*.json")}
    assert set(after) == set(finished) | set(unfinished)
    for name, (data, mtime) in finished.items():
        assert after[name].read_bytes() == data and after[name].stat().st_mtime_ns == mtime, f"{name} was retrained"
    for name in unfinished:
        assert json.loads(after[name].read_text())["key"] + ".json" == name
    assert not list(runs_dir.glob(".*.tmp")), "left-overs of the killed run are cleaned up"
    out = tmp_path / "calibration"
    records = json.loads((out / "records.json").read_text())
    assert sorted(f"{r['key']}.json" for r in records) == sorted(after)
    for name in ("degradation_f1.json", "degradation_iou.json", "measure_ranking.json", "summary.md"):
        assert (out / name).is_file(), name
    assert set(json.loads((out / "degradation_f1.json").read_text())) >= {"lam", "delta"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"dataset_dir": "/no/such/dataset"}, "dataset_dir not found"),
        ({"disk_budget_mb": "0.00001"}, "disk budget"),
    ],
)
def test_bad_config_fails_before_training(tmp_path, overrides, message):
    # through the CLI; unknown arch, missing test split, ... are checked in process (test_workflows.py)
    proc = run_bundle("compress", "compress", tmp_path, check=False, **overrides)
    assert proc.returncode != 0
    assert message in proc.stdout
    assert "SupervisedTrainer" not in proc.stdout, "the error must come before any training starts"


@pytest.mark.slow
def test_compress_on_a_real_dataset(tmp_path):
    from tests.conftest import shared_dataset

    dataset = shared_dataset("busi")
    proc = run_bundle(
        "compress", "compress", tmp_path, dataset_dir=dataset, widths="[64,128,256,512,1024]",
        recipe__patch_size="[128,128]", recipe__max_epochs="3", disk_budget_mb="1.0",
    )
    report = json.loads((tmp_path / "compress" / "report.json").read_text())
    assert report["dataset"] == "busi" and report["satisfied"] and report["compressed"]["weights"] <= 250_000
    assert "compress report:" in proc.stdout
