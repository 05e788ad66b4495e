"""The port-forward tunnel through the test API server to the real Go target: captures of every kind, the
loopback-only listener, keepalive across idle timeouts, faults (wrong port, target gone mid-body, pod deleted)
leaving nothing on disk, impersonation on the websocket, ``forward`` and ``kubectl plugin list``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from kubectl_rollouts_profile.cluster import ClusterRequest, connect
from kubectl_rollouts_profile.cluster.config import resolve_config
from kubectl_rollouts_profile.cluster.tunnel import Tunnel
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import ConnectionFailed, ProfilingUnavailable, TargetNotFound
from kubectl_rollouts_profile.kinds import KINDS
from kubectl_rollouts_profile.pipeline import CaptureOutcome, CaptureSpec, Destination, Endpoint, run_capture
from tests.kubeapi.scenario import bind_role

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"


def request_for(argo_cluster, **overrides) -> ClusterRequest:
    return ClusterRequest(kubeconfig=str(argo_cluster.kubeconfig), **overrides)


def fetch_profile(base_url: str, kind, seconds, out: Path) -> CaptureOutcome:
    """One capture through the pipeline into a default-named file in ``out``."""
    spec = CaptureSpec(kind=kind, seconds=seconds, destination=Destination(directory=out))
    return run_capture(spec, Endpoint(base_url=base_url, source_name="tunnel-test", where=base_url))


def remove_files(outcome: CaptureOutcome) -> None:
    for path in outcome.files.values():
        Path(path).unlink()


def wait_for(condition, what: str, deadline_seconds: float = 30.0) -> None:
    """Poll a condition (not a fixed sleep); fail with ``what`` when it does not come true."""
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_every_kind_captures_through_the_tunnel(argo_cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with connect(request_for(argo_cluster), env=Environment()) as connection:
        assert connection.pod.pod_name == argo_cluster.scenario.leader_pod
        for kind in KINDS.values():
            result = fetch_profile(connection.base_url, kind, 1 if kind.timed else None, out)
            assert result.size > 0, kind.name
            if kind.pprof_format:
                assert result.sample_count is not None, kind.name
            remove_files(result)


def test_listener_is_bound_to_loopback_only(argo_cluster) -> None:
    config = resolve_config(request_for(argo_cluster), {})
    scenario = argo_cluster.scenario
    with Tunnel(config, scenario.namespace, scenario.leader_pod, 6060) as tunnel:
        host, port = tunnel.bound_address
        assert host == "127.0.0.1"
        assert requests.get(f"{tunnel.base_url}/debug/pprof/", timeout=30).status_code == 200
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=5).close()


def _non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outgoing interface
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_wrong_port_says_nothing_is_listening(argo_cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ProfilingUnavailable) as caught:
        with connect(request_for(argo_cluster, port=6061), env=Environment()) as connection:
            fetch_profile(connection.base_url, KINDS["heap"], None, out)
    assert caught.value.exit_code == 5
    assert "nothing is listening on port 6061" in str(caught.value)
    assert "--enable-pprof-address" in str(caught.value)
    assert list(out.iterdir()) == []


def test_target_stopping_mid_body_is_a_connection_failure(kube_api, go_factory, tmp_path: Path) -> None:
    from tests.kubeapi.scenario import install_argo_rollouts

    target = go_factory()
    kube_api.reset()
    install_argo_rollouts(kube_api, pprof_port=target.pprof_port)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kc", "admin")
    out = tmp_path / "out"
    out.mkdir()
    outcome: dict[str, BaseException] = {}

    def capture() -> None:
        try:
            with connect(ClusterRequest(kubeconfig=str(kubeconfig)), env=Environment()) as connection:
                fetch_profile(connection.base_url, KINDS["trace"], 60, out)
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    worker = threading.Thread(target=capture)
    worker.start()
    # The trace streams while it runs: once the temp file has bytes, the body is under way.
    wait_for(lambda: any(p.stat().st_size > 0 for p in out.iterdir()), "the trace body to start arriving")
    target.stop()
    worker.join(timeout=60)
    assert not worker.is_alive()
    error = outcome.get("error")
    assert isinstance(error, ConnectionFailed), repr(error)
    assert error.exit_code == 7
    assert list(out.iterdir()) == []


def test_pod_deleted_after_connecting_is_target_not_found(argo_cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    scenario = argo_cluster.scenario
    with pytest.raises(TargetNotFound) as caught:
        with connect(request_for(argo_cluster), env=Environment()) as connection:
            argo_cluster.server.delete("v1", "Pod", scenario.namespace, scenario.leader_pod)
            fetch_profile(connection.base_url, KINDS["heap"], None, out)
    assert scenario.leader_pod in str(caught.value)
    assert list(out.iterdir()) == []


def test_keepalive_pings_survive_an_idle_timeout(argo_cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argo_cluster.server.lb_idle_timeout = 1.0
    # A load balancer in front (any frame counts): a 3-second cpu profile sends nothing until it ends, so only the
    # pings keep the forward alive.
    with connect(request_for(argo_cluster), env=Environment(), keepalive_seconds=0.2) as connection:
        result = fetch_profile(connection.base_url, KINDS["cpu"], 3, out)
        assert result.sample_count is not None
    remove_files(result)
    with pytest.raises(ConnectionFailed):
        with connect(request_for(argo_cluster), env=Environment(), keepalive_seconds=None) as connection:
            fetch_profile(connection.base_url, KINDS["cpu"], 3, out)
    assert list(out.iterdir()) == []


def test_kubelet_idle_timeout_is_named_when_a_silent_capture_drops(argo_cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # The kubelet's streamingConnectionIdleTimeout counts data only: pings every 0.2s do not keep the forward.
    argo_cluster.server.portforward_idle_timeout = 1.0
    with pytest.raises(ConnectionFailed) as caught:
        with connect(request_for(argo_cluster), env=Environment(), keepalive_seconds=0.2) as connection:
            fetch_profile(connection.base_url, KINDS["cpu"], 3, out)
    assert "without data" in str(caught.value) and "streamingConnectionIdleTimeout" in str(caught.value)
    assert "5m" in str(caught.value) and "--seconds" in caught.value.hint
    assert list(out.iterdir()) == []
    # Short captures and snapshots are not affected: data flows before the timeout.
    with connect(request_for(argo_cluster), env=Environment()) as connection:
        remove_files(fetch_profile(connection.base_url, KINDS["heap"], None, out))


def test_impersonation_applies_to_the_port_forward(argo_cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    server = argo_cluster.server
    server.add_user("judy")
    bind_role(server, "argo-rollouts", "judy-admin",
              {"kind": "User", "name": "judy", "apiGroup": "rbac.authorization.k8s.io"})
    with connect(request_for(argo_cluster, as_user="judy"), env=Environment()) as connection:
        remove_files(fetch_profile(connection.base_url, KINDS["goroutine"], None, out))
    forwards = [user for _, path, user in server.requests if path.endswith("/portforward?ports=6060")]
    assert forwards and set(forwards) == {"judy"}


@pytest.mark.parametrize("stop_signal, exit_code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_forward_prints_the_url_and_stops_on_signal(argo_cluster, stop_signal: int, exit_code: int) -> None:
    process = subprocess.Popen(
        [str(BIN / "kubectl-rollouts_profile"), "forward", "--kubeconfig", str(argo_cluster.kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert requests.get(f"{url}/debug/pprof/", timeout=30).status_code == 200
        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == exit_code
        assert "go tool pprof http://127.0.0.1:" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_kubectl_plugin_list_finds_the_plugin() -> None:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    listed = subprocess.run(["kubectl", "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert str(BIN / "kubectl-rollouts_profile") in listed.stdout
    helped = subprocess.run(
        ["kubectl", "rollouts-profile", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert helped.returncode == 0 and "targets" in helped.stdout


def test_capture_commands_go_through_the_cluster(argo_cluster, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kubectl_rollouts_profile.cli import main

    out = tmp_path / "out"
    out.mkdir()
    kubeconfig = str(argo_cluster.kubeconfig)
    runner = CliRunner()
    captured = runner.invoke(main, ["heap", "--kubeconfig", kubeconfig, "--output-dir", str(out)])
    assert captured.exit_code == 0, captured.output
    written = list(out.iterdir())
    assert written and all(argo_cluster.scenario.leader_pod in path.name for path in written)
    for path in written:
        path.unlink()
    refused = runner.invoke(
        main, ["cpu", "--seconds", "1", "--kubeconfig", kubeconfig, "--port", "6061", "--output-dir", str(out)]
    )
    assert refused.exit_code == 5, refused.output
    assert "nothing is listening on port 6061" in refused.stderr
    assert list(out.iterdir()) == []
