"""How bytes reach the API server, decided once for REST and the port-forward websocket alike: one SSL context
(the kubeconfig's CA, else the system trust store and ``SSL_CERT_FILE``; client certificate; ``tls-server-name``;
``insecure-skip-tls-verify``) and one proxy decision (the cluster's ``proxy-url``, else ``HTTPS_PROXY`` /
``NO_PROXY`` the way kubectl reads them).

Without this, the kubernetes client's REST side trusts the system store while websocket-client trusts certifi, and
each reads the proxy environment its own way, so one half of a capture works and the other fails.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from kubectl_rollouts_profile.errors import ConnectionFailed, UsageError

CONNECT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy that tunnels with CONNECT; where it came from is kept for messages."""

    host: str
    port: int
    source: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{_host_for_url(self.host)}:{self.port}"

    def headers(self) -> dict[str, str]:
        """``Proxy-Authorization`` when the proxy URL carries credentials."""
        if self.username is None:
            return {}
        import base64

        pair = f"{self.username}:{self.password or ''}".encode()
        return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode()}


@dataclass(frozen=True)
class Transport:
    """The TLS and proxy settings both halves use. ``ssl_context`` is None for a plain-HTTP server."""

    server: str
    ssl_context: ssl.SSLContext | None = field(repr=False, compare=False)
    server_hostname: str | None
    verify: bool
    proxy: Proxy | None

    @property
    def host(self) -> str:
        return urlsplit(self.server).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.server)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def pool_manager(self, *, maxsize: int = 4) -> Any:
        """A urllib3 pool for the REST client, with this context and proxy."""
        import urllib3

        if not self.verify:
            # urllib3 would warn on every request; the cluster layer says it once (see ``connect``).
            import warnings

            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

        tls: dict[str, Any] = {}
        if self.ssl_context is not None:
            tls = {
                "ssl_context": self.ssl_context,
                "cert_reqs": ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE,
                "assert_hostname": self.server_hostname or self.host if self.verify else False,
            }
            if self.server_hostname:
                tls["server_hostname"] = self.server_hostname
        # Nothing is retried: each request gets one attempt within its budget (ClusterApi.send), instead of
        # urllib3's default three retries that made a dead API server take two minutes.
        tls["retries"] = urllib3.Retry(total=0, redirect=False, raise_on_redirect=False)
        if self.proxy is not None:
            return urllib3.ProxyManager(self.proxy.url, proxy_headers=self.proxy.headers(), maxsize=maxsize, **tls)
        return urllib3.PoolManager(maxsize=maxsize, **tls)

    def open_socket(self, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Any:
        """A connected socket to the API server (through the proxy's CONNECT tunnel, TLS done), for a websocket."""
        from urllib3.connection import HTTPConnection, HTTPSConnection

        target_host, target_port = self.host, self.port
        connection: Any
        if self.ssl_context is None:
            connection = HTTPConnection(target_host, target_port, timeout=timeout)
        else:
            connection = HTTPSConnection(
                target_host,
                target_port,
                timeout=timeout,
                ssl_context=self.ssl_context,
                cert_reqs=ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE,
                server_hostname=self.server_hostname,
                assert_hostname=(self.server_hostname or target_host) if self.verify else False,
            )
        if self.proxy is not None:
            connection.host, connection.port = self.proxy.host, self.proxy.port
            connection.set_tunnel(target_host, target_port, headers=self.proxy.headers())
        connection.connect()
        return connection.sock


def build_transport(client_configuration: Any, environ: Mapping[str, str], *, proxy_url: str | None) -> Transport:
    """The transport for the server in ``client_configuration`` (as the kubeconfig loader filled it)."""
    server = str(client_configuration.host)
    scheme = urlsplit(server).scheme
    verify = bool(client_configuration.verify_ssl)
    server_hostname = getattr(client_configuration, "tls_server_name", None) or None
    context = None
    if scheme == "https":
        context = ssl_context(
            ca_file=client_configuration.ssl_ca_cert,
            cert_file=client_configuration.cert_file,
            key_file=client_configuration.key_file,
            verify=verify,
        )
    return Transport(
        server=server,
        ssl_context=context,
        server_hostname=server_hostname,
        verify=verify,
        proxy=choose_proxy(server, proxy_url, environ),
    )


def ssl_context(*, ca_file: str | None, cert_file: str | None, key_file: str | None, verify: bool) -> ssl.SSLContext:
    """One client context: the kubeconfig's CA, else the system store (which honours ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR``); the client certificate if any; no verification at all for insecure-skip-tls-verify."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_file:
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            raise UsageError(
                f"cannot load the kubeconfig's certificate-authority: {error}",
                hint="check certificate-authority(-data) in the kubeconfig's cluster entry",
            ) from error
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as error:
            raise UsageError(
                f"cannot load the kubeconfig's client certificate and key: {error}",
                hint="check client-certificate(-data) and client-key(-data) in the kubeconfig's user entry",
            ) from error
    return context


def choose_proxy(server: str, proxy_url: str | None, environ: Mapping[str, str]) -> Proxy | None:
    """kubectl's choice: the cluster's ``proxy-url`` when set (for every host); else ``HTTPS_PROXY`` (for https
    servers; ``HTTP_PROXY`` for http ones) unless ``NO_PROXY`` matches or the server is localhost/loopback, which
    Go's ProxyFromEnvironment never proxies."""
    if proxy_url:
        return parse_proxy(proxy_url, "the kubeconfig's proxy-url")
    parts = urlsplit(server)
    host = (parts.hostname or "").lower()
    scheme_key = "https_proxy" if parts.scheme == "https" else "http_proxy"
    name, value = _env(environ, scheme_key)
    if not value or _is_loopback(host):
        return None
    if _no_proxy_matches(host, parts.port or (443 if parts.scheme == "https" else 80), _env(environ, "no_proxy")[1]):
        return None
    return parse_proxy(value, name)


def parse_proxy(url: str, source: str) -> Proxy:
    """An ``http://[user:password@]host[:port]`` proxy URL; a bare ``host:port`` means http, as in Go."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http",):
        raise UsageError(
            f"{source}: proxy scheme {parts.scheme!r} is not supported",
            hint="use an http:// proxy that tunnels with CONNECT",
        )
    if not parts.hostname:
        raise UsageError(f"{source}: no host in the proxy URL", hint="expected http://HOST:PORT")
    try:
        port = parts.port or 80
    except ValueError as error:
        raise UsageError(f"{source}: bad port in the proxy URL", hint="expected http://HOST:PORT") from error
    return Proxy(
        host=parts.hostname,
        port=port,
        source=source,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def proxy_failure(transport: Transport, error: BaseException) -> ConnectionFailed | None:
    """A clear error when the failure came from the proxy (refused, or it refused the CONNECT), else None."""
    if transport.proxy is None:
        return None
    text = str(error)
    if "Tunnel connection failed" in text or "ProxyError" in type(error).__name__ or "proxy" in text.lower():
        return ConnectionFailed(
            f"the proxy {transport.proxy.host}:{transport.proxy.port} (from {transport.proxy.source}) did not "
            f"open a tunnel to {transport.host}:{transport.port}: {text}",
            hint="check the proxy address and that it allows CONNECT to the API server's port; "
            "NO_PROXY lists hosts to reach directly",
        )
    return None


def _env(environ: Mapping[str, str], lower_name: str) -> tuple[str, str]:
    # Go reads the upper-case name first, then the lower-case one.
    for name in (lower_name.upper(), lower_name):
        if environ.get(name):
            return name, environ[name]
    return lower_name.upper(), ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _no_proxy_matches(host: str, port: int, no_proxy: str) -> bool:
    """Go's NO_PROXY rules (golang.org/x/net/http/httpproxy): ``*``; an IP or CIDR; ``example.com`` matches itself
    and its subdomains, ``.example.com`` and ``*.example.com`` only subdomains; ``host:port`` only that port."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_port = None
        if entry.count(":") == 1 and not entry.startswith("["):
            entry, _, port_text = entry.partition(":")
            entry_port = int(port_text) if port_text.isdigit() else None
        if entry_port is not None and entry_port != port:
            continue
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            network = None
        if network is not None:
            try:
                if ipaddress.ip_address(host.strip("[]")) in network:
                    return True
            except ValueError:
                pass
            continue
        if entry.startswith("*."):
            entry = entry[1:]
        if entry.startswith("."):
            if host.endswith(entry):
                return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
