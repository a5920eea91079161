"""The README's main-job command installs what the job's defaults use: compress writes report.png
by default (``plot: true``), which needs matplotlib, so the install must name an extra that has it."""

from __future__ import annotations

import configparser
import re

import yaml

from tests.conftest import REPO


def _extras() -> dict[str, set[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return {name: {re.split(r"[<>=!~\[; ]", line.strip())[0] for line in value.splitlines() if line.strip()}
            for name, value in cfg["options.extras_require"].items()}


def test_main_job_installs_the_plot_extra():
    assert yaml.safe_load((REPO / "bundles/ccnet_segmentation/configs/compress.yaml").read_text())["plot"] is True
    text = (REPO / "README.md").read_text()
    main_job = next(b for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S) if "monai.bundle run compress" in b)
    install = re.search(r"pip install [^&]*?-e (\S+)", main_job)
    assert install, f"README.md: no `pip install ... -e <package>` in the main-job command: {main_job}"
    extras = re.findall(r"\[([^\]]*)\]", install.group(1))
    named = {e.strip() for group in extras for e in group.split(",")}
    assert any("matplotlib" in _extras().get(name, set()) for name in named), (
        f"README.md: the main-job install `-e {install.group(1)}` has no extra with matplotlib "
        f"(compress writes report.png by default); extras: {_extras()}"
    )
