"""The application layer between the CLI and the stages: a capture is ``spec + endpoint -> outcome``.

    open_endpoint   --url as given, or config -> preflight -> leader or --pod -> load guard -> capture lock
                    -> (a cold start's restart and waits) -> tunnel: the one way every command reaches the controller
    run_capture     fetch (capture) -> decode (capture.check_body) -> redact -> commit (deliver) -> exports

Every command that captures (a single capture, the goroutine trend, the bundle, a symptom run, a cold start) goes
through ``open_endpoint`` and ``run_capture``; the CLI only turns flags into specs and reports the outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import SplitResult, urlsplit

from kubectl_rollouts_profile import capture, cluster, deliver
from kubectl_rollouts_profile.budget import DEFAULT
from kubectl_rollouts_profile.cluster import ClusterSession, Connection
from kubectl_rollouts_profile.cluster.access import Permission
from kubectl_rollouts_profile.cluster.config import ClusterRequest
from kubectl_rollouts_profile.cluster.locate import (
    DEFAULT_METRICS_PORT,
    ControllerPod,
    ProfiledPod,
    Survey,
    profiled_pod,
)
from kubectl_rollouts_profile.cluster.lock import LOCK_RULES, CaptureLock, capture_lock, lease_duration
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import OutputError, RolloutsProfileError, UsageError
from kubectl_rollouts_profile.export import get_renderer
from kubectl_rollouts_profile.kinds import ProfileKind
from kubectl_rollouts_profile.loadguard import SHORT_CAPTURE_SECONDS, LoadGuard, LoadReading, judge, read_load
from kubectl_rollouts_profile.pprof.encode import encode_profile
from kubectl_rollouts_profile.pprof.evidence import thin_profile_warnings
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.transform import redact

DEFAULT_MAX_BYTES = capture.DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class EndpointSpec:
    """Which pprof server: a ``--url``, or the controller's leader through the cluster (and the capture lock)."""

    url: str | None = None
    cluster: ClusterRequest = field(default_factory=ClusterRequest)
    lock: bool = False
    cooldown_seconds: float = 0.0
    load: LoadGuard | None = None  # read the controller's load first (see loadguard.py); None: never


@dataclass(frozen=True)
class Sampling:
    """What the work behind an endpoint does to the controller, for the load guard: ``what`` names it in a refusal
    ("a 60s cpu capture"); ``sustained`` work (long cpu/trace, trends, bundles) is refused under high load."""

    what: str
    sustained: bool

    @classmethod
    def of_capture(cls, kind: ProfileKind, seconds: int | None) -> Sampling | None:
        """cpu and trace captures are guarded; snapshots are not (they cost the controller next to nothing)."""
        if not kind.timed:
            return None
        duration = seconds or 0
        return cls(what=f"a {duration}s {kind.name} capture", sustained=duration > SHORT_CAPTURE_SECONDS)


@dataclass(frozen=True)
class Destination:
    """Where the raw profile goes: exactly ``name`` in ``directory`` (``-o``), a default name there that never
    collides (``label`` replaces the kind in it), or a binary ``stream`` (``-o -``: no file is kept)."""

    directory: Path = Path(".")
    name: str | None = None
    label: str | None = None
    force: bool = False
    stream: IO[Any] | None = field(default=None, compare=False)

    @classmethod
    def from_flags(cls, output: str | None, output_dir: str | None, *, force: bool, stdout: IO[Any]) -> Destination:
        if output == "-":
            return cls(stream=stdout)
        if output is not None:
            path = Path(output)
            return cls(directory=path.parent, name=path.name, force=force)
        return cls(directory=Path(output_dir or "."), force=force)


@dataclass(frozen=True)
class CaptureSpec:
    """What one capture needs: the kind and duration, where it goes, what else is written, and its bounds."""

    kind: ProfileKind
    seconds: int | None
    destination: Destination = field(default_factory=Destination)
    exports: tuple[str, ...] = ()
    redact: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    deadline_seconds: float | None = None  # the whole fetch; default: the duration plus capture.DEADLINE_MARGIN


@dataclass(frozen=True)
class Endpoint:
    """Where the pprof server answers (a direct URL or the local end of a tunnel), what to call its source (in file
    names and messages: the pod, or the URL's host and port), and the cluster connection and capture lock behind it
    when there are any."""

    base_url: str
    source_name: str
    where: str  # the server, in words, for messages
    connection: Connection | None = field(default=None, compare=False)
    lock: CaptureLock | None = field(default=None, compare=False)
    load: LoadReading | None = None  # the load guard's reading, when it ran
    load_warnings: tuple[str, ...] = ()

    def warnings(self) -> tuple[str, ...]:
        if self.lock is not None and self.lock.lost_reason:
            return (*self.load_warnings,
                    f"the capture lock was lost during the capture ({self.lock.lost_reason}): another capture may "
                    "have run at the same time")
        return self.load_warnings


@dataclass(frozen=True)
class CaptureOutcome:
    """A capture that is on disk: the files by format (the raw profile first), its checks, and what is missing."""

    kind: ProfileKind
    source_name: str
    url: str
    seconds: int | None
    started_at: datetime
    finished_at: datetime
    files: dict[str, str]  # "pprof"/"trace" and each export -> path ("-" for a stream)
    size: int
    sha256: str
    sample_count: int | None  # None for a trace (not pprof)
    warnings: tuple[str, ...] = ()
    missing: dict[str, str] = field(default_factory=dict)  # export -> why it could not be written
    profile: Profile | None = field(default=None, repr=False, compare=False)
    load: LoadReading | None = None  # the controller's load before the capture, when the guard read it
    image: str | None = None  # the controller container's image, when the capture went through the cluster

    @property
    def raw_path(self) -> str:
        return next(iter(self.files.values()))

    def as_json(self) -> dict[str, Any]:
        """The one JSON object of a capture's ``--json`` (also each capture in a cold start's)."""
        return {
            "kind": self.kind.name,
            "target": self.source_name,
            "seconds": self.seconds,
            "started_at": self.started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "finished_at": self.finished_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "files": self.files,
            "bytes": self.size,
            "sha256": self.sha256,
            "samples": self.sample_count,
            "warnings": list(self.warnings),
            "load": self.load.as_json() if self.load is not None else None,
            "image": self.image,
            **({"missing": self.missing} if self.missing else {}),
        }


def parse_url(url: str) -> tuple[str, str]:
    """``(base URL, source name)`` of a ``--url``."""
    parts = _http_url(url, "--url", "http://HOST:PORT", "http://127.0.0.1:6060")
    if parts.path.rstrip("/") not in ("", "/debug/pprof"):
        raise UsageError(
            f"--url is the pprof server's base URL, not a profile path: {url!r}",
            hint=f"use --url {parts.scheme}://{parts.netloc}",
        )
    host = parts.hostname or ""  # never empty: _http_url checked it
    return f"{parts.scheme}://{parts.netloc}", f"{host}-{parts.port}" if parts.port else host


def _http_url(url: str, flag: str, shape: str, example: str) -> SplitResult:
    """``url`` split, when it is an http(s) URL with a host; else the usage error for ``flag``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{flag} must look like {shape}, got {url!r}", hint=f"e.g. {flag} {example}")
    return parts


def check_destination(destination: Destination, exports: Iterable[str] = ()) -> None:
    """Before anything is contacted: the directory takes files, and an exact name (or its exports) is free."""
    if destination.stream is not None:
        return
    if destination.name is None:
        deliver.check_directory(destination.directory)
        return
    raw = destination.directory / destination.name
    for path in (raw, *export_paths(raw, exports).values()):
        deliver.check_output_path(path, force=destination.force)


# The pod a cold start concerns before it happens (None: none is ready), and the survey it was chosen from.
PodChoice = tuple[ControllerPod | None, Survey]


class PodStart(Protocol):
    """What a command that profiles a pod about to start (``cpu --at-start``, ``diagnose cold-start``) adds to the
    one path: its preflight rules, the pod it would restart (also the one whose load is read), and its own steps,
    which run only after every check has passed and the capture lock and cooldown are taken: the destructive
    step (``--restart``) and the wait for the start, then retries of the tunnel and the wait for pprof."""

    rules: tuple[Permission, ...]

    def current_pod(self, session: ClusterSession, found: Survey, env: Environment) -> PodChoice:
        """The pod the start concerns before it happens (the one ``--restart`` deletes), and the last survey."""

    def await_start(self, session: ClusterSession, found: Survey, current: ControllerPod | None,
                    env: Environment) -> ProfiledPod:
        """The destructive step if any, then the wait for the start: the started pod to profile."""

    def retry_tunnel(self, error: RolloutsProfileError) -> bool:
        """After a refused port-forward: wait a little and say whether to try again."""

    def await_pprof(self, base_url: str, pod: ProfiledPod) -> None:
        """Until the started process answers on its pprof port."""


@contextlib.contextmanager
def open_endpoint(
    endpoint_spec: EndpointSpec,
    env: Environment,
    *,
    lock_seconds: float = 0,
    timed: bool = False,
    extra_rules: Iterable[Permission] = (),
    sampling: Sampling | None = None,
    start: PodStart | None = None,
) -> Iterator[Endpoint]:
    """The pprof server for the ``with`` body: ``--url`` as given, or a controller pod through a tunnel, always in
    this order: config (and its warnings) -> preflight (with ``extra_rules``) -> the leader or ``--pod`` -> the load
    guard -> the capture lock and cooldown -> [``start``'s own steps] -> the tunnel.

    With ``endpoint_spec.lock`` the capture lock is held for the body (``lock_seconds``: how long the work should
    take; ``timed``: a cpu/trace capture, subject to the cooldown). With ``endpoint_spec.load`` and ``sampling``, the
    load guard reads the controller's metrics first and refuses sustained sampling under high load
    (``TargetBusy``)."""
    guard = endpoint_spec.load if sampling is not None else None
    if endpoint_spec.url is not None:
        base_url, source_name = parse_url(endpoint_spec.url)
        reading, load_warnings = _load_check(env, guard, sampling, _url_load)
        yield Endpoint(base_url=base_url, source_name=source_name, where=base_url, load=reading,
                       load_warnings=load_warnings)
        return
    rules = (*extra_rules, *(start.rules if start is not None else ()), *(LOCK_RULES if endpoint_spec.lock else ()))
    with (cluster.open_session(endpoint_spec.cluster, env=env, extra_rules=rules) as session,
          contextlib.ExitStack() as stack):
        found = cluster.survey_install(session, env)
        pod: ControllerPod | None  # the pod whose load is read (and that a restart deletes)
        if start is None:
            pod, chosen_by, found = cluster.leader_or_named(session, found, env)
            profiled = profiled_pod(pod, chosen_by=chosen_by, namespace=found.namespace,
                                    port=endpoint_spec.cluster.port)
        else:
            pod, found = start.current_pod(session, found, env)
        # Before the lock: a refusal leaves no trace.
        reading, load_warnings = _load_check(env, guard, sampling, partial(_pod_load, session, pod))
        lock = None
        if endpoint_spec.lock:
            lock = stack.enter_context(capture_lock(session.api, session.namespace,
                                                    duration_seconds=lease_duration(lock_seconds), timed=timed,
                                                    cooldown_seconds=endpoint_spec.cooldown_seconds))
        if start is not None:  # every check has passed and the lock is held: now the start may be provoked
            profiled = start.await_start(session, found, pod, env)
        else:
            cluster.announce(profiled, env)
        connection = stack.enter_context(cluster.tunnel_to(
            session, profiled, retry=start.retry_tunnel if start is not None else None))
        if start is not None:
            start.await_pprof(connection.base_url, profiled)
        where = (f"the pprof server of pod {profiled.namespace}/{profiled.pod_name} "
                 f"(port {profiled.pprof_port}, through the tunnel)")
        yield Endpoint(base_url=connection.base_url, source_name=profiled.pod_name, where=where,
                       connection=connection, lock=lock, load=reading, load_warnings=load_warnings)


def metrics_location(url: str) -> tuple[str, str]:
    """``(base URL, path)`` of a ``--metrics-url``; a bare ``http://HOST:PORT`` means its ``/metrics``."""
    parts = _http_url(url, "--metrics-url", "http://HOST:PORT/metrics", "http://127.0.0.1:8090/metrics")
    path = parts.path if parts.path.strip("/") else "/metrics"
    return f"{parts.scheme}://{parts.netloc}", path + (f"?{parts.query}" if parts.query else "")


def _load_check(env: Environment, guard: LoadGuard | None, sampling: Sampling | None,
                read: Callable[[LoadGuard], LoadReading | None]) -> tuple[LoadReading | None, tuple[str, ...]]:
    """The load guard: the reading ``read`` takes (none without a guard or without anything to read), shown on
    stderr, and judged for ``sampling`` (``TargetBusy`` for sustained sampling under high load)."""
    if guard is None or sampling is None:
        return None, ()
    reading = read(guard)
    if reading is None:
        return None, ()
    if reading.error is None:
        env.message(f"load: {reading.summary()}")
    return reading, judge(reading, sustained=sampling.sustained, what=sampling.what, ignore=guard.ignore)


def _url_load(guard: LoadGuard) -> LoadReading | None:
    """With ``--url``: the ``--metrics-url`` when given (without it, the guard is skipped silently)."""
    if guard.metrics_url is None:
        return None
    metrics_base, metrics_path = metrics_location(guard.metrics_url)
    return read_load(partial(capture.fetch_text, metrics_base, metrics_path, timeout=10,
                             max_bytes=DEFAULT.metrics_bytes),
                     source=metrics_base + metrics_path, thresholds=guard.thresholds)


def _pod_load(session: ClusterSession, pod: ControllerPod | None, guard: LoadGuard) -> LoadReading | None:
    """Read the load through a second tunnel to the metrics port (the port the controller's flags name, unless
    ``--metrics-port`` says otherwise); a tunnel that cannot open is a reading with an error."""
    from kubectl_rollouts_profile.cluster.tunnel import open_tunnel

    if pod is None:
        return None
    port = guard.metrics_port or pod.metrics_port or DEFAULT_METRICS_PORT
    source = f"pod {pod.name} port {port}"
    with contextlib.ExitStack() as stack:
        try:
            base = stack.enter_context(open_tunnel(session.config, pod.namespace or session.namespace, pod.name,
                                                   port))
        except (RolloutsProfileError, OSError) as error:
            return LoadReading(source=source, thresholds=guard.thresholds, error=str(error))
        return read_load(partial(capture.fetch_text, base, "/metrics", timeout=10, max_bytes=DEFAULT.metrics_bytes),
                         source=source, thresholds=guard.thresholds, cpu_limit=pod.cpu_limit,
                         cpu_request=pod.cpu_request)


def capture_once(
    endpoint_spec: EndpointSpec, spec: CaptureSpec, env: Environment, *, progress: capture.Progress | None = None
) -> CaptureOutcome:
    """A whole single capture: check the destination, open the endpoint (and lock), run the capture."""
    check_destination(spec.destination, spec.exports)
    with open_endpoint(endpoint_spec, env, lock_seconds=spec.seconds or 0, timed=spec.kind.timed,
                       sampling=Sampling.of_capture(spec.kind, spec.seconds)) as endpoint:
        outcome = run_capture(spec, endpoint, progress=progress)
    endpoint_warnings = endpoint.warnings()  # read after release: a loss in the last renewal counts too
    return replace(outcome, warnings=endpoint_warnings + outcome.warnings, load=endpoint.load)


def run_capture(spec: CaptureSpec, endpoint: Endpoint, *, progress: capture.Progress | None = None) -> CaptureOutcome:
    """fetch -> decode -> (redact) -> commit the raw profile -> exports. Nothing partial is left on disk: the raw
    profile is committed whole or not at all; an export that cannot be written is reported in ``missing``."""
    destination = spec.destination
    if endpoint.lock is not None and spec.kind.timed:
        endpoint.lock.note_timed_capture()  # sampling starts with the request: from here the cooldown applies
    with deliver.staged(destination.directory if destination.stream is None else None) as staged:
        fetched = capture.fetch_into(
            endpoint.base_url, spec.kind, spec.seconds, staged, max_bytes=spec.max_bytes, progress=progress,
            deadline_seconds=spec.deadline_seconds, where=endpoint.where,
        )
        staged.finish()
        profile, warnings = capture.check_body(staged.path, spec.kind, fetched.content_type)
        if profile is not None:
            warnings += thin_profile_warnings(spec.kind.name, profile)
        if spec.redact and profile is not None:
            profile = _redacted(profile, staged)
        size, sha256 = staged.size_and_digest()
        raw_path = _commit(staged, destination, endpoint.source_name, spec.kind, fetched.started_at)
    files = {("pprof" if spec.kind.pprof_format else "trace"): str(raw_path) if raw_path else "-"}
    missing: dict[str, str] = {}
    if raw_path is not None and profile is not None:
        title = f"{endpoint.source_name} {spec.kind.name}"
        for fmt, path in export_paths(raw_path, spec.exports).items():
            try:
                _write_export(profile, fmt, path, title=title, force=destination.force)
            except OutputError as error:
                missing[fmt] = str(error)
                continue
            files[fmt] = str(path)
    return CaptureOutcome(
        kind=spec.kind,
        source_name=endpoint.source_name,
        url=fetched.url,
        seconds=spec.seconds,
        started_at=fetched.started_at,
        finished_at=fetched.finished_at,
        files=files,
        size=size,
        sha256=sha256,
        sample_count=profile.sample_count if profile is not None else None,
        warnings=warnings,
        missing=missing,
        profile=profile,
        image=endpoint.connection.pod.image if endpoint.connection is not None else None,
    )


# Why an empty block or mutex profile is not kept (Argo Rollouts sets neither rate).
EMPTY_NOT_KEPT = "empty: the controller does not set this profile's sampling rate"


def discard_if_empty(outcome: CaptureOutcome) -> bool:
    """Remove the files of a profile without samples (block and mutex, unless their rates are set): not worth
    keeping. True when they were removed."""
    if outcome.sample_count != 0:
        return False
    for path in outcome.files.values():
        if path != "-":
            Path(path).unlink(missing_ok=True)
    return True


def export_paths(raw_path: Path, formats: Iterable[str]) -> dict[str, Path]:
    """Exports sit beside the raw profile: ``x-cpu-T.pb.gz`` -> ``x-cpu-T.html``, ``x-cpu-T.speedscope.json``."""
    stem = deliver.profile_stem(raw_path)
    return {fmt: raw_path.with_name(stem + get_renderer(fmt).extension) for fmt in formats}


def _write_export(profile: Profile, fmt: str, path: Path, *, title: str, force: bool) -> None:
    # Streamed into the file: a big speedscope document is never whole in memory.
    deliver.write_atomic_stream(path, partial(get_renderer(fmt).render_to, profile, title=title), force=force)


def _redacted(profile: Profile, staged: deliver.StagedFile) -> Profile:
    """Rewrite the staged file without label values, file names, paths and build IDs (the exports follow)."""
    redacted = redact(profile)
    staged.rewrite(encode_profile(redacted))
    return redacted


def _commit(
    staged: deliver.StagedFile, destination: Destination, source_name: str, kind: ProfileKind, started: datetime
) -> Path | None:
    if destination.stream is not None:
        staged.copy_to(destination.stream)
        return None
    if destination.name is not None:
        return staged.commit(destination.directory / destination.name, force=destination.force)
    stem = deliver.default_stem(source_name, destination.label or kind.name, started.astimezone(timezone.utc))
    return staged.commit_new(destination.directory, stem, kind.extension)
