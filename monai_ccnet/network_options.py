"""The layer options a width plan keeps for the networks it describes (torch-free).

Shared by ``monai_ccnet.nets`` (which builds networks) and ``monai_ccnet.planning`` (whose plans
record them), so that neither package imports the other for them.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["NETWORK_OPTIONS", "check_network_options", "json_form"]

#: the networks' constructor arguments besides the plan's architecture, dimensions, channels and
#: widths (``monai_ccnet.nets.ScalableSegNet``); a plan keeps them so the rebuilt network is the same
NETWORK_OPTIONS = ("norm", "act", "dropout", "bias")


def json_form(value: Any) -> Any:
    """``value`` as it comes back from a JSON round trip: tuples become lists, keys strings."""
    if isinstance(value, (tuple, list)):
        return [json_form(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_form(v) for k, v in value.items()}
    return value


def check_network_options(options: Mapping | None) -> dict:
    """``options`` as a JSON-ready dict, refusing names that are not :data:`NETWORK_OPTIONS`.

    Raises:
        ValueError: ``options`` is not a mapping or has an unknown key.
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"network_options must be a dict with keys among {list(NETWORK_OPTIONS)}, got {options!r}.")
    unknown = sorted(set(options) - set(NETWORK_OPTIONS))
    if unknown:
        raise ValueError(f"unknown network option(s) {unknown}; a plan keeps only {list(NETWORK_OPTIONS)}.")
    return json_form(options)
