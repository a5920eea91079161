"""A MONAI bundle's ``network_def`` block: read it, find its registered architecture, write it with other widths.

A model-zoo bundle builds its network from a config block such as (``configs/train.json``)::

    "network_def": {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2,
                    "channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2}

:func:`read_network_def` reads it (from a bundle config JSON/YAML holding the key, from an
extracted block, or from a dict), identifies the registered architecture
(:mod:`monai_ccnet.nets.registry`) and its base widths; :func:`write_network_def` writes
``<output_dir>/network_def.json`` = ``{"network_def": {...the same block, planned widths...}}``.
MONAI merges later config files over earlier ones key by key at the top level, so a top-level key
replaces the whole value: the override therefore holds the *full* block, and

    python -m monai.bundle run training --config_file "['configs/train.json','<output_dir>/network_def.json']"

trains the smaller network with everything else unchanged. Only the width argument changes in the
written block; every other value is written as it was read, references (``"@id"``, ``"$expr"``)
included, so they still resolve against the bundle's config.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..utils import atomic_write_json
from .registry import Architecture, NetworkSpec, find_architecture

__all__ = ["NetworkDef", "read_network_def", "write_network_def", "OVERRIDE_NAME"]

#: file name of the override :func:`write_network_def` writes
OVERRIDE_NAME = "network_def.json"
#: keys of a config component that are not constructor arguments (MONAI's ``ConfigComponent.non_arg_keys``)
_NON_ARG_KEYS = ("_target_", "_disabled_", "_requires_", "_desc_", "_mode_")
#: prefixes that make a config value a reference, an expression or a macro (``monai.bundle``)
_REFERENCE_PREFIXES = ("@", "$", "%")


def _has_reference(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(_REFERENCE_PREFIXES)
    if isinstance(value, (list, tuple)):
        return any(_has_reference(v) for v in value)
    if isinstance(value, Mapping):
        return any(_has_reference(v) for v in value.values())
    return False


@dataclasses.dataclass
class NetworkDef:
    """A bundle's network block and what the registry knows about it.

    Attributes:
        source: where it came from (a path, or ``"<dict>"``), for messages.
        key: the top-level config key holding the block (``"network_def"``).
        block: the block as read (references kept: what :func:`write_network_def` writes back).
        kwargs: the constructor arguments, references resolved with ``monai.bundle.ConfigParser``.
        architecture: the registered entry of ``block["_target_"]``.
        config_path: the bundle config file read, when the block came from a file holding ``key``.
    """

    source: str
    key: str
    block: dict
    kwargs: dict
    architecture: Architecture
    config_path: str | None = None

    @functools.cached_property
    def spec(self) -> NetworkSpec:
        """The architecture with these constructor arguments (what the planner counts; its counts are cached)."""
        return self.architecture.configure(self.kwargs)

    @property
    def base_widths(self) -> tuple[int, ...]:
        return self.architecture.base_widths(self.kwargs)

    def with_widths(self, widths: Sequence[int]) -> dict:
        """The block with ``widths`` in its width argument, every other entry as read.

        Raises:
            ValueError: the widths break a constraint of the architecture (one line naming it).
        """
        block = copy.deepcopy(self.block)
        block.update(self.architecture.values(self.kwargs, widths))
        return block


def _load(path: Path) -> dict:
    from monai.bundle import ConfigParser

    if not path.is_file():
        raise ValueError(f"{path}: no such file (give a bundle config JSON/YAML with a network_def, or a network_def.json).")
    try:
        config = ConfigParser.load_config_file(str(path))
    except Exception as err:  # noqa: BLE001 - json / yaml / unknown suffix: one line naming the file
        raise ValueError(f"{path}: cannot read it as a JSON/YAML config ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a config object (a {type(config).__name__}).")
    return config


def _resolve(config: dict, key: str, block: dict, source: str) -> dict:
    """Constructor arguments of ``block``; references resolved through ``ConfigParser`` on ``config``."""
    kwargs = {k: v for k, v in block.items() if k not in _NON_ARG_KEYS}
    pending = [k for k, v in kwargs.items() if _has_reference(v)]
    if not pending:
        return kwargs
    from monai.bundle import ConfigParser

    parser = ConfigParser(copy.deepcopy(config))
    if "imports" in config:
        try:
            parser.get_parsed_content("imports")
        except Exception:  # noqa: BLE001 - an import the value does not need; the value says if it does
            pass
    for k in pending:
        try:
            kwargs[k] = parser.get_parsed_content(f"{key}#{k}")
        except Exception as err:  # noqa: BLE001 - whatever MONAI raised: one line naming the key
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"{source}: {key}#{k} = {block[k]!r} is a reference or expression that monai.bundle.ConfigParser "
                f"could not resolve here ({reason}); write the value itself in the {key} block."
            ) from None
    return kwargs


def read_network_def(source: str | os.PathLike | Mapping, key: str = "network_def") -> NetworkDef:
    """Read a network block and identify its registered architecture.

    Args:
        source: a bundle config file (JSON/YAML) with a top-level ``key``; a file holding just the
            block (``{"_target_": ...}``) or ``{key: block}`` (an extracted network_def.json, or
            what :func:`write_network_def` wrote); or such a dict.
        key: the config key of the block (bundles use ``"network_def"``).

    Raises:
        ValueError: unreadable file, no block, no ``_target_``, an unregistered architecture (the
            message lists the registered ones), an unresolvable reference (naming the key), or
            widths that break a constraint.
    """
    config_path = None
    if isinstance(source, Mapping):
        config, name = dict(source), "<dict>"
    else:
        path = Path(source)
        config, name = _load(path), str(path)
        config_path = str(path)
    if key in config:
        block = config[key]
    elif "_target_" in config:
        block, config, config_path = config, {key: config}, None
    else:
        raise ValueError(f"{name}: no {key!r} key and no '_target_' (top-level keys: {sorted(config)[:12]}); "
                         f"give a bundle config that defines {key}, or the {key} block itself.")
    if not isinstance(block, Mapping):
        raise ValueError(f"{name}: {key} must be a config block (a dict with '_target_'), got {type(block).__name__} "
                         f"{block!r:.80}.")
    block = dict(block)
    target = block.get("_target_")
    if not isinstance(target, str) or not target:
        raise ValueError(f"{name}: {key} has no '_target_' naming the network class (keys: {sorted(block)}).")
    if _has_reference(target):
        raise ValueError(f"{name}: {key}#_target_ = {target!r} is a reference; write the class path itself.")
    try:
        architecture = find_architecture(target)
    except ValueError as err:
        raise ValueError(f"{name}: {key}#_target_: {err}") from None
    kwargs = _resolve(config, key, block, name)
    netdef = NetworkDef(name, key, block, kwargs, architecture, config_path)
    try:
        netdef.spec  # noqa: B018 - checks dims, channels and the base widths' constraints now
    except ValueError as err:
        raise ValueError(f"{name}: {key}: {err}") from None
    return netdef


def write_network_def(
    network_def: NetworkDef, widths: Sequence[int], output_dir: str | os.PathLike, filename: str = OVERRIDE_NAME
) -> Path:
    """Write ``<output_dir>/<filename>`` = ``{key: the full block with widths}`` (module doc).

    Raises:
        ValueError: the widths break a constraint of the architecture.
    """
    return atomic_write_json(Path(output_dir) / filename, {network_def.key: network_def.with_widths(widths)})
