"""The bundle command against the test API server and the real Go target: every item, sha256s, redaction, the
lock and cooldown, and a partial bundle (exit 10) when the metrics port is closed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.cluster.api import format_micro_time
from kubectl_rollouts_profile.cluster.lock import LAST_TIMED_END, LEASE_NAME
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.runbook.bundle import REDACTED, redact_pod
from tests.kubeapi.scenario import install_argo_rollouts

SECRET_VALUE = "s3cr3t-env-value"


def run_bundle(kubeconfig: Path, out: Path, *args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(stdout=stdout, stderr=stderr, environ={"HOME": str(out)})
    result = CliRunner().invoke(
        main, ["bundle", "--kubeconfig", str(kubeconfig), "--output-dir", str(out), "--seconds", "1", *args], obj=env
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, stdout.getvalue(), stderr.getvalue()


def read_bundle(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        prefix = path.name.removesuffix(".tar.gz") + "/"
        return {m.name.removeprefix(prefix): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def add_env_to_leader(server: Any, namespace: str, pod_name: str) -> None:
    pod = server.get_object("v1", "Pod", namespace, pod_name)
    container = pod["spec"]["containers"][0]
    container["env"] = [
        {"name": "PLAIN", "value": SECRET_VALUE},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    container["envFrom"] = [{"secretRef": {"name": "bulk-secret"}}]
    pod["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = (
        json.dumps({"env": SECRET_VALUE})
    )
    server.put(pod)


@pytest.fixture(scope="module")
def complete_bundle(kube_api: Any, go_new: Any, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One full bundle run, shared by the checks on its contents (a bundle takes a few seconds)."""
    kube_api.reset()
    scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port, metrics_port=go_new.metrics_port)
    add_env_to_leader(kube_api, scenario.namespace, scenario.leader_pod)
    out = tmp_path_factory.mktemp("bundle")
    kubeconfig = kube_api.write_kubeconfig(out / "kubeconfig", "admin", namespace=scenario.namespace)
    code, stdout, stderr = run_bundle(kubeconfig, out, "--json")
    summary = json.loads(stdout)
    lease = kube_api.get_object("coordination.k8s.io/v1", "Lease", scenario.namespace, LEASE_NAME)
    return {"code": code, "summary": summary, "stderr": stderr, "path": Path(summary["archive"]),
            "scenario": scenario, "token": kube_api.admin_token, "lock": lease}


def test_complete_bundle_exits_0_and_holds_every_item(complete_bundle: dict) -> None:
    assert complete_bundle["code"] == 0, complete_bundle["stderr"]
    files = read_bundle(complete_bundle["path"])
    expected = {
        "manifest.json", "before/goroutine.pb.gz", "before/goroutine.top.txt", "before/goroutine-debug2.txt",
        "before/heap.pb.gz", "before/heap.top.txt", "cpu.pb.gz", "cpu.top.txt", "after/heap.pb.gz",
        "after/heap.top.txt", "after/goroutine.pb.gz", "after/goroutine.top.txt", "allocs.pb.gz", "allocs.top.txt",
        "metrics.txt", "pod.json", "events.json", "lease.json", "versions.json", "report.html",
    }
    assert set(files) == expected  # go_new has no block/mutex rate: those are left out as empty
    assert b"go_goroutines" in files["metrics.txt"]
    assert b"goroutine " in files["before/goroutine-debug2.txt"]
    assert json.loads(files["versions.json"])["controllerImage"].startswith("quay.io/argoproj/argo-rollouts")
    assert json.loads(files["lease.json"])["metadata"]["name"] == complete_bundle["scenario"].lease_name
    assert json.loads(files["events.json"]), "the scenario has events for the leader"


def test_archive_name_mode_and_summary(complete_bundle: dict) -> None:
    path = complete_bundle["path"]
    scenario = complete_bundle["scenario"]
    assert path.name.startswith(f"{scenario.leader_pod}-bundle-") and path.name.endswith("Z.tar.gz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert complete_bundle["summary"]["complete"] is True
    assert [name for name in os.listdir(path.parent) if name.startswith(".")] == []  # no temp files left


def test_manifest_lists_each_item_with_correct_size_and_sha256(complete_bundle: dict) -> None:
    files = read_bundle(complete_bundle["path"])
    manifest = json.loads(files["manifest.json"])
    by_name = {item["name"]: item for item in manifest["items"]}
    for name, data in files.items():
        if name == "manifest.json":
            continue
        item = by_name[name]
        assert item["size"] == len(data)
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["error"] is None and item["seconds"] >= 0
    assert by_name["block.pb.gz"]["note"].startswith("empty") and by_name["block.pb.gz"]["size"] is None
    assert by_name["cpu.pb.gz"]["seconds"] >= 1  # the cpu capture ran for --seconds


def test_pod_env_values_and_secret_refs_are_redacted(complete_bundle: dict) -> None:
    files = read_bundle(complete_bundle["path"])
    everything = b"".join(files.values())
    assert SECRET_VALUE.encode() not in everything
    assert b"db-credentials" not in everything and b"bulk-secret" not in everything
    assert complete_bundle["token"].encode() not in everything
    container = json.loads(files["pod.json"])["spec"]["containers"][0]
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["PLAIN"]["value"] == REDACTED
    assert env["FROM_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": REDACTED, "key": REDACTED}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert json.loads(files["pod.json"])["status"]["phase"] == "Running"


def test_bundle_takes_and_releases_the_lock_and_stamps_the_cpu_capture(complete_bundle: dict) -> None:
    lock = complete_bundle["lock"]
    assert lock is not None and not lock["spec"].get("holderIdentity")
    assert LAST_TIMED_END in lock["metadata"]["annotations"]


def test_closed_metrics_port_gives_a_partial_bundle(argo_cluster: Any, tmp_path: Path, go_factory: Any) -> None:
    server = argo_cluster.server
    server.reset()
    target = go_factory()  # no metrics listener; the route for 8090 is not set either
    scenario = install_argo_rollouts(server, pprof_port=target.pprof_port, metrics_port=None)
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", "admin", namespace=scenario.namespace)
    code, stdout, stderr = run_bundle(kubeconfig, tmp_path)
    assert code == 10, stderr
    assert "metrics.txt" in stderr and "partial" in stderr
    metrics_line = next(line for line in stderr.splitlines() if "metrics.txt: failed" in line)
    assert "metrics port" in metrics_line and "--enable-pprof-address" not in metrics_line
    path = Path(stdout.strip())
    files = read_bundle(path)
    assert "metrics.txt" not in files and "cpu.pb.gz" in files and "pod.json" in files
    manifest = json.loads(files["manifest.json"])
    failed = [item for item in manifest["items"] if item["error"]]
    assert [item["name"] for item in failed] == ["metrics.txt"]
    assert manifest["complete"] is False


def test_held_lock_refuses_the_bundle(argo_cluster: Any, tmp_path: Path) -> None:
    now = format_micro_time(datetime.now(timezone.utc))
    argo_cluster.server.put({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": argo_cluster.scenario.namespace},
        "spec": {"holderIdentity": "oncall@jumphost pid 9", "leaseDurationSeconds": 300, "acquireTime": now,
                 "renewTime": now},
    })
    code, stdout, stderr = run_bundle(argo_cluster.kubeconfig, tmp_path)
    assert code == 6
    assert "oncall@jumphost pid 9" in stderr and stdout == ""
    assert not list(tmp_path.glob("*.tar.gz"))


def test_cooldown_refuses_a_bundle_right_after_a_cpu_capture(argo_cluster: Any, tmp_path: Path) -> None:
    ended = format_micro_time(datetime.now(timezone.utc))
    argo_cluster.server.put({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": argo_cluster.scenario.namespace,
                     "annotations": {LAST_TIMED_END: ended}},
        "spec": {"leaseDurationSeconds": 30, "acquireTime": ended, "renewTime": ended},
    })
    code, _, stderr = run_bundle(argo_cluster.kubeconfig, tmp_path, "--cooldown", "10m")
    assert code == 6 and "cooldown" in stderr and "may run at" in stderr


def test_redact_pod_covers_volumes_and_pull_secrets_without_changing_the_input() -> None:
    pod = {"metadata": {"name": "p", "managedFields": [{"manager": "x"}]},
           "spec": {"imagePullSecrets": [{"name": "regcred"}],
                    "volumes": [{"name": "v", "secret": {"secretName": "tls"}},
                                {"name": "w", "projected": {"sources": [{"secret": {"name": "projsecret"}}]}}],
                    "initContainers": [{"name": "i", "env": [{"name": "A", "value": "x"}]}],
                    "containers": []}}
    redacted = redact_pod(pod)
    text = json.dumps(redacted)
    assert "regcred" not in text and "tls" not in text and "projsecret" not in text and '"x"' not in text
    assert "managedFields" not in redacted["metadata"]
    assert pod["spec"]["volumes"][0]["secret"]["secretName"] == "tls"


def test_sigterm_mid_bundle_releases_the_lock_and_removes_the_work_directory(argo_cluster: Any,
                                                                            tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from tests.clitools import PLUGIN, files_in, plugin_env

    tmp_path = tmp_path / "out"  # the kubeconfig lives beside it
    tmp_path.mkdir()
    child = subprocess.Popen([str(PLUGIN), "bundle", "--kubeconfig", str(argo_cluster.kubeconfig), "--seconds", "60"],
                             cwd=tmp_path, env=plugin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    server = argo_cluster.server
    deadline = time.monotonic() + 60

    def capturing_cpu() -> bool:  # the work directory holds the "before" items: the cpu capture is under way
        work = [path for path in tmp_path.iterdir() if path.name.startswith(".rollouts-profile-bundle-")]
        return bool(work) and (work[0] / "before" / "heap.pb.gz").exists()

    while not capturing_cpu():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 143, stderr
    assert stdout == "" and "Traceback" not in stderr
    lease = server.get_object("coordination.k8s.io/v1", "Lease", argo_cluster.scenario.namespace, LEASE_NAME)
    assert lease is not None and not lease["spec"].get("holderIdentity")
    assert files_in(tmp_path) == []


def test_full_disk_refuses_the_bundle_before_the_lock_and_the_capture(argo_cluster: Any, full_disk: Path) -> None:
    code, stdout, stderr = run_bundle(argo_cluster.kubeconfig, full_disk)
    assert code == 9 and "KiB free" in stderr and stdout == ""
    lease = argo_cluster.server.get_object("coordination.k8s.io/v1", "Lease", argo_cluster.scenario.namespace,
                                           LEASE_NAME)
    assert lease is None  # never taken, so no cooldown was stamped either
    assert not any("portforward" in path for _, path, _ in argo_cluster.server.requests)
    assert sorted(os.listdir(full_disk)) == ["filler"]
