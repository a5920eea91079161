"""The command lines of ``python -m monai_ccnet <command>`` (dispatched by ``monai_ccnet/__main__.py``).

One module per command, each exposing ``add_arguments(parser)`` and ``run(args) -> int`` and
imported only when its command runs; this package itself imports nothing:

- ``complexity``: measure a dataset's image complexity (``monai_ccnet.complexity``);
- ``plan``: widths for a budget or an accuracy floor (``monai_ccnet.planning``; torch-free);
- ``lodo``: the leave-one-dataset-out check of a calibration (``monai_ccnet.planning.lodo``);
- ``bundle``: where the shipped MONAI bundle is, or a copy of it (``monai_ccnet.bundled``);
- ``heldout``: train planned networks / the probe against held-out widths (``monai_ccnet.workflows.heldout``).
"""
