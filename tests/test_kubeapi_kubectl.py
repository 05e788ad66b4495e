"""Conformance with the real kubectl: listing, leases, `auth can-i` (also with --as) and `create -f` against
the test API server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kubeapi.scenario import install_argo_rollouts
from tests.kubeapi.server import KubeApiServer

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
NS = "argo-rollouts"
SA_USER = "system:serviceaccount:ops:runbook"

ROLE_YAML = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: rollouts-profile
  namespace: argo-rollouts
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["pods/portforward"]
  verbs: ["get", "create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rollouts-profile
  namespace: argo-rollouts
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: rollouts-profile
subjects:
- kind: ServiceAccount
  name: runbook
  namespace: ops
"""


@pytest.fixture
def cluster(kube_api: KubeApiServer):
    kube_api.reset()
    return install_argo_rollouts(kube_api, pprof_port=None)


def kubectl(server: KubeApiServer, tmp_path: Path, user: str, *args: str) -> subprocess.CompletedProcess:
    kubeconfig = tmp_path / f"{user.replace(':', '_')}.kubeconfig"
    if not kubeconfig.exists():
        server.write_kubeconfig(kubeconfig, user)
    # A private HOME keeps kubectl's discovery cache out of the real one and apart between tests.
    env = dict(os.environ, HOME=str(tmp_path), KUBECONFIG=str(kubeconfig))
    return subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60)


def test_get_pods_by_label_as_json(kube_api, cluster, tmp_path):
    result = kubectl(kube_api, tmp_path, "admin", "get", "pods", "-n", NS,
                     "-l", "app.kubernetes.io/name=argo-rollouts,app.kubernetes.io/component=rollouts-controller",
                     "-o", "json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["kind"] == "List"
    assert sorted(item["metadata"]["name"] for item in listing["items"]) == sorted(cluster.controller_pods)
    assert all(item["kind"] == "Pod" for item in listing["items"])


def test_get_lease(kube_api, cluster, tmp_path):
    result = kubectl(kube_api, tmp_path, "admin", "get", "lease", "argo-rollouts-controller-lock", "-n", NS,
                     "-o", "jsonpath={.spec.holderIdentity}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("_")[0] == cluster.leader_pod


def test_get_missing_pod_prints_the_server_message(kube_api, cluster, tmp_path):
    result = kubectl(kube_api, tmp_path, "admin", "get", "pod", "nope", "-n", NS)
    assert result.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in result.stderr


def test_forbidden_list_prints_the_real_message(kube_api, cluster, tmp_path):
    kube_api.add_serviceaccount_token("ops", "runbook")
    result = kubectl(kube_api, tmp_path, SA_USER, "get", "pods", "-n", NS)
    assert result.returncode == 1
    assert ('Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:ops:runbook" cannot '
            'list resource "pods" in API group "" in the namespace "argo-rollouts"') in result.stderr


def test_auth_can_i_yes_and_no(kube_api, cluster, tmp_path):
    admin = kubectl(kube_api, tmp_path, "admin", "auth", "can-i", "list", "pods", "-n", NS)
    assert (admin.returncode, admin.stdout.strip()) == (0, "yes")
    kube_api.add_user("viewer")
    viewer = kubectl(kube_api, tmp_path, "viewer", "auth", "can-i", "list", "pods", "-n", NS)
    assert (viewer.returncode, viewer.stdout.strip()) == (1, "no")
    portforward = kubectl(kube_api, tmp_path, "viewer", "auth", "can-i", "create", "pods",
                          "--subresource=portforward", "-n", NS)
    assert (portforward.returncode, portforward.stdout.strip()) == (1, "no")


def test_create_role_yaml_then_can_i_as_the_service_account(kube_api, cluster, tmp_path):
    kube_api.add_serviceaccount_token("ops", "runbook")
    before = kubectl(kube_api, tmp_path, "admin", "auth", "can-i", "create", "pods", "--subresource=portforward",
                     "-n", NS, "--as", SA_USER)
    assert (before.returncode, before.stdout.strip()) == (1, "no")

    role_file = tmp_path / "role.yaml"
    role_file.write_text(ROLE_YAML)
    created = kubectl(kube_api, tmp_path, "admin", "create", "-f", str(role_file))
    assert created.returncode == 0, created.stderr
    assert "role.rbac.authorization.k8s.io/rollouts-profile created" in created.stdout
    assert kube_api.get_object("rbac.authorization.k8s.io/v1", "RoleBinding", NS, "rollouts-profile")

    for args in (["create", "pods", "--subresource=portforward"], ["get", "pods", "--subresource=portforward"],
                 ["list", "pods"], ["get", "leases.coordination.k8s.io"]):
        result = kubectl(kube_api, tmp_path, "admin", "auth", "can-i", *args, "-n", NS, "--as", SA_USER)
        assert (result.returncode, result.stdout.strip()) == (0, "yes"), args
    elsewhere = kubectl(kube_api, tmp_path, "admin", "auth", "can-i", "list", "pods", "-n", "default",
                        "--as", SA_USER)
    assert elsewhere.stdout.strip() == "no"

    again = kubectl(kube_api, tmp_path, "admin", "create", "-f", str(role_file))
    assert again.returncode == 1
    assert 'roles.rbac.authorization.k8s.io "rollouts-profile" already exists' in again.stderr


def test_as_without_impersonate_permission_is_refused(kube_api, cluster, tmp_path):
    kube_api.add_user("viewer")
    result = kubectl(kube_api, tmp_path, "viewer", "auth", "can-i", "list", "pods", "-n", NS, "--as", SA_USER)
    assert result.returncode != 0
    assert ('serviceaccounts "runbook" is forbidden: User "viewer" cannot impersonate resource '
            '"serviceaccounts" in API group "" in the namespace "ops"') in result.stderr


def test_can_i_list_shows_the_bound_rules(kube_api, cluster, tmp_path):
    kube_api.add_serviceaccount_token("ops", "runbook")
    role_file = tmp_path / "role.yaml"
    role_file.write_text(ROLE_YAML)
    assert kubectl(kube_api, tmp_path, "admin", "create", "-f", str(role_file)).returncode == 0
    result = kubectl(kube_api, tmp_path, SA_USER, "auth", "can-i", "--list", "-n", NS)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line and not line.startswith(" ")}
    assert "[get create]" in rows["pods/portforward"]
    assert "[get]" in rows["leases.coordination.k8s.io"]
