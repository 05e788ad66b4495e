"""Shell completion of ``kubectl rollouts-profile …`` through the real kubectl and the pip-installed helper."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.clitools import PLUGIN, plugin_env


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_completes_subcommands_and_flags(tmp_path):
    assert (PLUGIN.parent / "kubectl_complete-rollouts_profile").exists()

    def complete(*words: str) -> list[str]:
        result = subprocess.run(
            ["kubectl", "__complete", "rollouts-profile", *words],
            env=plugin_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return [line.split("\t")[0] for line in result.stdout.splitlines()]

    assert "heap" in complete("he")
    assert {"--force", "--format"} <= set(complete("cpu", "--fo"))


# pip's console script and ``python -m`` go through the one entry point (the frozen executable too:
# tests/test_packaging_krew.py), so the variable is the same whatever the program is called.
ENTRY_POINTS = {"console script": [str(PLUGIN)], "python -m": [sys.executable, "-m", "kubectl_rollouts_profile"]}


@pytest.mark.parametrize("entry", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_bash_completion_script_and_completions_from_every_entry_point(entry, tmp_path):
    script = subprocess.run(
        entry, env=plugin_env(_KUBECTL_ROLLOUTS_PROFILE_COMPLETE="bash_source"), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert script.returncode == 0, script.stderr
    assert "complete -o nosort -F _kubectl_rollouts_profile_completion kubectl-rollouts_profile\n" in script.stdout
    completed = subprocess.run(
        entry, env=plugin_env(_KUBECTL_ROLLOUTS_PROFILE_COMPLETE="bash_complete",
                              COMP_WORDS="kubectl-rollouts_profile cpu --fo", COMP_CWORD="2"),
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert {"plain,--force", "plain,--format"} <= set(completed.stdout.splitlines())
