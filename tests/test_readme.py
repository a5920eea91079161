"""The README's newcomer commands stay true: CI runs exactly the README's test command, and the
main-job command names bundle files that exist."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    blocks = _bash_blocks((REPO / "README.md").read_text())
    test_command = next(b for b in blocks if "pytest" in b and "\n" not in b)
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_main_job_command_names_existing_bundle_files():
    blocks = _bash_blocks((REPO / "README.md").read_text())
    main_job = next(b for b in blocks if "monai.bundle run compress" in b and "\n" not in b)
    config_files = re.findall(r"'([^']+\.yaml)'", main_job)
    assert config_files, main_job
    for path in config_files:
        assert (REPO / path).is_file(), path
