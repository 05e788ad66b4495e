"""``--lock`` and ``--cooldown`` on the capture commands, through the cluster path against the test API server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests.clitools import files_in, plugin_env, run_plugin

LEASE = ("coordination.k8s.io/v1", "Lease", "argo-rollouts", "rollouts-profile-lock")


def lock_lease(server: Any) -> dict | None:
    return server.get_object(*LEASE)


def test_lock_is_taken_and_released_around_a_capture(argo_cluster: Any, tmp_path) -> None:
    env = plugin_env(KUBECONFIG=str(argo_cluster.kubeconfig))
    result = run_plugin("cpu", "--seconds", "1", "--lock", "--format", "none", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lease = lock_lease(argo_cluster.server)
    assert lease is not None
    assert not lease["spec"].get("holderIdentity")  # released
    assert "rollouts-profile/last-timed-capture-end" in lease["metadata"]["annotations"]


def test_held_lock_refuses_with_the_holder(argo_cluster: Any, tmp_path) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    argo_cluster.server.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "rollouts-profile-lock", "namespace": "argo-rollouts"},
            "spec": {"holderIdentity": "oncall@laptop pid 7", "leaseDurationSeconds": 300, "acquireTime": now,
                     "renewTime": now},
        }
    )
    env = plugin_env(KUBECONFIG=str(argo_cluster.kubeconfig))
    out = tmp_path / "out"
    out.mkdir()
    result = run_plugin("heap", "--lock", cwd=out, env=env)
    assert result.returncode == 6
    assert "oncall@laptop pid 7" in result.stderr
    assert files_in(out) == []


def test_cooldown_refuses_a_timed_capture_but_not_a_snapshot(argo_cluster: Any, tmp_path) -> None:
    ended = (datetime.now(timezone.utc) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    argo_cluster.server.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "rollouts-profile-lock",
                "namespace": "argo-rollouts",
                "annotations": {"rollouts-profile/last-timed-capture-end": ended},
            },
            "spec": {"leaseDurationSeconds": 30},
        }
    )
    env = plugin_env(KUBECONFIG=str(argo_cluster.kubeconfig))
    out = tmp_path / "out"
    out.mkdir()
    refused = run_plugin("cpu", "--seconds", "1", "--cooldown", "10m", cwd=out, env=env)
    assert refused.returncode == 6
    assert "cooldown" in refused.stderr
    assert files_in(out) == []
    snapshot = run_plugin("heap", "--cooldown", "10m", "--format", "none", cwd=out, env=env)
    assert snapshot.returncode == 0, snapshot.stderr


def test_lock_needs_the_cluster(tmp_path) -> None:
    result = run_plugin("heap", "--url", "http://127.0.0.1:9", "--lock", cwd=tmp_path)
    assert result.returncode == 2
    assert "--lock and --cooldown need the cluster" in result.stderr


def test_sigterm_mid_capture_releases_the_lock_and_leaves_nothing(argo_cluster: Any, tmp_path) -> None:
    import signal
    import subprocess
    import time

    from tests.clitools import PLUGIN

    env = plugin_env(KUBECONFIG=str(argo_cluster.kubeconfig))
    tmp_path = tmp_path / "out"  # the kubeconfig lives beside it
    tmp_path.mkdir()
    child = subprocess.Popen([str(PLUGIN), "cpu", "--seconds", "60", "--lock"], cwd=tmp_path, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    # Held and capturing: the Lease names a holder and the profile's temp file exists.
    while not ((lock_lease(argo_cluster.server) or {}).get("spec", {}).get("holderIdentity")
               and any(name.endswith(".part") for name in files_in(tmp_path))):
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read() if child.stderr else ""
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 143, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "terminated by SIGTERM: stopped and cleaned up"
    lease = lock_lease(argo_cluster.server)
    assert lease is not None and not lease["spec"].get("holderIdentity")
    assert files_in(tmp_path) == []
