"""One HTTP fetch of one profile from a Go pprof server: bounded in time and size, streamed to a temp file, checked.

The request paths work in both Argo Rollouts mux layouts: ``/debug/pprof/profile`` and ``/debug/pprof/trace`` are
exact routes in the v1.8.0-rc1 layout and 301-redirect (query kept) to their trailing-slash routes from v1.8.0 on.
Named profiles (heap, goroutine, ...) exist only under the ``/debug/pprof/`` index of the newer layout; a 404 for
one is told apart from "no pprof server here" by asking for the old layout's exact index route.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kubectl_rollouts_profile.errors import (
    ConnectionFailed,
    ProfileError,
    ProfilingUnavailable,
    TargetBusy,
    connection_refused,
)
from kubectl_rollouts_profile.kinds import KINDS, PPROF_PREFIX, RATE_SETTERS, ProfileKind
from kubectl_rollouts_profile.pprof.decode import decode_profile
from kubectl_rollouts_profile.pprof.model import Profile

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT = 5.0
READ_MARGIN = 20.0  # seconds the server may take beyond the capture duration to answer
DEADLINE_MARGIN = 60.0  # seconds the whole fetch may take beyond the capture duration (headers and body)
CHUNK = 64 * 1024
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# Messages of Go's net/http/pprof when a CPU profile or trace is already running in the process.
BUSY_MARKERS = ("cpu profiling already in use", "tracing is already enabled")
TRACE_MAGIC_PREFIX = b"go 1."


@dataclass(frozen=True)
class Fetched:
    """What one fetch brought: the body went into the sink it was handed."""

    url: str  # after redirects
    content_type: str
    started_at: datetime
    finished_at: datetime
    received: int


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


Progress = Callable[[str, float, float], None]  # (event, elapsed seconds, total seconds)


def profile_url(base_url: str, kind: ProfileKind, seconds: int | None) -> tuple[str, dict[str, str]]:
    params = {"seconds": str(seconds)} if seconds is not None else {}
    return base_url.rstrip("/") + kind.path, params


def deadline_for(seconds: int | None) -> float:
    """The whole fetch, headers to last byte, must end within this many seconds."""
    return (seconds or 0) + DEADLINE_MARGIN


def _session() -> requests.Session:
    import requests

    session = requests.Session()
    session.trust_env = False  # a proxy from the environment must never see a loopback tunnel's traffic
    session.headers["User-Agent"] = "kubectl-rollouts-profile"
    return session


def fetch_into(
    base_url: str,
    kind: ProfileKind,
    seconds: int | None,
    sink: Sink,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
    deadline_seconds: float | None = None,
    where: str | None = None,
) -> Fetched:
    """Fetch one profile and stream its body (gzip bytes as sent) into ``sink``. The headers must come within the
    capture's duration plus a margin and the whole fetch within ``deadline_seconds`` (default: ``deadline_for``),
    however slowly the server trickles. ``where`` names the server in messages (default: ``base_url``)."""
    import requests

    where = where or base_url
    url, params = profile_url(base_url, kind, seconds)
    deadline = deadline_for(seconds) if deadline_seconds is None else deadline_seconds
    read_timeout = min((seconds or 0) + READ_MARGIN, deadline)
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    session = _session()
    ticker = _Ticker(progress, float(seconds or 0)) if progress else None
    finished = False
    try:
        if ticker:
            ticker.start()
        try:
            response = session.get(url, params=params, stream=True, timeout=(CONNECT_TIMEOUT, read_timeout))
        except requests.RequestException as exc:
            raise _connection_error(where, exc, waited=read_timeout) from exc
        with response, _Watchdog(response, deadline - (time.monotonic() - started)) as watchdog:
            _check_status(session, base_url, kind, response, where)
            received = _stream_body(response, sink, max_bytes, where, watchdog, kind, deadline)
        finished = True
        return Fetched(
            url=response.url,
            content_type=response.headers.get("Content-Type", ""),
            started_at=started_at,
            finished_at=datetime.now(timezone.utc),
            received=received,
        )
    finally:
        if ticker:
            ticker.stop(finished=finished)
        session.close()


def fetch_text(base_url: str, path: str, *, timeout: float = 30.0, max_bytes: int = 64 * 1024 * 1024) -> bytes:
    """GET a small endpoint (metrics, goroutine debug dump) through the same rules; return its body. The whole
    request must end within twice ``timeout``."""
    import requests

    if path.rstrip("/").endswith("/cmdline"):
        raise ValueError("the cmdline endpoint is never fetched: it can hold secrets")
    session = _session()
    stalled = ConnectionFailed(f"{base_url}{path} stalled: not complete within {2 * timeout:.0f}s")
    watchdog: _Watchdog | None = None
    try:
        response = session.get(base_url.rstrip("/") + path, stream=True, timeout=(CONNECT_TIMEOUT, timeout))
        with response, _Watchdog(response, 2 * timeout) as watchdog:
            if response.status_code != 200:
                raise ConnectionFailed(
                    f"{path} answered HTTP {response.status_code}: {_first_line(response)}", hint=""
                )
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_content(CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise ProfileError(f"{path}: body larger than {max_bytes} bytes")
                chunks.append(chunk)
            if watchdog.expired:
                raise stalled
            return b"".join(chunks)
    except requests.RequestException as exc:
        if watchdog is not None and watchdog.expired:
            raise stalled from exc
        raise _connection_error(base_url, exc) from exc
    finally:
        session.close()


def _connection_error(base_url: str, exc: Exception, *, waited: float | None = None) -> ConnectionFailed:
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return ConnectionFailed(f"connecting to {base_url} timed out after {CONNECT_TIMEOUT:.0f}s")
    if isinstance(exc, requests.ConnectionError) and "Read timed out" not in str(exc):
        if connection_refused(exc):
            return ConnectionFailed(f"cannot connect to {base_url}: connection refused")
        return ConnectionFailed(f"connection to {base_url} failed: {_short(exc)}")
    if isinstance(exc, requests.Timeout):
        within = f" within {waited:.0f}s" if waited is not None else " in time"
        return ConnectionFailed(
            f"{base_url} did not start answering{within}", hint="retry; if it persists the process may be stuck"
        )
    return ConnectionFailed(f"connection to {base_url} failed: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _first_line(response: requests.Response) -> str:
    try:
        body = response.raw.read(4096, decode_content=True) or b""
    except Exception:  # the body is only for the message
        body = b""
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:200] if text else "(empty body)"


def _check_status(
    session: requests.Session, base_url: str, kind: ProfileKind, response: requests.Response, where: str
) -> None:
    status = response.status_code
    if status == 200:
        return
    message = _first_line(response)
    if status == 500 and any(marker in message for marker in BUSY_MARKERS):
        raise TargetBusy(f"the target is already running a {kind.name} capture ({message})")
    if status == 400 and "WriteTimeout" in message:
        raise ProfilingUnavailable(
            f"the pprof server refused the duration: {message}", hint="use a shorter --seconds"
        )
    if status == 404:
        if kind.named and _serves_old_layout(session, base_url):
            timed = ", ".join(name for name, other in KINDS.items() if other.timed)
            raise ProfilingUnavailable(
                f"this controller's pprof server does not serve {kind.name!r} (older Argo Rollouts layout, "
                f"v1.8.0-rc1); {timed} are available",
                hint="upgrade Argo Rollouts to v1.8.0 or later for named profiles",
            )
        raise ProfilingUnavailable(
            f"no pprof server at {where}: {kind.path} answered 404",
            hint="point at the pprof address (--enable-pprof-address), not the metrics or health port",
        )
    raise ConnectionFailed(f"{kind.path} answered HTTP {status}: {message}")


def _serves_old_layout(session: requests.Session, base_url: str) -> bool:
    """The v1.8.0-rc1 layout routes the exact path /debug/pprof to the index page (newer ones redirect it)."""
    import requests

    try:
        response = session.get(base_url.rstrip("/") + PPROF_PREFIX, allow_redirects=False, timeout=CONNECT_TIMEOUT)
    except requests.RequestException:
        return False
    return response.status_code == 200 and "profile" in response.text


def _stream_body(
    response: requests.Response,
    sink: Sink,
    max_bytes: int,
    where: str,
    watchdog: _Watchdog,
    kind: ProfileKind,
    deadline: float,
) -> int:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProfileError(
            f"the profile is {int(declared)} bytes, over --max-bytes {max_bytes}", hint="raise --max-bytes"
        )
    received = 0
    chunks = response.raw.stream(CHUNK, decode_content=False)  # gzip bytes as sent: pprof files are gzip'd
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            break
        except Exception as exc:  # urllib3's protocol errors are not OSError
            if watchdog.expired:
                raise ConnectionFailed(
                    f"{where} stalled: {received} bytes of the {kind.name} profile had arrived when the "
                    f"{deadline:.0f}s allowed for the whole fetch ran out",
                    hint="the controller or the tunnel is stuck; retry, and check the pod if it persists",
                ) from exc
            raise ConnectionFailed(
                f"the connection to {where} closed after {received} bytes of the profile",
                hint="retry; if a tunnel is in use, check that the pod is still running",
            ) from exc
        received += len(chunk)
        if received > max_bytes:
            raise ProfileError(
                f"the profile exceeded --max-bytes ({max_bytes} bytes); capture aborted",
                hint="raise --max-bytes",
            )
        sink.write(chunk)
    if watchdog.expired:
        raise ConnectionFailed(f"{where} stalled: the whole fetch took longer than {deadline:.0f}s",
                               hint="retry, and check the pod if it persists")
    if declared is not None and declared.isdigit() and received < int(declared):
        raise ConnectionFailed(f"the connection to {where} closed after {received} of {declared} bytes", hint="retry")
    return received


class _Watchdog:
    """Shuts the response's socket down when the fetch's time is up, so a body trickled a byte at a time (each
    socket read well within its timeout) cannot keep a capture running for ever."""

    def __init__(self, response: requests.Response, remaining_seconds: float) -> None:
        self._response = response
        self._timer = threading.Timer(max(remaining_seconds, 0.0), self._expire)
        self._timer.daemon = True
        self.expired = False

    def _expire(self) -> None:
        self.expired = True
        with contextlib.suppress(Exception):  # the socket may be gone already; nothing else to stop then
            self._response.raw.shutdown()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()


def check_body(path: Path, kind: ProfileKind, content_type: str) -> tuple[Profile | None, tuple[str, ...]]:
    """The decode stage: refuse what is not a profile; return the decoded profile (None for a trace) and warnings
    worth a person's time."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head:
        raise ProfileError(f"the {kind.name} profile is empty (0 bytes)")
    if "text/html" in content_type or head.lstrip()[:1] == b"<":
        raise ProfileError(
            f"got an HTML page instead of a {kind.name} profile", hint="check that the URL is the pprof server"
        )
    if not kind.pprof_format:
        if not head.startswith(TRACE_MAGIC_PREFIX) or b" trace" not in head[:16]:
            raise ProfileError(f"the {kind.name} data is not a Go execution trace (no trace header)")
        return None, ()
    if head[:2] != b"\x1f\x8b":
        raise ProfileError("decompressing profile: not gzip data (no gzip magic)")
    profile = decode_profile(path.read_bytes())
    warnings: tuple[str, ...] = ()
    if profile.sample_count == 0 and kind.name in RATE_SETTERS:
        warnings = (
            f"the {kind.name} profile has no samples: the process has not called {RATE_SETTERS[kind.name]} "
            f"(Argo Rollouts leaves it off), so the profile is empty",
        )
    return profile, warnings


class _Ticker:
    """Calls ``progress`` about twice a second while a capture runs, from a daemon thread."""

    def __init__(self, progress: Progress, total: float) -> None:
        self._progress = progress
        self._total = total
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture-progress", daemon=True)
        self._started = time.monotonic()

    def start(self) -> None:
        self._progress("start", 0.0, self._total)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(0.5):
            self._progress("tick", time.monotonic() - self._started, self._total)

    def stop(self, finished: bool) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._progress("stop" if finished else "abort", time.monotonic() - self._started, self._total)
