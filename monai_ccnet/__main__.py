"""One command line: ``python -m monai_ccnet <command> ...`` (also installed as ``monai-ccnet``).

Each command lives in its own module of ``monai_ccnet/cli/`` exposing ``add_arguments(parser)`` and ``run(args) -> int``;
modules are imported only when their command runs. (The package itself imports torch when it is
installed, so that bundle configs resolve its networks by name; ``monai_ccnet.planning`` works
without torch.)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: command -> (module, one-line help)
COMMANDS = {
    "complexity": ("monai_ccnet.cli.complexity", "measure a dataset's image complexity (JPEG ratio per scale, ...)"),
    "plan": ("monai_ccnet.cli.plan", "plan per-stage widths for a disk or memory budget or an accuracy floor"),
    "lodo": ("monai_ccnet.cli.lodo", "leave-one-dataset-out check of a calibration (and of every complexity variant)"),
    "heldout": ("monai_ccnet.cli.heldout", "train planned networks / probe against held-out widths, compare with predictions"),
    "bundle": ("monai_ccnet.cli.bundle", "print where the ccnet_segmentation MONAI bundle is installed, or copy it out"),
}


DESCRIPTION = "monai_ccnet: image-complexity guided network compression for MONAI segmentation networks (CC-Net)."
EPILOG = (
    "Run 'python -m monai_ccnet <command> --help' for a command's options. The main job (plan, train, evaluate, "
    "report, export) is a MONAI bundle run: see 'python -m monai_ccnet bundle' and the README."
)


def _version() -> str:
    return f"monai_ccnet {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m monai_ccnet", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # import only the module of the chosen command
    if argv and argv[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[argv[0]][0])
        parser = argparse.ArgumentParser(prog=f"python -m monai_ccnet {argv[0]}", description=COMMANDS[argv[0]][1])
        module.add_arguments(parser)
        return int(module.run(parser.parse_args(argv[1:])) or 0)
    build_parser().parse_args(argv)  # prints help / usage errors
    return 2


if __name__ == "__main__":
    sys.exit(main())
