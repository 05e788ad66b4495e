"""Several clusters at once: test API server instances as the contexts of one kubeconfig, some of them unreachable.

Each healthy context is its own ``KubeApiServer`` (its own CA, admin token and objects) with Argo Rollouts
installed; an unreachable context points at a loopback port nothing listens on (connecting is refused at once) or
at a ``Blackhole`` (the connection is accepted by the kernel and never answered: the request timeout decides).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.kubeapi.scenario import IMAGE, Scenario, install_argo_rollouts
from tests.kubeapi.server import KubeApiServer
from tests.netfaults import Blackhole, refused_port


@dataclass
class FleetCluster:
    """One context: its server and install, or ``None`` for both when it is unreachable."""

    context: str
    server: KubeApiServer | None
    scenario: Scenario | None
    url: str


@dataclass
class Fleet:
    clusters: list[FleetCluster] = field(default_factory=list)
    blackholes: list[Blackhole] = field(default_factory=list)

    @property
    def contexts(self) -> list[str]:
        return [cluster.context for cluster in self.clusters]

    def cluster(self, context: str) -> FleetCluster:
        return next(cluster for cluster in self.clusters if cluster.context == context)

    def write_kubeconfig(self, path: Path, *, current: str | None = None) -> Path:
        """One kubeconfig holding every context (its own cluster entry with its CA, its own admin user), mode 0600.
        The current context is ``current``, else the first."""
        clusters, users, contexts = [], [], []
        for cluster in self.clusters:
            entry: dict = {"server": cluster.url}
            token = "unreachable-cluster-token"
            if cluster.server is not None:
                assert cluster.server.ca_file is not None
                entry["certificate-authority-data"] = base64.b64encode(cluster.server.ca_file.read_bytes()).decode()
                token = cluster.server.admin_token
            clusters.append({"name": cluster.context, "cluster": entry})
            users.append({"name": f"{cluster.context}-admin", "user": {"token": token}})
            contexts.append({"name": cluster.context,
                             "context": {"cluster": cluster.context, "user": f"{cluster.context}-admin"}})
        config = {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": contexts,
                  "current-context": current or self.clusters[0].context, "preferences": {}}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def stop(self) -> None:
        for cluster in self.clusters:
            if cluster.server is not None:
                cluster.server.stop()
        for blackhole in self.blackholes:
            blackhole.close()


def start_fleet(
    healthy: Sequence[str],
    *,
    pprof_port: int | None,
    metrics_port: int | None = None,
    refused: Sequence[str] = (),
    frozen: Sequence[str] = (),
    images: dict[str, str] | None = None,
) -> Fleet:
    """Start one server per name in ``healthy`` with Argo Rollouts installed (image ``images[name]``, else the
    scenario's), each leader's pprof and metrics ports relayed to ``pprof_port``/``metrics_port``; add the
    ``refused`` (nothing listens) and ``frozen`` (never answers) contexts. Stop it with ``Fleet.stop()``."""
    fleet = Fleet()
    try:
        for name in healthy:
            server = KubeApiServer().start()
            fleet.clusters.append(FleetCluster(name, server, None, server.url))
            fleet.clusters[-1].scenario = install_argo_rollouts(
                server, pprof_port=pprof_port, metrics_port=metrics_port, image=(images or {}).get(name, IMAGE)
            )
        for name in refused:
            fleet.clusters.append(FleetCluster(name, None, None, f"https://127.0.0.1:{refused_port()}"))
        for name in frozen:
            blackhole = Blackhole()
            fleet.blackholes.append(blackhole)
            fleet.clusters.append(FleetCluster(name, None, None, blackhole.url))
    except BaseException:
        fleet.stop()
        raise
    return fleet
