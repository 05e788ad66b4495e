"""cpu --at-start: the controller pod restarts (new pod, new Lease holder) while the capture waits, and the new
pod's pprof port reaches a new Go target process that only starts listening after the tunnel has tried it; --restart
deletes the leader itself; no start within --wait is exit 3; the start detection on plain surveys."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.cluster.locate import ControllerPod, Survey
from kubectl_rollouts_profile.runbook.coldstart import detect_start, pending_note
from tests.clitools import PLUGIN, plugin_env, run_plugin, wait_for
from tests.kubeapi.scenario import replace_deleted_leader, start_replacement_pod


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pod(name: str, *, phase: str = "Running", restarts: int = 0) -> ControllerPod:
    return ControllerPod(name=name, namespace="ns", phase=phase, ready=phase == "Running", image="img",
                         restarts=restarts, created=None, pprof_address=":6060", metrics_port=8090, instance_id=None)


def survey_of(*pods: ControllerPod, holder: str | None = "a") -> Survey:
    return Survey("ns", tuple(pods), "argo-rollouts-controller-lock", f"{holder}_uuid" if holder else None, None)


def test_start_detection() -> None:
    before = survey_of(pod("a"), pod("b"))
    assert detect_start(before, before) is None
    moved = detect_start(before, survey_of(pod("a"), pod("b"), holder="b"))
    assert moved is not None and (moved.pod.name, moved.how) == ("b", "Lease moved")
    new = detect_start(before, survey_of(pod("a"), pod("b"), pod("c")))
    assert new is not None and (new.pod.name, new.how) == ("c", "new pod")
    restarted = detect_start(before, survey_of(pod("a", restarts=1), pod("b")))
    assert restarted is not None and (restarted.pod.name, restarted.how) == ("a", "container restart")
    pending = survey_of(pod("a"), pod("b"), pod("c", phase="Pending"))
    assert detect_start(before, pending) is None  # its container does not run yet
    assert pending_note(before, pending) == "new pod c is Pending; waiting for its container to run"
    # The Lease moving to a pod that is not running yet is no start either.
    assert detect_start(before, survey_of(pod("a"), pod("c", phase="Pending"), holder="c")) is None


def plugin_requests(server: Any, fragment: str) -> int:
    return sum(fragment in path for _, path, _ in list(server.requests))


def start_plugin(kubeconfig: Path, out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(PLUGIN), "cpu", "--at-start", "--seconds", "1", "--kubeconfig", str(kubeconfig), "--output-dir",
         str(out), "--json", "--format", "none", *args],
        env=plugin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def check_captures(result: dict, new_pod: str, out: Path) -> None:
    assert result["start"]["pod"] == new_pod
    assert [capture["kind"] for capture in result["captures"]] == ["cpu", "heap", "goroutine"]
    for capture in result["captures"]:
        assert capture["target"] == new_pod
        path = Path(capture["files"]["pprof"])
        assert path.parent == out and path.exists() and path.name.startswith(f"{new_pod}-{capture['kind']}-")


def test_waits_for_a_new_pod_and_polls_pprof_until_it_answers(argo_cluster: Any, go_factory: Any,
                                                              tmp_path: Path) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    like = server.get_object("v1", "Pod", scenario.namespace, scenario.leader_pod)
    out = tmp_path / "out"
    out.mkdir()
    child = start_plugin(argo_cluster.kubeconfig, out, "--wait", "90s")
    try:
        # The plugin has noted the pods and polled them again: now the controller "restarts".
        assert wait_for(lambda: plugin_requests(server, "/pods?labelSelector") >= 2)
        new_port = closed_port()
        new_pod = start_replacement_pod(server, scenario, like, pprof_port=new_port)
        # The process in the new pod listens only after the plugin has already tried its pprof port.
        assert wait_for(lambda: plugin_requests(server, f"/pods/{new_pod}/portforward") >= 2)
        go_factory("--addr", f"127.0.0.1:{new_port}")
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, stderr
    result = json.loads(stdout)
    check_captures(result, new_pod, out)
    assert result["start"]["how"] == "Lease moved"
    assert "waiting up to 90s for a controller start" in stderr
    assert f"cold start: Lease moved: pod {scenario.namespace}/{new_pod}" in stderr
    assert plugin_requests(server, "DELETE") == 0 and not any(m == "DELETE" for m, _, _ in server.requests)


def test_restart_deletes_the_leader_and_profiles_its_replacement(argo_cluster: Any, go_factory: Any,
                                                                 tmp_path: Path) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    like = server.get_object("v1", "Pod", scenario.namespace, scenario.leader_pod)
    new_target = go_factory()
    out = tmp_path / "out"
    out.mkdir()
    child = start_plugin(argo_cluster.kubeconfig, out, "--restart", "--wait", "90s")
    new_pod, stdout, stderr = replace_deleted_leader(child, server, scenario, like, pprof_port=new_target.pprof_port)
    assert child.returncode == 0, stderr
    check_captures(json.loads(stdout), new_pod, out)
    assert f"restart: deleting the leader pod {scenario.namespace}/{scenario.leader_pod}" in stderr
    deletes = [path for method, path, _ in server.requests if method == "DELETE"]
    assert deletes == [f"/api/v1/namespaces/{scenario.namespace}/pods/{scenario.leader_pod}"]


def test_no_start_within_the_wait_is_exit_3_after_the_checks_every_command_makes(argo_cluster: Any,
                                                                                  tmp_path: Path) -> None:
    """The cold start opens its endpoint through the one path: the insecure-TLS warning, the load reading."""
    kubeconfig = argo_cluster.server.write_kubeconfig(tmp_path / "kc", "admin", namespace="argo-rollouts",
                                                      embed_ca=False, cluster_entry={"insecure-skip-tls-verify": True})
    result = run_plugin("cpu", "--at-start", "--wait", "2s", "--kubeconfig", str(kubeconfig), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "no controller start within the wait" in result.stderr and "--restart" in result.stderr
    assert "certificate is not verified (insecure-skip-tls-verify" in result.stderr
    assert "load: CPU" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kc", "kubeconfig"]


def hold_the_capture_lock(server: Any, namespace: str) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    server.put({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "rollouts-profile-lock", "namespace": namespace},
                "spec": {"holderIdentity": "oncall@laptop pid 7", "leaseDurationSeconds": 300, "acquireTime": now,
                         "renewTime": now}})


@pytest.mark.parametrize("command", [("cpu", "--at-start", "--lock"), ("diagnose", "cold-start")])
def test_a_held_capture_lock_stops_a_restart_before_anything_is_deleted(argo_cluster: Any, tmp_path: Path,
                                                                        command: tuple[str, ...]) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    hold_the_capture_lock(server, scenario.namespace)
    result = run_plugin(*command, "--restart", "--wait", "30s", "--kubeconfig", str(argo_cluster.kubeconfig),
                        "--output-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 6, result.stderr
    assert "oncall@laptop pid 7" in result.stderr and "deleting" not in result.stderr
    assert not any(method == "DELETE" for method, _, _ in server.requests)
    assert server.get_object("v1", "Pod", scenario.namespace, scenario.leader_pod) is not None


def test_restart_deletes_the_pod_named_by_pod(argo_cluster: Any, go_factory: Any, tmp_path: Path) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    other = next(name for name in scenario.controller_pods if name != scenario.leader_pod)
    like = server.get_object("v1", "Pod", scenario.namespace, other)
    new_target = go_factory()
    out = tmp_path / "out"
    out.mkdir()
    child = start_plugin(argo_cluster.kubeconfig, out, "--restart", "--pod", other, "--wait", "90s")
    new_pod, stdout, stderr = replace_deleted_leader(child, server, scenario, like, pprof_port=new_target.pprof_port)
    assert child.returncode == 0, stderr
    check_captures(json.loads(stdout), new_pod, out)
    assert f"restart: deleting pod {scenario.namespace}/{other}" in stderr
    deletes = [path for method, path, _ in server.requests if method == "DELETE"]
    assert deletes == [f"/api/v1/namespaces/{scenario.namespace}/pods/{other}"]
    assert server.get_object("v1", "Pod", scenario.namespace, scenario.leader_pod) is not None


def apply_role(kubeconfig: Path, tmp_path: Path, *rbac_args: str) -> None:
    role = run_plugin("rbac", "--serviceaccount", "ops/runbook", *rbac_args, cwd=tmp_path)
    assert role.returncode == 0, role.stderr
    manifest = tmp_path / "role.yaml"
    manifest.write_text(role.stdout)
    applied = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "create", "--validate=false", "-f",
                              str(manifest)], capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr


def test_restart_needs_delete_pods_which_rbac_grants_only_when_asked(argo_cluster: Any, tmp_path: Path) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    server.add_serviceaccount_token("ops", "runbook")
    apply_role(argo_cluster.kubeconfig, tmp_path)
    as_runbook = ("cpu", "--at-start", "--restart", "--wait", "3s", "--kubeconfig", str(argo_cluster.kubeconfig),
                  "--as", "system:serviceaccount:ops:runbook")
    denied = run_plugin(*as_runbook, cwd=tmp_path)
    assert denied.returncode == 4, denied.stderr
    assert "delete" in denied.stderr and "pods" in denied.stderr
    assert server.get_object("v1", "Pod", scenario.namespace, scenario.leader_pod) is not None  # nothing deleted
    # Without --restart the same Role is enough to wait (and here, to give up waiting: exit 3).
    waited = run_plugin(*[arg for arg in as_runbook if arg != "--restart"], cwd=tmp_path)
    assert waited.returncode == 3, waited.stderr
    apply_role(argo_cluster.kubeconfig, tmp_path, "--with-restart", "--name", "rollouts-profile-restart")
    allowed = run_plugin(*as_runbook, cwd=tmp_path)
    assert allowed.returncode == 3, allowed.stderr  # the leader was deleted; nothing replaced it in 3s
    assert server.get_object("v1", "Pod", scenario.namespace, scenario.leader_pod) is None


@pytest.mark.parametrize(("args", "message"), [
    (("--restart",), "--restart goes with --at-start"),
    (("--at-start", "--url", "http://127.0.0.1:1"), "cannot be used with --url"),
    (("--at-start", "-o", "x.pb.gz"), "-o names one file"),
    (("--at-start", "--pod", "p"), "--pod names the pod --restart deletes"),
])
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_plugin("cpu", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
