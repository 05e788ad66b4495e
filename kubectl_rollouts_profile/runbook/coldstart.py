"""Cold start: wait for the controller to start (a new pod, a container restart, or the leader-election Lease moving
to another pod), and profile its first moments: as soon as the container runs, open the tunnel, poll the pprof port
until it answers, then capture CPU (the initial informer sync: every Rollout, ReplicaSet, Service... listed and
decoded), then heap and goroutine. ``--restart`` provokes the start by deleting the leader pod.

The waiting polls the API (list pods, get Lease) once a second rather than watching: a watch needs ``watch`` on
pods, which a capture Role does not grant.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kubectl_rollouts_profile.cluster import Connection, preflight_for, resolve_config
from kubectl_rollouts_profile.cluster.access import Permission
from kubectl_rollouts_profile.cluster.api import ClusterApi
from kubectl_rollouts_profile.cluster.config import ClusterConfig, ClusterRequest
from kubectl_rollouts_profile.cluster.locate import ControllerPod, Survey, Target, survey
from kubectl_rollouts_profile.cluster.lock import LOCK_RULES, capture_lock, lease_duration
from kubectl_rollouts_profile.cluster.tunnel import Tunnel
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import ProfilingUnavailable, RolloutsProfileError, TargetNotFound, UsageError
from kubectl_rollouts_profile.kinds import get_kind
from kubectl_rollouts_profile.pipeline import CaptureOutcome, CaptureSpec, Destination, Endpoint, run_capture

RESTART_RULES = (Permission("delete", "pods", purpose="--restart: delete the leader pod to provoke a cold start"),)
POLL_SECONDS = 1.0  # between reads of the pods and the Lease while waiting for a start
PPROF_POLL_SECONDS = 0.25  # between tries of the new process' pprof port
SNAPSHOTS = ("heap", "goroutine")  # after the cpu capture, in this order


@dataclass(frozen=True)
class ColdStartSpec:
    """The cpu duration, how long to wait for a start, whether to provoke it, and where the profiles go."""

    seconds: int = 30
    wait_seconds: float = 600.0
    restart: bool = False
    destination: Destination = field(default_factory=Destination)
    exports: tuple[str, ...] = ()
    max_bytes: int = 512 * 1024 * 1024
    lock: bool = False
    cooldown_seconds: float = 0.0


@dataclass(frozen=True)
class Start:
    """A controller start seen while waiting: which pod, and what changed."""

    pod: ControllerPod
    how: str  # "new pod", "container restart", "Lease moved"


@dataclass(frozen=True)
class ColdStartOutcome:
    start: Start
    captures: tuple[CaptureOutcome, ...]
    waited_seconds: float
    warnings: tuple[str, ...] = ()


def detect_start(before: Survey, now: Survey) -> Start | None:
    """The start between two surveys whose container runs, or None. The Lease moving to a running pod wins (that
    pod starts its controllers and informers on taking leadership); then a new pod, then a restarted container."""
    previous = {pod.name: pod for pod in before.pods}
    running = {pod.name: pod for pod in now.pods if pod.phase == "Running"}
    if now.leader_name and now.leader_name != before.leader_name and now.leader_name in running:
        return Start(running[now.leader_name], "Lease moved")
    for pod in running.values():
        if pod.name not in previous:
            return Start(pod, "new pod")
    for pod in running.values():
        if pod.restarts > previous[pod.name].restarts:
            return Start(pod, "container restart")
    return None


def pending_note(before: Survey, now: Survey) -> str | None:
    """A line about a start under way whose container does not run yet (a Pending pod), for the progress."""
    previous = {pod.name for pod in before.pods}
    waiting = [pod for pod in now.pods if pod.name not in previous and pod.phase != "Running"]
    return f"new pod {waiting[0].name} is {waiting[0].phase}; waiting for its container to run" if waiting else None


def run_cold_start(
    request: ClusterRequest,
    spec: ColdStartSpec,
    env: Environment,
    *,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] = time.sleep,
) -> ColdStartOutcome:
    """Preflight (with ``delete pods`` only for ``--restart``), note the pods and the Lease, provoke the start if
    asked, wait for it (``spec.wait_seconds`` in all, the pprof port answering included), then capture."""
    config = resolve_config(request, env.environ)
    api = config.open_api()
    try:
        extra = (*(RESTART_RULES if spec.restart else ()), *(LOCK_RULES if spec.lock else ()))
        if not request.skip_preflight:
            access = preflight_for(request, config, api, extra)
            if not access.ok:
                raise access.denied_error()
        started_waiting = clock()
        deadline = started_waiting + spec.wait_seconds
        before = survey(api, config.namespace, instance_id=request.instance_id)
        if spec.restart:
            _delete_leader(api, before, env)
        start = _await_start(api, before, request, env, deadline=deadline, clock=clock, pause=pause)
        target = _target_of(start, before, request)
        env.message(f"cold start: {start.how}: pod {target.namespace}/{target.pod_name}; opening the tunnel to pprof "
                    f"port {target.pprof_port}")
        with _endpoint(config, api, target, spec, env, deadline=deadline, clock=clock, pause=pause) as endpoint:
            waited = clock() - started_waiting
            env.message(f"pprof answered {waited:.1f}s after the wait began; capturing cpu for {spec.seconds}s")
            captures = [run_capture(CaptureSpec(kind=get_kind("cpu"), seconds=spec.seconds,
                                                destination=spec.destination, exports=spec.exports,
                                                max_bytes=spec.max_bytes), endpoint)]
            for name in SNAPSHOTS:
                captures.append(run_capture(CaptureSpec(kind=get_kind(name), seconds=None,
                                                        destination=spec.destination, exports=spec.exports,
                                                        max_bytes=spec.max_bytes), endpoint))
        warnings = tuple(warning for capture in captures for warning in capture.warnings) + endpoint.warnings()
        return ColdStartOutcome(start=start, captures=tuple(captures), waited_seconds=waited, warnings=warnings)
    finally:
        api.close()


def _delete_leader(api: ClusterApi, before: Survey, env: Environment) -> None:
    leader = before.leader_name
    names = {pod.name for pod in before.pods}
    if leader is None or leader not in names:
        ready = [pod.name for pod in before.pods if pod.ready]
        if len(ready) != 1:
            raise TargetNotFound(f"--restart: no leader to delete in namespace {before.namespace} "
                                 f"({before.lease_problem or 'the Lease names no running pod'})",
                                 hint="restart the controller yourself and run without --restart")
        leader = ready[0]
    env.message(f"restart: deleting the leader pod {before.namespace}/{leader}")
    api.delete_pod(before.namespace, leader)


def _await_start(api: ClusterApi, before: Survey, request: ClusterRequest, env: Environment, *, deadline: float,
                 clock: Callable[[], float], pause: Callable[[float], object]) -> Start:
    env.message(f"waiting up to {math.ceil(max(deadline - clock(), 0))}s for a controller start in {before.namespace} "
                f"(pods: {', '.join(pod.name for pod in before.pods) or 'none'}; leader: {before.leader_name or '?'})")
    last_note = None
    while True:
        now = survey(api, before.namespace, instance_id=request.instance_id or before.instance_id)
        start = detect_start(before, now)
        if start is not None:
            return start
        note = pending_note(before, now)
        if note and note != last_note:
            env.message(note)
            last_note = note
        if clock() + POLL_SECONDS > deadline:
            raise TargetNotFound(
                f"no controller start within the wait: no new pod, container restart or new Lease holder in "
                f"{before.namespace}",
                hint="provoke one with --restart (needs delete pods), or wait longer (--wait)",
            )
        pause(POLL_SECONDS)


def _target_of(start: Start, before: Survey, request: ClusterRequest) -> Target:
    pod = start.pod
    port = request.port if request.port is not None else pod.pprof_port
    if port is None:
        raise ProfilingUnavailable(f"the started pod {pod.name} runs its controller without --enable-pprof-address",
                                   hint="enable profiling, or name the port with --port")
    return Target(pod_name=pod.name, namespace=pod.namespace or before.namespace, pprof_port=port,
                  metrics_port=pod.metrics_port, image=pod.image, chosen_by=start.how, pprof_address=pod.pprof_address,
                  instance_id=pod.instance_id, cpu_limit=pod.cpu_limit, cpu_request=pod.cpu_request)


@contextlib.contextmanager
def _endpoint(config: ClusterConfig, api: ClusterApi, target: Target, spec: ColdStartSpec, env: Environment, *,
              deadline: float, clock: Callable[[], float], pause: Callable[[float], object]) -> Iterator[Endpoint]:
    """The tunnel to the started pod, once its pprof server answers, with the capture lock if asked."""
    with contextlib.ExitStack() as stack:
        tunnel = _open_tunnel(config, target, deadline=deadline, clock=clock, pause=pause)
        stack.callback(tunnel.close)
        _await_pprof(tunnel.base_url, target, deadline=deadline, clock=clock, pause=pause)
        lock = None
        if spec.lock:
            lock = stack.enter_context(capture_lock(api, target.namespace,
                                                    duration_seconds=lease_duration(spec.seconds + 60), timed=True,
                                                    cooldown_seconds=spec.cooldown_seconds))
        connection = Connection(base_url=tunnel.base_url, target=target, config=config, api=api)
        where = (f"the pprof server of pod {target.namespace}/{target.pod_name} (port {target.pprof_port}, through "
                 "the tunnel)")
        try:
            yield Endpoint(base_url=tunnel.base_url, target_name=target.pod_name, where=where, connection=connection,
                           lock=lock)
        except Exception as error:  # a closed connection in the HTTP client: say what the tunnel saw instead
            translated = tunnel.translate(error)
            if translated is None:
                raise
            raise translated from error


def _open_tunnel(config: ClusterConfig, target: Target, *, deadline: float, clock: Callable[[], float],
                 pause: Callable[[float], object]) -> Tunnel:
    """A port-forward to the started pod; its first handshake is retried while the kubelet refuses it (the
    container is only just running)."""
    while True:
        tunnel = Tunnel(config, target.namespace, target.pod_name, target.pprof_port)
        try:
            return tunnel.__enter__()
        except RolloutsProfileError:
            tunnel.close()
            if clock() + PPROF_POLL_SECONDS > deadline:
                raise
            pause(PPROF_POLL_SECONDS)


def _await_pprof(base_url: str, target: Target, *, deadline: float, clock: Callable[[], float],
                 pause: Callable[[float], object]) -> None:
    """Until the process in the pod serves pprof: any HTTP answer on its index counts (either mux layout)."""
    import requests

    with requests.Session() as session:
        session.trust_env = False  # 127.0.0.1, never through a proxy
        while True:
            try:
                session.get(base_url + "/debug/pprof/", timeout=5, allow_redirects=False).close()
                return
            except requests.RequestException as error:
                if clock() + PPROF_POLL_SECONDS > deadline:
                    raise ProfilingUnavailable(
                        f"pod {target.pod_name} started, but nothing answered on its pprof port {target.pprof_port} "
                        f"within the wait ({type(error).__name__})",
                        hint="check --enable-pprof-address in the new pod, or wait longer (--wait)",
                    ) from error
            pause(PPROF_POLL_SECONDS)


def check_spec(spec: ColdStartSpec) -> None:
    if spec.wait_seconds <= 0:
        raise UsageError("--wait must be longer than 0s", hint="e.g. --wait 10m")
