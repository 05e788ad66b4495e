"""Find the Argo Rollouts controller pod to profile: the controller pods (by labels and the container's flags, never
by image name: OpenShift GitOps and mirrors rename the image), the leader named by the leader-election Lease, and
the pprof listen address from the controller container's flags. Pure functions over API JSON, plus ``survey``
that reads the cluster and ``await_leader`` that waits out a Lease still naming a pod that is gone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from kubectl_rollouts_profile.cluster.api import ClusterApi, lease_expiry, parse_micro_time
from kubectl_rollouts_profile.errors import ProfilingUnavailable, RolloutsProfileError, TargetNotFound

CONTROLLER_SELECTOR = "app.kubernetes.io/name=argo-rollouts"
COMPONENT_LABEL = "app.kubernetes.io/component"
DASHBOARD_COMPONENT = "rollouts-dashboard"
CONTROLLER_COMPONENT = "rollouts-controller"
# Name of the leader-election Lease (controller/controller.go). Since v1.10.0 a controller started with
# --instance-id=ID uses "<name>-ID"; older releases always use the plain name.
LEASE_NAME = "argo-rollouts-controller-lock"
PPROF_FLAG = "--enable-pprof-address"
METRICS_FLAGS = ("--metricsPort", "--metricsport")
DEFAULT_METRICS_PORT = 8090
HELM_PPROF_VALUE = "controller.pprofAddress"
PPROF_SINCE = (1, 8, 0)
INSTANCE_ID_FLAG = "--instance-id"
NAMESPACED_FLAG = "--namespaced"  # the Helm chart's clusterInstall: false (the controller watches its namespace only)
RELEASE_LABEL = "app.kubernetes.io/instance"
LEADER_ELECT_FLAG = "--leader-elect"
# Flags only the controller takes (cmd/rollouts-controller/main.go); the dashboard runs `dashboard` instead.
CONTROLLER_FLAGS = (
    PPROF_FLAG, LEADER_ELECT_FLAG, INSTANCE_ID_FLAG, "--metricsport", "--metricsPort", "--healthzPort",
    "--rollout-resync", "--rollout-threads", "--leader-election-lease-duration", "--loglevel", "--kloglevel",
)
CONTROLLER_CONTAINER_NAME = "argo-rollouts"  # Helm chart, install.yaml and the OpenShift GitOps operator
# After the Lease's holder stops renewing, how long past renewTime + leaseDurationSeconds we wait for a new holder
# (the controller retries every 2s by default).
LEASE_MARGIN_SECONDS = 5.0
LEASE_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class ImageRef:
    """A container image reference split as the distribution spec does: ``[registry[:port]/]path[:tag][@digest]``."""

    registry: str | None
    repository: str
    tag: str | None
    digest: str | None

    @property
    def version_label(self) -> str:
        """What to show as the version: the tag, else the digest shortened (``sha256:0123456789ab``), else latest."""
        if self.tag:
            return self.tag
        if self.digest:
            algorithm, _, value = self.digest.partition(":")
            return f"{algorithm}:{value[:12]}" if value else self.digest
        return "latest"


def parse_image(reference: str) -> ImageRef:
    """Split an image reference; a first component with a ``.`` or ``:`` or equal to ``localhost`` is a registry."""
    name, _, digest = reference.strip().partition("@")
    first, slash, rest = name.partition("/")
    registry = None
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
    repository, colon, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    return ImageRef(registry=registry, repository=repository, tag=tag or None, digest=digest or None)


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
    leader_elect: bool = True
    cpu_limit: str | None = None  # the controller container's resources.limits.cpu, as written ("500m", "1")
    cpu_request: str | None = None
    namespaced: bool = False  # started with --namespaced
    release: str | None = None  # the Helm release (app.kubernetes.io/instance), when labelled

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
    lease_expires: datetime | None = None  # renewTime + leaseDurationSeconds
    lease_duration_seconds: float | None = None
    leader_election: bool = True
    instance_id: str | None = None

    @property
    def leader_name(self) -> str | None:
        return holder_pod_name(self.lease_holder) if self.lease_holder else None

    @property
    def stale_holder(self) -> bool:
        """The Lease names a pod that is not among the controller pods (e.g. just after a restart)."""
        return self.leader_name is not None and self.leader_name not in {pod.name for pod in self.pods}


@dataclass(frozen=True)
class ProfiledPod:
    """The pod and port a capture goes to, and how the pod was chosen (for the log line)."""

    pod_name: str
    namespace: str
    pprof_port: int
    metrics_port: int | None
    image: str
    chosen_by: str
    pprof_address: str | None = None
    instance_id: str | None = None  # the controller's --instance-id (names its Lease)
    cpu_limit: str | None = None  # the controller container's CPU limit and request, as written ("500m")
    cpu_request: str | None = None

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
    """The tag of an image reference (``quay.io/argoproj/argo-rollouts:v1.8.3@sha256:...`` -> ``v1.8.3``), the
    shortened digest when there is no tag (``...@sha256:0123...`` -> ``sha256:0123456789ab``), else ``latest``."""
    return parse_image(image).version_label


def version_of(tag: str) -> tuple[int, int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", tag)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def _argv(container: dict) -> list[str]:
    return [*(container.get("command") or []), *(container.get("args") or [])]


def _has_controller_flag(argv: Sequence[str]) -> bool:
    return any(word == flag or word.startswith(flag + "=") for word in argv for flag in CONTROLLER_FLAGS)


def controller_container(pod: dict) -> dict | None:
    """The container running the rollouts controller, or None when the pod is something else.

    Recognised by what it runs (a ``rollouts-controller`` command, or controller flags), else by the container name
    the manifests use (install.yaml passes no args) in a pod labelled as the controller component, or with no
    component label. The image name is never used: OpenShift GitOps ships ``argo-rollouts-rhel8``, mirrors rename.
    """
    component = ((pod.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL)
    containers = pod.get("spec", {}).get("containers") or []
    for container in containers:
        if any(word.endswith("rollouts-controller") for word in _argv(container)):
            return container
    for container in containers:
        argv = _argv(container)
        if "dashboard" not in argv and _has_controller_flag(argv):
            return container
    if component not in (None, CONTROLLER_COMPONENT):
        return None
    for container in containers:
        if container.get("name") == CONTROLLER_CONTAINER_NAME and "dashboard" not in _argv(container):
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
    argv = _argv(container)
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
        created=parse_micro_time(metadata.get("creationTimestamp")),
        pprof_address=find_flag(argv, PPROF_FLAG) or None,
        metrics_port=int(metrics) if metrics and metrics.isdigit() else DEFAULT_METRICS_PORT,
        instance_id=find_flag(argv, INSTANCE_ID_FLAG) or None,
        leader_elect=_bool_flag(argv, LEADER_ELECT_FLAG, default=True),
        cpu_limit=_cpu_quantity(container, "limits"),
        cpu_request=_cpu_quantity(container, "requests"),
        namespaced=_bool_flag(argv, NAMESPACED_FLAG, default=False),
        release=(metadata.get("labels") or {}).get(RELEASE_LABEL) or None,
    )


def _cpu_quantity(container: dict, which: str) -> str | None:
    value = ((container.get("resources") or {}).get(which) or {}).get("cpu")
    return str(value) if value not in (None, "") else None


def _bool_flag(argv: Sequence[str], flag: str, *, default: bool) -> bool:
    """A pflag boolean: ``--flag`` and ``--flag=true`` are true, ``--flag=false`` false; absent is ``default``.
    (pflag does not take a separate ``--flag false`` for booleans.)"""
    value = default
    for word in argv:
        if word == flag:
            value = True
        elif word.startswith(flag + "="):
            value = word[len(flag) + 1 :].lower() in ("1", "t", "true")
    return value


def choose_profiled_pod(survey: Survey, *, pod: str | None = None, port: int | None = None) -> ProfiledPod:
    """The pod to profile and its pprof port: ``pod`` when named, else the Lease's holder, else the only ready pod."""
    chosen, chosen_by = choose_pod(survey, pod=pod)
    return profiled_pod(chosen, chosen_by=chosen_by, namespace=survey.namespace, port=port)


def choose_pod(survey: Survey, *, pod: str | None = None) -> tuple[ControllerPod, str]:
    """A ready controller pod of the surveyed install and how it was chosen: ``pod`` when named, else the Lease's
    holder, else the only ready pod (said so: it is not called the leader when the Lease names another)."""
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
    elif survey.leader_name and survey.leader_name not in by_name:
        if len(ready) != 1:
            raise TargetNotFound(
                f"Lease {survey.lease_name} still names pod {survey.leader_name} as leader, which does not exist "
                f"(stale holder {survey.lease_holder}); controller pods: {names}",
                hint="leadership did not move to a running pod: check the controller's logs, or name a pod with --pod",
            )
        chosen, chosen_by = ready[0], f"the only ready pod (Lease {survey.lease_name} names a pod that is gone)"
    elif survey.leader_name:
        leader = by_name[survey.leader_name]
        if not leader.ready:
            raise TargetNotFound(
                f"the leader {leader.name} (from Lease {survey.lease_name}) is not ready ({_state(leader)})",
                hint="retry when it is ready, or name another pod with --pod",
            )
        chosen, chosen_by = leader, f"leader (Lease {survey.lease_name})"
    elif not survey.leader_election and len(ready) > 1:
        raise TargetNotFound(
            f"leader election is off (--leader-elect=false) and {len(ready)} controller pods are ready: {names}",
            hint="name one with --pod",
        )
    elif len(ready) == 1:
        chosen, chosen_by = ready[0], f"the only ready pod ({survey.lease_problem or 'no leader in the Lease'})"
    else:
        raise TargetNotFound(
            f"cannot tell which of {len(ready)} ready controller pods leads: {survey.lease_problem}",
            hint="name one with --pod",
        )
    return chosen, chosen_by


def profiled_pod(chosen: ControllerPod, *, chosen_by: str, namespace: str, port: int | None = None) -> ProfiledPod:
    """``chosen`` as the pod to profile: its pprof port from the controller's flags unless ``port`` names one."""
    return ProfiledPod(
        pod_name=chosen.name,
        namespace=chosen.namespace or namespace,
        pprof_port=port if port is not None else _pprof_port(chosen),
        metrics_port=chosen.metrics_port,
        image=chosen.image,
        chosen_by=chosen_by,
        pprof_address=chosen.pprof_address,
        instance_id=chosen.instance_id,
        cpu_limit=chosen.cpu_limit,
        cpu_request=chosen.cpu_request,
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
    """List the controller pods in ``namespace`` and read the leader-election Lease (in the same namespace: Argo
    Rollouts keeps it in its own namespace, ``POD_NAMESPACE``; there is no flag to move it).

    Without ``instance_id``, the pods' own ``--instance-id`` (Argo Rollouts >= v1.10) names the Lease. Pods started
    with ``--leader-elect=false`` need no Lease.
    """
    items = api.list_pods(namespace, CONTROLLER_SELECTOR)
    pods = [p for p in (describe_pod(item) for item in items) if p is not None]
    return _survey_of(api, namespace, pods, instance_id=instance_id)


def _survey_of(api: ClusterApi, namespace: str, pods: list[ControllerPod], *, instance_id: str | None) -> Survey:
    if instance_id is not None:
        matching = [p for p in pods if p.instance_id == instance_id]
        if pods and not matching:
            raise TargetNotFound(
                f"no controller pod in namespace {namespace} runs with --instance-id {instance_id}",
                hint="drop --instance-id, or check the namespace (-n)",
            )
        pods = matching
    else:
        instance_ids = sorted({p.instance_id for p in pods if p.instance_id})
        if len(instance_ids) > 1:
            raise TargetNotFound(
                f"controller pods in namespace {namespace} run with different instance ids: "
                + ", ".join(instance_ids),
                hint="choose one with --instance-id",
            )
        instance_id = instance_ids[0] if instance_ids else None
    if pods and not any(p.leader_elect for p in pods):
        return Survey(namespace, tuple(pods), lease_names(instance_id)[0], None,
                      "leader election is off (--leader-elect=false)", leader_election=False,
                      instance_id=instance_id)
    lookup = api.find_lease(namespace, lease_names(instance_id))
    expires, duration = lease_expiry(lookup.lease)
    return Survey(
        namespace=namespace,
        pods=tuple(pods),
        lease_name=lookup.name,
        lease_holder=lookup.holder,
        lease_problem=lookup.problem,
        lease_expires=expires,
        lease_duration_seconds=duration,
        instance_id=instance_id,
    )


@dataclass(frozen=True)
class Install:
    """One controller install: the pods of one namespace that share an instance id, with what their Lease says."""

    namespace: str
    instance_id: str | None
    release: str | None  # the Helm release, when the pods carry the label
    namespaced: bool  # started with --namespaced (watches its own namespace only)
    survey: Survey

    @property
    def scope(self) -> str:
        return "namespaced" if self.namespaced else "cluster-wide"

    @property
    def label(self) -> str:
        """``argo-rollouts/argo-rollouts``, or with an instance id ``team-a/rollouts-team-a (instance team-a)``."""
        name = f"{self.namespace}/{self.release or 'argo-rollouts'}"
        return f"{name} (instance {self.instance_id})" if self.instance_id else name

    @property
    def selection(self) -> str:
        """The flags that pick this install: ``-n NAMESPACE [--instance-id ID]``."""
        return f"-n {self.namespace}" + (f" --instance-id {self.instance_id}" if self.instance_id else "")


def survey_cluster(api: ClusterApi) -> tuple[Install, ...]:
    """Every controller install in the cluster (one cluster-wide list of pods, then each install's Lease in its own
    namespace), ordered by namespace and instance id. Needs ``list pods`` at the cluster scope (exit 4 without)."""
    items = api.list_pods_all_namespaces(CONTROLLER_SELECTOR)
    groups: dict[tuple[str, str], list[ControllerPod]] = {}
    for pod in (describe_pod(item) for item in items):
        if pod is not None:
            groups.setdefault((pod.namespace, pod.instance_id or ""), []).append(pod)
    return tuple(
        install_of(_survey_of(api, namespace, pods, instance_id=instance_id or None))
        for (namespace, instance_id), pods in sorted(groups.items())
    )


def install_of(found: Survey) -> Install:
    """The install a survey's pods make up."""
    return Install(
        namespace=found.namespace,
        instance_id=found.instance_id,
        release=next((pod.release for pod in found.pods if pod.release), None),
        namespaced=any(pod.namespaced for pod in found.pods),
        survey=found,
    )


def other_installs(api: ClusterApi, found: Survey) -> tuple[Install, ...] | None:
    """When no namespace was named: the installs in the cluster if there is more than the one surveyed (or any
    while the surveyed namespace has none), else None. A caller who may not list pods cluster-wide learns nothing
    here (None), never an error: the capture goes on as it would have."""
    try:
        installs = survey_cluster(api)
    except RolloutsProfileError:
        return None
    here = {(found.namespace, found.instance_id)} if found.pods else set()
    if not installs or {(install.namespace, install.instance_id) for install in installs} == here:
        return None
    return installs


def installs_text(installs: Sequence[Install]) -> str:
    """``team-a/rollouts-team-a (instance team-a): -n team-a --instance-id team-a; ...``"""
    return "; ".join(f"{install.label}: {install.selection}" for install in installs)


def await_leader(
    api: ClusterApi,
    first: Survey,
    *,
    progress: Callable[[str], None],
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    pause: Callable[[float], object] = time.sleep,
) -> Survey:
    """While the Lease names a pod that is gone (right after a restart), re-read it until a running pod holds it,
    at most until the old holder's lease expires (renewTime + leaseDurationSeconds) plus a margin. Returns the
    last survey: ``choose_profiled_pod`` then falls back to the only ready pod, or names the stale holder."""
    survey_now = first
    if not survey_now.stale_holder:
        return survey_now
    if survey_now.lease_expires is not None:
        deadline = survey_now.lease_expires + timedelta(seconds=LEASE_MARGIN_SECONDS)
    else:
        deadline = now() + timedelta(seconds=(survey_now.lease_duration_seconds or 15) + LEASE_MARGIN_SECONDS)
    if now() < deadline:
        progress(
            f"Lease {survey_now.lease_name} still names pod {survey_now.leader_name}, which is gone; waiting up to "
            f"{max(0, (deadline - now()).total_seconds()):.0f}s for the new leader"
        )
    while survey_now.stale_holder and now() < deadline:
        pause(LEASE_POLL_SECONDS)
        survey_now = survey(api, first.namespace, instance_id=first.instance_id)
    if not survey_now.stale_holder and survey_now.leader_name:
        progress(f"new leader: {survey_now.leader_name}")
    return survey_now


def _state(pod: ControllerPod) -> str:
    return "ready" if pod.ready else f"{pod.phase}, not ready"
