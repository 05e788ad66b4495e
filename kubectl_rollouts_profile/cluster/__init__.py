"""The cluster path: resolve the kubeconfig, check access, find the controller's leader and port-forward to its
pprof port. ``connect`` runs all of it and yields a ``Connection`` whose ``base_url`` is plain HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubectl_rollouts_profile.cluster.api import ClusterApi
from kubectl_rollouts_profile.cluster.config import ClusterConfig, ClusterRequest, resolve_config
from kubectl_rollouts_profile.cluster.locate import Survey, Target
from kubectl_rollouts_profile.cluster.tunnel import KEEPALIVE_SECONDS

if TYPE_CHECKING:
    from kubectl_rollouts_profile.cluster.access import AccessReport, Permission
    from kubectl_rollouts_profile.environment import Environment

__all__ = ["ClusterApi", "ClusterConfig", "ClusterRequest", "Connection", "Target", "connect", "resolve_config"]


@dataclass(frozen=True)
class Connection:
    """An open way to the target's pprof server; valid inside ``connect``'s ``with`` block only."""

    base_url: str
    target: Target
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
def connect(
    request: ClusterRequest,
    *,
    env: Environment,
    extra_rules: Iterable[Permission] = (),
    keepalive_seconds: float | None = KEEPALIVE_SECONDS,
) -> Iterator[Connection]:
    """Resolve config -> preflight (unless skipped) -> locate the leader -> open the tunnel; close all on exit.

    Errors raised inside the ``with`` body that come from the tunnel breaking (the HTTP client sees only a
    closed connection) are replaced by what the tunnel recorded, e.g. "nothing is listening on port P".
    ``keepalive_seconds``: websocket ping interval while idle (None: no pings).
    """
    from kubectl_rollouts_profile.cluster import tunnel as tunnels
    from kubectl_rollouts_profile.cluster.locate import await_leader, choose_target, survey

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
        found = survey(api, config.namespace, instance_id=request.instance_id)
        if not request.namespace_given and request.pod is None:
            say_which_installs(api, found, env)
        if request.pod is None:
            found = await_leader(api, found, progress=env.message)
        target = choose_target(found, pod=request.pod, port=request.port)
        if request.pod is None and found.stale_holder:
            env.message(
                f"warning: Lease {found.lease_name} still names pod {found.leader_name}, which is gone; "
                f"profiling {target.pod_name}, the only ready controller pod"
            )
        env.message(
            f"target: pod {target.namespace}/{target.pod_name}, {target.chosen_by}, pprof port {target.pprof_port}"
        )
        with tunnels.Tunnel(
            config, target.namespace, target.pod_name, target.pprof_port, keepalive_seconds=keepalive_seconds
        ) as tunnel:
            try:
                yield Connection(
                    base_url=tunnel.base_url, target=target, config=config, api=api, access=access
                )
            except Exception as error:
                translated = tunnel.translate(error)
                if translated is None:
                    raise
                raise translated from error
    finally:
        api.close()
