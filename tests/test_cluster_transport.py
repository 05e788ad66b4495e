"""One TLS context and one proxy decision for REST and the port-forward tunnel, against the test API server:
client certificates (files and data), the system trust store / SSL_CERT_FILE when the kubeconfig has no CA,
tls-server-name, insecure-skip-tls-verify, and proxies through a real tinyproxy on loopback."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.cluster.transport import choose_proxy
from kubectl_rollouts_profile.errors import UsageError
from tests.kubeapi.scenario import install_argo_rollouts
from tests.kubeapi.server import UNAUTHENTICATED, KubeApiServer

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"


def heap(kubeconfig: Path, tmp_path: Path, env: dict | None = None, *extra: str):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return CliRunner().invoke(main, ["heap", "--kubeconfig", str(kubeconfig), "--output-dir", str(out),
                                     "--format", "none", *extra], env=env)


def forward_users(server: KubeApiServer) -> list[str]:
    return [user for _, path, user in server.requests if "/portforward" in path]


# -- client certificates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_data", [False, True], ids=["files", "data"])
def test_client_certificate_authenticates_rest_and_tunnel(argo_cluster, tmp_path: Path, as_data: bool) -> None:
    server = argo_cluster.server
    cert, key = server.issue_client_cert(tmp_path / "pki", "cert-admin", groups=("system:masters",))
    if as_data:
        user = {"client-certificate-data": base64.b64encode(cert.read_bytes()).decode(),
                "client-key-data": base64.b64encode(key.read_bytes()).decode()}
    else:
        user = {"client-certificate": str(cert), "client-key": str(key)}
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "cert-admin", namespace="argo-rollouts", user_entry=user)
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 0, result.output
    assert {user for _, _, user in server.requests} == {"cert-admin"}
    assert forward_users(server)  # the websocket presented the certificate too


def test_certificate_from_another_ca_fails_the_handshake(argo_cluster, tmp_path: Path) -> None:
    import trustme

    stranger = trustme.CA().issue_cert("cert-admin")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    stranger.cert_chain_pems[0].write_to_path(str(cert))
    stranger.private_key_pem.write_to_path(str(key))
    kubeconfig = argo_cluster.server.write_kubeconfig(tmp_path / "kc", "x", user_entry={
        "client-certificate": str(cert), "client-key": str(key)})
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 7, result.output
    assert "cannot reach the API server" in result.stderr


# -- trust: system store / SSL_CERT_FILE, tls-server-name, insecure ----------------------------------------


def test_no_ca_in_kubeconfig_uses_ssl_cert_file_for_rest_and_tunnel(argo_cluster, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = argo_cluster.server
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "admin", namespace="argo-rollouts", embed_ca=False)
    untrusted = heap(kubeconfig, tmp_path)  # the test CA is in no store
    assert untrusted.exit_code == 7, untrusted.output
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr or "certificate verify failed" in untrusted.stderr
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
    server.requests.clear()
    trusted = heap(kubeconfig, tmp_path)
    assert trusted.exit_code == 0, trusted.output
    assert forward_users(server)  # the websocket trusted the same store (not certifi's)


@pytest.fixture
def named_server(go_new, tmp_path: Path) -> Iterator[KubeApiServer]:
    """A second API server whose certificate names only kubeapi.internal (no IP address)."""
    with KubeApiServer(serving_names=("kubeapi.internal",)) as server:
        install_argo_rollouts(server, pprof_port=go_new.pprof_port)
        yield server


def test_tls_server_name_for_rest_and_tunnel(named_server: KubeApiServer, tmp_path: Path) -> None:
    plain = named_server.write_kubeconfig(tmp_path / "plain", "admin", namespace="argo-rollouts")
    mismatch = heap(plain, tmp_path)
    assert mismatch.exit_code == 7, mismatch.output
    assert "127.0.0.1" in mismatch.stderr
    named = named_server.write_kubeconfig(tmp_path / "named", "admin", namespace="argo-rollouts",
                                          cluster_entry={"tls-server-name": "kubeapi.internal"})
    named_server.requests.clear()
    result = heap(named, tmp_path)
    assert result.exit_code == 0, result.output
    assert forward_users(named_server)


def test_insecure_skip_tls_verify_for_rest_and_tunnel(argo_cluster, tmp_path: Path) -> None:
    server = argo_cluster.server
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "admin", namespace="argo-rollouts", embed_ca=False,
                                         cluster_entry={"insecure-skip-tls-verify": True})
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 0, result.output
    assert forward_users(server)
    assert "certificate is not verified (insecure-skip-tls-verify" in result.stderr
    assert "InsecureRequestWarning" not in result.stderr


# -- proxies ------------------------------------------------------------------------------------------------


@dataclass
class Tinyproxy:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connects(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if ": CONNECT " in line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_tinyproxy(directory: Path, extra: str = "") -> tuple[subprocess.Popen, Tinyproxy]:
    directory.mkdir(parents=True, exist_ok=True)
    proxy = Tinyproxy(port=_free_port(), log=directory / "tinyproxy.log")
    config = directory / "tinyproxy.conf"
    config.write_text(f'Port {proxy.port}\nListen 127.0.0.1\nTimeout 600\nLogFile "{proxy.log}"\nLogLevel Info\n'
                      f"MaxClients 50\nAllow 127.0.0.1\n{extra}")
    process = subprocess.Popen([TINYPROXY, "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:  # until it accepts connections
        try:
            socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("tinyproxy did not start") from None
            time.sleep(0.05)
    return process, proxy


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    process, proxy = _start_tinyproxy(tmp_path / "tinyproxy")
    yield proxy
    process.terminate()
    process.wait(timeout=10)


def test_proxy_url_carries_rest_and_the_tunnel(argo_cluster, tinyproxy: Tinyproxy, tmp_path: Path) -> None:
    server = argo_cluster.server
    kubeconfig = server.write_kubeconfig(tmp_path / "kc", "admin", namespace="argo-rollouts",
                                         cluster_entry={"proxy-url": tinyproxy.url})
    server.requests.clear()
    result = heap(kubeconfig, tmp_path)
    assert result.exit_code == 0, result.output
    connects = tinyproxy.connects()
    assert connects and all(f"CONNECT 127.0.0.1:{server.port} " in line for line in connects)
    # REST (one pooled connection at least) plus one CONNECT per websocket: every forward went through the proxy.
    assert len(connects) >= 1 + len(forward_users(server))


def test_https_proxy_environment_is_not_used_for_loopback_like_kubectl(argo_cluster, tinyproxy: Tinyproxy,
                                                                       tmp_path: Path) -> None:
    # Go's ProxyFromEnvironment never proxies localhost or loopback addresses; kubectl and we agree.
    kubeconfig = argo_cluster.server.write_kubeconfig(tmp_path / "kc", "admin", namespace="argo-rollouts")
    result = heap(kubeconfig, tmp_path, {"HTTPS_PROXY": tinyproxy.url, "NO_PROXY": ""})
    assert result.exit_code == 0, result.output
    assert tinyproxy.connects() == []


def test_proxy_refusing_the_tunnel_is_named(argo_cluster, tmp_path: Path) -> None:
    process, proxy = _start_tinyproxy(tmp_path / "strict", extra="ConnectPort 443\n")
    try:
        kubeconfig = argo_cluster.server.write_kubeconfig(tmp_path / "kc", "admin",
                                                          cluster_entry={"proxy-url": proxy.url})
        result = heap(kubeconfig, tmp_path)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert result.exit_code == 7, result.output
    assert "proxy" in result.stderr.lower()
    assert UNAUTHENTICATED not in {user for _, _, user in argo_cluster.server.requests}


@pytest.mark.parametrize(
    ("server", "proxy_url", "environ", "expected"),
    [
        ("https://10.0.0.1:6443", None, {"HTTPS_PROXY": "http://proxy:3128"}, "proxy:3128"),
        ("https://10.0.0.1:6443", None, {"https_proxy": "proxy:3128"}, "proxy:3128"),
        ("https://10.0.0.1:6443", None, {"HTTP_PROXY": "http://proxy:3128"}, None),  # https servers use HTTPS_PROXY
        ("https://10.0.0.1:6443", None, {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://api.corp.example:6443", None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "corp.example"}, None),
        ("https://api.corp.example:6443", None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example"}, None),
        ("https://example:6443", None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example"}, "p:1"),
        ("https://api.corp.example:6443", None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.corp.example:443"},
         "p:1"),
        ("https://api.corp.example:6443", None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        ("https://127.0.0.1:6443", None, {"HTTPS_PROXY": "http://p:1"}, None),
        ("https://localhost:6443", None, {"HTTPS_PROXY": "http://p:1"}, None),
        # proxy-url wins over the environment, also for loopback and NO_PROXY
        ("https://127.0.0.1:6443", "http://kc-proxy:8080", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"},
         "kc-proxy:8080"),
    ],
)
def test_choose_proxy_like_kubectl(server: str, proxy_url: str | None, environ: dict, expected: str | None) -> None:
    proxy = choose_proxy(server, proxy_url, environ)
    assert (f"{proxy.host}:{proxy.port}" if proxy else None) == expected


def test_proxy_credentials_and_unsupported_schemes() -> None:
    proxy = choose_proxy("https://10.0.0.1", "http://user:p%40ss@proxy:3128", {})
    assert proxy is not None and proxy.headers() == {"Proxy-Authorization": "Basic dXNlcjpwQHNz"}
    assert "p@ss" not in repr(proxy)
    with pytest.raises(UsageError, match="socks5"):
        choose_proxy("https://10.0.0.1", "socks5://proxy:1080", {})
