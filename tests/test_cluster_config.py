"""Cluster configuration: kubeconfig selection and merging, contexts, impersonation, in-cluster credentials."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.cluster.config import ClusterRequest, resolve_config
from kubectl_rollouts_profile.cluster.locate import survey
from kubectl_rollouts_profile.errors import ConnectionFailed, UsageError
from tests.kubeapi.scenario import bind_role

REPO = Path(__file__).resolve().parent.parent


def write_kubeconfig(path: Path, name: str, server: str, *, current: bool = True) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": name, "user": {"token": f"token-{name}"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }
    if current:
        config["current-context"] = name
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def test_explicit_kubeconfig_wins_over_env_and_home(tmp_path: Path) -> None:
    flag = write_kubeconfig(tmp_path / "flag", "flag", "https://flag.example:6443")
    env = write_kubeconfig(tmp_path / "env", "env", "https://env.example:6443")
    home = tmp_path / "home"
    write_kubeconfig((home / ".kube").mkdir(parents=True) or home / ".kube" / "config", "home", "https://home:1")
    config = resolve_config(ClusterRequest(kubeconfig=str(flag)), {"KUBECONFIG": str(env)}, home=home)
    assert config.server == "https://flag.example:6443"
    assert config.context == "flag"
    assert config.namespace == "argo-rollouts"  # the controller's namespace, not the context's


def test_kubeconfig_env_paths_are_merged_and_missing_ones_skipped(tmp_path: Path) -> None:
    first = write_kubeconfig(tmp_path / "a", "a", "https://a.example:6443")
    second = write_kubeconfig(tmp_path / "b", "b", "https://b.example:6443", current=False)
    environ = {"KUBECONFIG": f"{tmp_path / 'missing'}:{first}:{second}"}
    assert resolve_config(ClusterRequest(), environ, home=tmp_path).server == "https://a.example:6443"
    picked = resolve_config(ClusterRequest(context="b"), environ, home=tmp_path)
    assert (picked.server, picked.context) == ("https://b.example:6443", "b")


def test_home_kubeconfig_is_the_fallback(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    write_kubeconfig(tmp_path / ".kube" / "config", "home", "https://home.example:6443")
    assert resolve_config(ClusterRequest(), {}, home=tmp_path).server == "https://home.example:6443"


def test_unknown_context_is_a_usage_error(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "a", "a", "https://a.example:6443")
    with pytest.raises(UsageError, match="cannot use kubeconfig"):
        resolve_config(ClusterRequest(kubeconfig=str(path), context="nope"), {}, home=tmp_path)


def test_no_configuration_at_all_is_a_connection_failure(tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailed, match="no cluster configuration"):
        resolve_config(ClusterRequest(), {}, home=tmp_path, serviceaccount_dir=tmp_path / "sa")


def test_group_without_user_is_refused(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "a", "a", "https://a.example:6443")
    with pytest.raises(UsageError, match="--as-group needs --as"):
        resolve_config(ClusterRequest(kubeconfig=str(path), as_groups=("ops",)), {}, home=tmp_path)


def test_token_never_appears_in_the_config_repr(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "a", "secretive", "https://a.example:6443")
    config = resolve_config(ClusterRequest(kubeconfig=str(path)), {}, home=tmp_path)
    assert "token-secretive" not in repr(config)
    assert ("authorization", "Bearer token-secretive") in config.auth_headers()


def test_in_cluster_serviceaccount_credentials(kube_api, argo_cluster, tmp_path: Path) -> None:
    token = kube_api.add_serviceaccount_token("ops", "runbook")
    bind_role(kube_api, "argo-rollouts", "runbook-view",
              {"kind": "ServiceAccount", "name": "runbook", "namespace": "ops"})
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(token)
    shutil.copy(kube_api.ca_file, sa_dir / "ca.crt")
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(kube_api.port)}
    config = resolve_config(ClusterRequest(), environ, home=tmp_path / "nohome", serviceaccount_dir=sa_dir)
    assert config.source == "in-cluster ServiceAccount"
    client = config.open_api()
    try:
        found = survey(client, "argo-rollouts")
    finally:
        client.close()
    assert found.leader_name == argo_cluster.scenario.leader_pod
    assert any(user == "system:serviceaccount:ops:runbook" for _, _, user in kube_api.requests)


def test_impersonation_headers_reach_the_server(kube_api, argo_cluster) -> None:
    kube_api.add_user("alice", groups=())
    runner = CliRunner()
    denied = runner.invoke(main, ["check", "--kubeconfig", str(argo_cluster.kubeconfig), "--as", "alice"])
    assert denied.exit_code == 4, denied.output
    assert "alice" in denied.output
    bind_role(kube_api, "argo-rollouts", "profilers",
              {"kind": "Group", "name": "profilers", "apiGroup": "rbac.authorization.k8s.io"})
    allowed = runner.invoke(
        main, ["check", "--kubeconfig", str(argo_cluster.kubeconfig), "--as", "alice", "--as-group", "profilers"]
    )
    assert allowed.exit_code == 0, allowed.output


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from kubectl_rollouts_profile.cli import main\n"
        "for args in (['--help'], ['targets', '--help'], ['check', '--help'], ['forward', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'websocket', 'requests'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert "HEAVY []" in result.stderr
