"""Find the Argo Rollouts controller pod to profile: the controller pods, the leader named by the leader-election
Lease, and the pprof listen address from the controller container's flags. Pure functions over API JSON plus
one ``survey`` that reads the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from kubectl_rollouts_profile.cluster.api import ClusterApi
from kubectl_rollouts_profile.errors import ProfilingUnavailable, TargetNotFound

CONTROLLER_SELECTOR = "app.kubernetes.io/name=argo-rollouts"
COMPONENT_LABEL = "app.kubernetes.io/component"
DASHBOARD_COMPONENT = "rollouts-dashboard"
# Name of the leader-election Lease (controller/controller.go). Since v1.10.0 a controller started with
# --instance-id=ID uses "<name>-ID"; older releases always use the plain name.
LEASE_NAME = "argo-rollouts-controller-lock"
PPROF_FLAG = "--enable-pprof-address"
METRICS_FLAGS = ("--metricsPort", "--metricsport")
DEFAULT_METRICS_PORT = 8090
HELM_PPROF_VALUE = "controller.pprofAddress"
PPROF_SINCE = (1, 8, 0)


@dataclass(frozen=True)
class ControllerPod:
    """One controller replica as the API server describes it."""

    name: str
    namespace: str
    phase: str
    ready: bool
    image: str
    restarts: int
    created: datetime | None
    pprof_address: str | None
    metrics_port: int
    instance_id: str | None
    lease_namespace: str | None

    @property
    def image_tag(self) -> str:
        return image_tag(self.image)

    @property
    def pprof_port(self) -> int | None:
        return parse_listen_address(self.pprof_address)[1] if self.pprof_address else None


@dataclass(frozen=True)
class Survey:
    """The controller pods of a namespace and what the Lease says about leadership."""

    namespace: str
    pods: tuple[ControllerPod, ...]
    lease_name: str
    lease_holder: str | None
    lease_problem: str | None

    @property
    def leader_name(self) -> str | None:
        return holder_pod_name(self.lease_holder) if self.lease_holder else None


@dataclass(frozen=True)
class Target:
    """The pod and port a capture goes to, and how the pod was chosen (for the log line)."""

    pod_name: str
    namespace: str
    pprof_port: int
    metrics_port: int | None
    image: str
    chosen_by: str
    pprof_address: str | None = None

    @property
    def image_tag(self) -> str:
        return image_tag(self.image)


def lease_names(instance_id: str | None) -> tuple[str, ...]:
    """The Lease names to try, most specific first."""
    return (f"{LEASE_NAME}-{instance_id}", LEASE_NAME) if instance_id else (LEASE_NAME,)


def holder_pod_name(holder_identity: str) -> str:
    """``holderIdentity`` is ``<hostname>_<uuid>``, and a pod's hostname is its name."""
    return holder_identity.rsplit("_", 1)[0] if "_" in holder_identity else holder_identity


def find_flag(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in ``argv`` (``--flag=value`` or ``--flag value``); the last one wins, as in pflag."""
    value = None
    for index, word in enumerate(argv):
        if word.startswith(flag + "="):
            value = word[len(flag) + 1 :]
        elif word == flag and index + 1 < len(argv):
            value = argv[index + 1]
    return value


def parse_listen_address(address: str) -> tuple[str, int]:
    """Split a Go listen address (``:6060``, ``localhost:6060``, ``0.0.0.0:6060``, ``[::1]:6060``)."""
    match = re.fullmatch(r"(\[[0-9a-fA-F:.%\w]*\]|[^:\[\]]*):(\d{1,5})", address.strip())
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ProfilingUnavailable(
            f"cannot read the pprof address {address!r} ({PPROF_FLAG})",
            hint="name the port with --port",
        )
    return match.group(1).strip("[]"), int(match.group(2))


def image_tag(image: str) -> str:
    """The tag of an image reference (``quay.io/argoproj/argo-rollouts:v1.8.3@sha256:...`` -> ``v1.8.3``)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def version_of(tag: str) -> tuple[int, int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", tag)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def controller_container(pod: dict) -> dict | None:
    """The container running the rollouts controller, or None when the pod is something else."""
    containers = pod.get("spec", {}).get("containers") or []
    for container in containers:
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        if any(word.endswith("rollouts-controller") for word in argv):
            return container
    for container in containers:
        repository = (container.get("image") or "").split("@", 1)[0].rsplit(":", 1)[0]
        # The dashboard's image is kubectl-argo-rollouts; the controller's is argo-rollouts.
        if repository.rsplit("/", 1)[-1] == "argo-rollouts":
            return container
    return None


def describe_pod(pod: dict) -> ControllerPod | None:
    """A ``ControllerPod`` from the pod's API JSON, or None for the dashboard and any non-controller pod."""
    metadata = pod.get("metadata", {})
    if (metadata.get("labels") or {}).get(COMPONENT_LABEL) == DASHBOARD_COMPONENT:
        return None
    container = controller_container(pod)
    if container is None:
        return None
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    status = pod.get("status") or {}
    statuses = {entry.get("name"): entry for entry in status.get("containerStatuses") or []}
    conditions = {entry.get("type"): entry.get("status") for entry in status.get("conditions") or []}
    metrics = next((find_flag(argv, flag) for flag in METRICS_FLAGS if find_flag(argv, flag)), None)
    return ControllerPod(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        phase=status.get("phase") or "Unknown",
        ready=status.get("phase") == "Running"
        and conditions.get("Ready") == "True"
        and not metadata.get("deletionTimestamp"),
        image=container.get("image") or "",
        restarts=int((statuses.get(container.get("name")) or {}).get("restartCount") or 0),
        created=_parse_time(metadata.get("creationTimestamp")),
        pprof_address=find_flag(argv, PPROF_FLAG) or None,
        metrics_port=int(metrics) if metrics and metrics.isdigit() else DEFAULT_METRICS_PORT,
        instance_id=find_flag(argv, "--instance-id") or None,
        lease_namespace=find_flag(argv, "--leader-election-namespace") or None,
    )


def choose_target(survey: Survey, *, pod: str | None = None, port: int | None = None) -> Target:
    """The pod to profile: ``pod`` when named, else the Lease's holder, else the only ready pod."""
    names = ", ".join(f"{p.name} ({_state(p)})" for p in survey.pods) or "none"
    if not survey.pods:
        raise TargetNotFound(
            f"no Argo Rollouts controller pods in namespace {survey.namespace} (label {CONTROLLER_SELECTOR})"
        )
    by_name = {p.name: p for p in survey.pods}
    ready = [p for p in survey.pods if p.ready]
    if pod is not None:
        if pod not in by_name:
            raise TargetNotFound(f"pod {pod} is not a controller pod in namespace {survey.namespace}; found: {names}")
        chosen, chosen_by = by_name[pod], "--pod"
        if not chosen.ready:
            raise TargetNotFound(f"pod {pod} is not ready ({_state(chosen)})")
    elif not ready:
        raise TargetNotFound(f"no controller pod is ready in namespace {survey.namespace}: {names}")
    elif survey.leader_name:
        leader = by_name.get(survey.leader_name)
        if leader is None:
            raise TargetNotFound(
                f"Lease {survey.lease_name} names pod {survey.leader_name} as leader, which does not exist; "
                f"controller pods: {names}",
                hint="leadership is changing over: retry in a few seconds, or name a pod with --pod",
            )
        if not leader.ready:
            raise TargetNotFound(
                f"the leader {leader.name} (from Lease {survey.lease_name}) is not ready ({_state(leader)})",
                hint="retry when it is ready, or name another pod with --pod",
            )
        chosen, chosen_by = leader, f"leader (Lease {survey.lease_name})"
    elif len(ready) == 1:
        chosen, chosen_by = ready[0], f"the only ready pod ({survey.lease_problem or 'no leader in the Lease'})"
    else:
        raise TargetNotFound(
            f"cannot tell which of {len(ready)} ready controller pods leads: {survey.lease_problem}",
            hint="name one with --pod",
        )
    return Target(
        pod_name=chosen.name,
        namespace=chosen.namespace or survey.namespace,
        pprof_port=port if port is not None else _pprof_port(chosen),
        metrics_port=chosen.metrics_port,
        image=chosen.image,
        chosen_by=chosen_by,
        pprof_address=chosen.pprof_address,
    )


def _pprof_port(pod: ControllerPod) -> int:
    if pod.pprof_port is not None:
        return pod.pprof_port
    hint = (
        f"add {PPROF_FLAG}=:6060 to the controller's args, or with the Helm chart set "
        f"{HELM_PPROF_VALUE}=:6060; or name a port with --port"
    )
    version = version_of(pod.image_tag)
    if version is not None and version < PPROF_SINCE:
        hint += f" (needs Argo Rollouts >= v1.8.0; {pod.name} runs {pod.image_tag})"
    raise ProfilingUnavailable(f"profiling is off in pod {pod.name}: its controller has no {PPROF_FLAG}", hint=hint)


def survey(api: ClusterApi, namespace: str, *, instance_id: str | None = None) -> Survey:
    """List the controller pods in ``namespace`` and read the leader-election Lease."""
    items = api.list_pods(namespace, CONTROLLER_SELECTOR)
    pods = [p for p in (describe_pod(item) for item in items) if p is not None]
    if instance_id is not None:
        matching = [p for p in pods if p.instance_id == instance_id]
        if pods and not matching:
            raise TargetNotFound(
                f"no controller pod in namespace {namespace} runs with --instance-id {instance_id}",
                hint="drop --instance-id, or check the namespace (-n)",
            )
        pods = matching
    lease_namespace = next((p.lease_namespace for p in pods if p.lease_namespace), None) or namespace
    lookup = api.find_lease(lease_namespace, lease_names(instance_id))
    return Survey(
        namespace=namespace,
        pods=tuple(pods),
        lease_name=lookup.name,
        lease_holder=lookup.holder,
        lease_problem=lookup.problem,
    )


def _state(pod: ControllerPod) -> str:
    return "ready" if pod.ready else f"{pod.phase}, not ready"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
