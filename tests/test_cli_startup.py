"""The startup path: ``--help`` lists every command from the table in ``cli`` without importing their modules,
and the table says exactly what the loaded commands say."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from kubectl_rollouts_profile import cli
from tests.clitools import PLUGIN

MODULES = ("capture_cmds", "cluster_cmds", "view_cmds", "runbook_cmds", "analysis_cmds", "diagnose_cmds")


def _eager_group() -> click.Group:
    """Every command module registered into a plain group, the way they were loaded before."""
    import importlib

    group = click.Group("eager")
    for module in MODULES:
        importlib.import_module(f"kubectl_rollouts_profile.cli.{module}").register(group)
    return group


def test_the_table_names_every_command_and_its_module():
    group = _eager_group()
    listed = {name for name, command in group.commands.items() if not command.hidden}
    assert set(cli.COMMANDS) == listed
    assert set(cli.HIDDEN_COMMANDS) == {name for name, command in group.commands.items() if command.hidden}
    for name, (module, _) in {**cli.COMMANDS, **{k: (v, "") for k, v in cli.HIDDEN_COMMANDS.items()}}.items():
        assert group.commands[name].callback.__module__ == f"kubectl_rollouts_profile.cli.{module}"


@pytest.mark.parametrize("limit", [30, 60, 90, 200])
def test_the_table_help_is_what_the_commands_say(limit):
    group = _eager_group()
    for name, (_, text) in cli.COMMANDS.items():
        stand_in = click.Command(name, help=text)
        assert stand_in.get_short_help_str(limit) == group.commands[name].get_short_help_str(limit), name


def test_help_lists_every_command_without_importing_a_command_module():
    program = (
        "import sys\n"
        "from kubectl_rollouts_profile.cli import main\n"
        "try:\n"
        "    main(['--help'], prog_name='kubectl rollouts-profile')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(name for name in sys.modules if name.startswith('kubectl_rollouts_profile.cli.'))\n"
        "print('LOADED', loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60)
    assert "LOADED []" in result.stdout
    for name in cli.COMMANDS:
        assert f"  {name} " in result.stdout
    assert "__complete" not in result.stdout


def test_help_output_equals_the_eagerly_loaded_listing():
    lazy = subprocess.run([str(PLUGIN), "--help"], capture_output=True, text=True, check=True, timeout=60).stdout
    program = (
        "from kubectl_rollouts_profile.cli import main, COMMANDS, HIDDEN_COMMANDS\n"
        "for module in sorted({m for m, _ in COMMANDS.values()} | set(HIDDEN_COMMANDS.values())):\n"
        "    main.load_commands(module)\n"
        "main(['--help'], prog_name='kubectl rollouts-profile')\n"
    )
    eager = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60).stdout
    assert lazy == eager
    assert "convert" in lazy and "analyze" in lazy


def test_a_command_runs_after_being_loaded_on_demand():
    result = subprocess.run([str(PLUGIN), "convert", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--redact" in result.stdout
