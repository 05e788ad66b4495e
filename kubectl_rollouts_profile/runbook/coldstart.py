"""Cold start: wait for the controller to start (a new pod, a container restart, or the leader-election Lease moving
to another pod), and profile its first moments: as soon as the container runs, open the tunnel, poll the pprof port
until it answers, then capture CPU (the initial informer sync: every Rollout, ReplicaSet, Service... listed and
decoded), then heap and goroutine. ``--restart`` provokes the start by deleting the leader pod (or the pod ``--pod``
names).

It reaches the cluster through the one path every command takes (``pipeline.open_endpoint``: config and its warnings,
the preflight, the load guard, the capture lock and cooldown); what it adds runs after all of those: the restart,
the wait for a start, retries of the tunnel while the new container comes up, and the wait for its pprof port.

The waiting polls the API (list pods, get Lease) once a second rather than watching: a watch needs ``watch`` on
pods, which a capture Role does not grant.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_rollouts_profile import cluster
from kubectl_rollouts_profile.cluster import ClusterSession
from kubectl_rollouts_profile.cluster.access import Permission
from kubectl_rollouts_profile.cluster.config import ClusterRequest
from kubectl_rollouts_profile.cluster.locate import ControllerPod, ProfiledPod, Survey, choose_pod, profiled_pod, survey
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import ProfilingUnavailable, RolloutsProfileError, TargetNotFound, UsageError
from kubectl_rollouts_profile.kinds import get_kind
from kubectl_rollouts_profile.loadguard import LoadReading
from kubectl_rollouts_profile.pipeline import (
    CaptureOutcome,
    CaptureSpec,
    Destination,
    EndpointSpec,
    PodChoice,
    Sampling,
    open_endpoint,
    run_capture,
)

RESTART_RULES = (Permission("delete", "pods", purpose="--restart: delete the leader pod to provoke a cold start"),)
# How long the capture lock is asked for beyond the cpu capture (the snapshots after it); it is renewed while held.
SNAPSHOTS_SECONDS = 60
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
    load: LoadReading | None = None  # the controller's load before the wait, when the guard read it

    def as_json(self) -> dict[str, Any]:
        return {
            "start": {"pod": self.start.pod.name, "how": self.start.how,
                      "waited_seconds": round(self.waited_seconds, 3)},
            "captures": [capture.as_json() for capture in self.captures],
            "warnings": list(self.warnings),
            "load": self.load.as_json() if self.load is not None else None,
        }


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
    endpoint_spec: EndpointSpec,
    spec: ColdStartSpec,
    env: Environment,
    *,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] = time.sleep,
) -> ColdStartOutcome:
    """Open the endpoint the way every command does, with ``ColdStart``'s steps last (the restart, if asked, only
    once every check has passed and the lock is held), then capture cpu, heap and goroutine from the new process."""
    cold = ColdStart(spec, endpoint_spec.cluster, clock=clock, pause=pause)
    with open_endpoint(endpoint_spec, env, lock_seconds=spec.seconds + SNAPSHOTS_SECONDS, timed=True,
                       sampling=Sampling.of_capture(get_kind("cpu"), spec.seconds), start=cold) as endpoint:
        env.message(f"pprof answered {cold.waited_seconds:.1f}s after the wait began; capturing cpu for "
                    f"{spec.seconds}s")
        captures = [run_capture(CaptureSpec(kind=get_kind(name), seconds=spec.seconds if name == "cpu" else None,
                                            destination=spec.destination, exports=spec.exports,
                                            max_bytes=spec.max_bytes), endpoint)
                    for name in ("cpu", *SNAPSHOTS)]
    assert cold.start is not None  # the endpoint opened: a start was seen
    warnings = endpoint.warnings() + tuple(warning for capture in captures for warning in capture.warnings)
    return ColdStartOutcome(start=cold.start, captures=tuple(captures), waited_seconds=cold.waited_seconds,
                            warnings=warnings, load=endpoint.load)


class ColdStart:
    """A cold start's own steps in ``open_endpoint`` (``pipeline.PodStart``): the pod ``--restart`` deletes, the
    restart itself, the wait for a start, the tunnel's retries and the wait for pprof, all within one deadline
    (``spec.wait_seconds`` from the moment the wait begins)."""

    def __init__(self, spec: ColdStartSpec, request: ClusterRequest, *, clock: Callable[[], float],
                 pause: Callable[[float], object]) -> None:
        self.spec = spec
        self.request = request
        self.rules: tuple[Permission, ...] = RESTART_RULES if spec.restart else ()
        self.clock = clock
        self.pause = pause
        self.began = clock()
        self.deadline = self.began + spec.wait_seconds
        self.start: Start | None = None
        self.waited_seconds = 0.0

    def current_pod(self, session: ClusterSession, found: Survey, env: Environment) -> PodChoice:
        """With ``--restart``: the pod to delete, chosen as every command chooses its pod (``--pod``, else the
        leader); errors stop the run before anything is deleted. Without: the pod whose load is read, if one is
        ready (the controller may well be down while we wait for it)."""
        if self.spec.restart:
            pod, _, found = cluster.leader_or_named(session, found, env, doing="restarting")
            return pod, found
        try:
            return choose_pod(found)[0], found
        except TargetNotFound:
            return None, found

    def await_start(self, session: ClusterSession, found: Survey, current: ControllerPod | None,
                    env: Environment) -> ProfiledPod:
        """The destructive step (``--restart``), then the wait for a start; the started pod to profile."""
        self.began = self.clock()
        self.deadline = self.began + self.spec.wait_seconds
        if self.spec.restart:
            assert current is not None  # current_pod raised otherwise
            what = "the leader pod" if current.name == found.leader_name else "pod"
            env.message(f"restart: deleting {what} {found.namespace}/{current.name}")
            session.api.delete_pod(found.namespace, current.name)
        self.start = self._await_start(session, found, env)
        started = profiled_pod(self.start.pod, chosen_by=self.start.how, namespace=found.namespace,
                           port=self.request.port)
        env.message(f"cold start: {self.start.how}: pod {started.namespace}/{started.pod_name}; opening the tunnel to "
                    f"pprof port {started.pprof_port}")
        return started

    def _await_start(self, session: ClusterSession, before: Survey, env: Environment) -> Start:
        env.message(f"waiting up to {math.ceil(max(self.deadline - self.clock(), 0))}s for a controller start in "
                    f"{before.namespace} (pods: {', '.join(pod.name for pod in before.pods) or 'none'}; leader: "
                    f"{before.leader_name or '?'})")
        last_note = None
        while True:
            now = survey(session.api, before.namespace, instance_id=self.request.instance_id or before.instance_id)
            start = detect_start(before, now)
            if start is not None:
                return start
            note = pending_note(before, now)
            if note and note != last_note:
                env.message(note)
                last_note = note
            if self.clock() + POLL_SECONDS > self.deadline:
                raise TargetNotFound(
                    f"no controller start within the wait: no new pod, container restart or new Lease holder in "
                    f"{before.namespace}",
                    hint="provoke one with --restart (needs delete pods), or wait longer (--wait)",
                )
            self.pause(POLL_SECONDS)

    def retry_tunnel(self, error: RolloutsProfileError) -> bool:
        """The kubelet refuses the port-forward while the container is only just running: try again until the
        deadline."""
        if self.clock() + PPROF_POLL_SECONDS > self.deadline:
            return False
        self.pause(PPROF_POLL_SECONDS)
        return True

    def await_pprof(self, base_url: str, pod: ProfiledPod) -> None:
        """Until the process in the pod serves pprof: any HTTP answer on its index counts (either mux layout)."""
        import requests

        with requests.Session() as session:
            session.trust_env = False  # 127.0.0.1, never through a proxy
            while True:
                try:
                    session.get(base_url + "/debug/pprof/", timeout=5, allow_redirects=False).close()
                    break
                except requests.RequestException as error:
                    if self.clock() + PPROF_POLL_SECONDS > self.deadline:
                        raise ProfilingUnavailable(
                            f"pod {pod.pod_name} started, but nothing answered on its pprof port "
                            f"{pod.pprof_port} within the wait ({type(error).__name__})",
                            hint="check --enable-pprof-address in the new pod, or wait longer (--wait)",
                        ) from error
                self.pause(PPROF_POLL_SECONDS)
        self.waited_seconds = self.clock() - self.began


def check_spec(spec: ColdStartSpec, request: ClusterRequest) -> None:
    """The usage rules every command that starts a cold start shares (``cpu --at-start``, ``diagnose cold-start``)."""
    if spec.wait_seconds <= 0:
        raise UsageError("--wait must be longer than 0s", hint="e.g. --wait 10m")
    if request.pod is not None and not spec.restart:
        raise UsageError("--pod names the pod --restart deletes; without --restart the pod that starts is profiled",
                         hint="add --restart, or drop --pod")
