"""Every command of every CLI has help (gatectl's own are checked in test_gatectl.py)."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from cloud.cli import cli as cloud_cli
from gatesim.cli import cli as sim_cli
from tests.conftest import REPO


def _paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():
        out += _paths(cmd, prefix + (name,)) if isinstance(cmd, click.Group) else [prefix + (name,)]
    return out


@pytest.mark.parametrize("cli,path", [(sim_cli, p) for p in _paths(sim_cli)] + [(cloud_cli, p) for p in _paths(cloud_cli)],
                         ids=lambda x: " ".join(x) if isinstance(x, tuple) else getattr(x, "name", ""))
def test_click_commands_have_help(cli: click.Group, path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) >= 3


#: The training tools whose help and input checks need only the box's own dependencies (train, quantize
#: and relabel import the ``train`` extra, torch and nncf, at once; build only once its input is checked).
TRAINING_TOOLS = ["edge.plate.training.build", "edge.plate.training.export", "edge.plate.training.heldout",
                  "edge.plate.training.realpack"]


@pytest.mark.parametrize("module", ["edge.daemon", "benchmarks", "edge.demo", *TRAINING_TOOLS])
def test_module_entry_points_have_help(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "usage:" in done.stdout.lower()


@pytest.mark.parametrize("module", TRAINING_TOOLS)
def test_training_tools_name_a_missing_input(module: str, tmp_path) -> None:
    missing = tmp_path / "nothing.csv"
    outputs = [str(tmp_path / "out")] if module.endswith(("heldout", "realpack")) else []
    done = subprocess.run([sys.executable, "-m", module, str(missing), *outputs], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"{missing}: no such file" in done.stderr
