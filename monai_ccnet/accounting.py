"""Exact weight accounting for the width-scalable networks (docs/method.md §2, Eq. 4 and 5).

Pure Python: no torch. The planner (``monai_ccnet.planning``) and the networks
(``monai_ccnet.nets``) both rely on this module, so a plan computed on a laptop without
torch describes exactly the network that ``monai_ccnet.nets`` builds.

Conventions (shared with ``monai_ccnet.nets``):

- A network has ``S = len(widths)`` stages; stage ``i`` works at scale ``1 / 2**i``.
- A conv layer holds ``theta = FM_in * prod(kernel) * FM_out`` weights (Eq. 4); biases and
  normalisation parameters are not counted unless asked for (``include_bias`` /
  ``include_norm``), as in the paper.
- ``theta_i`` ("the weights belonging to stage i", docs/method.md §2) = the encoder convs at scale i
  + the decoder convs at scale i + the up-convolution that produces scale i. Side outputs are
  attributed to the stage they come from. The final 1x1 head (and UCU-Net's shared 1x1 side
  conv) work at full resolution and are attributed to stage 0.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

__all__ = [
    "ARCHITECTURES",
    "check_arch",
    "DEFAULT_WIDTHS",
    "ConvSpec",
    "resolve_widths",
    "conv_layers",
    "stage_weights",
    "total_weights",
    "disk_bytes",
    "INT8_CHANNEL_BYTES",
    "INT8_LAYER_BYTES",
    "int8_file_bytes",
    "int8_onnx_bytes",
    "spatial_sizes",
    "feature_memory_bytes",
    "memory_bytes",
    "macs",
    "MEMORY_MODES",
    "MB",
]

ARCHITECTURES = ("unet", "cumedvision", "ucunet")
DEFAULT_WIDTHS = (64, 128, 256, 512, 1024)
MB = 10**6  # docs/method.md §4: "MB" means 10^6 bytes everywhere.


class ConvSpec:
    """One convolution layer of a network: enough to count its weights, biases and MACs.

    Attributes:
        name: a readable name, e.g. ``"enc2.conv1"``.
        stage: the stage the weights are attributed to (docs/method.md §2).
        in_channels, out_channels: feature maps in and out.
        kernel: kernel size per spatial dimension (e.g. 3 or 2**k).
        scale: the stage of the *output* resolution (output spatial size = input / 2**scale).
        transposed: whether the layer is a transposed convolution.
        normed: whether a normalisation layer follows (its affine parameters are optional extras).
        has_bias: whether the built layer has a bias vector.
        activated: whether an activation follows (after the norm, if any). The memory model uses
            it; it does not change the weight count.
    """

    __slots__ = (
        "name",
        "stage",
        "in_channels",
        "out_channels",
        "kernel",
        "scale",
        "transposed",
        "normed",
        "has_bias",
        "activated",
    )

    def __init__(
        self,
        name: str,
        stage: int,
        in_channels: int,
        out_channels: int,
        kernel: int,
        scale: int,
        transposed: bool = False,
        normed: bool = False,
        has_bias: bool = False,
        activated: bool = False,
    ):
        self.name = name
        self.stage = stage
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel = kernel
        self.scale = scale
        self.transposed = transposed
        self.normed = normed
        self.has_bias = has_bias
        self.activated = activated

    def weights(self, spatial_dims: int) -> int:
        """Eq. 4: FM_in * k^d * FM_out."""
        return self.in_channels * self.kernel**spatial_dims * self.out_channels

    def __repr__(self) -> str:
        return (
            f"ConvSpec({self.name!r}, stage={self.stage}, {self.in_channels}->{self.out_channels}, "
            f"k={self.kernel}, scale={self.scale}{', transposed' if self.transposed else ''})"
        )


def resolve_widths(
    widths: Sequence[int] = DEFAULT_WIDTHS, multipliers: float | Sequence[float] | None = None
) -> tuple[int, ...]:
    """Per-stage channel widths after applying multipliers.

    ``width_i = max(1, round(widths_i * m_i))`` (Python's round: half to even). ``multipliers`` is
    None (keep ``widths``), one float for every stage, or one float per stage.

    Raises:
        ValueError: empty or non-positive widths, fewer than 2 stages, non-positive or non-finite
            multipliers, or a multiplier list whose length differs from ``widths``.
    """
    widths = tuple(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least 2 stages, got {widths!r}.")
    for i, w in enumerate(widths):
        if isinstance(w, bool) or not isinstance(w, (int,)) and not float(w).is_integer():
            raise ValueError(f"widths[{i}] must be an integer, got {w!r}.")
        if int(w) < 1:
            raise ValueError(f"widths[{i}] must be >= 1, got {w!r}.")
    widths = tuple(int(w) for w in widths)
    if multipliers is None:
        return widths
    if isinstance(multipliers, (int, float)):
        multipliers = [float(multipliers)] * len(widths)
    multipliers = [float(m) for m in multipliers]
    if len(multipliers) != len(widths):
        raise ValueError(
            f"multipliers has {len(multipliers)} values but the network has {len(widths)} stages "
            f"(widths={widths}); give one float or one per stage."
        )
    for i, m in enumerate(multipliers):
        if not math.isfinite(m) or m <= 0:
            raise ValueError(f"multipliers[{i}] must be a finite number > 0, got {m!r}.")
    return tuple(max(1, int(round(w * m))) for w, m in zip(widths, multipliers))


def check_arch(arch: str) -> str:
    """Normalised architecture name; ValueError naming the choices for an unknown one."""
    arch = str(arch).lower()
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}.")
    return arch


def conv_layers(
    arch: str,
    widths: Sequence[int],
    in_channels: int = 1,
    out_channels: int = 2,
    bias: bool = False,
    normed: bool = True,
) -> list[ConvSpec]:
    """Every convolution of ``arch`` with these (already resolved) widths, in forward order.

    This list is the single description of the architectures that the weight, memory and MAC
    accounting use; ``monai_ccnet.nets`` builds exactly these layers (tests check the counts).

    - ``unet``: per stage two 3x3 convs; 2x2 max-pool down; 2x2 transposed conv up; decoder stage
      i takes concat(skip_i, up_i) = 2*w_i channels; final 1x1 conv to ``out_channels``.
    - ``cumedvision``: the same encoder; every stage k >= 1 emits a side output: transposed conv
      with kernel = stride = 2**k to ``out_channels`` maps at full resolution (+ norm/act, as in
      UCU-Net's side branches), then a 3x3 conv; the side outputs are summed.
    - ``ucunet``: the U-Net, plus side outputs from the bottleneck and from every decoder stage
      below full resolution (transposed conv 2**k + norm/act + 3x3 conv), each through one
      shared 1x1 conv; output = U-Net head + sum of side outputs.
    """
    arch = check_arch(arch)
    widths = resolve_widths(widths)
    for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {value!r}.")
    n = len(widths)
    layers: list[ConvSpec] = []

    def add(name, stage, cin, cout, k, scale, transposed=False, norm=normed, has_bias=bias, act=True):
        layers.append(ConvSpec(name, stage, cin, cout, k, scale, transposed, norm, has_bias, act))

    # encoder (all three architectures)
    for i, w in enumerate(widths):
        cin = in_channels if i == 0 else widths[i - 1]
        add(f"enc{i}.conv0", i, cin, w, 3, i)
        add(f"enc{i}.conv1", i, w, w, 3, i)

    if arch == "cumedvision":
        for k in range(1, n):
            add(f"side{k}.up", k, widths[k], out_channels, 2**k, 0, transposed=True)
            # the 3x3 conv ends the side branch: logits, no norm after it, and (the side outputs
            # being the prediction) a bias, like the U-Net head
            add(f"side{k}.conv", k, out_channels, out_channels, 3, 0, norm=False, act=False, has_bias=True)
        return layers

    # U-Net decoder: stage i from n-2 down to 0
    for i in range(n - 2, -1, -1):
        w = widths[i]
        # the up-convolution producing scale i belongs to stage i (docs/method.md §2); classic U-Net has
        # no norm/act after it
        add(f"dec{i}.up", i, widths[i + 1], w, 2, i, transposed=True, norm=False, act=False)
        add(f"dec{i}.conv0", i, 2 * w, w, 3, i)
        add(f"dec{i}.conv1", i, w, w, 3, i)
    add("head", 0, widths[0], out_channels, 1, 0, norm=False, has_bias=True, act=False)

    if arch == "ucunet":
        # side outputs from the bottleneck (stage n-1) and decoder stages n-2 .. 1
        for k in range(n - 1, 0, -1):
            add(f"side{k}.up", k, widths[k], out_channels, 2**k, 0, transposed=True)
            add(f"side{k}.conv", k, out_channels, out_channels, 3, 0, norm=False, act=False)
        add("side.shared", 0, out_channels, out_channels, 1, 0, norm=False, has_bias=True, act=False)
    return layers


def stage_weights(
    arch: str,
    widths: Sequence[int],
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    include_bias: bool = False,
    include_norm: bool = False,
    bias: bool = False,
    normed: bool = True,
) -> list[int]:
    """theta_i per stage (docs/method.md §2); ``sum(stage_weights(...)) == total_weights(...)``.

    Args:
        include_bias: also count the bias vectors of layers built with a bias (``bias`` says
            whether the network's convs have one; the layers producing logits always have one).
        include_norm: also count the affine parameters (2 per channel) of norm layers
            (``normed`` says whether the network has them).
    """
    if spatial_dims not in (1, 2, 3):
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}.")
    widths = resolve_widths(widths)
    theta = [0] * len(widths)
    for layer in conv_layers(arch, widths, in_channels, out_channels, bias=bias, normed=normed):
        count = layer.weights(spatial_dims)
        if include_bias and layer.has_bias:
            count += layer.out_channels
        if include_norm and layer.normed:
            count += 2 * layer.out_channels
        theta[layer.stage] += count
    return theta


def total_weights(
    arch: str,
    widths: Sequence[int],
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 2,
    **kwargs,
) -> int:
    """theta: the network's weight count (Eq. 4 summed over layers). See :func:`stage_weights`."""
    return sum(stage_weights(arch, widths, spatial_dims, in_channels, out_channels, **kwargs))


def disk_bytes(weights: int, bits_per_weight: float = 32) -> float:
    """Bytes needed to store ``weights`` parameters at ``bits_per_weight`` (docs/method.md §4.1)."""
    if bits_per_weight <= 0:
        raise ValueError(f"bits_per_weight must be > 0, got {bits_per_weight!r}.")
    return weights * bits_per_weight / 8


#: int8 ONNX file (docs/method.md §4.1, "int8 files"): bytes added per output channel of a convolution
#: (its weights' float32 scale and int8 zero point, the int32 bias with its scale) and per convolution
#: (its Quantize/DequantizeLinear nodes with their per-tensor scale and zero point, the node names,
#: the graph's protobuf), fitted as an upper bound on the files ONNX Runtime's quantize_static wrote
#: for the three architectures in 2-D and 3-D (24 files, at most 9.5 kB / 12 % over, never under)
INT8_CHANNEL_BYTES = 16
INT8_LAYER_BYTES = 2000


def int8_file_bytes(weights: int, channels: int, layers: int) -> int:
    """Bytes of an int8 QDQ ONNX file: one byte per weight + ``INT8_CHANNEL_BYTES`` per output channel
    + ``INT8_LAYER_BYTES`` per convolution (docs/method.md §4.1)."""
    return int(weights) + INT8_CHANNEL_BYTES * int(channels) + INT8_LAYER_BYTES * int(layers)


def int8_onnx_bytes(
    arch: str, widths: Sequence[int], spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 2
) -> int:
    """:func:`int8_file_bytes` of one of our architectures at ``widths`` (its convolutions from :func:`conv_layers`)."""
    layers = conv_layers(arch, resolve_widths(widths), in_channels, out_channels)
    weights = sum(layer.weights(spatial_dims) for layer in layers)
    return int8_file_bytes(weights, sum(layer.out_channels for layer in layers), len(layers))


# ----------------------------------------------------------------------------------------------
# Feature-map memory and MACs (docs/method.md §4.1, main-memory budget). Both walk one forward program
# derived from ``conv_layers`` so that the architectures are described once.
# ----------------------------------------------------------------------------------------------

MEMORY_MODES = ("inference", "training")
#: max pooling keeps int64 argmax indices for its backward, whatever the feature dtype
_INDEX_BYTES = 8


def spatial_sizes(input_shape: Sequence[int], n_stages: int) -> list[int]:
    """Voxels per channel at every scale ``s = 0 .. n_stages - 1`` (``prod(dim // 2**s)``).

    Raises:
        ValueError: a spatial size that is not a positive multiple of ``2**(n_stages - 1)``
            (the networks refuse such inputs: pad or crop them first).
    """
    shape = tuple(int(d) for d in input_shape)
    if not 1 <= len(shape) <= 3:
        raise ValueError(f"input_shape must be the spatial shape (1 to 3 sizes, no batch/channel), got {input_shape!r}.")
    factor = 2 ** (n_stages - 1)
    for dim in shape:
        if dim < 1 or dim % factor:
            raise ValueError(
                f"input spatial shape {shape} must be positive multiples of 2**(stages-1) = {factor} "
                f"for a {n_stages}-stage network; pad or crop the input (e.g. monai.transforms.DivisiblePad(k={factor}))."
            )
    return [math.prod(dim // 2**s for dim in shape) for s in range(n_stages)]


class _Op:
    """One step of the forward program: ``kind`` in conv|norm|act|pool|cat|add."""

    __slots__ = ("kind", "inputs", "output", "channels", "scale")

    def __init__(self, kind: str, inputs: tuple[int, ...], output: int, channels: int, scale: int):
        self.kind, self.inputs, self.output, self.channels, self.scale = kind, inputs, output, channels, scale


def _forward_program(arch: str, layers: list[ConvSpec], n_stages: int, in_channels: int) -> tuple[list[_Op], dict]:
    """The tensors of one forward pass, in the order ``monai_ccnet.nets`` computes them.

    Tensor 0 is the network input. Returns the ops and ``{tensor_id: (channels, scale)}``. The
    networks' ``forward`` follows this order and drops every feature map after its last use.
    """
    spec = {layer.name: layer for layer in layers}
    shapes = {0: (in_channels, 0)}
    ops: list[_Op] = []

    def emit(kind, inputs, channels, scale):
        tid = len(shapes)
        shapes[tid] = (channels, scale)
        ops.append(_Op(kind, tuple(inputs), tid, channels, scale))
        return tid

    def conv(name, x):  # conv [+ norm] [+ act], as built by nets.blocks
        layer = spec[name]
        y = emit("conv", [x], layer.out_channels, layer.scale)
        if layer.normed:
            y = emit("norm", [y], layer.out_channels, layer.scale)
        if layer.activated:
            y = emit("act", [y], layer.out_channels, layer.scale)
        return y

    def side(k, features, fused):  # side output of stage k, summed into ``fused``
        s = conv(f"side{k}.conv", conv(f"side{k}.up", features))
        if "side.shared" in spec:
            s = conv("side.shared", s)
        return s if fused is None else emit("add", [fused, s], shapes[s][0], 0)

    x, skips, fused = 0, [], None
    for i in range(n_stages):
        if i > 0:
            x = emit("pool", [x], shapes[x][0], i)
        x = conv(f"enc{i}.conv1", conv(f"enc{i}.conv0", x))
        if arch == "cumedvision" and i > 0:
            fused = side(i, x, fused)
        skips.append(x)
    if arch == "cumedvision":
        return ops, shapes
    skips.pop()  # the bottleneck is not a skip
    if arch == "ucunet":
        fused = side(n_stages - 1, x, fused)
    for i in range(n_stages - 2, -1, -1):
        up = conv(f"dec{i}.up", x)
        x = emit("cat", [skips.pop(), up], 2 * shapes[up][0], i)
        x = conv(f"dec{i}.conv1", conv(f"dec{i}.conv0", x))
        if arch == "ucunet" and i > 0:
            fused = side(i, x, fused)
    x = conv("head", x)
    if fused is not None:
        x = emit("add", [x, fused], shapes[x][0], 0)
    return ops, shapes


def feature_memory_bytes(
    arch: str,
    widths: Sequence[int],
    input_shape: Sequence[int],
    batch: int = 1,
    dtype_bytes: int = 4,
    in_channels: int = 1,
    out_channels: int = 2,
    mode: str = "inference",
    normed: bool = True,
) -> int:
    """Feature-map bytes of one forward pass of ``arch`` (docs/method.md §4.1, main-memory budget).

    ``spatial_dims = len(input_shape)``; ``input_shape`` is the spatial shape only.

    - ``mode="inference"`` (``torch.no_grad``): the peak of the feature maps alive at the same
      time. Each op allocates its output while its inputs are alive; a map is freed after its last
      use; the skips wait for the decoder; the input stays alive (the caller holds it).
    - ``mode="training"``: the bytes of the distinct tensors autograd saves for the backward pass
      (conv: its input; batch/instance norm: its input; ReLU: its output; max-pool: its input and
      int64 indices; concat and sum: nothing), which is what stays alive until ``backward()``.

    Both count feature maps only (weights: :func:`memory_bytes`), assume ReLU-like activations that
    save their output, non-inplace ops and no dropout (dropout adds a 1-byte mask per element in
    training), and ignore backend workspaces (im2col / oneDNN / cuDNN scratch), which
    ``benchmarks/memory.py`` measures separately.
    """
    arch = check_arch(arch)
    if mode not in MEMORY_MODES:
        raise ValueError(f"mode must be one of {MEMORY_MODES}, got {mode!r}.")
    if batch < 1 or dtype_bytes <= 0:
        raise ValueError(f"batch must be >= 1 and dtype_bytes > 0, got batch={batch!r}, dtype_bytes={dtype_bytes!r}.")
    widths = resolve_widths(widths)
    voxels = spatial_sizes(input_shape, len(widths))
    layers = conv_layers(arch, widths, in_channels, out_channels, normed=normed)
    ops, shapes = _forward_program(arch, layers, len(widths), in_channels)

    def nbytes(tid):
        channels, scale = shapes[tid]
        return batch * channels * voxels[scale] * dtype_bytes

    if mode == "training":
        saved = {0}  # enc0.conv0 saves the input
        index_bytes = 0
        for op in ops:
            if op.kind in ("conv", "norm"):
                saved.add(op.inputs[0])
            elif op.kind == "act":
                saved.add(op.output)
            elif op.kind == "pool":
                saved.add(op.inputs[0])
                index_bytes += batch * op.channels * voxels[op.scale] * _INDEX_BYTES
        return sum(nbytes(t) for t in saved) + index_bytes

    last_use = {0: len(ops)}  # the caller holds the input
    for j, op in enumerate(ops):
        for t in op.inputs:
            if t != 0:
                last_use[t] = j
    last_use[ops[-1].output] = len(ops)  # the result is returned
    live = {0: nbytes(0)}
    peak = live[0]
    for j, op in enumerate(ops):
        live[op.output] = nbytes(op.output)
        peak = max(peak, sum(live.values()))
        for t in op.inputs:
            if last_use.get(t) == j:
                del live[t]
    return peak


def memory_bytes(
    arch: str,
    widths: Sequence[int],
    input_shape: Sequence[int],
    batch: int = 1,
    dtype_bytes: int = 4,
    in_channels: int = 1,
    out_channels: int = 2,
    mode: str = "inference",
    weight_bytes: int = 4,
    bias: bool = False,
    normed: bool = True,
) -> int:
    """Main memory of a forward pass: parameters + feature maps (docs/method.md §4.1, Eq. 7's budget).

    Parameters are every conv weight, the biases of the layers that have one and the norm affine
    parameters (``stage_weights(include_bias=True, include_norm=True)``), at ``weight_bytes`` each;
    feature maps: :func:`feature_memory_bytes`.
    """
    widths = resolve_widths(widths)
    params = total_weights(
        arch, widths, len(input_shape), in_channels, out_channels,
        include_bias=True, include_norm=normed, bias=bias, normed=normed,
    )
    features = feature_memory_bytes(
        arch, widths, input_shape, batch, dtype_bytes, in_channels, out_channels, mode, normed=normed
    )
    return params * weight_bytes + features


def macs(
    arch: str,
    widths: Sequence[int],
    input_shape: Sequence[int],
    in_channels: int = 1,
    out_channels: int = 2,
) -> int:
    """Multiply-accumulates of the convolutions in one forward pass of one sample (FLOPs ~ 2x).

    A stride-1 "same" conv does ``voxels(out) * FM_in * k^d * FM_out``; a transposed conv with
    kernel = stride does ``voxels(in) * FM_in * k^d * FM_out`` (each input voxel writes one
    k^d block). Norms, activations, pooling and sums are not counted (they are O(voxels * FM)).
    """
    widths = resolve_widths(widths)
    spatial_dims = len(input_shape)
    voxels = spatial_sizes(input_shape, len(widths))
    total = 0
    for layer in conv_layers(arch, widths, in_channels, out_channels):
        in_scale = layer.scale + (layer.kernel.bit_length() - 1 if layer.transposed else 0)
        total += voxels[in_scale] * layer.weights(spatial_dims)
    return total
