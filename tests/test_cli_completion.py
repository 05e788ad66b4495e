"""Shell completion of ``kubectl rollouts-profile …`` through the real kubectl and the pip-installed helper."""

from __future__ import annotations

import shutil
import subprocess

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


def test_bash_completion_script_is_generated(tmp_path):
    result = subprocess.run(
        [str(PLUGIN)], env=plugin_env(_KUBECTL_ROLLOUTS_PROFILE_COMPLETE="bash_source"), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0
    assert "complete -o nosort -F" in result.stdout and "kubectl-rollouts_profile" in result.stdout
