"""One entry per width-scalable architecture: ours and MONAI's own networks (``register_model`` style).

An :class:`Architecture` entry says everything the planner and the bundle need to shrink a network
without knowing its code:

- ``target``: the constructor, as a dotted class path (``"monai.networks.nets.UNet"``);
- ``widths``: which constructor argument carries the channel widths and how a per-stage width
  vector maps onto it (a :class:`WidthMap`: :class:`StageWidths` for ``channels`` / ``filters`` /
  ``widths``, :class:`StageWidthsAndFinal` for BasicUNet's six ``features``, :class:`ScaledBase`
  for one number that the network doubles per stage, e.g. SegResNet's ``init_filters``: those
  allow uniform multipliers only);
- ``constraints``: what every width must keep (GroupNorm's ``num_groups`` divides it, SwinUNETR's
  ``feature_size`` is a multiple of 12, an attention gate needs at least 2 channels); a width
  that breaks one is refused with one line naming the constraint, and the planner rounds to
  widths that keep them (:meth:`NetworkSpec.snap`);
- every other constructor argument (``strides``, ``num_res_units``, kernel sizes, ``norm``, ...)
  passes through unchanged;
- the counts: ``count`` (a torch-free function; our networks use :mod:`monai_ccnet.accounting`)
  or, when None, the module instantiated on the meta device (``with torch.device("meta")``: exact,
  no memory, milliseconds).

**Counting convention** (the paper's and :mod:`monai_ccnet.accounting`'s): ``weights`` = the
weights of every convolution (transposed too) and linear layer, *without* biases, norm affine
parameters, PReLU slopes or position tables; ``parameters`` = ``sum(p.numel() for p in
net.parameters())``, everything the state dict stores. ``stage_weights`` splits ``weights`` by the
resolution each layer produces (stage i works at scale 1/2^i, an up-convolution belongs to the
stage it produces: docs/method.md §2); our networks use the accounting's split, MONAI's networks
one meta-device forward pass with hooks (a layer the forward does not call goes to the stage whose
width its input has). The split only guides the per-stage planner's first guess (Eq. 13); budgets
are checked with the exact ``weights``.

Adding an architecture is one :func:`register_architecture` call (see the entries at the end of
this module and docs/networks.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import inspect
import json
import math
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn

from .. import accounting

__all__ = [
    "NetworkCount",
    "WidthMap",
    "StageWidths",
    "StageWidthsAndFinal",
    "ScaledBase",
    "Constraint",
    "GroupNormGroups",
    "MultipleOf",
    "AtLeast",
    "Architecture",
    "NetworkSpec",
    "register_architecture",
    "get_architecture",
    "list_architectures",
    "find_architecture",
    "count_weights",
    "count_parameters",
    "instantiate_on_meta",
]

#: the layers whose weights ``weights`` counts (biases excluded): every conv, transposed conv and linear layer
COUNTED_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)


@dataclasses.dataclass(frozen=True)
class NetworkCount:
    """Counts of one network. ``weights``: conv + linear weights without biases (the paper's theta);
    ``parameters``: ``sum(p.numel())``; ``stage_weights``: ``weights`` split per stage (None unless asked)."""

    weights: int
    parameters: int
    stage_weights: tuple | None = None


def count_weights(module: nn.Module) -> int:
    """Conv and linear weights without biases: the accounting's convention (module doc)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, COUNTED_LAYERS) and m.weight is not None)


def count_parameters(module: nn.Module) -> int:
    """Every parameter: ``sum(p.numel() for p in module.parameters())``."""
    return sum(p.numel() for p in module.parameters())


@contextlib.contextmanager
def _parameters_on_meta():
    """Parameters move to the meta device as they are registered (the constructor's other tensors
    stay real): for constructors that read a tensor value (``.item()``), which fails under
    ``torch.device("meta")`` (SwinUNETR's drop-path rates)."""
    register = nn.Module.register_parameter

    def register_on_meta(module, name, param):
        register(module, name, param)
        if param is not None and param.device.type != "meta":
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def instantiate_on_meta(cls: Callable[..., nn.Module], kwargs: Mapping[str, Any]) -> nn.Module:
    """``cls(**kwargs)`` with its parameters on the meta device: shapes only, no memory, no init cost."""
    try:
        with torch.device("meta"):
            return cls(**kwargs)
    except (RuntimeError, NotImplementedError) as err:
        if "meta" not in str(err):
            raise
    with _parameters_on_meta():
        return cls(**kwargs)


def _stage_weights_by_resolution(
    net: nn.Module, widths: Sequence[int], spatial_dims: int, in_channels: int
) -> list[int]:
    """Weights per stage: each counted layer goes to the stage of the resolution it produces
    (distinct output resolutions of one meta forward pass, largest first = stage 0; a linear
    layer goes with the conv called before it), a layer the forward does not call to the first stage
    whose width its input (then its output) has, else stage 0. Without a forward pass that works,
    every layer goes by its channels."""
    n = len(widths)
    layers = [m for m in net.modules() if isinstance(m, COUNTED_LAYERS) and m.weight is not None]
    produced: dict[int, tuple | None] = {}
    order: list[nn.Module] = []

    def hook(module, inputs, output):
        if id(module) not in produced:
            shape = tuple(output.shape[2:]) if isinstance(module, nn.modules.conv._ConvNd) else None
            produced[id(module)] = shape
            order.append(module)

    handles = [m.register_forward_hook(hook) for m in layers]
    size = 2 ** (n + 1)  # divisible by any power-of-two downsampling of n stages
    try:
        net.eval()
        with torch.no_grad():
            net(torch.empty((1, in_channels) + (size,) * spatial_dims, device="meta"))
    except Exception:  # noqa: BLE001 - an unusual input rule: fall back to the channels
        produced.clear()
        order.clear()
    finally:
        for h in handles:
            h.remove()
    resolutions = sorted({s for s in produced.values() if s is not None}, key=lambda s: -math.prod(s))
    stage_of_resolution = {s: min(i, n - 1) for i, s in enumerate(resolutions)}
    stage_of: dict[int, int] = {}
    last = 0
    for module in order:
        shape = produced[id(module)]
        last = stage_of_resolution[shape] if shape is not None else last
        stage_of[id(module)] = last

    def by_channels(module) -> int:
        cin = getattr(module, "in_channels", getattr(module, "in_features", None))
        cout = getattr(module, "out_channels", getattr(module, "out_features", None))
        for channels in (cin, cout):
            if channels in widths:
                return list(widths).index(channels)
        return 0

    theta = [0] * n
    for module in layers:
        theta[stage_of.get(id(module), by_channels(module))] += module.weight.numel()
    return theta


# ---------------------------------------------------------------------------------------------
# How a per-stage width vector maps onto the constructor argument
# ---------------------------------------------------------------------------------------------


def _int_list(value: Any, what: str) -> list[int]:
    if isinstance(value, bool) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{what} must be a non-empty list of integers, got {value!r}.")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer() or v < 1:
            raise ValueError(f"{what} must hold integers >= 1, got {value!r}.")
        out.append(int(v))
    return out


class WidthMap:
    """How the constructor argument ``arg`` carries the per-stage widths.

    ``widths(kwargs)``: the per-stage widths of these constructor arguments; ``values(kwargs,
    widths, step)``: the constructor arguments to set for other widths (``step``: the width
    granularity the constraints ask for, for derived widths); ``describe()``: one line for docs
    and messages. ``uniform_only``: the argument is one number, so only uniform multipliers exist.
    """

    uniform_only = False

    def __init__(self, arg: str):
        self.arg = arg

    def widths(self, kwargs: Mapping[str, Any]) -> tuple[int, ...]:
        raise NotImplementedError

    def values(self, kwargs: Mapping[str, Any], widths: Sequence[int], step: int = 1) -> dict:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class StageWidths(WidthMap):
    """The argument *is* the per-stage widths, top (full resolution) first: MONAI UNet's and
    AttentionUnet's ``channels``, DynUNet's ``filters``, our networks' ``widths``.

    Args:
        arg: the constructor argument.
        default: the widths when the argument is absent or None (e.g. DynUNet's rule), from the
            other constructor arguments; None: the constructor's own default.
        stages_from: another argument whose length is the number of stages (DynUNet uses the
            first ``len(strides)`` filters); None: all of them.
        multipliers: an argument that multiplies the widths (our networks' ``multipliers``): it is
            applied when reading and set to None when writing planned widths.
    """

    def __init__(self, arg: str, default: Callable[[Mapping], Sequence[int]] | None = None,
                 stages_from: str | None = None, multipliers: str | None = None):
        super().__init__(arg)
        self.default, self.stages_from, self.multipliers = default, stages_from, multipliers

    def widths(self, kwargs):
        value = kwargs.get(self.arg)
        if value is None and self.default is not None:
            value = list(self.default(kwargs))
        widths = _int_list(value, self.arg)
        if self.stages_from is not None and kwargs.get(self.stages_from) is not None:
            widths = widths[: len(kwargs[self.stages_from])]
        if self.multipliers is not None and kwargs.get(self.multipliers) is not None:
            widths = list(accounting.resolve_widths(widths, kwargs[self.multipliers]))
        return tuple(widths)

    def values(self, kwargs, widths, step=1):
        out = {self.arg: [int(w) for w in widths]}
        if self.multipliers is not None and kwargs.get(self.multipliers) is not None:
            out[self.multipliers] = None  # the widths are final: multipliers would shrink them twice
        return out

    def describe(self):
        extra = f" (the first len({self.stages_from}))" if self.stages_from else ""
        return f"`{self.arg}` = the per-stage widths{extra}"


class StageWidthsAndFinal(WidthMap):
    """The argument holds the per-stage widths and then ``extra`` more that follow stage 0 (BasicUNet's
    six ``features``: five stages, then the last decoder's width, which is scaled like stage 0 and
    rounded to the constraints' step). A single number means that number everywhere, as MONAI reads it."""

    def __init__(self, arg: str, stages: int, extra: int = 1):
        super().__init__(arg)
        self.stages, self.extra = stages, extra

    def _all(self, kwargs) -> list[int]:
        value = kwargs.get(self.arg)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * (self.stages + self.extra)
        values = _int_list(value, self.arg)
        if len(values) != self.stages + self.extra:
            raise ValueError(f"{self.arg} must hold {self.stages + self.extra} integers "
                             f"({self.stages} stages + {self.extra} final), got {value!r}.")
        return values

    def widths(self, kwargs):
        return tuple(self._all(kwargs)[: self.stages])

    def values(self, kwargs, widths, step=1):
        original = self._all(kwargs)
        ratio = widths[0] / original[0]
        extra = [max(step, int(math.floor(v * ratio / step + 0.5)) * step) for v in original[self.stages:]]
        return {self.arg: [int(w) for w in widths] + extra}

    def describe(self):
        return (f"`{self.arg}`: {self.stages} per-stage widths + {self.extra} final (the final one scaled "
                "like stage 0)")


class ScaledBase(WidthMap):
    """The argument is one number that the network multiplies per stage (``factors``): SegResNet's
    ``init_filters`` (doubled per stage), SwinUNETR's ``feature_size``. Only uniform multipliers
    are possible: per-stage widths are always ``value * factors``."""

    uniform_only = True

    def __init__(self, arg: str, factors: Callable[[Mapping], Sequence[int]], factors_text: str):
        super().__init__(arg)
        self.factors, self.factors_text = factors, factors_text

    def widths(self, kwargs):
        value = _int_list([kwargs.get(self.arg)], self.arg)[0]
        return tuple(value * f for f in self.factors(kwargs))

    def values(self, kwargs, widths, step=1):
        factors = tuple(self.factors(kwargs))
        value = int(widths[0]) // factors[0]
        if tuple(widths) != tuple(value * f for f in factors):
            raise ValueError(f"`{self.arg}` is one number scaled {self.factors_text} per stage, so the widths must be "
                             f"{self.arg} x {list(factors)}; got {list(widths)} (only uniform multipliers are possible).")
        return {self.arg: value}

    def describe(self):
        return f"`{self.arg}` = stage 0's width, x {self.factors_text} per stage (uniform multipliers only)"


# ---------------------------------------------------------------------------------------------
# What a width must keep
# ---------------------------------------------------------------------------------------------


class Constraint:
    """A rule on every width. ``rule(kwargs)`` -> ``(step, minimum, text)`` when it applies to these
    constructor arguments (every width a multiple of ``step`` and at least ``minimum``), else None."""

    def rule(self, kwargs: Mapping[str, Any]) -> tuple[int, int, str] | None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _norm_name_args(norm: Any) -> tuple[str | None, dict]:
    """MONAI norm spec (``"batch"``, ``("group", {"num_groups": 8})``, a JSON list, ``Norm.INSTANCE``)
    -> (lower-case name, arguments)."""
    if norm is None:
        return None, {}
    if isinstance(norm, (tuple, list)):
        if not norm:
            return None, {}
        name, args = norm[0], (norm[1] if len(norm) > 1 and isinstance(norm[1], Mapping) else {})
    else:
        name, args = norm, {}
    name = getattr(name, "value", name)
    return (name.lower() if isinstance(name, str) else getattr(name, "__name__", str(name)).lower()), dict(args)


class GroupNormGroups(Constraint):
    """With GroupNorm in the norm argument ``arg``, every width is a multiple of ``num_groups``.
    ``legacy``: an older ``(name argument, groups argument)`` pair that also selects GroupNorm
    (SegResNet's deprecated ``norm_name="group"`` + ``num_groups``)."""

    def __init__(self, arg: str = "norm", legacy: tuple[str, str] | None = None):
        self.arg, self.legacy = arg, legacy

    def rule(self, kwargs):
        norm = kwargs.get(self.arg)
        if self.legacy is not None and str(kwargs.get(self.legacy[0]) or "").lower() == "group":
            norm = ("group", {"num_groups": kwargs.get(self.legacy[1], 8)})
        name, args = _norm_name_args(norm)
        if name not in ("group", "groupnorm"):
            return None
        groups = args.get("num_groups")
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            return None  # the constructor itself refuses a GroupNorm without a group count
        return groups, groups, f"GroupNorm ({self.arg}={norm!r}) needs every width divisible by num_groups={groups}"

    def describe(self):
        return f"GroupNorm in `{self.arg}`: widths divisible by num_groups"


class MultipleOf(Constraint):
    """Every width a multiple of ``n`` (``why``: the reason, for the message)."""

    def __init__(self, n: int, why: str):
        self.n, self.why = int(n), why

    def rule(self, kwargs):
        return self.n, self.n, f"{self.why} (every width a multiple of {self.n})"

    def describe(self):
        return f"widths multiples of {self.n} ({self.why})"


class AtLeast(Constraint):
    """Every width at least ``n`` (``why``: the reason, for the message)."""

    def __init__(self, n: int, why: str):
        self.n, self.why = int(n), why

    def rule(self, kwargs):
        return 1, self.n, f"{self.why} (every width >= {self.n})"

    def describe(self):
        return f"widths >= {self.n} ({self.why})"


# ---------------------------------------------------------------------------------------------
# The entry
# ---------------------------------------------------------------------------------------------


def _import_target(target: str):
    module, _, name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import {target!r} ({err}).") from None


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One registered architecture (module doc).

    Attributes:
        name: registry key, e.g. ``"monai.UNet"``.
        target: the constructor's dotted class path.
        widths: how the per-stage widths map onto the constructor argument (:class:`WidthMap`).
        constraints: rules every width keeps (:class:`Constraint`).
        spatial_dims: the dimensions the network supports.
        count: torch-free counts ``(kwargs, widths, stages) -> NetworkCount`` (kwargs: the full
            constructor arguments); None: instantiate on the meta device and count.
        memory: torch-free bytes of one forward pass ``(kwargs, widths, input_shape, batch,
            dtype_bytes) -> int`` (parameters + feature maps, :func:`monai_ccnet.accounting.memory_bytes`);
            None: measured on the meta device (:meth:`NetworkSpec.memory_bytes`).
        notes: one line for the docs (what does not scale, caveats).
    """

    name: str
    target: str
    widths: WidthMap
    constraints: tuple = ()
    spatial_dims: tuple = (2, 3)
    count: Callable[[dict, tuple, bool], NetworkCount] | None = None
    memory: Callable[..., int] | None = None
    notes: str = ""

    @property
    def network_class(self) -> type:
        return _import_target(self.target)

    @property
    def uniform_only(self) -> bool:
        return self.widths.uniform_only

    def defaults(self) -> dict:
        """The constructor's default arguments."""
        params = inspect.signature(self.network_class.__init__).parameters
        return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty and k != "self"}

    def full_kwargs(self, kwargs: Mapping[str, Any]) -> dict:
        """The constructor's defaults updated with ``kwargs``: what the network is built with."""
        return {**self.defaults(), **dict(kwargs)}

    def base_widths(self, kwargs: Mapping[str, Any]) -> tuple[int, ...]:
        """The per-stage widths these constructor arguments build."""
        try:
            return self.widths.widths(self.full_kwargs(kwargs))
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None

    def rule(self, kwargs: Mapping[str, Any]) -> tuple[int, int, list[str]]:
        """``(step, minimum, texts)``: every width a multiple of ``step`` and >= ``minimum`` (a
        multiple of ``step`` itself), from the constraints that apply to these arguments."""
        full = self.full_kwargs(kwargs)
        step, minimum, texts = 1, 1, []
        for constraint in self.constraints:
            rule = constraint.rule(full)
            if rule is not None:
                step = step * rule[0] // math.gcd(step, rule[0])
                minimum = max(minimum, rule[1])
                texts.append(rule[2])
        return step, -(-minimum // step) * step, texts

    def values(self, kwargs: Mapping[str, Any], widths: Sequence[int]) -> dict:
        """The constructor arguments that carry ``widths`` (checked: :meth:`check`)."""
        widths = tuple(int(w) for w in widths)
        self.check(kwargs, widths)
        try:
            return self.widths.values(self.full_kwargs(kwargs), widths, self.rule(kwargs)[0])
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None

    def constructor_kwargs(self, kwargs: Mapping[str, Any], widths: Sequence[int] | None = None) -> dict:
        """``kwargs`` with ``widths`` (default: the base widths) in the width argument."""
        out = dict(kwargs)
        if widths is not None:
            out.update(self.values(kwargs, widths))
        return out

    def check(self, kwargs: Mapping[str, Any], widths: Sequence[int] | None = None) -> None:
        """Refuse widths (default: the base widths) that break a constraint, with one line naming it.

        Raises:
            ValueError: wrong number of stages, a width < 1, or a broken constraint.
        """
        base = self.base_widths(kwargs)
        widths = base if widths is None else tuple(widths)
        arg = self.widths.arg
        if len(widths) != len(base):
            raise ValueError(f"{self.name}: {len(widths)} widths {list(widths)} for a network of {len(base)} stages "
                             f"({arg} gives {list(base)}).")
        for i, w in enumerate(widths):
            if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                raise ValueError(f"{self.name}: stage {i} width must be an integer >= 1, got {w!r} (widths {list(widths)}).")
        full = self.full_kwargs(kwargs)
        for constraint in self.constraints:
            rule = constraint.rule(full)
            if rule is None:
                continue
            step, minimum, text = rule
            for i, w in enumerate(widths):
                if w % step or w < minimum:
                    raise ValueError(f"{self.name}: widths {'-'.join(map(str, widths))} ({arg}) break a constraint: "
                                     f"{text}; stage {i} has {w}.")

    def snap(self, kwargs: Mapping[str, Any], widths: Sequence[int], up: bool = False) -> tuple[int, ...]:
        """The nearest widths that keep the constraints (``up``: the smallest ones >= ``widths``);
        for a uniform-only architecture, the nearest (``up``: smallest covering) ``value x factors``."""
        step, minimum, _ = self.rule(kwargs)

        def one(w: float) -> int:
            k = math.ceil(w / step - 1e-9) if up else math.floor(w / step + 0.5)
            return max(minimum, int(k) * step)

        widths = [int(w) for w in widths]
        if not self.uniform_only:
            return tuple(one(w) for w in widths)
        factors = list(self.widths.factors(self.full_kwargs(kwargs)))
        first = max(w / f for w, f in zip(widths, factors)) if up else widths[0] / factors[0]
        value = one(first)
        return tuple(value * f for f in factors)

    def build(self, kwargs: Mapping[str, Any], widths: Sequence[int] | None = None) -> nn.Module:
        """The network (real parameters, CPU)."""
        return self.network_class(**self.constructor_kwargs(kwargs, widths))

    def counts(self, kwargs: Mapping[str, Any], widths: Sequence[int] | None = None, stages: bool = False) -> NetworkCount:
        """Weights and parameters of the network with ``widths`` (default: the base widths);
        ``stages``: also the weights per stage (module doc)."""
        widths = self.base_widths(kwargs) if widths is None else tuple(int(w) for w in widths)
        built = self.constructor_kwargs(kwargs, widths)
        if self.count is not None:
            return self.count(self.full_kwargs(built), widths, stages)
        net = instantiate_on_meta(self.network_class, built)
        theta = None
        if stages:
            full = self.full_kwargs(built)
            theta = tuple(_stage_weights_by_resolution(net, widths, int(full["spatial_dims"]), int(full["in_channels"])))
        return NetworkCount(count_weights(net), count_parameters(net), theta)

    def __reduce__(self):
        # pickled by name (entries hold lambdas): a spawned worker process finds it in its own registry
        return get_architecture, (self.name,)

    def configure(self, kwargs: Mapping[str, Any]) -> "NetworkSpec":
        """This architecture with fixed constructor arguments: what the planner counts."""
        return NetworkSpec(self, kwargs)

    def describe(self) -> str:
        parts = [f"{self.name}: {self.target}, {self.widths.describe()}"]
        if self.constraints:
            parts.append("; ".join(c.describe() for c in self.constraints))
        return "; ".join(parts)


class NetworkSpec:
    """An :class:`Architecture` with its other constructor arguments fixed: the object the planner
    counts through (``monai_ccnet.planning.planner.plan_compression(network=...)``): ``name``,
    ``base_widths``, ``uniform_only``, ``weights(widths)``, ``stage_weights(widths)``,
    ``snap(widths, up)``, ``memory_bytes(widths, input_shape, batch, dtype_bytes)``. Counts are cached.

    Raises:
        ValueError: the base widths break a constraint, or the dimensions are not supported.
    """

    def __init__(self, architecture: Architecture, kwargs: Mapping[str, Any]):
        self.architecture = architecture
        self.kwargs = dict(kwargs)
        self.name = architecture.name
        full = architecture.full_kwargs(self.kwargs)
        for key in ("spatial_dims", "in_channels", "out_channels"):
            value = full.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.name}: {key} must be an integer >= 1, got {value!r}.")
        self.spatial_dims, self.in_channels, self.out_channels = full["spatial_dims"], full["in_channels"], full["out_channels"]
        if self.spatial_dims not in architecture.spatial_dims:
            raise ValueError(f"{self.name}: spatial_dims {self.spatial_dims} is not supported "
                             f"(registered for {list(architecture.spatial_dims)}).")
        self.base_widths = architecture.base_widths(self.kwargs)
        architecture.check(self.kwargs, self.base_widths)
        self.uniform_only = architecture.uniform_only
        self._counts = functools.lru_cache(maxsize=None)(self._count)
        self._memory: dict[tuple, int] = {}

    def __reduce__(self):
        # the counts' cache is not pickled (worker processes rebuild it)
        return NetworkSpec, (self.architecture, self.kwargs)

    def _count(self, widths: tuple, stages: bool) -> NetworkCount:
        return self.architecture.counts(self.kwargs, widths, stages)

    def counts(self, widths: Sequence[int] | None = None, stages: bool = False) -> NetworkCount:
        return self._counts(tuple(self.base_widths if widths is None else (int(w) for w in widths)), stages)

    def weights(self, widths: Sequence[int]) -> int:
        return self.counts(widths).weights

    def parameters(self, widths: Sequence[int]) -> int:
        return self.counts(widths).parameters

    def stage_weights(self, widths: Sequence[int]) -> list[int]:
        return list(self.counts(widths, stages=True).stage_weights)

    def snap(self, widths: Sequence[int], up: bool = False) -> tuple[int, ...]:
        return self.architecture.snap(self.kwargs, widths, up)

    def values(self, widths: Sequence[int]) -> dict:
        """The constructor arguments that carry ``widths`` (e.g. ``{"channels": [8, 16, ...]}``)."""
        return self.architecture.values(self.kwargs, widths)

    def constructor_kwargs(self, widths: Sequence[int] | None = None) -> dict:
        return self.architecture.constructor_kwargs(self.kwargs, widths)

    def build(self, widths: Sequence[int] | None = None) -> nn.Module:
        return self.architecture.build(self.kwargs, widths)

    def fingerprint(self) -> dict:
        """The architecture and its constructor arguments as JSON values (what a resumed run must
        match: the same network, e.g. the same ``num_res_units``)."""
        return json.loads(json.dumps({"architecture": self.name, "target": self.architecture.target,
                                      "kwargs": self.kwargs}, sort_keys=True, default=repr))

    def scaled_widths(self, multiplier: float) -> tuple[int, ...]:
        """The base widths scaled by ``multiplier`` (Python's round, as ``resolve_widths``) and moved to
        the nearest widths the constraints allow (:meth:`snap`): a probe's or a Pareto curve's networks."""
        return self.snap(accounting.resolve_widths(self.base_widths, multiplier))

    def memory_bytes(self, widths: Sequence[int], input_shape: Sequence[int], batch: int = 1, dtype_bytes: int = 4) -> int:
        """Main memory of one inference pass: parameters x ``dtype_bytes`` + the peak of the feature
        maps alive at once (docs/method.md §4.1). Torch-free where the entry registers ``memory``
        (ours: :func:`monai_ccnet.accounting.memory_bytes`), else measured: one forward pass of the
        network built on the meta device, on a meta input ``(batch, in_channels, *input_shape)``,
        following the storages of op outputs (:func:`monai_ccnet.nets.memory.measure_feature_memory`;
        float32 maps scaled to ``dtype_bytes``). Cached per widths.

        Raises:
            ValueError: the network refuses that input shape (naming the shape and why).
        """
        key = (tuple(int(w) for w in widths), tuple(int(v) for v in input_shape), int(batch), int(dtype_bytes))
        if key not in self._memory:
            if self.architecture.memory is not None:
                self._memory[key] = int(self.architecture.memory(
                    self.architecture.full_kwargs(self.constructor_kwargs(key[0])), *key))
            else:
                self._memory[key] = self._measured_memory(*key)
        return self._memory[key]

    def _measured_memory(self, widths: tuple, input_shape: tuple, batch: int, dtype_bytes: int) -> int:
        from .memory import measure_feature_memory

        if len(input_shape) != self.spatial_dims:
            raise ValueError(f"{self.name}: input_shape {list(input_shape)} must give {self.spatial_dims} sizes.")
        net = instantiate_on_meta(self.architecture.network_class, self.constructor_kwargs(widths))
        x = torch.empty((batch, self.in_channels, *input_shape), device="meta")
        try:
            features = measure_feature_memory(net, x, "inference")
        except Exception as err:  # noqa: BLE001 - the network's own shape rule: one line
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"{self.name}: a forward pass on input shape {list(input_shape)} failed ({reason}); "
                             "give an --input-shape the network accepts (e.g. multiples of its total stride).") from None
        return count_parameters(net) * dtype_bytes + features * dtype_bytes // 4

    def __repr__(self) -> str:
        return f"NetworkSpec({self.name!r}, base_widths={list(self.base_widths)})"


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------

_REGISTRY: dict[str, Architecture] = {}


def register_architecture(entry: Architecture) -> Architecture:
    """Add one architecture (one entry: module doc); names are unique."""
    if entry.name in _REGISTRY:
        raise ValueError(f"architecture {entry.name!r} is already registered ({_REGISTRY[entry.name].target}).")
    _REGISTRY[entry.name] = entry
    return entry


def list_architectures() -> list[str]:
    return list(_REGISTRY)


def get_architecture(name: str) -> Architecture:
    """The entry registered as ``name`` (case-insensitive); ValueError listing the names."""
    for key, entry in _REGISTRY.items():
        if key.lower() == str(name).lower():
            return entry
    raise ValueError(f"unknown architecture {name!r}; registered: {', '.join(_REGISTRY)}.")


def _registered_text() -> str:
    return ", ".join(f"{e.target} ({e.name})" for e in _REGISTRY.values())


def find_architecture(target: str | type) -> Architecture:
    """The entry of a class, or of a ``_target_`` as a bundle config writes it: a dotted path
    (``monai.networks.nets.UNet``, ``monai.networks.nets.unet.UNet``) or a bare class name that
    MONAI's nets (``UNet``, ``Unet``, ``BasicUnet``, ...) or ours (``ScalableUNet``) export.

    Raises:
        ValueError: the target names no class, or an unregistered one (the message lists the registered ones).
    """
    cls = target
    if isinstance(target, str):
        cls = None
        if "." in target:
            try:
                cls = _import_target(target)
            except ValueError:
                cls = None
        else:
            import monai.networks.nets as monai_nets

            from .. import nets as ours

            cls = getattr(monai_nets, target, None) or getattr(ours, target, None)
        if not isinstance(cls, type):
            raise ValueError(f"_target_ {target!r} names no network class; registered architectures: {_registered_text()}.")
    for entry in _REGISTRY.values():
        if entry.network_class is cls:
            return entry
    raise ValueError(f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)} is not a registered "
                     f"architecture; registered: {_registered_text()} (add one with register_architecture).")


# ---------------------------------------------------------------------------------------------
# Entries: ours (torch-free accounting) ...
# ---------------------------------------------------------------------------------------------


def _norm_parameters_counted(norm: Any) -> bool | None:
    """Whether the accounting's 2 x channels per norm is the norm's parameter count (None: unknown)."""
    name, args = _norm_name_args(norm)
    if name is None:
        return False
    if name in ("batch", "syncbatch", "group"):
        return bool(args.get("affine", True))
    if name in ("instance", "instance_nvfuser"):
        return bool(args.get("affine", False))
    return None


def _scalable_count(arch: str) -> Callable[[dict, tuple, bool], NetworkCount]:
    def count(kwargs: dict, widths: tuple, stages: bool) -> NetworkCount:
        norm, bias = kwargs.get("norm", "batch"), bool(kwargs.get("bias", False))
        counts = dict(spatial_dims=kwargs["spatial_dims"], in_channels=kwargs["in_channels"],
                      out_channels=kwargs["out_channels"], bias=bias, normed=norm is not None)
        theta = accounting.stage_weights(arch, widths, **counts)
        affine = _norm_parameters_counted(norm)
        if affine is None:  # a norm the accounting does not describe: count the module
            from .factory import NETWORKS

            parameters = count_parameters(instantiate_on_meta(NETWORKS[arch], {**kwargs, "widths": widths, "multipliers": None}))
        else:
            parameters = accounting.total_weights(arch, widths, include_bias=True, include_norm=affine, **counts)
        return NetworkCount(sum(theta), parameters, tuple(theta) if stages else None)

    return count


def _scalable_memory(arch: str) -> Callable[..., int]:
    def memory(kwargs: dict, widths: tuple, input_shape: tuple, batch: int, dtype_bytes: int) -> int:
        norm = kwargs.get("norm", "batch")
        return accounting.memory_bytes(arch, widths, input_shape, batch=batch, dtype_bytes=dtype_bytes,
                                       in_channels=kwargs["in_channels"], out_channels=kwargs["out_channels"],
                                       mode="inference", weight_bytes=dtype_bytes, bias=bool(kwargs.get("bias", False)),
                                       normed=norm is not None)

    return memory


for _arch, _cls in (("unet", "ScalableUNet"), ("cumedvision", "ScalableCUMedVision"), ("ucunet", "ScalableUCUNet")):
    register_architecture(Architecture(
        name=_arch, target=f"monai_ccnet.nets.{_cls}",
        widths=StageWidths("widths", multipliers="multipliers"),
        constraints=(GroupNormGroups("norm"),), spatial_dims=(1, 2, 3),
        count=_scalable_count(_arch), memory=_scalable_memory(_arch),
        notes="torch-free counts and memory (monai_ccnet.accounting)",
    ))

# ---------------------------------------------------------------------------------------------
# ... and MONAI's (counted on the meta device)
# ---------------------------------------------------------------------------------------------

register_architecture(Architecture(
    name="monai.UNet", target="monai.networks.nets.UNet",
    widths=StageWidths("channels"), constraints=(GroupNormGroups("norm"),),
    notes="strides, kernel sizes, num_res_units, act, norm, dropout, bias, adn_ordering pass through",
))
register_architecture(Architecture(
    name="monai.BasicUNet", target="monai.networks.nets.BasicUNet",
    widths=StageWidthsAndFinal("features", stages=5), constraints=(GroupNormGroups("norm"),),
    notes="features[5] (the last decoder's width) follows stage 0's multiplier",
))
register_architecture(Architecture(
    name="monai.SegResNet", target="monai.networks.nets.SegResNet",
    widths=ScaledBase("init_filters", lambda kw: [2**i for i in range(len(kw["blocks_down"]))], "2^stage"),
    constraints=(GroupNormGroups("norm", legacy=("norm_name", "num_groups")),),
    notes="one number doubled per stage (stages = len(blocks_down)): uniform multipliers only; "
          "the default GroupNorm(8) keeps init_filters a multiple of 8",
))
register_architecture(Architecture(
    name="monai.DynUNet", target="monai.networks.nets.DynUNet",
    widths=StageWidths(
        "filters", stages_from="strides",
        # DynUNet's own rule when filters is None
        default=lambda kw: [min(2 ** (5 + i), 320 if kw["spatial_dims"] == 3 else 512) for i in range(len(kw["strides"]))],
    ),
    constraints=(GroupNormGroups("norm_name"),),
    notes="filters=None means DynUNet's rule min(2^(5+i), 320 in 3-D / 512 in 2-D); planned filters are written out",
))
register_architecture(Architecture(
    name="monai.AttentionUnet", target="monai.networks.nets.AttentionUnet",
    widths=StageWidths("channels"),
    constraints=(AtLeast(2, "its attention gates have width // 2 channels"),),
    notes="batch norm inside (no norm argument)",
))
register_architecture(Architecture(
    name="monai.SwinUNETR", target="monai.networks.nets.SwinUNETR",
    widths=ScaledBase("feature_size", lambda kw: [1, 1, 2, 4, 8, 16], "1-1-2-4-8-16"),
    constraints=(MultipleOf(12, "SwinUNETR's own check: feature_size divisible by 12"),
                 GroupNormGroups("norm_name")),
    notes="one number, in steps of 12 (48 -> 36, 24, 12 only): coarse; window-attention position tables do not "
          "scale with it; input sizes must be multiples of patch_size^5",
))
