"""Faults on the cluster side, injected on loopback: tokens ending in a newline, an API server that is refused,
blackholed or frozen, a proxy that cuts idle connections, malformed kubeconfigs (also fuzzed), and the capture
lock's 409 race and 404s. Each asserts the exit code, the one-line message, that no secret leaks, and that nothing
is left behind."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.cluster import ClusterRequest, connect
from kubectl_rollouts_profile.cluster.api import format_micro_time
from kubectl_rollouts_profile.cluster.config import resolve_config
from kubectl_rollouts_profile.cluster.locate import survey
from kubectl_rollouts_profile.cluster.lock import LEASE_NAME, CaptureLock
from kubectl_rollouts_profile.cluster.tunnel import KEEPALIVE_SECONDS
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import ConnectionFailed, TargetBusy, TargetNotFound
from kubectl_rollouts_profile.kinds import KINDS
from kubectl_rollouts_profile.pipeline import CaptureOutcome, CaptureSpec, Destination, Endpoint, run_capture
from tests.clitools import files_in, run_plugin
from tests.kubeapi.fixtures import EMPTY_NAMESPACE
from tests.netfaults import Blackhole, FaultRelay, refused_port


def assert_one_error(result: Any, *, code: int, says: str, secrets: tuple[str, ...] = ()) -> str:
    """Exit ``code``, exactly one ``error:`` line containing ``says`` plus a ``hint:``, no traceback, no secret."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert says in errors[0], errors[0]
    assert any(line.startswith("hint: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
    return errors[0]


def kubeconfig_with(source: Path, target: Path, *, server: str | None = None, user: dict | None = None) -> Path:
    """A copy of the test API server's kubeconfig with the server address or the user entry replaced."""
    config = json.loads(source.read_text())
    if server is not None:
        config["clusters"][0]["cluster"]["server"] = server
    if user is not None:
        config["users"][0]["user"] = user
    target.write_text(json.dumps(config))
    target.chmod(0o600)
    return target


def fetch_profile(base_url: str, kind: Any, seconds: int | None, out: Path) -> CaptureOutcome:
    """One capture through the pipeline into a default-named file in ``out``."""
    spec = CaptureSpec(kind=kind, seconds=seconds, destination=Destination(directory=out))
    return run_capture(spec, Endpoint(base_url=base_url, source_name="faults-test", where=base_url))


def no_secret_in_files(directory: Path, secret: str) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


# --- 1a: tokens ending in a newline ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["token", "tokenFile"])
def test_token_ending_in_a_newline_is_trimmed_and_never_shown(argo_cluster, tmp_path: Path, where: str) -> None:
    server = argo_cluster.server
    token = server.admin_token
    if where == "tokenFile":
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n")  # what `echo TOKEN > file` writes
        user = {"tokenFile": str(token_file)}
    else:
        user = {"token": token + "\n"}
    kubeconfig = kubeconfig_with(argo_cluster.kubeconfig, tmp_path / "kubeconfig", user=user)
    out = tmp_path / "out"
    out.mkdir()
    result = run_plugin("heap", "--kubeconfig", str(kubeconfig), "--output-dir", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(files_in(out)) >= 1 and all(not name.startswith(".") for name in files_in(out))
    assert token not in result.stdout and token not in result.stderr
    no_secret_in_files(out, token)
    assert {user for _, _, user in server.requests} == {"admin"}


def test_in_cluster_token_ending_in_a_newline_is_trimmed(kube_api, argo_cluster, tmp_path: Path) -> None:
    token = kube_api.add_serviceaccount_token("argo-rollouts", "argo-rollouts")
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(token + "\n")
    shutil.copy(kube_api.ca_file, sa_dir / "ca.crt")
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(kube_api.port)}
    config = resolve_config(ClusterRequest(), environ, home=tmp_path / "nohome", serviceaccount_dir=sa_dir)
    kube_api.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                  "metadata": {"name": "sa-admin"},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                  "subjects": [{"kind": "ServiceAccount", "name": "argo-rollouts", "namespace": "argo-rollouts"}]})
    api = config.open_api()
    try:
        # Twice: the client reloads the token file (and so the newline) before requests; both must be trimmed.
        for _ in range(2):
            assert survey(api, "argo-rollouts").leader_name == argo_cluster.scenario.leader_pod
    finally:
        api.close()
    assert token not in repr(config)


# --- 7 and 11a: unreachable, blackholed and frozen API servers ---------------------------------------------------


def test_refused_api_server_is_one_line_exit_7(argo_cluster, tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{refused_port()}"
    kubeconfig = kubeconfig_with(argo_cluster.kubeconfig, tmp_path / "kubeconfig", server=url)
    out = tmp_path / "out"
    out.mkdir()
    result = run_plugin("heap", "--kubeconfig", str(kubeconfig), "--output-dir", str(out), cwd=tmp_path)
    line = assert_one_error(result, code=7, says=f"cannot reach the API server {url}",
                            secrets=(argo_cluster.server.admin_token,))
    assert "connection refused" in line
    assert files_in(out) == []


def test_blackholed_api_server_fails_within_the_stated_budget(argo_cluster, tmp_path: Path) -> None:
    blackhole = Blackhole()
    try:
        kubeconfig = kubeconfig_with(argo_cluster.kubeconfig, tmp_path / "kubeconfig", server=blackhole.url)
        out = tmp_path / "out"
        out.mkdir()
        result = run_plugin("heap", "--kubeconfig", str(kubeconfig), "--output-dir", str(out),
                            "--request-timeout", "1s", cwd=tmp_path)
    finally:
        blackhole.close()
    line = assert_one_error(result, code=7, says=f"the API server {blackhole.url} did not answer within 1s",
                            secrets=(argo_cluster.server.admin_token,))
    assert "(" in line and ")" in line  # names the request that was waiting (the stage)
    assert files_in(out) == []


def test_a_frozen_api_server_is_asked_exactly_once(argo_cluster, tmp_path: Path) -> None:
    # Accepts every connection and never answers: with urllib3's retries there would be four connections.
    relay = FaultRelay(("127.0.0.1", argo_cluster.server.port))
    relay.freeze()
    try:
        kubeconfig = kubeconfig_with(argo_cluster.kubeconfig, tmp_path / "kubeconfig", server=relay.url)
        result = run_plugin("heap", "--kubeconfig", str(kubeconfig), "--output-dir", str(tmp_path),
                            "--request-timeout", "0.5s", cwd=tmp_path)
        assert_one_error(result, code=7, says=f"the API server {relay.url} did not answer within 0.5s")
        assert relay.frozen_connections == 1
    finally:
        relay.close()


def test_api_server_freezing_before_the_port_forward_is_named(argo_cluster, tmp_path: Path) -> None:
    relay = FaultRelay(("127.0.0.1", argo_cluster.server.port))
    out = tmp_path / "out"
    out.mkdir()
    try:
        kubeconfig = kubeconfig_with(argo_cluster.kubeconfig, tmp_path / "kubeconfig", server=relay.url)
        request = ClusterRequest(kubeconfig=str(kubeconfig), request_timeout_seconds=1.0)
        with pytest.raises(ConnectionFailed) as caught:
            with connect(request, env=Environment()) as connection:
                relay.freeze()  # the pod was found and the first handshake done; now the API server stops
                fetch_profile(connection.base_url, KINDS["heap"], None, out)
    finally:
        relay.close()
    message = str(caught.value)
    assert f"the API server {relay.url}" in message and "port-forward request" in message, message
    assert argo_cluster.scenario.leader_pod in message
    assert "127.0.0.1:" not in message.replace(relay.url, "")  # not the local tunnel's address
    assert files_in(out) == []


def test_request_timeout_must_be_a_positive_duration(tmp_path: Path) -> None:
    for bad in ("0", "-1s", "soon"):
        result = run_plugin("heap", "--request-timeout", bad, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "--request-timeout" in result.stderr and "Traceback" not in result.stderr


# --- 12: an idle-cutting proxy between us and the API server ----------------------------------------------------


def test_capture_survives_a_proxy_that_cuts_idle_connections(argo_cluster, tmp_path: Path) -> None:
    assert KEEPALIVE_SECONDS < 10  # the shortest idle timeout met in the field
    relay = FaultRelay(("127.0.0.1", argo_cluster.server.port), idle_cut_seconds=1.0)
    out = tmp_path / "out"
    out.mkdir()
    try:
        kubeconfig = kubeconfig_with(argo_cluster.kubeconfig, tmp_path / "kubeconfig", server=relay.url)
        request = ClusterRequest(kubeconfig=str(kubeconfig))
        # A 3-second cpu profile sends nothing until it ends: only the pings keep the connection busy.
        with connect(request, env=Environment(), keepalive_seconds=0.25) as connection:
            result = fetch_profile(connection.base_url, KINDS["cpu"], 3, out)
        assert result.sample_count is not None
        for path in result.files.values():
            Path(path).unlink()
        # The same proxy without pings: the cut is real, so the test above could fail.
        with pytest.raises(ConnectionFailed):
            with connect(request, env=Environment(), keepalive_seconds=None) as connection:
                fetch_profile(connection.base_url, KINDS["cpu"], 3, out)
        assert relay.cuts >= 1
    finally:
        relay.close()
    assert files_in(out) == []


# --- 11a: the capture lock's race and 404s -----------------------------------------------------------------------


NAMESPACE = EMPTY_NAMESPACE


@pytest.fixture
def lock_cluster(empty_namespace: tuple[Any, Path]) -> Iterator[tuple[Any, Any]]:
    kube_api, kubeconfig = empty_namespace
    api = resolve_config(ClusterRequest(kubeconfig=str(kubeconfig), namespace=NAMESPACE), {}).open_api()
    yield kube_api, api
    api.close()
    kube_api.unserved_groups.clear()


def _put_lease(server: Any, holder: str | None) -> None:
    now = format_micro_time(datetime.now(timezone.utc))
    spec: dict = {"leaseDurationSeconds": 60, "acquireTime": now, "renewTime": now}
    if holder:
        spec["holderIdentity"] = holder
    server.put({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": LEASE_NAME, "namespace": NAMESPACE}, "spec": spec})


@pytest.mark.parametrize("lease_exists", [True, False], ids=["update", "create"])
def test_lock_lost_in_a_race_names_the_holder(lock_cluster, monkeypatch: pytest.MonkeyPatch,
                                              lease_exists: bool) -> None:
    server, api = lock_cluster
    if lease_exists:
        _put_lease(server, holder=None)
    real_update, real_create = api.update_lease, api.create_lease

    # Another runbook writes between our read and our write.
    def racing_update(namespace: str, name: str, body: dict) -> tuple[int, dict]:
        _put_lease(server, holder="bob@ops-host pid 42")
        return real_update(namespace, name, body)

    def racing_create(namespace: str, body: dict) -> tuple[int, dict]:
        _put_lease(server, holder="bob@ops-host pid 42")
        return real_create(namespace, body)

    monkeypatch.setattr(api, "update_lease", racing_update)
    monkeypatch.setattr(api, "create_lease", racing_create)
    with pytest.raises(TargetBusy) as caught:
        CaptureLock(api, NAMESPACE, "alice", 40, timed=False).acquire()
    assert "same moment" in str(caught.value)
    assert "held by bob@ops-host pid 42" in str(caught.value)


def test_lock_in_a_missing_namespace_says_namespace(lock_cluster) -> None:
    _, api = lock_cluster
    with pytest.raises(TargetNotFound) as caught:
        CaptureLock(api, "no-such-ns", "alice", 40, timed=False).acquire()
    assert "namespace no-such-ns not found" in str(caught.value)


def test_lock_where_leases_are_not_served_says_so(lock_cluster, tmp_path: Path) -> None:
    server, api = lock_cluster
    server.unserved_groups.add("coordination.k8s.io")
    with pytest.raises(TargetNotFound) as caught:
        CaptureLock(api, NAMESPACE, "alice", 40, timed=False).acquire()
    message = str(caught.value)
    assert "does not serve coordination.k8s.io/v1 Leases" in message and "namespace" not in message.split("(")[1]
    assert "404 page not found" in message
