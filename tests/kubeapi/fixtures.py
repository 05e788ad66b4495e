"""pytest fixtures of the test API server: one session-wide server, and a fresh Argo Rollouts install per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kubeapi.scenario import Scenario, install_argo_rollouts
from tests.kubeapi.server import KubeApiServer


@dataclass(frozen=True)
class ArgoCluster:
    server: KubeApiServer
    kubeconfig: Path  # admin user, namespace argo-rollouts
    scenario: Scenario


@pytest.fixture(scope="session")
def kube_api() -> Iterator[KubeApiServer]:
    """The running test API server (admin user ``admin`` in system:masters, token ``kube_api.admin_token``)."""
    server = KubeApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def argo_cluster(kube_api: KubeApiServer, go_new, tmp_path: Path) -> Iterator[ArgoCluster]:
    """An emptied server with Argo Rollouts installed; the leader's pprof/metrics ports reach ``go_new``."""
    kube_api.reset()
    kube_api.portforward_idle_timeout = None
    kube_api.lb_idle_timeout = None
    scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port, metrics_port=go_new.metrics_port)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", "admin", namespace=scenario.namespace)
    yield ArgoCluster(server=kube_api, kubeconfig=kubeconfig, scenario=scenario)
    kube_api.portforward_idle_timeout = None
    kube_api.lb_idle_timeout = None


EMPTY_NAMESPACE = "argo-rollouts"


@pytest.fixture
def empty_namespace(kube_api: KubeApiServer, tmp_path: Path) -> Iterator[tuple[KubeApiServer, Path]]:
    """The server reset to one empty namespace (no controller installed), and an admin kubeconfig for it."""
    kube_api.reset()
    kube_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": EMPTY_NAMESPACE}})
    yield kube_api, kube_api.write_kubeconfig(tmp_path / "kubeconfig", "admin", namespace=EMPTY_NAMESPACE)
