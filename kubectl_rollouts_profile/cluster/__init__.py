"""The cluster path: resolve the kubeconfig, check access, find the controller pod and port-forward to its pprof
port. Each step is one function here, so every command composes them in the same order (``pipeline.open_endpoint``
adds the load guard and the capture lock between choosing the pod and opening the tunnel); ``connect`` runs them all
and yields a ``Connection`` whose ``base_url`` is plain HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubectl_rollouts_profile.cluster.api import ClusterApi
from kubectl_rollouts_profile.cluster.config import ClusterConfig, ClusterRequest, resolve_config
from kubectl_rollouts_profile.cluster.locate import ControllerPod, ProfiledPod, Survey
from kubectl_rollouts_profile.cluster.tunnel import KEEPALIVE_SECONDS

if TYPE_CHECKING:
    from kubectl_rollouts_profile.cluster.access import AccessReport, Permission
    from kubectl_rollouts_profile.environment import Environment
    from kubectl_rollouts_profile.errors import RolloutsProfileError

__all__ = ["ClusterApi", "ClusterConfig", "ClusterRequest", "ClusterSession", "Connection", "ProfiledPod", "connect",
           "open_session", "resolve_config"]


@dataclass(frozen=True)
class ClusterSession:
    """The resolved configuration, an open API handle and what the preflight found; valid inside ``open_session``."""

    request: ClusterRequest
    config: ClusterConfig
    api: ClusterApi = field(repr=False, compare=False)
    access: AccessReport | None = None

    @property
    def namespace(self) -> str:
        return self.config.namespace


@dataclass(frozen=True)
class Connection:
    """An open way to the profiled pod's pprof server; valid inside the ``with`` block that opened it only."""

    base_url: str
    pod: ProfiledPod
    config: ClusterConfig
    api: ClusterApi = field(repr=False, compare=False)
    access: AccessReport | None = None


def preflight_for(
    request: ClusterRequest, config: ClusterConfig, api: ClusterApi, extra_rules: Iterable[Permission] = ()
) -> AccessReport:
    """Review (as the caller) everything a capture needs, plus ``extra_rules``."""
    from kubectl_rollouts_profile.cluster.access import capture_permissions, preflight
    from kubectl_rollouts_profile.cluster.locate import lease_names

    permissions = (*capture_permissions(lease_names(request.instance_id)), *extra_rules)
    return preflight(api, config.namespace, permissions, subject=config.subject)


def say_which_installs(api: ClusterApi, found: Survey, env: Environment) -> None:
    """Without -n: when the cluster holds more installs than the one in the default namespace, name them (and
    stop with exit 3 when the default namespace holds none)."""
    from kubectl_rollouts_profile.cluster.locate import installs_text, other_installs
    from kubectl_rollouts_profile.errors import TargetNotFound

    installs = other_installs(api, found)
    if installs is None:
        return
    if not found.pods:
        raise TargetNotFound(
            f"no Argo Rollouts controller pods in namespace {found.namespace}; this cluster holds "
            f"{len(installs)} install{'s' if len(installs) > 1 else ''}: {installs_text(installs)}",
            hint="choose one with -n NAMESPACE (and --instance-id ID)",
        )
    env.message(f"note: {len(installs)} installs in this cluster: {installs_text(installs)}; profiling the one in "
                f"namespace {found.namespace} (choose with -n)")


@contextmanager
def open_session(
    request: ClusterRequest, *, env: Environment, extra_rules: Iterable[Permission] = ()
) -> Iterator[ClusterSession]:
    """Resolve the config (warning when the server's certificate is not verified), open the API and run the
    preflight with ``extra_rules`` (unless skipped); the API is closed when the block ends."""
    config = resolve_config(request, env.environ)
    if config.transport is not None and config.transport.ssl_context is not None and not config.transport.verify:
        env.message(f"warning: the API server's certificate is not verified (insecure-skip-tls-verify in "
                    f"{config.source})")
    api = config.open_api()
    try:
        access = None
        if not request.skip_preflight:
            # Before locating: a denied "list pods" would otherwise surface alone, without the full list.
            access = preflight_for(request, config, api, extra_rules)
            if not access.ok:
                raise access.denied_error()
        yield ClusterSession(request=request, config=config, api=api, access=access)
    finally:
        api.close()


def survey_install(session: ClusterSession, env: Environment) -> Survey:
    """The controller pods of the resolved install (namespace, instance id) and its leader Lease; without -n (and
    --pod), the other installs of the cluster are named (``say_which_installs``)."""
    from kubectl_rollouts_profile.cluster.locate import survey

    found = survey(session.api, session.namespace, instance_id=session.request.instance_id)
    if not session.request.namespace_given and session.request.pod is None:
        say_which_installs(session.api, found, env)
    return found


def leader_or_named(session: ClusterSession, found: Survey, env: Environment, *,
                    doing: str = "profiling") -> tuple[ControllerPod, str, Survey]:
    """The pod ``--pod`` names, else the leader (waiting out a Lease that still names a pod that is gone), with how
    it was chosen and the last survey; ``doing`` says in the warning what happens to the only ready pod when the
    Lease names one that is gone."""
    from kubectl_rollouts_profile.cluster.locate import await_leader, choose_pod

    if session.request.pod is None:
        found = await_leader(session.api, found, progress=env.message)
    pod, chosen_by = choose_pod(found, pod=session.request.pod)
    if session.request.pod is None and found.stale_holder:
        env.message(f"warning: Lease {found.lease_name} still names pod {found.leader_name}, which is gone; "
                    f"{doing} {pod.name}, the only ready controller pod")
    return pod, chosen_by, found


@contextmanager
def tunnel_to(
    session: ClusterSession,
    pod: ProfiledPod,
    *,
    keepalive_seconds: float | None = KEEPALIVE_SECONDS,
    retry: Callable[[RolloutsProfileError], bool] | None = None,
) -> Iterator[Connection]:
    """The port-forward to the pod's pprof port for the block; errors in the block that come from the tunnel
    breaking are replaced by what the tunnel saw (``tunnel.open_tunnel``)."""
    from kubectl_rollouts_profile.cluster.tunnel import open_tunnel

    with open_tunnel(session.config, pod.namespace, pod.pod_name, pod.pprof_port,
                     keepalive_seconds=keepalive_seconds, retry=retry) as base_url:
        yield Connection(base_url=base_url, pod=pod, config=session.config, api=session.api,
                         access=session.access)


@contextmanager
def connect(
    request: ClusterRequest,
    *,
    env: Environment,
    extra_rules: Iterable[Permission] = (),
    keepalive_seconds: float | None = KEEPALIVE_SECONDS,
) -> Iterator[Connection]:
    """Resolve config -> preflight (unless skipped) -> locate the leader -> open the tunnel; close all on exit.
    ``keepalive_seconds``: websocket ping interval while idle (None: no pings)."""
    from kubectl_rollouts_profile.cluster.locate import profiled_pod

    with open_session(request, env=env, extra_rules=extra_rules) as session:
        chosen, chosen_by, found = leader_or_named(session, survey_install(session, env), env)
        profiled = profiled_pod(chosen, chosen_by=chosen_by, namespace=found.namespace, port=request.port)
        announce(profiled, env)
        with tunnel_to(session, profiled, keepalive_seconds=keepalive_seconds) as connection:
            yield connection


def announce(pod: ProfiledPod, env: Environment) -> None:
    env.message(
        f"target: pod {pod.namespace}/{pod.pod_name}, {pod.chosen_by}, pprof port {pod.pprof_port}"
    )
