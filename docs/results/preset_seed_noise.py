"""Adds the calibration's seed noise (spread.seed_sd, seed_dof) to the shipped CPU presets.

The presets were fitted before fit_degradation recorded it; a calibration fitted now records it
itself. Run from the repository root: python docs/results/preset_seed_noise.py
"""
import json, sys
from monai_ccnet.planning import probe
from monai_ccnet.planning.forms import curve_points, robust_curves
from monai_ccnet.utils import read_json
records = read_json("docs/results/calibration_cpu/records.json", "records")
for metric, preset in (("f1", "monai_ccnet/presets/unet-f1-cpu.json"), ("iou", "monai_ccnet/presets/unet-iou-cpu.json")):
    curves = robust_curves(records, metric)
    sd, dof = probe.calibration_seed_noise(curve_points(curves, {n: 0.0 for n in curves}))
    text = open(preset).read()
    model = json.loads(text)
    model["spread"].update(seed_sd=sd, seed_dof=dof)
    open(preset, "w").write(json.dumps(model, indent=2) + "\n")
    print(preset, metric, round(sd, 4), dof)
