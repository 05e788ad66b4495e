"""Port-forward to a pod: a listener on 127.0.0.1 whose every accepted connection is bridged to its own
pods/portforward websocket (``v4.channel.k8s.io``), so the capture code speaks plain HTTP to a local port.

Our own bridge instead of ``kubernetes.stream.portforward``: that one drops the impersonation headers, sends no
keepalive pings (so long captures die at idle timeouts), and its proxy thread writes to the socket outside the
websocket lock, so pings cannot safely be added from outside.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubectl_rollouts_profile.cluster.config import ClusterConfig
from kubectl_rollouts_profile.cluster.transport import Transport, build_transport, proxy_failure
from kubectl_rollouts_profile.errors import (
    AccessDenied,
    ConnectionFailed,
    ProfileError,
    ProfilingUnavailable,
    RolloutsProfileError,
    TargetNotFound,
    connection_refused,
)

LOOPBACK = "127.0.0.1"
PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"
# Pings cost a few bytes; proxies and load balancers cut idle connections after as little as 10 s.
KEEPALIVE_SECONDS = 5.0
# A forward that drops after at least this long without data, while a request waits for its answer (a cpu
# profile is silent until it ends), is reported as the kubelet's idle timeout.
IDLE_DROP_SECONDS = 1.0
KUBELET_IDLE_SETTING = "streamingConnectionIdleTimeout"
_DATA, _ERROR = 0, 1
# When several things went wrong, report the most specific one.
_PRIORITY = (ProfilingUnavailable, TargetNotFound, AccessDenied, ConnectionFailed)


class Tunnel:
    """Owns the listener, every bridge and every websocket; ``close()`` (or leaving the ``with``) ends them all.

    What went wrong inside the bridges (nothing listening in the pod, pod gone, websocket dropped) is recorded,
    because the HTTP client on the other end only sees a closed connection; ``translate`` turns that into the
    project error.
    """

    def __init__(
        self,
        config: ClusterConfig,
        namespace: str,
        pod: str,
        remote_port: int,
        *,
        keepalive_seconds: float | None = KEEPALIVE_SECONDS,
    ) -> None:
        self.config = config
        self.namespace = namespace
        self.pod = pod
        self.remote_port = remote_port
        self.keepalive_seconds = keepalive_seconds
        self.local_port = 0
        self._lock = threading.Lock()
        self._failures: list[RolloutsProfileError] = []
        self._sockets: set[Any] = set()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._handshakes_waiting = 0  # port-forward requests sent to the API server and not answered yet

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.local_port}"

    @property
    def bound_address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.getsockname()

    def __enter__(self) -> Tunnel:
        # One handshake up front, so a missing pod or a forbidden port-forward fails here, with its real message,
        # instead of as a closed connection in the middle of the capture.
        self._open_websocket().close()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen(16)
        self._listener = listener
        self.local_port = listener.getsockname()[1]
        self._start(self._accept_loop, "accept")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake_writer.send(b"x")  # never read: stays readable, so every bridge's select wakes up
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
            except OSError:
                pass
            self._listener.close()
        for thread in list(self._threads):
            thread.join(timeout=5)
        with self._lock:
            for sock in list(self._sockets):
                _close_quietly(sock)
            self._sockets.clear()
        self._wake_reader.close()
        self._wake_writer.close()

    def failure(self) -> RolloutsProfileError | None:
        """The most specific problem the bridges recorded, or None. With nothing recorded yet but a port-forward
        request still unanswered, the API server is the one not answering (not the pod behind it)."""
        with self._lock:
            failures = list(self._failures)
            waiting = self._handshakes_waiting
        for kind in _PRIORITY:
            for failure in failures:
                if isinstance(failure, kind):
                    return failure
        if failures:
            return failures[0]
        if waiting:
            return self._handshake_unanswered("has not answered")
        return None

    def translate(self, error: BaseException) -> RolloutsProfileError | None:
        """The error to raise instead of ``error`` (raised by code using the tunnel), or None to keep it."""
        if not isinstance(error, Exception):
            return None
        if isinstance(error, RolloutsProfileError) and not isinstance(
            error, (ConnectionFailed, ProfileError, ProfilingUnavailable)
        ):
            return None
        return self.failure()

    # -- internals -------------------------------------------------------------------------------------------

    def _start(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"tunnel-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _record(self, failure: RolloutsProfileError) -> None:
        with self._lock:
            self._failures.append(failure)

    def _track(self, sock: Any) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            self._sockets.add(sock)
            return True

    def _untrack(self, sock: Any) -> None:
        with self._lock:
            self._sockets.discard(sock)
        _close_quietly(sock)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(client):
                _close_quietly(client)
                return
            self._start(self._bridge, "bridge", client)

    def _bridge(self, client: socket.socket) -> None:
        websocket = None
        try:
            websocket = self._open_websocket()
            if self._track(websocket):
                self._pump(client, websocket)
        except RolloutsProfileError as error:
            self._record(error)
        except (OSError, ssl.SSLError) as error:
            if not self._closed.is_set():
                self._record(self._dropped(str(error)))
        except Exception as error:  # a websocket protocol error: this connection fails, the tunnel stays
            if not self._closed.is_set():
                self._record(self._dropped(repr(error)))
        finally:
            if websocket is not None:
                self._untrack(websocket)
            self._untrack(client)

    def _pump(self, client: socket.socket, websocket: Any) -> None:
        from websocket import ABNF, WebSocketConnectionClosedException

        opened = [False, False]
        error_text = ""
        # When data last went to the pod and came back: a drop while an answer is awaited after a long silence is
        # the kubelet's idle timeout (pings do not reset it).
        last_sent = last_received = time.monotonic()

        def dropped(detail: str) -> ConnectionFailed:
            silent = time.monotonic() - max(last_sent, last_received)
            awaiting = last_sent >= last_received
            return self._dropped(detail, idle_seconds=silent if awaiting and silent >= IDLE_DROP_SECONDS else None)

        while True:
            readable, _, _ = select.select([client, websocket.sock, self._wake_reader], [], [], self.keepalive_seconds)
            if self._wake_reader in readable:
                return
            if not readable:
                websocket.ping()  # keeps idle proxies and load balancers between here and the kubelet from cutting us
                continue
            if client in readable:
                data = client.recv(65536)
                if not data:
                    return  # the HTTP client is done with this connection
                websocket.send_binary(bytes((_DATA,)) + data)
                last_sent = time.monotonic()
            if websocket.sock not in readable:
                continue
            while True:
                try:
                    opcode, frame = websocket.recv_data_frame(True)
                except (WebSocketConnectionClosedException, OSError) as error:
                    if isinstance(error, OSError) and self._closed.is_set():
                        return
                    opcode, frame = ABNF.OPCODE_CLOSE, None
                if opcode == ABNF.OPCODE_CLOSE:
                    if error_text:
                        self._record(self._port_error(error_text))
                    else:
                        self._record(dropped("the API server closed the port-forward"))
                    return
                if opcode in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) and frame.data:
                    channel, payload = frame.data[0], bytes(frame.data[1:])
                    if channel not in (_DATA, _ERROR):
                        raise ConnectionFailed(f"port-forward to pod {self.pod}: unexpected channel {channel}")
                    if not opened[channel]:
                        opened[channel] = True  # each channel opens with the port number (2 bytes)
                        payload = payload[2:]
                    if payload and channel == _DATA:
                        last_received = time.monotonic()
                        client.sendall(payload)
                    elif payload:
                        error_text += payload.decode("utf-8", "replace")
                        self._record(self._port_error(error_text))
                        return
                pending = isinstance(websocket.sock, ssl.SSLSocket) and websocket.sock.pending()
                if not pending:
                    break

    def _port_error(self, text: str) -> RolloutsProfileError:
        if "refused" in text or "connect:" in text:
            return ProfilingUnavailable(
                f"nothing is listening on port {self.remote_port} in pod {self.pod}: is --enable-pprof-address set?",
                hint="check the controller's --enable-pprof-address (Helm: controller.pprofAddress) "
                "or name the right port with --port",
            )
        return ConnectionFailed(f"port-forward to pod {self.pod} port {self.remote_port} failed: {text.strip()}")

    def _dropped(self, detail: str, *, idle_seconds: float | None = None) -> ConnectionFailed:
        if idle_seconds is not None:
            return ConnectionFailed(
                f"the port-forward to pod {self.pod} dropped after {idle_seconds:.0f}s without data ({detail}): the "
                f"kubelet closes port-forwards idle longer than its {KUBELET_IDLE_SETTING} (often 5m on "
                "CIS-hardened nodes; websocket pings do not reset it), and a cpu or trace capture sends nothing "
                "until it ends",
                hint="capture with a shorter --seconds than the node's timeout (e.g. --seconds 240 under 5m), or "
                f"raise {KUBELET_IDLE_SETTING} in the kubelet configuration",
            )
        return ConnectionFailed(
            f"the port-forward to pod {self.pod} dropped: {detail}",
            hint="check that the pod is still running (kubectl get pods), then retry",
        )

    def _open_websocket(self) -> Any:
        transport = self.config.transport or build_transport(
            self.config.client_configuration, {}, proxy_url=None
        )
        scheme = "wss" if transport.ssl_context is not None else "ws"
        url = (
            f"{scheme}://{_host_for_url(transport.host)}:{transport.port}"
            f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/portforward?ports={self.remote_port}"
        )
        what = f"port-forward to pod {self.namespace}/{self.pod}"
        # Credentials first: an exec plugin may run here (a token about to expire), and its failure is the message.
        headers = [f"{name}: {value}" for name, value in self.config.auth_headers()]
        budget = self.config.request_timeout_seconds
        with self._lock:
            self._handshakes_waiting += 1
        try:
            return self._handshake(transport, url, headers, what, budget)
        finally:
            with self._lock:
                self._handshakes_waiting -= 1

    def _handshake(self, transport: Transport, url: str, headers: list[str], what: str, budget: float) -> Any:
        import urllib3.exceptions
        from websocket import WebSocket, WebSocketBadStatusException, WebSocketException, WebSocketTimeoutException

        from kubectl_rollouts_profile.cluster.access import portforward_forbidden
        from kubectl_rollouts_profile.cluster.api import api_error, status_message

        try:
            # The same TLS context and proxy as REST: the socket is ours, websocket-client only speaks the protocol.
            sock = transport.open_socket(min(budget, self.config.connect_timeout_seconds))
        except (OSError, urllib3.exceptions.HTTPError) as error:
            if _is_timeout(error):
                raise self._handshake_unanswered("did not answer") from error
            raise proxy_failure(transport, error) or ConnectionFailed(
                f"{what}: cannot connect to the API server {transport.host}:{transport.port}: {_short(error)}"
            ) from error
        sock.settimeout(budget)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        websocket = WebSocket(skip_utf8_validation=True)
        try:
            websocket.connect(url, socket=sock, header=headers, subprotocols=[PORTFORWARD_PROTOCOL],
                              timeout=budget)
        except WebSocketBadStatusException as error:
            _close_quietly(sock)
            body = error.resp_body.decode("utf-8", "replace") if isinstance(error.resp_body, bytes) else ""
            if error.status_code == 403:
                raise portforward_forbidden(status_message(body), self.namespace, self.pod) from error
            raise api_error(error.status_code, body or str(error), what) from error
        except (WebSocketTimeoutException, TimeoutError) as error:
            _close_quietly(sock)
            raise self._handshake_unanswered("did not answer") from error
        except (OSError, WebSocketException) as error:
            _close_quietly(sock)
            raise ConnectionFailed(f"{what}: cannot open the websocket: {error}") from error
        websocket.settimeout(None)
        return websocket

    def _handshake_unanswered(self, verb: str) -> ConnectionFailed:
        host = self.config.client_configuration.host.rstrip("/")
        return ConnectionFailed(
            f"the API server {host} {verb} the port-forward request (websocket upgrade) to pod "
            f"{self.namespace}/{self.pod} within {self.config.request_timeout_seconds:g}s",
            hint="the API server is overloaded or unreachable; check `kubectl get --raw /readyz`, then retry "
            "(--request-timeout sets the budget)",
        )


@contextmanager
def open_tunnel(
    config: ClusterConfig,
    namespace: str,
    pod: str,
    remote_port: int,
    *,
    keepalive_seconds: float | None = KEEPALIVE_SECONDS,
    retry: Callable[[RolloutsProfileError], bool] | None = None,
) -> Iterator[str]:
    """Forward a free port on 127.0.0.1 to ``remote_port`` in the pod; yields the local base URL. An error in the
    block that comes from the tunnel breaking (the HTTP client sees only a closed connection) is replaced by what
    the tunnel recorded, e.g. "nothing is listening on port P". ``retry``: asked after a failed first handshake
    whether to try again (it waits before it says yes), e.g. while a container is only just starting."""
    while True:
        tunnel = Tunnel(config, namespace, pod, remote_port, keepalive_seconds=keepalive_seconds)
        try:
            tunnel.__enter__()
        except RolloutsProfileError as error:
            tunnel.close()
            if retry is not None and retry(error):
                continue
            raise
        except BaseException:
            tunnel.close()
            raise
        break
    with tunnel:
        try:
            yield tunnel.base_url
        except Exception as error:
            translated = tunnel.translate(error)
            if translated is None:
                raise
            raise translated from error


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _is_timeout(error: BaseException) -> bool:
    import urllib3.exceptions

    if isinstance(error, urllib3.exceptions.NewConnectionError):  # refused: a subclass of ConnectTimeoutError
        return False
    return isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError))


def _short(error: BaseException) -> str:
    return "connection refused" if connection_refused(error) else str(error)


def _close_quietly(sock: Any) -> None:
    try:
        if isinstance(sock, socket.socket):
            sock.close()
        else:  # a websocket: say goodbye, but do not wait long for the answer
            sock.close(timeout=1)
    except Exception:
        pass
