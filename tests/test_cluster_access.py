"""RBAC preflight against the test API server: per-permission denials, the server-version rule for
pods/portforward, ServiceAccount reviews (SubjectAccessReview and the impersonation fallback), and the ``rbac``
Role YAML round trip."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.cluster.access import (
    capture_permissions,
    parse_server_version,
    parse_serviceaccount,
    role_yaml,
)
from kubectl_rollouts_profile.errors import UsageError
from tests.kubeapi.scenario import bind_role

RBAC = "rbac.authorization.k8s.io/v1"
LEASE = "argo-rollouts-controller-lock"
ALL_RULES = {
    "list pods": {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    "get leases": {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "resourceNames": [LEASE],
        "verbs": ["get"],
    },
    "get pods/portforward": {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get"]},
    "create pods/portforward": {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
}


def grant(server, namespace: str, name: str, rules: list[dict], subject: dict) -> None:
    server.put({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules})
    bind_role(server, namespace, name, subject, kind="Role", role=name)


def user_kubeconfig(server, tmp_path: Path, user: str) -> str:
    server.add_user(user)
    return str(server.write_kubeconfig(tmp_path / f"{user}.kubeconfig", user))


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_preflight_allows_a_user_with_exactly_the_rules(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    kubeconfig = user_kubeconfig(server, tmp_path, "erin")
    grant(server, "argo-rollouts", "erin", list(ALL_RULES.values()), {"kind": "User", "name": "erin"})
    result = run("check", "--kubeconfig", kubeconfig, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["allowed"] is True
    assert [check["allowed"] for check in report["checks"]] == [True] * 4


@pytest.mark.parametrize("missing", list(ALL_RULES))
def test_preflight_denies_each_missing_permission_with_its_rule(argo_cluster, tmp_path: Path, missing: str) -> None:
    server = argo_cluster.server
    kubeconfig = user_kubeconfig(server, tmp_path, "frank")
    rules = [rule for name, rule in ALL_RULES.items() if name != missing]
    grant(server, "argo-rollouts", "frank", rules, {"kind": "User", "name": "frank"})
    result = run("check", "--kubeconfig", kubeconfig)
    assert result.exit_code == 4, result.output
    error_line = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert "missing 1 permission(s) in namespace argo-rollouts" in error_line
    verb, resource = missing.split(" ")
    assert f"{verb} {resource}" in error_line or f"{verb} {resource}.coordination.k8s.io" in error_line
    assert f'verbs: ["{verb}"]' in error_line  # the Role rule that grants it
    assert "hint:" in result.stderr


def test_create_portforward_is_not_required_before_v1_35(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    kubeconfig = user_kubeconfig(server, tmp_path, "gina")
    rules = [rule for name, rule in ALL_RULES.items() if name != "create pods/portforward"]
    grant(server, "argo-rollouts", "gina", rules, {"kind": "User", "name": "gina"})
    previous = server.git_version
    server.git_version = "v1.34.2"
    try:
        result = run("check", "--kubeconfig", kubeconfig, "--json")
    finally:
        server.git_version = previous
    assert result.exit_code == 0, result.output
    create = next(c for c in json.loads(result.stdout)["checks"] if c["permission"] == "create pods/portforward")
    assert (create["allowed"], create["required"]) == (False, False)


def test_parse_server_version() -> None:
    assert parse_server_version({"major": "1", "minor": "30+"}) == (1, 30)
    assert parse_server_version({"gitVersion": "v1.35.0-gke.1"}) == (1, 35)
    assert parse_server_version({}) is None


def test_parse_serviceaccount() -> None:
    assert parse_serviceaccount("ops/runbook") == ("ops", "runbook")
    for bad in ("runbook", "/runbook", "ops/", "a/b/c"):
        with pytest.raises(UsageError):
            parse_serviceaccount(bad)


def test_serviceaccount_review_and_rbac_round_trip(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    server.add_serviceaccount_token("ops", "runbook")
    admin = str(argo_cluster.kubeconfig)
    before = run("check", "--kubeconfig", admin, "--serviceaccount", "ops/runbook", "--json")
    assert before.exit_code == 4, before.output
    assert json.loads(before.stdout)["method"] == "SubjectAccessReview"
    assert "ServiceAccount ops/runbook" in before.stderr

    role = run("rbac", "--serviceaccount", "ops/runbook")
    assert role.exit_code == 0
    manifest = tmp_path / "role.yaml"
    manifest.write_text(role.stdout)
    applied = subprocess.run(
        ["kubectl", "--kubeconfig", admin, "create", "--validate=false", "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert applied.returncode == 0, applied.stderr
    after = run("check", "--kubeconfig", admin, "--serviceaccount", "ops/runbook", "--json")
    assert after.exit_code == 0, after.output
    assert all(check["allowed"] for check in json.loads(after.stdout)["checks"])


def test_serviceaccount_review_falls_back_to_impersonation(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    server.add_serviceaccount_token("ops", "runbook")
    kubeconfig = user_kubeconfig(server, tmp_path, "hank")
    grant(
        server,
        "ops",
        "impersonate-runbook",
        [{"apiGroups": [""], "resources": ["serviceaccounts"], "resourceNames": ["runbook"], "verbs": ["impersonate"]}],
        {"kind": "User", "name": "hank"},
    )
    grant(
        server,
        "argo-rollouts",
        "runbook",
        list(ALL_RULES.values()),
        {"kind": "ServiceAccount", "name": "runbook", "namespace": "ops"},
    )
    result = run("check", "--kubeconfig", kubeconfig, "--serviceaccount", "ops/runbook", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["method"] == "SelfSubjectAccessReview (impersonating)"
    assert any(user == "system:serviceaccount:ops:runbook" for _, _, user in server.requests)


def test_serviceaccount_review_without_any_way_says_what_is_missing(argo_cluster, tmp_path: Path) -> None:
    kubeconfig = user_kubeconfig(argo_cluster.server, tmp_path, "ivy")
    result = run("check", "--kubeconfig", kubeconfig, "--serviceaccount", "ops/runbook")
    assert result.exit_code == 4
    assert "subjectaccessreviews" in result.stderr and "impersonate" in result.stderr


def test_role_yaml_merges_verbs_and_binds_the_serviceaccount() -> None:
    text = role_yaml(capture_permissions([LEASE]), namespace="argo-rollouts", serviceaccount=("ops", "runbook"))
    assert text.count("\nkind: Role\n") == 1 and "kind: RoleBinding" in text
    assert 'verbs: ["get", "create"]' in text  # both port-forward verbs in one rule
    assert 'resourceNames: ["argo-rollouts-controller-lock"]' in text
    assert 'namespace: "ops"' in text


def test_rbac_with_lock_explains_unrestricted_create() -> None:
    result = run("rbac", "--serviceaccount", "ops/runbook", "--with-lock")
    assert result.exit_code == 0
    assert "rollouts-profile-lock" in result.stdout
    assert "create cannot be limited by" in result.stdout


def test_rbac_with_lock_lets_the_serviceaccount_run_a_complete_bundle(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    server.add_serviceaccount_token("ops", "runbook")
    sa_kubeconfig = str(server.write_kubeconfig(tmp_path / "sa", "system:serviceaccount:ops:runbook"))
    role = run("rbac", "--serviceaccount", "ops/runbook", "--with-lock")
    assert role.exit_code == 0
    assert 'resources: ["events"]' in role.stdout
    manifest = tmp_path / "role.yaml"
    manifest.write_text(role.stdout)
    applied = subprocess.run(
        ["kubectl", "--kubeconfig", str(argo_cluster.kubeconfig), "create", "--validate=false", "-f", str(manifest)],
        capture_output=True, text=True, timeout=60,
    )
    assert applied.returncode == 0, applied.stderr
    out = tmp_path / "out"
    out.mkdir()
    bundle = run("bundle", "--kubeconfig", sa_kubeconfig, "--seconds", "1", "--cooldown", "0", "--output-dir",
                 str(out), "--json")
    assert bundle.exit_code == 0, bundle.output
    manifest_summary = json.loads(bundle.stdout)
    failed = [item for item in manifest_summary["items"] if item.get("error")]
    assert failed == []


def _with_version(server, git_version: str):
    class Version:
        def __enter__(self):
            self.previous, server.git_version = server.git_version, git_version

        def __exit__(self, *exc_info):
            server.git_version = self.previous

    return Version()


def _capture(kubeconfig: str, tmp_path: Path, *extra: str):
    return run("heap", "--kubeconfig", kubeconfig, "--output-dir", str(tmp_path), "--format", "none", *extra)


def test_create_only_portforward_before_v1_35_says_why_and_the_rule(argo_cluster, tmp_path: Path) -> None:
    # kubectl works with this Role (SPDY is a POST); our websocket is a GET.
    server = argo_cluster.server
    kubeconfig = user_kubeconfig(server, tmp_path, "hank")
    rules = [rule for name, rule in ALL_RULES.items() if name != "get pods/portforward"]
    grant(server, "argo-rollouts", "hank", rules, {"kind": "User", "name": "hank"})
    with _with_version(server, "v1.31.4"):
        preflight = _capture(kubeconfig, tmp_path)
        skipped = _capture(kubeconfig, tmp_path, "--skip-preflight")
    assert preflight.exit_code == 4, preflight.output
    assert "enough for kubectl (its SPDY fallback is a POST)" in preflight.stderr
    assert 'verbs: ["get", "create"]' in preflight.stderr
    # Without the preflight, the API server's 403 (v1.31 text) gets the same explanation.
    assert skipped.exit_code == 4, skipped.output
    assert 'User "hank" cannot get resource "pods/portforward"' in skipped.stderr
    assert "create alone is enough for kubectl (its SPDY fallback is a POST) but not here" in skipped.stderr
    assert 'resources: ["pods/portforward"], verbs: ["get", "create"]' in skipped.stderr
    assert list(tmp_path.glob("*.pb.gz")) == []


def test_skip_preflight_on_v1_35_explains_the_nearly_empty_403(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    kubeconfig = user_kubeconfig(server, tmp_path, "ivy")
    rules = [rule for name, rule in ALL_RULES.items() if name != "create pods/portforward"]
    grant(server, "argo-rollouts", "ivy", rules, {"kind": "User", "name": "ivy"})
    with _with_version(server, "v1.35.0"):
        result = _capture(kubeconfig, tmp_path, "--skip-preflight")
    assert result.exit_code == 4, result.output
    leader = argo_cluster.scenario.leader_pod
    error_line = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert f"said only: 'pods \"{leader}\" is forbidden:'" in error_line
    assert "from Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission)" in error_line
    assert "needs create on pods/portforward as well as get" in error_line
    assert 'verbs: ["get", "create"]' in result.stderr
