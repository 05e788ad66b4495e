"""The typed cluster handle against the test API server: pods, one pod, Leases (get, find, create, update),
events, and the server version read once per handle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from kubectl_rollouts_profile.cluster.api import ClusterApi
from kubectl_rollouts_profile.cluster.config import ClusterRequest, resolve_config
from kubectl_rollouts_profile.cluster.locate import CONTROLLER_SELECTOR, lease_names
from kubectl_rollouts_profile.errors import AccessDenied, TargetNotFound


@pytest.fixture
def api(argo_cluster: Any) -> Iterator[ClusterApi]:
    config = resolve_config(ClusterRequest(kubeconfig=str(argo_cluster.kubeconfig)), os.environ)
    with config.open_api() as handle:
        yield handle


def test_pods_and_one_pod(argo_cluster: Any, api: ClusterApi) -> None:
    scenario = argo_cluster.scenario
    names = {pod["metadata"]["name"] for pod in api.list_pods(scenario.namespace, CONTROLLER_SELECTOR)}
    assert names == {*scenario.controller_pods, scenario.dashboard_pod}
    assert api.get_pod(scenario.namespace, scenario.leader_pod)["metadata"]["name"] == scenario.leader_pod
    with pytest.raises(TargetNotFound, match="no-such-pod"):
        api.get_pod(scenario.namespace, "no-such-pod")


def test_lease_by_name_and_the_first_that_exists(argo_cluster: Any, api: ClusterApi) -> None:
    scenario = argo_cluster.scenario
    assert api.get_lease(scenario.namespace, "no-such-lease") is None
    found = api.find_lease(scenario.namespace, lease_names("blue"))  # the -blue Lease does not exist here
    assert (found.name, found.holder, found.problem) == (scenario.lease_name, scenario.holder_identity, None)
    missing = api.find_lease(scenario.namespace, ["a", "b"])
    assert (missing.name, missing.lease, missing.problem) == ("a", None, f"Lease {scenario.namespace}/b not found")


def test_unreadable_lease_is_an_answer_that_keeps_the_error(argo_cluster: Any, tmp_path: Any) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    server.add_user("viewer")  # no bindings: may not read Leases
    kubeconfig = server.write_kubeconfig(tmp_path / "viewer", "viewer")
    config = resolve_config(ClusterRequest(kubeconfig=str(kubeconfig)), os.environ)
    with config.open_api() as viewer:
        lookup = viewer.find_lease(scenario.namespace, [scenario.lease_name])
    assert lookup.lease is None and isinstance(lookup.error, AccessDenied)
    assert lookup.problem is not None and "is not readable" in lookup.problem


def test_create_and_update_return_conflicts(argo_cluster: Any, api: ClusterApi) -> None:
    namespace = argo_cluster.scenario.namespace
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "handle-test", "namespace": namespace}, "spec": {"holderIdentity": "me"}}
    status, created = api.create_lease(namespace, body)
    assert status == 201 and created["spec"]["holderIdentity"] == "me"
    assert api.create_lease(namespace, body)[0] == 409
    elsewhere = dict(body, metadata={"name": "handle-test", "namespace": "no-such-namespace"})
    assert api.create_lease("no-such-namespace", elsewhere)[0] == 404
    status, updated = api.update_lease(namespace, "handle-test", dict(created, spec={"holderIdentity": "you"}))
    assert status == 200 and updated["spec"]["holderIdentity"] == "you"
    assert api.update_lease(namespace, "handle-test", created)[0] == 409  # stale resourceVersion


def test_events_of_one_object(argo_cluster: Any, api: ClusterApi) -> None:
    scenario = argo_cluster.scenario
    events = api.list_events(scenario.namespace, scenario.leader_pod)
    assert {event["reason"] for event in events} == {"Scheduled", "Pulled", "Created", "Started"}
    assert api.list_events(scenario.namespace, scenario.controller_pods[0] + "-other") == []


def test_server_version_is_read_once_per_handle(argo_cluster: Any, api: ClusterApi) -> None:
    server = argo_cluster.server
    before = sum(1 for _, path, _ in server.requests if path == "/version")
    assert api.server_version()["gitVersion"] == server.git_version
    assert api.server_version() is api.server_version()
    assert sum(1 for _, path, _ in server.requests if path == "/version") == before + 1
