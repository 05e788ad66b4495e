"""docs/runbook.sh run as an on-call would, against the test API server and the real Go target."""

from __future__ import annotations

import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubectl_rollouts_profile.cluster.api import format_micro_time
from kubectl_rollouts_profile.cluster.lock import LEASE_NAME
from tests.clitools import PLUGIN, plugin_env

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "runbook.sh"


def run_script(kubeconfig: Path, out: Path) -> subprocess.CompletedProcess:
    env = plugin_env(KUBECONFIG=str(kubeconfig), CPU_SECONDS="1", ROLLOUTS_PROFILE=str(PLUGIN))
    return subprocess.run(["bash", str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


def test_runbook_script_writes_a_complete_bundle_and_prints_where(argo_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = run_script(argo_cluster.kubeconfig, out)
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip().splitlines()[-1])
    assert archive.parent == out and archive.is_file()
    with tarfile.open(archive) as tar:
        assert any(name.endswith("/manifest.json") for name in tar.getnames())
    assert "complete bundle" in result.stderr


def test_runbook_script_passes_on_the_busy_exit_code(argo_cluster: Any, tmp_path: Path) -> None:
    now = format_micro_time(datetime.now(timezone.utc))
    argo_cluster.server.put({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": argo_cluster.scenario.namespace},
        "spec": {"holderIdentity": "someone-else", "leaseDurationSeconds": 300, "acquireTime": now, "renewTime": now},
    })
    result = run_script(argo_cluster.kubeconfig, tmp_path)
    assert result.returncode == 6, result.stderr
    assert "someone-else" in result.stderr and "retry later" in result.stderr
    assert result.stdout.strip() == ""


def test_job_example_grants_everything_the_bundle_needs() -> None:
    import yaml

    from kubectl_rollouts_profile.cluster.access import capture_permissions
    from kubectl_rollouts_profile.cluster.locate import lease_names
    from kubectl_rollouts_profile.cluster.lock import LOCK_RULES
    from kubectl_rollouts_profile.runbook.bundle import BUNDLE_RULES

    documents = list(yaml.safe_load_all((SCRIPT.parent / "job-example.yaml").read_text()))
    kinds = [doc["kind"] for doc in documents]
    assert {"ServiceAccount", "Role", "RoleBinding", "Job"} <= set(kinds)
    job = next(doc for doc in documents if doc["kind"] == "Job")
    account = next(doc for doc in documents if doc["kind"] == "ServiceAccount")["metadata"]["name"]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == account
    bound = {doc["roleRef"]["name"] for doc in documents if doc["kind"] == "RoleBinding"
             and any(subject["name"] == account for subject in doc["subjects"])}
    rules = [rule for doc in documents if doc["kind"] == "Role" and doc["metadata"]["name"] in bound
             for rule in doc["rules"]]

    def granted(permission: Any) -> bool:
        return any(
            permission.group in rule["apiGroups"] and permission.rule_resource in rule["resources"]
            and permission.verb in rule["verbs"]
            and (not rule.get("resourceNames") or set(permission.names) <= set(rule["resourceNames"]))
            and (rule.get("resourceNames") is None or permission.names)
            for rule in rules
        )

    needed = (*capture_permissions(lease_names(None)), *LOCK_RULES, *BUNDLE_RULES)
    missing = [permission.label for permission in needed if not granted(permission)]
    assert missing == []
