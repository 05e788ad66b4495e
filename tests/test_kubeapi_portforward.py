"""The pods/portforward websocket of the test API server: v4 channel framing, relaying to the real Go target,
kubelet-style errors, authorization by server version, pings and the idle timeout."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

from tests.kubeapi.scenario import install_argo_rollouts
from tests.kubeapi.server import KubeApiServer

NS = "argo-rollouts"


def core_api(server: KubeApiServer, tmp_path: Path, user: str = "admin"):
    import kubernetes

    kubeconfig = server.write_kubeconfig(tmp_path / f"{user.replace(':', '_')}.kubeconfig", user)
    return kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(str(kubeconfig)))


def http_get(sock: socket.socket, path: str) -> bytes:
    """One HTTP/1.1 request with Connection: close over a forwarded socket; returns the whole response."""
    sock.settimeout(30)  # a guard against a hang, not a timing assertion
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def open_forward(core, pod: str, port: int):
    from kubernetes.stream import portforward

    return portforward(core.connect_get_namespaced_pod_portforward, pod, NS, ports=str(port))


def raw_websocket(server: KubeApiServer, pod: str, ports: str, token: str | None = None,
                  protocols: str = "v5.channel.k8s.io,v4.channel.k8s.io"):
    import websocket

    ws = websocket.WebSocket(sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(server.ca_file)})
    ws.connect(
        f"wss://127.0.0.1:{server.port}/api/v1/namespaces/{NS}/pods/{pod}/portforward?ports={ports}",
        header=[f"Authorization: Bearer {token or server.admin_token}", f"Sec-WebSocket-Protocol: {protocols}"],
    )
    ws.settimeout(30)
    return ws


def test_fetches_pprof_index_from_the_go_target(argo_cluster, tmp_path):
    core = core_api(argo_cluster.server, tmp_path)
    forward = open_forward(core, argo_cluster.scenario.leader_pod, 6060)
    response = http_get(forward.socket(6060), "/debug/pprof/")
    assert response.startswith(b"HTTP/1.1 200 OK")
    assert b"goroutine" in response and b"heap" in response
    assert forward.error(6060) is None
    forward.close()


def test_binary_heap_profile_arrives_intact(argo_cluster, go_new, tmp_path):
    import gzip

    import requests

    direct = requests.get(f"{go_new.base_url}/debug/pprof/heap", timeout=30).content
    core = core_api(argo_cluster.server, tmp_path)
    forward = open_forward(core, argo_cluster.scenario.leader_pod, 6060)
    response = http_get(forward.socket(6060), "/debug/pprof/heap")
    headers, _, body = response.partition(b"\r\n\r\n")
    assert b"200 OK" in headers.split(b"\r\n")[0]
    if b"chunked" in headers.lower():
        decoded, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        body = decoded
    assert gzip.decompress(body)  # a complete gzip stream, like the direct fetch
    assert body[:2] == direct[:2] == b"\x1f\x8b"


def test_metrics_port_is_routed_for_the_leader(argo_cluster, tmp_path):
    core = core_api(argo_cluster.server, tmp_path)
    forward = open_forward(core, argo_cluster.scenario.leader_pod, 8090)
    assert http_get(forward.socket(8090), "/metrics").startswith(b"HTTP/1.1 200 OK")


def test_port_without_a_route_gets_the_kubelet_error(argo_cluster, tmp_path):
    core = core_api(argo_cluster.server, tmp_path)
    follower = next(p for p in argo_cluster.scenario.controller_pods if p != argo_cluster.scenario.leader_pod)
    forward = open_forward(core, follower, 6060)
    sock = forward.socket(6060)
    sock.settimeout(30)
    assert sock.recv(1) == b""  # closed after the error
    error = forward.error(6060)
    assert error.startswith("error forwarding port 6060 to pod ")
    assert "failed to connect to localhost:6060 inside namespace" in error
    assert "dial tcp4 127.0.0.1:6060: connect: connection refused" in error


def test_missing_pod_is_a_404_before_the_upgrade(argo_cluster):
    import websocket

    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        raw_websocket(argo_cluster.server, "no-such-pod", "6060")
    assert caught.value.status_code == 404
    assert b'pods \\"no-such-pod\\" not found' in caught.value.resp_body


def test_v4_framing_and_ping(argo_cluster):
    import websocket

    ws = raw_websocket(argo_cluster.server, argo_cluster.scenario.leader_pod, "6060,8090")
    assert ws.getheaders()["sec-websocket-protocol"] == "v4.channel.k8s.io"
    openings = [ws.recv_data_frame(True)[1].data for _ in range(4)]
    port_6060, port_8090 = (6060).to_bytes(2, "little"), (8090).to_bytes(2, "little")
    assert openings == [b"\x00" + port_6060, b"\x01" + port_6060, b"\x02" + port_8090, b"\x03" + port_8090]
    ws.ping(b"keepalive")
    opcode, frame = ws.recv_data_frame(True)
    assert (opcode, frame.data) == (websocket.ABNF.OPCODE_PONG, b"keepalive")
    ws.send_binary(b"\x02GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    opcode, frame = ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_BINARY
    assert frame.data.startswith(b"\x02HTTP/1.1 200 OK")
    ws.close()


def test_offer_without_v4_is_refused(argo_cluster):
    import websocket

    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        raw_websocket(argo_cluster.server, argo_cluster.scenario.leader_pod, "6060",
                      protocols="SPDY/3.1+portforward.k8s.io")
    assert caught.value.status_code == 400


def test_many_concurrent_forwards(argo_cluster, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    core = core_api(argo_cluster.server, tmp_path)
    forwards = [open_forward(core, argo_cluster.scenario.leader_pod, 6060) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda f: http_get(f.socket(6060), "/debug/pprof/"), forwards))
    assert all(response.startswith(b"HTTP/1.1 200 OK") for response in responses)


def test_idle_timeout_drops_a_silent_forward(argo_cluster):
    import websocket

    argo_cluster.server.portforward_idle_timeout = 0.2
    ws = raw_websocket(argo_cluster.server, argo_cluster.scenario.leader_pod, "6060")
    for _ in range(2):
        ws.recv_data_frame(True)
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, ssl.SSLError)):
        ws.recv_data_frame(True)  # nothing sent: the connection is cut, no further frame arrives


def _portforward_user(server: KubeApiServer, verbs: list[str]) -> str:
    token = server.add_user("forwarder")
    server.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "pf", "namespace": NS},
                "rules": [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": verbs}]})
    server.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "pf", "namespace": NS},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pf"},
                "subjects": [{"kind": "User", "name": "forwarder"}]})
    return token


@pytest.mark.parametrize(
    ("git_version", "verbs", "allowed"),
    [
        ("v1.35.0", ["get"], False),  # AuthorizePodWebsocketUpgradeCreatePermission: create is needed too
        ("v1.35.0", ["create"], False),  # the upgrade is a GET, so get is checked first
        ("v1.35.0", ["get", "create"], True),
        ("v1.34.3", ["get"], True),  # before v1.35 a websocket upgrade needed get only
    ],
)
def test_portforward_authorization_follows_the_server_version(kube_api, go_new, git_version, verbs, allowed):
    import websocket

    kube_api.reset()
    saved_version = kube_api.git_version
    kube_api.git_version = git_version
    try:
        scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port)
        token = _portforward_user(kube_api, verbs)
        if allowed:
            raw_websocket(kube_api, scenario.leader_pod, "6060", token=token).close()
            return
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            raw_websocket(kube_api, scenario.leader_pod, "6060", token=token)
        assert caught.value.status_code == 403
        if "get" not in verbs:  # the authorization filter's own text
            assert b'User \\"forwarder\\" cannot get resource \\"pods/portforward\\"' in caught.value.resp_body
        else:  # v1.35's extra create check: NewForbidden with RBAC's empty reason
            status = json.loads(caught.value.resp_body)
            assert status["message"] == f'pods "{scenario.leader_pod}" is forbidden: '
            assert status["details"] == {"name": scenario.leader_pod, "kind": "pods"}
    finally:
        kube_api.git_version = saved_version
