"""Exec credential plugins (real scripts named in the kubeconfig) against the test API server: a working plugin
authenticates every request, a failing one stops us before any request with its own words, tokens are fetched
again as they expire (each tunnel connection authenticates anew), interactiveMode, and the removed azure
auth-provider. No ``ERROR:root`` line ever reaches stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.cluster.credentials import EXPIRY_MARGIN
from tests.kubeapi.execplugin import make_exec_plugin
from tests.kubeapi.server import UNAUTHENTICATED


def heap(kubeconfig: Path, tmp_path: Path, *extra: str):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return CliRunner().invoke(main, ["heap", "--kubeconfig", str(kubeconfig), "--output-dir", str(out),
                                     "--format", "none", *extra])


@pytest.fixture
def plugin(argo_cluster, tmp_path: Path):
    return make_exec_plugin(tmp_path / "plugin")


def test_working_plugin_authenticates_every_request(argo_cluster, plugin, tmp_path: Path) -> None:
    server = argo_cluster.server
    plugin.configure(tokens=[server.add_user("eks-user", groups=("system:masters",))])
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "eks-user", namespace="argo-rollouts",
                                         user_entry=plugin.user_entry())
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 0, result.output
    assert "ERROR:root" not in result.stderr
    users = {user for _, _, user in server.requests}
    assert users == {"eks-user"}  # no anonymous (401) request, no other identity
    assert len(plugin.runs()) == 1  # a token valid for an hour is fetched once
    assert plugin.runs()[0]["spec"]["interactive"] is False  # no terminal here


def test_failing_plugin_stops_before_any_request_quoting_its_stderr(argo_cluster, plugin, tmp_path: Path) -> None:
    server = argo_cluster.server
    plugin.configure(fail="Error loading SSO Token: Token for test does not exist\nrun: aws sso login\n",
                     exit_code=255)
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "admin", user_entry=plugin.user_entry(
        command=str(plugin.command)))
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 4, result.output
    assert server.requests == []  # nothing was sent, not even anonymously
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    # One line, the plugin's own words (the error boundary masks what follows "Token:", which is fine).
    assert len(error_lines) == 1
    assert error_lines[0].startswith("error: exec plugin get-token failed (exit 255): Error loading SSO Token: ")
    assert error_lines[0].endswith(" for test does not exist run: aws sso login")
    assert "log in again" in result.stderr and "ERROR:root" not in result.stderr
    assert not list((tmp_path / "out").iterdir())


def test_missing_plugin_names_itself_and_the_install_hint(argo_cluster, plugin, tmp_path: Path) -> None:
    server = argo_cluster.server
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "admin", user_entry=plugin.user_entry(
        command="gke-gcloud-auth-plugin-not-installed", install_hint="Install gke-gcloud-auth-plugin for use "
        "with kubectl by following https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl"))
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 4, result.output
    assert "exec plugin gke-gcloud-auth-plugin-not-installed not found on PATH" in result.stderr
    assert "hint: Install gke-gcloud-auth-plugin" in result.stderr
    assert server.requests == [] and "ERROR:root" not in result.stderr


def test_expiring_token_is_fetched_again_for_each_tunnel_connection(argo_cluster, plugin, tmp_path: Path) -> None:
    server = argo_cluster.server
    tokens = [server.add_user(f"eks-user-{index}", groups=("system:masters",)) for index in range(1, 60)]
    # Each token expires inside the refresh margin, so every request needs a new one: the plugin runs again.
    plugin.configure(tokens=tokens, expires_in=EXPIRY_MARGIN.total_seconds() / 2)
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "eks-user-1", namespace="argo-rollouts",
                                         user_entry=plugin.user_entry())
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 0, result.output
    forwards = [user for _, path, user in server.requests if "/portforward" in path]
    assert len(forwards) >= 2  # the up-front handshake and the capture's connection
    assert len(set(forwards)) == len(forwards)  # each authenticated with a fresh token
    assert UNAUTHENTICATED not in {user for _, _, user in server.requests}
    assert len(plugin.runs()) >= len(server.requests)


def test_interactive_mode_always_without_a_terminal_is_refused(argo_cluster, plugin, tmp_path: Path) -> None:
    server = argo_cluster.server
    plugin.configure(tokens=[server.add_user("sso-user", groups=("system:masters",))])
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "sso-user",
                                         user_entry=plugin.user_entry(interactive_mode="Always"))
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 4, result.output
    assert "needs a terminal (interactiveMode: Always)" in result.stderr
    assert plugin.runs() == [] and server.requests == []


@pytest.mark.parametrize("mode", ["Never", "IfAvailable"])
def test_plugin_is_told_it_has_no_terminal(argo_cluster, plugin, tmp_path: Path, mode: str) -> None:
    server = argo_cluster.server
    plugin.configure(tokens=[server.add_user("sso-user", groups=("system:masters",))])
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "sso-user", namespace="argo-rollouts",
                                         user_entry=plugin.user_entry(interactive_mode=mode))
    assert heap(kubeconfig, tmp_path).exit_code == 0
    assert [run["spec"]["interactive"] for run in plugin.runs()] == [False]
    assert plugin.runs()[0]["kind"] == "ExecCredential"


def test_removed_azure_auth_provider_is_a_clear_error(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    azure = {"auth-provider": {"name": "azure", "config": {"apiserver-id": "x", "client-id": "y",
                                                           "tenant-id": "z", "environment": "AzurePublicCloud"}}}
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "admin", user_entry=azure)
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 2, result.output
    assert "auth-provider azure, which kubectl removed in v1.26" in result.stderr
    assert "kubelogin convert-kubeconfig" in result.stderr
    assert server.requests == []


def test_plugin_output_that_is_not_a_credential(argo_cluster, plugin, tmp_path: Path) -> None:
    server = argo_cluster.server
    script = tmp_path / "plugin" / "broken"
    script.write_text("#!/bin/sh\necho 'not json'\n")
    script.chmod(0o755)
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "admin", user_entry=plugin.user_entry(
        command=str(script)))
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 4
    assert "exec plugin broken printed no usable ExecCredential: its output is not JSON" in result.stderr
    assert json.dumps("ERROR:root") not in result.stderr and "ERROR:root" not in result.stderr


@pytest.mark.parametrize(("extra", "interactive"), [((), True), (("--json",), False)])
def test_plugin_gets_the_terminal_only_when_there_is_one_and_not_for_json(argo_cluster, plugin, tmp_path: Path,
                                                                          extra: tuple, interactive: bool) -> None:
    import os
    import pty
    import subprocess

    server = argo_cluster.server
    plugin.configure(tokens=[server.add_user("sso-user", groups=("system:masters",))])
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "sso-user", namespace="argo-rollouts",
                                         user_entry=plugin.user_entry(interactive_mode="IfAvailable"))
    out = tmp_path / "out"
    out.mkdir()
    controller, terminal = pty.openpty()  # stdin and stderr are a terminal, as for a person at a shell
    try:
        completed = subprocess.run(
            [str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "kubectl-rollouts_profile"), "heap",
             "--kubeconfig", str(kubeconfig), "--output-dir", str(out), "--format", "none", "--no-open", *extra],
            stdin=terminal, stderr=terminal, stdout=subprocess.PIPE, timeout=120, check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert completed.returncode == 0
    assert [run["spec"]["interactive"] for run in plugin.runs()] == [interactive]
