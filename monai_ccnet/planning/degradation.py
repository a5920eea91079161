"""The degree-of-degradation model (docs/method.md §3, Eq. 3): fit, save, load, presets.

A :class:`DegradationModel` holds (lambda, delta) for one architecture, accuracy metric and
complexity measure: the slope of relative accuracy against log10(#weights) is
``lambda * C + delta`` for a dataset of complexity ``C``. :func:`fit_degradation` fits it from
calibration records (one per trained network); :func:`load_degradation` reads a saved fit or a
shipped preset (``monai_ccnet/presets/*.json``, the paper's published values).

numpy, scipy and stdlib only (planning runs without torch).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import optimize, stats

from ..accounting import ARCHITECTURES, resolve_widths, total_weights
from ..complexity.equations import FOREGROUND_KEY, JB_KEY, JPEG_KEY, component_measures, jb_complexity
from ..utils import atomic_write_json, read_json
from . import equations, forms, probe

__all__ = [
    "SCHEMA_VERSION",
    "PRESET_DIR",
    "DegradationModel",
    "fit_degradation",
    "rank_measures",
    "load_degradation",
    "list_presets",
    "component_measures",  # complexity.equations' (imported here): workflows/calibrate.py and compress.py import it from here
    "prediction_caveat",
]

#: 2: the saturating form, prediction intervals (spread, bootstrap), reference accuracy,
#: excluded runs; version-1 files (linear, no interval) still load
SCHEMA_VERSION = 2
#: ``measured``: a probe's own curve (:mod:`~monai_ccnet.planning.probe`), interpolated
FORMS = forms.FORMS + ("measured",)
#: the parameters each form needs
FORM_PARAMETERS = {"linear": ("lam", "delta"), "saturating": ("beta", "kappa", "mu"), "measured": ()}
#: decades of weights below the base over which a calibration model's error enters its interval:
#: at the base network itself relative accuracy is 1 by definition and only seed noise is left
#: (chosen a priori: one decade is stage-0 width 16 -> 5)
MODEL_ERROR_RAMP = 1.0
PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
METRICS = ("f1", "iou")


@dataclasses.dataclass
class DegradationModel:
    """How accuracy falls with width, with everything needed to use it honestly.

    Two forms (docs/method.md §3, §7.1):

    - ``"linear"`` (the paper's Eq. 3): ``lam``, ``delta``; relative to the calibration's base.
    - ``"saturating"`` (Eq. S1/S2): ``beta``, ``kappa``, ``mu``; flat down to a knee of
      ``kappa * C + mu`` in absolute log10(weights), falling by ``beta`` per decade below it.

    Attributes:
        lam, delta: Eq. 3's coefficients: slope = lam * C + delta (linear form).
        beta, kappa, mu: Eq. S1/S2's fall and knee (saturating form).
        metric: accuracy metric the slopes were measured with ("f1" or "iou").
        measure: complexity measure C ("jpeg", "jb", "foreground", ...).
        variant: how C was computed (docs/method.md §1: quality, reference, colour; ``w`` for JB).
        arch: architecture the model was calibrated for.
        r2: coefficient of determination of the slope-vs-complexity fit (None if unknown).
        n_datasets, n_points: calibration size (datasets; trained networks).
        provenance: where the numbers come from (paper section, calibration run, date ...).
        form: "linear" or "saturating".
        datasets: per-dataset fit: name, complexity, slope, intercept, n_points, residual.
        ci: bootstrap confidence intervals of the line {"lam": [lo, hi], "delta": [lo, hi], ...}.
        spread: Eq. S3's sigma of single networks around the model ``{"s0", "s1", "n",
            "method"}``; empty: the model gives no prediction interval (the paper's presets).
        bootstrap: refitted parameters over bootstrap resamples of datasets and seeds (Eq. S3).
        reference_accuracy: the plateau's absolute accuracy when known (a probe of the user's
            data measures it), so predictions can be absolute.
        excluded_runs: calibration runs left out as failed trainings (collapses), with why.
        knee_bounds: saturating form: ``[low, high]`` log10(weights) the knee is clipped to (the
            calibration's observed range, half a decade each side): no extrapolation beyond it.
        curve: measured form: a probe's :func:`~monai_ccnet.planning.probe.measured_curve`.
    """

    lam: float | None = None
    delta: float | None = None
    metric: str = "f1"
    measure: str = "jpeg"
    variant: dict = dataclasses.field(default_factory=dict)
    arch: str = "unet"
    r2: float | None = None
    n_datasets: int = 0
    n_points: int = 0
    provenance: dict = dataclasses.field(default_factory=dict)
    form: str = "linear"
    datasets: list = dataclasses.field(default_factory=list)
    ci: dict = dataclasses.field(default_factory=dict)
    beta: float | None = None
    kappa: float | None = None
    mu: float | None = None
    spread: dict = dataclasses.field(default_factory=dict)
    bootstrap: list = dataclasses.field(default_factory=list)
    reference_accuracy: float | None = None
    excluded_runs: list = dataclasses.field(default_factory=list)
    knee_bounds: list | None = None
    curve: dict = dataclasses.field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"DegradationModel.form {self.form!r} is not supported; choose one of {FORMS}.")
        for name in FORM_PARAMETERS[self.form]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(
                    f"DegradationModel.{name} must be a finite number for the {self.form!r} form, got {value!r}."
                )
            setattr(self, name, float(value))
        if self.metric not in METRICS:
            raise ValueError(f"DegradationModel.metric must be one of {METRICS}, got {self.metric!r}.")
        if self.form == "measured" and not {"x", "level", "n", "block", "noise", "noise_dof"} <= set(self.curve):
            raise ValueError("a 'measured' DegradationModel needs the probe's curve (x, level, n, block, noise, noise_dof).")

    @property
    def params(self) -> dict:
        """The form's parameters (what :func:`~monai_ccnet.planning.forms.predict_form` takes)."""
        return {name: getattr(self, name) for name in FORM_PARAMETERS[self.form]}

    @property
    def has_interval(self) -> bool:
        """Whether the model carries what an interval needs (a spread; the paper's presets do not)."""
        return "s0" in self.spread or (self.form == "measured" and bool(self.curve.get("noise_dof")))

    @property
    def measured_log10_weights(self) -> tuple[float, float] | None:
        """``(smallest, largest)`` log10(weights) of the networks behind the model's predictions
        (a probe's widths), or None when the model does not say (calibrations, paper presets)."""
        if self.form == "measured":
            return float(self.curve["x"][0]), float(self.curve["x"][-1])
        return None

    def slope(self, complexity: float) -> float:
        """Eq. 3: the degree of degradation lam * C + delta for complexity ``C`` (linear form);
        the saturating form allocates stages by ``C`` alone (Eq. 11 with delta = 0)."""
        if self.form in ("saturating", "measured"):
            return float(complexity)
        return equations.degradation_slope(self.lam, self.delta, complexity)

    def stage_slopes(self, complexity: Sequence[float], n_stages: int | None = None) -> list[float]:
        """Eq. 3 per stage: s_i = lambda * C_i + delta, validated (one C per stage, every s_i > 0).

        Raises:
            ValueError: a single number or the wrong count of complexities, a non-finite one, or a
                slope <= 0 (the model then predicts no loss and cannot be inverted).
        """
        slopes = []
        for i, c in enumerate(_checked_complexity(complexity, n_stages)):
            s = self.slope(c)
            if s <= 0:
                raise ValueError(
                    f"stage {i}: lambda*C + delta = {self.lam}*{c} + {self.delta} = {s:.6g} <= 0, so the degradation "
                    "model predicts no accuracy loss there and cannot be inverted; check complexity (is it the same "
                    f"measure as the model's {self.measure!r}?) or use another degradation model."
                )
            slopes.append(s)
        return slopes

    def predict_relative_accuracy(
        self,
        widths: Sequence[int],
        base_widths: Sequence[int],
        complexity: Sequence[float],
        *,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 2,
        params: dict | None = None,
        network: Any = None,
    ) -> float:
        """Predicted A(widths) / A(base_widths) for a dataset with per-stage ``complexity``.

        Linear form (docs/method.md §4.3): the largest per-stage drop, 1 - max_i (lambda*C_i +
        delta) * 2 * log10(base_i / width_i): the uniform formula (Eq. 3 with Eq. 6) when all
        multipliers are equal, and the common drop that Eq. 11 and Eq. 17 equalise for the
        planners' per-stage multipliers. Saturating form (§7.1): the equal-weights rule, Eq. S1 at
        the network's exact log10(weights) relative to the base network's value, with the knee
        of the input-scale complexity ``C_0``: any width vector counts by its weights.
        ``params`` replaces the model's parameters (a bootstrap refit). ``network``: the network
        planned, when it is not one of ours (a registry ``NetworkSpec``): a model measured on that
        architecture (a probe of it) counts its weights with ``network.weights``
        (:meth:`_log10_weights`).
        """
        widths, base_widths = resolve_widths(widths), resolve_widths(base_widths)
        if len(widths) != len(base_widths):
            raise ValueError(f"widths {widths} and base_widths {base_widths} differ in their number of stages.")
        # a prediction needs no positive slope (a slope <= 0 predicts no loss); only inverting does
        complexity = _checked_complexity(complexity, len(base_widths))
        params = self.params if params is None else params
        if self.form in ("saturating", "measured"):
            x, x_base = self._log10_weights(widths, base_widths, spatial_dims=spatial_dims, in_channels=in_channels,
                                            out_channels=out_channels, network=network)
            if self.form == "measured":
                return float(probe.curve_prediction(self.curve, x, x_base, extrapolate=True)["central"])
            return float(forms.predict_form(params, "saturating", float(complexity[0]), x, x_base, self.knee_bounds))
        slopes = [equations.degradation_slope(params["lam"], params["delta"], float(c)) for c in complexity]
        return 1.0 - max(equations.stage_drop(s, w / b) for s, w, b in zip(slopes, widths, base_widths))

    def predict_interval(
        self,
        widths: Sequence[int],
        base_widths: Sequence[int],
        complexity: Sequence[float],
        level: float = 0.9,
        **counts,
    ) -> tuple[float, float, float] | None:
        """``(central, low, high)`` of the relative accuracy at ``level`` (Eq. S3), or None when
        the model has no spread (the paper's presets give no interval: see ``has_interval``)."""
        if not self.has_interval:
            return None
        if self.form == "measured":
            x, x_base = self._log10_weights(widths, base_widths, **counts)
            pred = probe.curve_prediction(self.curve, x, x_base, level=level, extrapolate=True)
            return pred["central"], pred["interval"][0], pred["interval"][1]
        central = self.predict_relative_accuracy(widths, base_widths, complexity, **counts)
        boots = [
            self.predict_relative_accuracy(widths, base_widths, complexity, params=params, **counts)
            for params in self.bootstrap
        ]
        dof = max(1, int(self.spread.get("n", 3)) - 2)
        low, high = forms.predictive_interval(central, boots, self.spread, dof, level,
                                              model_share=self._model_error_share(widths, base_widths, **counts))
        return central, low, high

    def lower_bound(
        self, widths: Sequence[int], base_widths: Sequence[int], complexity: Sequence[float], confidence: float, **counts
    ) -> float | None:
        """The relative accuracy that *one* network trained at ``widths`` reaches with probability
        ``confidence`` (one-sided), against the full network's expected accuracy; None without a
        spread. What ``plan --confidence`` meets a floor with (docs/method.md §7.2, §7.3)."""
        if not self.has_interval:
            return None
        if self.form == "measured":
            x, x_base = self._log10_weights(widths, base_widths, **counts)
            return float(probe.curve_prediction(self.curve, x, x_base, confidence=confidence, extrapolate=True)["lower"])
        # the low end of the two-sided interval at 2c - 1 is the one-sided bound at c
        return self.predict_interval(widths, base_widths, complexity, 2.0 * float(confidence) - 1.0, **counts)[1]

    def _log10_weights(self, widths, base_widths, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 2,
                       network: Any = None):
        """log10(weights) of ``widths`` and of ``base_widths``, counted the way the model's curve was:
        by ``network`` (a registry ``NetworkSpec``) when the model was measured on that architecture
        (``network.name == arch``: a probe of the user's MONAI network), else by the accounting of
        ``arch`` (for another architecture's network a proxy, which compress's report names).

        Raises:
            ValueError: the model's architecture has no torch-free accounting and ``network`` is not it.
        """
        if network is not None and getattr(network, "name", None) == self.arch:
            return (math.log10(network.weights(tuple(int(w) for w in widths))),
                    math.log10(network.weights(tuple(int(w) for w in base_widths))))
        if str(self.arch).lower() not in ARCHITECTURES:
            raise ValueError(
                f"this degradation model was measured on {self.arch!r} (its curve is in that network's registry weights), "
                f"so it predicts only that network: plan it with plan --network-def / compress network_def_file, not "
                f"{getattr(network, 'name', None) or 'one of ours'}; for another network, probe that one."
            )
        counts = dict(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels)
        return (math.log10(total_weights(self.arch, resolve_widths(widths), **counts)),
                math.log10(total_weights(self.arch, resolve_widths(base_widths), **counts)))

    def _model_error_share(self, widths, base_widths, **counts) -> float:
        """How much of the spread's model error applies (0 at the base network, 1 from
        ``MODEL_ERROR_RAMP`` decades below it); 1 when the model records no seed noise."""
        if "seed_sd" not in self.spread:
            return 1.0
        x, x_base = self._log10_weights(widths, base_widths, **counts)
        return float(min(1.0, max(0.0, (x_base - x) / MODEL_ERROR_RAMP)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "<dict>") -> "DegradationModel":
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a degradation model must be a JSON object, got {type(data).__name__}.")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise ValueError(f"{source}: schema_version {version} is newer than this monai_ccnet ({SCHEMA_VERSION}); upgrade.")
        form = data.get("form", "linear")
        missing = [k for k in FORM_PARAMETERS.get(form, ()) if k not in data]
        if missing:
            raise ValueError(
                f"{source}: missing key(s) {missing} (a {form!r} degradation model needs {list(FORM_PARAMETERS[form])})."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(known)}.")
        try:
            return cls(**data)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{source}: {e}") from None

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DegradationModel":
        return cls.from_dict(read_json(path, "degradation model"), source=str(path))


def _checked_complexity(complexity: Sequence[float], n_stages: int | None) -> list[float]:
    """One finite complexity per stage, as floats.

    Raises:
        ValueError: a single number, the wrong count, or a non-finite value.
    """
    if isinstance(complexity, (int, float)):
        raise ValueError(f"complexity must list one value per stage (J_0 .. J_K), got the single number {complexity!r}.")
    complexity = [float(c) for c in complexity]
    if n_stages is not None and len(complexity) != n_stages:
        raise ValueError(
            f"complexity has {len(complexity)} value(s) but the network has {n_stages} stages; "
            f"give one complexity per stage (scale 1/2^k for k = 0..{n_stages - 1})."
        )
    for i, c in enumerate(complexity):
        if not math.isfinite(c):
            raise ValueError(f"complexity[{i}] must be a finite number, got {c!r}.")
    return complexity


def prediction_caveat(model: DegradationModel) -> str | None:
    """One line on how far this model's predictions can be trusted, or None when its held-out
    check supports them (error at most half of predicting "no loss"; docs/RESULTS.md).

    Complexity-only predictions were no better than "no loss" on this project's held-out real
    datasets, so every plan and report says so rather than presenting them as reliable.
    """
    source = (model.provenance or {}).get("source", "")
    heldout = (model.provenance or {}).get("heldout")
    if "probe" in source:
        return None  # measured on the user's own data; its interval says how sure it is
    if not heldout:
        return ("this degradation model was never checked on held-out datasets (the paper's presets were fitted to the "
                "paper's complexities and training): treat its accuracy predictions as a guess; run the probe on your "
                "data for a measured curve (python -m monai.bundle run probe ...)")
    mae, trivial = float(heldout["mae"]), float(heldout["no_loss_mae"])
    if mae <= 0.5 * trivial:
        return None
    return (f"on held-out datasets this model's predictions erred by {mae:.3f} (mean absolute, relative accuracy) against "
            f"{trivial:.3f} for predicting no loss at all: complexity alone does not predict your curve reliably; run the "
            "probe on your data for a measured curve (python -m monai.bundle run probe ...)")


def list_presets() -> list[str]:
    """Names of the shipped degradation models (``monai_ccnet/presets/*.json``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_degradation(degradation: DegradationModel | dict | str | os.PathLike) -> DegradationModel:
    """A degradation model from what users pass for one: a :class:`DegradationModel` (returned as
    is), its dict, a JSON file or a preset name such as ``"unet-f1-paper"``.

    Raises:
        ValueError: an invalid dict or file, a name that is neither a file nor a preset, or another type.
    """
    if isinstance(degradation, DegradationModel):
        return degradation
    if isinstance(degradation, dict):
        return DegradationModel.from_dict(degradation)
    if not isinstance(degradation, (str, os.PathLike)):
        raise ValueError(
            f"degradation must be a DegradationModel, dict, preset name or path, got {type(degradation).__name__}."
        )
    path = Path(degradation)
    if path.is_file():
        return DegradationModel.load(path)
    preset = PRESET_DIR / f"{degradation}.json"
    if preset.is_file():
        return DegradationModel.load(preset)
    raise ValueError(
        f"degradation {str(degradation)!r} is neither a file nor a preset; presets: {', '.join(list_presets())}."
    )


# ---------------------------------------------------------------------------------------------
# fitting (docs/method.md §3, steps 2 and 3)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line y = a x + b and its R^2 (x must not be constant; R^2 = 1 for constant y,
    which the line fits exactly, where ``linregress`` reports r = 0)."""
    fit = stats.linregress(x, y)
    r2 = float(fit.rvalue) ** 2 if np.ptp(y) > 0 else 1.0
    return float(fit.slope), float(fit.intercept), r2


def _record_value(record: dict, key: str, index: int) -> Any:
    if key not in record:
        raise ValueError(f"calibration record {index} (dataset {record.get('dataset')!r}) has no {key!r} key.")
    return record[key]


def _dataset_complexity(record: dict, measure: str, index: int) -> float:
    complexity = _record_value(record, "complexity", index)
    if not isinstance(complexity, dict) or measure not in complexity:
        have = sorted(complexity) if isinstance(complexity, dict) else complexity
        raise ValueError(
            f"calibration record {index} (dataset {record.get('dataset')!r}) has no complexity {measure!r} "
            f"(has {have}); measure the datasets with that measure or fit another one."
        )
    values = complexity[measure]
    value = values[0] if isinstance(values, (list, tuple)) else values  # the input scale (k = 0)
    return float(value)


def _dataset_slopes(records: Sequence[dict], metric: str) -> list[dict]:
    """Per dataset: the least-squares slope of A_alpha / A_1 against log10(theta) (docs/method.md §3.2)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    groups: dict[str, list[tuple[int, dict]]] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"calibration record {i} must be a dict, got {type(record).__name__}.")
        groups.setdefault(str(_record_value(record, "dataset", i)), []).append((i, record))
    if len(groups) < 2:
        raise ValueError(
            f"fitting (lambda, delta) needs calibration runs on at least 2 datasets, got {len(groups)} "
            f"({sorted(groups)}); calibrate on more datasets."
        )
    fits = []
    for name, runs in groups.items():
        full = [float(_record_value(r, metric, i)) for i, r in runs if math.isclose(float(_record_value(r, "multiplier", i)), 1.0)]
        if not full:
            raise ValueError(f"dataset {name!r} has no run with multiplier 1; A_alpha / A_1 needs the full network's accuracy.")
        a_full = float(np.mean(full))  # mean over seeds of the multiplier-1 runs
        if a_full <= 0:
            raise ValueError(f"dataset {name!r}: the full network's mean {metric} is {a_full}; cannot normalise by it.")
        log_theta = np.array([math.log10(int(_record_value(r, "weights", i))) for i, r in runs])
        rel = np.array([float(_record_value(r, metric, i)) / a_full for i, r in runs])
        if len(np.unique(log_theta)) < 2:
            raise ValueError(
                f"dataset {name!r} has runs at {len(np.unique(log_theta))} width(s); a slope needs at least 2 widths."
            )
        slope, intercept, _ = _line(log_theta, rel)
        fits.append(
            {"dataset": name, "records": [i for i, _ in runs], "slope": slope, "intercept": intercept,
             "n_points": len(runs), "full_accuracy": a_full}
        )
    return fits


def _complexities(records: Sequence[dict], fits: list[dict], measure: str, w: float | None) -> np.ndarray:
    """Dataset complexity C_d at the input scale (JB = w * jpeg + (1 - w) * foreground)."""
    values = []
    for fit in fits:
        per_record = []
        for i in fit["records"]:
            if measure == JB_KEY:
                c = jb_complexity(
                    _dataset_complexity(records[i], JPEG_KEY, i), _dataset_complexity(records[i], FOREGROUND_KEY, i), w
                )
            else:
                c = _dataset_complexity(records[i], measure, i)
            per_record.append(c)
        if max(per_record) - min(per_record) > 1e-9 * max(1.0, abs(max(per_record))):
            raise ValueError(
                f"dataset {fit['dataset']!r}: its records disagree on complexity {measure!r} "
                f"({min(per_record)} .. {max(per_record)}); one dataset has one complexity."
            )
        values.append(per_record[0])
    return np.array(values)


def _fit_line(c: np.ndarray, s: np.ndarray, measure: str) -> tuple[float, float, float]:
    if np.ptp(c) <= 1e-12 * max(1.0, float(np.abs(c).max())):
        raise ValueError(
            f"degenerate fit: every calibration dataset has the same complexity {measure!r} = {c[0]}; "
            "lambda cannot be separated from delta. Calibrate on datasets of different complexity."
        )
    return _line(c, s)


def _best_jb_weight(records: Sequence[dict], fits: list[dict], s: np.ndarray) -> float:
    """w in [0, 1] with the best R^2 (docs/method.md §1): a grid of 0.01 finds the peak, a bounded
    scalar minimisation between the grid's neighbours of the peak refines it."""

    def r2(w: float) -> float:
        c = _complexities(records, fits, JB_KEY, w)
        if np.ptp(c) <= 1e-12:
            return -math.inf
        return _fit_line(c, s, JB_KEY)[2]

    grid = np.linspace(0.0, 1.0, 101)
    scores = [r2(float(w)) for w in grid]
    best = int(np.argmax(scores))
    lo, hi = float(grid[max(best - 1, 0)]), float(grid[min(best + 1, 100)])
    refined = float(optimize.minimize_scalar(lambda w: -r2(w), bounds=(lo, hi), method="bounded",
                                             options={"xatol": 1e-10}).x)
    return refined if r2(refined) >= scores[best] else float(grid[best])


def _bootstrap_line(c: np.ndarray, s: np.ndarray, resamples: int, level: float, seed: int) -> dict:
    """Percentile bootstrap over datasets of the line s = lambda * C + delta (``scipy.stats.bootstrap``,
    pairs resampled together). A resample with a single distinct complexity has no line: it is
    left out (NaN), and the intervals are the percentiles of the other resamples."""

    def line(c_b: np.ndarray, s_b: np.ndarray) -> tuple[float, float]:
        if np.ptp(c_b) <= 1e-12:
            return math.nan, math.nan
        return _line(c_b, s_b)[:2]

    with warnings.catch_warnings():  # scipy's own interval is NaN with such resamples; ours skips them
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        lines = stats.bootstrap((c, s), line, paired=True, vectorized=False, n_resamples=int(resamples),
                                method="percentile", random_state=np.random.default_rng(seed)).bootstrap_distribution
    keep = np.isfinite(lines[0])
    if not keep.any():
        return {}
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    return {
        "lam": [float(v) for v in np.percentile(lines[0][keep], q)],
        "delta": [float(v) for v in np.percentile(lines[1][keep], q)],
        "level": level, "n": int(keep.sum()), "method": "percentile bootstrap over datasets", "seed": seed,
    }


def fit_degradation(
    records: Iterable[dict],
    metric: str = "f1",
    measure: str = "jpeg",
    arch: str = "unet",
    bootstrap: int = 1000,
    seed: int = 0,
    variant: dict | None = None,
    provenance: dict | None = None,
    level: float = 0.95,
    form: str = "linear",
    interval_bootstrap: int = 200,
    collapse_ratio: float = 0.5,
    fit_complexity: bool = True,
) -> DegradationModel:
    """Fit a degradation model from calibration records (docs/method.md §3, §7).

    Args:
        records: one dict per trained network: ``{"dataset", "complexity": {measure: [per-scale
            values]}, "multiplier", "widths", "weights", "seed", "f1", "iou"}``.
        metric: "f1" or "iou".
        measure: a key of ``record["complexity"]`` (value at the input scale is used), or "jb":
            JB = w * jpeg + (1 - w) * foreground with ``w`` searched in [0, 1] for the best R^2
            (or taken from ``variant["w"]`` when given).
        arch: architecture the records come from (stored in the model).
        bootstrap: number of bootstrap resamples of the datasets for the confidence intervals
            (0: none).
        seed: seed of the bootstrap.
        variant: how the complexity was computed (stored; ``w`` is filled in for JB).
        provenance: stored as is, plus the fit's own facts.
        level: confidence level of the intervals.
        form: "linear" (Eq. 3) or "saturating" (Eq. S1/S2).
        interval_bootstrap: refits over resampled datasets and seeds kept for prediction
            intervals (Eq. S3; 0: none, and the model then gives no interval).
        collapse_ratio: a run below this fraction of the median of its other seeds (same dataset
            and width) is a failed training, left out and listed in ``excluded_runs``.
        fit_complexity: saturating form only; False fits one knee for every dataset
            (``kappa = 0``): the calibration datasets' average curve, which ignores complexity.

    Failed runs first go (:func:`~monai_ccnet.planning.forms.robust_curves`). Linear: per
    dataset the least-squares slope of A_alpha / A_1 against log10(weights) (A_1: mean over
    seeds of the multiplier-1 runs), then the least-squares line slope = lambda * C + delta.
    Saturating: Eq. S1/S2 fitted to the per-width medians of every dataset at once. The
    interval's spread comes from leave-one-dataset-out residuals of single runs when there are
    >= 3 datasets (what a new dataset does), else from the in-sample residuals.
    """
    if form not in forms.FORMS:
        raise ValueError(f"form must be one of {forms.FORMS} (a probe makes the 'measured' form), got {form!r}.")
    records, excluded = _without_failed_runs(list(records), metric, collapse_ratio)
    fits = _dataset_slopes(records, metric)
    s = np.array([f["slope"] for f in fits])
    variant = dict(variant or {})
    w = None
    if measure == JB_KEY:
        w = variant.get("w")
        w = _best_jb_weight(records, fits, s) if w is None else float(w)
        variant["w"] = w
    c = _complexities(records, fits, measure, w)
    datasets = [
        {"dataset": fit["dataset"], "complexity": float(ci), "slope": float(si), "intercept": fit["intercept"],
         "full_accuracy": fit["full_accuracy"], "n_points": fit["n_points"]}
        for fit, ci, si in zip(fits, c, s)
    ]
    points = forms.curve_points(
        forms.robust_curves(records, metric, collapse_ratio), {f["dataset"]: float(ci) for f, ci in zip(fits, c)}
    )
    r2, intervals = None, {}
    if form == "linear":
        lam, delta, r2 = _fit_line(c, s, measure)
        for entry in datasets:
            entry["residual"] = float(entry["slope"] - (lam * entry["complexity"] + delta))
        intervals = _bootstrap_line(c, s, bootstrap, level, seed) if bootstrap > 0 else {}
        fitted = {"lam": lam, "delta": delta}
    else:
        # the complexity-free knee (kappa = 0) is the "average curve" of the calibration datasets
        fit_name = "saturating" if fit_complexity else "average"
        fitted = forms.fit_form(points, fit_name)
    params = {k: float(fitted[k]) for k in FORM_PARAMETERS[form]}
    knee_bounds = [float(v) for v in fitted["knee_bounds"]] if "knee_bounds" in fitted else None
    spread, boots = {}, []
    if interval_bootstrap > 0:
        fit_name = form if form == "linear" or fit_complexity else "average"
        spread = _prediction_spread(points, fit_name, {**params, "knee_bounds": knee_bounds})
        if form == "saturating" and spread:
            spread.update(_knee_scatter(points, params))
        if spread:  # single runs' seed noise alone: all that is left at the base network itself
            seed_sd, seed_dof = probe.calibration_seed_noise(points)
            if seed_dof:
                spread.update(seed_sd=seed_sd, seed_dof=seed_dof)
        boots = [
            {k: float(b[k]) for k in FORM_PARAMETERS[form]}
            for b in forms.bootstrap_params(points, fit_name, n=interval_bootstrap, seed=seed)
        ]

    return DegradationModel(
        **params, metric=metric, measure=measure, variant=variant, arch=arch, r2=r2,
        n_datasets=len(fits), n_points=len(records),
        provenance={**(provenance or {}), "fit": "monai_ccnet.planning.fit_degradation", "bootstrap": int(bootstrap)},
        form=form, datasets=datasets, ci=intervals if form == "linear" else {}, spread=spread, bootstrap=boots,
        excluded_runs=excluded, knee_bounds=knee_bounds,
    )


def _without_failed_runs(records: list[dict], metric: str, collapse_ratio: float) -> tuple[list[dict], list[dict]]:
    """The records minus failed trainings (:func:`forms.robust_curves`), and the ones left out."""
    failed = {
        (name, tuple(row["widths"]), int(seed))
        for name, curve in forms.robust_curves(records, metric, collapse_ratio).items()
        for row in curve["widths"]
        for seed in row["failed"]
    }
    kept, excluded = [], []
    for record in records:
        key = (record.get("dataset"), tuple(record.get("widths", ())), int(record.get("seed", 0)))
        if key in failed:
            excluded.append({"dataset": key[0], "widths": list(key[1]), "seed": key[2], metric: record.get(metric),
                             "why": f"below {collapse_ratio:g} x the median of the other seeds at this width"})
        else:
            kept.append(record)
    return kept, excluded


def _knee_scatter(points: list[dict], params: dict) -> dict:
    """How far the datasets' own knees and falls (Eq. S1 fitted to each alone) lie from the
    model's: the prior widths a probe of a new dataset starts from (docs/method.md §7.3)."""
    knees, betas = [], []
    for name in sorted({p["dataset"] for p in points}):
        mine = [p for p in points if p["dataset"] == name]
        own = forms.fit_saturating([p["x"] for p in mine], [p["r"] for p in mine], None)
        knees.append(own["mu"] - (params["kappa"] * mine[0]["complexity"] + params["mu"]))
        betas.append(own["beta"] - params["beta"])
    return {"knee_sd": float(np.sqrt(np.mean(np.square(knees)))), "beta_sd": float(np.sqrt(np.mean(np.square(betas))))}


def _prediction_spread(points: list[dict], form: str, params: dict) -> dict:
    """Eq. S3's sigma: leave-one-dataset-out residuals of single runs (>= 3 datasets), else in-sample."""
    if len({p["dataset"] for p in points}) >= 3:
        try:
            return {**forms.cross_validated_spread(points, form), "method": "leave-one-dataset-out residuals"}
        except ValueError:
            pass
    predicted, measured = [], []
    for p in points:
        if p["x"] < p["x_base"]:
            r_hat = float(forms.predict_form(params, form, p["complexity"], p["x"], p["x_base"], params.get("knee_bounds")))
            predicted += [r_hat] * len(p["r_seeds"])
            measured += p["r_seeds"]
    if len(predicted) < 2:
        return {}
    return {**forms.fit_residual_spread(predicted, measured), "method": "in-sample residuals"}


def rank_measures(records: Iterable[dict], metric: str = "f1", measures: Sequence[str] | None = None) -> list[tuple[str, float, float, float]]:
    """Which complexity measure tracks accuracy loss best (the paper's Fig. 2 question).

    Returns ``(measure, r2, lam, delta)`` for every measure of ``measures`` (default: every
    measure present in all records, plus "jb" when "jpeg" and "foreground" are), best R^2 first.
    A discovered measure with one value across all datasets has no fit and is left out; a
    requested one raises.
    """
    records = list(records)
    discovered = measures is None
    if discovered:
        keys = [set(r.get("complexity", {})) for r in records if isinstance(r, dict)]
        common = set.intersection(*keys) if keys else set()
        measures = sorted(common) + ([JB_KEY] if {JPEG_KEY, FOREGROUND_KEY} <= common else [])
    fits = _dataset_slopes(records, metric)
    ranked = []
    for measure in measures:
        if discovered and measure != JB_KEY and np.ptp(_complexities(records, fits, measure, None)) <= 1e-12:
            continue
        model = fit_degradation(records, metric=metric, measure=measure, bootstrap=0, interval_bootstrap=0)
        ranked.append((measure, model.r2, model.lam, model.delta))
    return sorted(ranked, key=lambda row: -row[1])
