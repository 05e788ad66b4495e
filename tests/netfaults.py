"""Loopback helpers for fault tests: relays that record requests, cut responses short or cut idle connections,
servers that answer with a fixed response, trickle a body, or never answer, and ports that refuse or never accept.
Every one listens on 127.0.0.1 only and stops with ``close()``."""

from __future__ import annotations

import select
import socket
import threading


def _listener() -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


class LoopbackServer:
    """Accepts connections on a free loopback port and hands each to ``handle`` in a thread of its own."""

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._guard = threading.Lock()
        self._held: list[socket.socket] = []  # connections kept open, never answered
        self._server = _listener()
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(client,), daemon=True).start()

    def handle(self, client: socket.socket) -> None:
        raise NotImplementedError

    def hold(self, client: socket.socket) -> None:
        """Keep ``client`` open without ever reading from or answering it (until ``close``)."""
        with self._guard:
            self._held.append(client)

    @property
    def held(self) -> list[socket.socket]:
        with self._guard:
            return list(self._held)

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        for client in self.held:
            client.close()


class CuttingRelay(LoopbackServer):
    """Relays to ``upstream``; records request lines; closes a response after ``cut_after`` bytes."""

    def __init__(self, upstream: tuple[str, int], cut_after: int | None = None) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.request_lines: list[str] = []
        self._seen = threading.Condition()
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump_requests, args=(client, upstream), daemon=True).start()
        sent = 0
        try:
            while chunk := upstream.recv(65536):
                if self.cut_after is not None and sent + len(chunk) > self.cut_after:
                    client.sendall(chunk[: self.cut_after - sent])
                    break
                client.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            _close(client, upstream)

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while chunk := client.recv(65536):
                for line in chunk.split(b"\r\n"):
                    if line.startswith((b"GET ", b"POST ", b"HEAD ")):
                        with self._seen:
                            self.request_lines.append(line.decode("latin-1"))
                            self._seen.notify_all()
                upstream.sendall(chunk)
        except OSError:
            pass

    def wait_for_request(self, prefix: str, timeout: float = 30) -> bool:
        """Block until a request line starting with ``prefix`` has been relayed."""
        with self._seen:
            return self._seen.wait_for(
                lambda: any(line.startswith(prefix) for line in self.request_lines), timeout=timeout
            )


class FixedResponseServer(LoopbackServer):
    """Answers every request with the same status, headers and body (e.g. an HTML page where pprof is expected)."""

    def __init__(self, status: str, content_type: str, body: bytes) -> None:
        self._response = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + body
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        with client:
            try:
                client.recv(65536)
                client.sendall(self._response)
            except OSError:
                pass


class TrickleServer(LoopbackServer):
    """Answers every request with 200 and a gzip-looking body announced in full, then sends it one byte every
    ``interval`` seconds: each socket read is quick, but the body never ends in reasonable time."""

    def __init__(self, interval: float = 0.2, body_size: int = 1 << 20) -> None:
        self.interval = interval
        self.body_size = body_size
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        with client:
            try:
                client.recv(65536)
                client.sendall(
                    f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Length: {self.body_size}\r\n\r\n".encode() + b"\x1f\x8b"
                )
                while not self._closed.wait(self.interval):
                    client.sendall(b"\x00")
            except OSError:
                pass


class SilentServer(LoopbackServer):
    """Accepts connections but never answers them (a frozen process); ``clients`` are those accepted so far."""

    def handle(self, client: socket.socket) -> None:
        self.hold(client)

    @property
    def clients(self) -> list[socket.socket]:
        return self.held


class Blackhole:
    """A listening socket that never accepts: connections complete in the kernel, then nothing is ever answered
    (a frozen API server, or a firewall that drops after the handshake)."""

    def __init__(self) -> None:
        self._server = _listener()
        self.port = self._server.getsockname()[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.close()


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then released), so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FaultRelay(LoopbackServer):
    """Relays to ``upstream`` byte for byte (TLS passes through untouched), with two faults:

    - ``idle_cut_seconds``: a connection with no byte either way for that long is cut (no goodbye), like a proxy
      or load balancer with an idle timeout;
    - ``freeze()``: connections accepted from then on are never relayed nor answered (a frozen server); those
      already open keep working.
    """

    def __init__(self, upstream: tuple[str, int], idle_cut_seconds: float | None = None) -> None:
        self.upstream = upstream
        self.idle_cut_seconds = idle_cut_seconds
        self.cuts = 0
        self._frozen = threading.Event()
        super().__init__()

    def freeze(self) -> None:
        self._frozen.set()

    @property
    def frozen_connections(self) -> int:
        """How many connections were accepted (and never answered) since ``freeze()``."""
        return len(self.held)

    def handle(self, client: socket.socket) -> None:
        if self._frozen.is_set():
            self.hold(client)
            return
        upstream = socket.create_connection(self.upstream)
        peers = {client: upstream, upstream: client}
        try:
            while not self._closed.is_set():
                readable, _, _ = select.select(list(peers), [], [], self.idle_cut_seconds)
                if not readable:
                    with self._guard:
                        self.cuts += 1
                    return
                for sock in readable:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    peers[sock].sendall(chunk)
        except OSError:
            pass
        finally:
            _close(client, upstream)
