"""The test API server read through the strict kubernetes v37 client: objects, selectors, Status errors, RBAC,
access reviews and impersonation, each checked against the real API server's shapes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kubeapi.scenario import install_argo_rollouts
from tests.kubeapi.server import KubeApiServer

NS = "argo-rollouts"
SA_USER = "system:serviceaccount:ops:runbook"


@pytest.fixture
def cluster(kube_api: KubeApiServer):
    """An emptied server with the Argo Rollouts scenario (no routes needed for these tests)."""
    kube_api.reset()
    return install_argo_rollouts(kube_api, pprof_port=None)


def client_for(server: KubeApiServer, user: str, tmp_path: Path, namespace: str | None = None):
    import kubernetes

    kubeconfig = server.write_kubeconfig(tmp_path / f"{user.replace(':', '_')}.kubeconfig", user, namespace)
    return kubernetes.config.new_client_from_config(str(kubeconfig))


def api_exception(call, *args, **kwargs):
    import json

    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value.status, json.loads(caught.value.body)


def grant(server: KubeApiServer, namespace: str, name: str, rules: list[dict], subject: dict) -> None:
    server.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": name, "namespace": namespace}, "rules": rules})
    server.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [subject]})


def test_strict_client_reads_pods_lease_and_events(kube_api, cluster, tmp_path):
    import kubernetes

    api = client_for(kube_api, "admin", tmp_path)
    core = kubernetes.client.CoreV1Api(api)
    pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=argo-rollouts")
    names = sorted(pod.metadata.name for pod in pods.items)
    assert names == sorted([*cluster.controller_pods, cluster.dashboard_pod])
    leader = core.read_namespaced_pod(cluster.leader_pod, NS)
    status = leader.status.container_statuses[0]
    assert status.ready and status.started and status.state.running is not None
    assert status.image == "quay.io/argoproj/argo-rollouts:v1.8.3"
    assert "--enable-pprof-address=:6060" in leader.spec.containers[0].args
    assert {p.container_port for p in leader.spec.containers[0].ports} == {8080, 8090}
    assert leader.metadata.owner_references[0].kind == "ReplicaSet"
    assert leader.metadata.uid and leader.metadata.resource_version and leader.metadata.creation_timestamp

    lease = kubernetes.client.CoordinationV1Api(api).read_namespaced_lease("argo-rollouts-controller-lock", NS)
    assert lease.spec.holder_identity.split("_")[0] == cluster.leader_pod
    assert lease.spec.lease_duration_seconds == 15 and lease.spec.renew_time is not None

    events = core.list_namespaced_event(NS, field_selector=f"involvedObject.name={cluster.leader_pod}")
    assert {event.reason for event in events.items} == {"Scheduled", "Pulled", "Created", "Started"}
    assert core.list_namespaced_event(NS, field_selector="involvedObject.name=nobody").items == []


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app.kubernetes.io/component=rollouts-controller", "controllers"),
        ("app.kubernetes.io/component==rollouts-controller", "controllers"),
        ("app.kubernetes.io/name=argo-rollouts,app.kubernetes.io/component!=rollouts-dashboard", "controllers"),
        ("app.kubernetes.io/component in (rollouts-dashboard, other)", "dashboard"),
        ("app.kubernetes.io/component notin (rollouts-controller)", "dashboard"),
        ("pod-template-hash", "all"),
        ("!pod-template-hash", "none"),
        ("app.kubernetes.io/name=argo-rollouts,!missing-label", "all"),
    ],
)
def test_label_selectors(kube_api, cluster, tmp_path, selector, expected):
    import kubernetes

    core = kubernetes.client.CoreV1Api(client_for(kube_api, "admin", tmp_path))
    names = {pod.metadata.name for pod in core.list_namespaced_pod(NS, label_selector=selector).items}
    groups = {"controllers": set(cluster.controller_pods), "dashboard": {cluster.dashboard_pod},
              "all": {*cluster.controller_pods, cluster.dashboard_pod}, "none": set()}
    assert names == groups[expected]


def test_field_selector_by_name_and_unsupported_field(kube_api, cluster, tmp_path):
    import kubernetes

    core = kubernetes.client.CoreV1Api(client_for(kube_api, "admin", tmp_path))
    pods = core.list_namespaced_pod(NS, field_selector=f"metadata.name={cluster.leader_pod}")
    assert [pod.metadata.name for pod in pods.items] == [cluster.leader_pod]
    pods = core.list_namespaced_pod(NS, field_selector=f"metadata.name!={cluster.leader_pod},status.phase=Running")
    assert cluster.leader_pod not in {pod.metadata.name for pod in pods.items} and len(pods.items) == 2
    code, status = api_exception(core.list_namespaced_pod, NS, field_selector="spec.bogus=1")
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", "field label not supported: spec.bogus")


def test_bad_label_selector_is_bad_request(kube_api, cluster, tmp_path):
    import kubernetes

    core = kubernetes.client.CoreV1Api(client_for(kube_api, "admin", tmp_path))
    code, status = api_exception(core.list_namespaced_pod, NS, label_selector="a in b")
    assert code == 400 and status["reason"] == "BadRequest" and status["kind"] == "Status"


def test_unknown_token_gets_401_status(kube_api, cluster):
    import kubernetes

    configuration = kubernetes.client.Configuration()
    configuration.host = kube_api.url
    configuration.ssl_ca_cert = str(kube_api.ca_file)
    configuration.api_key = {"authorization": "Bearer not-a-token"}
    core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
    code, status = api_exception(core.list_namespaced_pod, NS)
    assert code == 401
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_not_found_and_forbidden_messages_match_the_real_server(kube_api, cluster, tmp_path):
    import kubernetes

    admin = kubernetes.client.CoreV1Api(client_for(kube_api, "admin", tmp_path))
    code, status = api_exception(admin.read_namespaced_pod, "gone", NS)
    assert (code, status["reason"], status["message"]) == (404, "NotFound", 'pods "gone" not found')
    assert status["details"] == {"name": "gone", "kind": "pods"}
    leases = kubernetes.client.CoordinationV1Api(client_for(kube_api, "admin", tmp_path))
    _, status = api_exception(leases.read_namespaced_lease, "gone", NS)
    assert status["message"] == 'leases.coordination.k8s.io "gone" not found'
    assert status["details"]["group"] == "coordination.k8s.io"

    kube_api.add_serviceaccount_token("ops", "runbook")
    runbook = client_for(kube_api, SA_USER, tmp_path)
    code, status = api_exception(kubernetes.client.CoreV1Api(runbook).list_namespaced_pod, NS)
    assert (code, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        'pods is forbidden: User "system:serviceaccount:ops:runbook" cannot list resource "pods" in API group "" '
        'in the namespace "argo-rollouts"'
    )
    code, status = api_exception(kubernetes.client.CoordinationV1Api(runbook).read_namespaced_lease,
                                 "argo-rollouts-controller-lock", NS)
    assert status["message"] == (
        'leases.coordination.k8s.io "argo-rollouts-controller-lock" is forbidden: User '
        '"system:serviceaccount:ops:runbook" cannot get resource "leases" in API group "coordination.k8s.io" in '
        'the namespace "argo-rollouts"'
    )
    code, status = api_exception(kubernetes.client.CoreV1Api(runbook).list_namespace)
    assert status["message"].endswith('cannot list resource "namespaces" in API group "" at the cluster scope')


def test_role_binding_grants_exactly_its_rules(kube_api, cluster, tmp_path):
    import kubernetes

    kube_api.add_serviceaccount_token("ops", "runbook")
    grant(kube_api, NS, "pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
          {"kind": "ServiceAccount", "name": "runbook", "namespace": "ops"})
    core = kubernetes.client.CoreV1Api(client_for(kube_api, SA_USER, tmp_path))
    assert len(core.list_namespaced_pod(NS).items) == 3
    code, _ = api_exception(core.read_namespaced_pod, cluster.leader_pod, NS)  # get was not granted
    assert code == 403
    code, _ = api_exception(core.list_namespaced_pod, "default")  # a Role binds in its namespace only
    assert code == 403


def test_service_account_token_dies_with_the_account(kube_api, cluster, tmp_path):
    import kubernetes

    kube_api.add_serviceaccount_token("ops", "runbook")
    core = kubernetes.client.CoreV1Api(client_for(kube_api, SA_USER, tmp_path))
    assert api_exception(core.list_namespaced_pod, NS)[0] == 403
    kube_api.delete("v1", "ServiceAccount", "ops", "runbook")
    assert api_exception(core.list_namespaced_pod, NS)[0] == 401


def test_create_update_conflict_and_delete(kube_api, cluster, tmp_path):
    import kubernetes

    rbac_api = kubernetes.client.RbacAuthorizationV1Api(client_for(kube_api, "admin", tmp_path))
    role = kubernetes.client.V1Role(metadata=kubernetes.client.V1ObjectMeta(name="reader"),
                                    rules=[kubernetes.client.V1PolicyRule(api_groups=[""], resources=["pods"],
                                                                          verbs=["get"])])
    created = rbac_api.create_namespaced_role(NS, role)
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.namespace == NS
    code, status = api_exception(rbac_api.create_namespaced_role, NS, role)
    assert (code, status["reason"], status["message"]) == (
        409, "AlreadyExists", 'roles.rbac.authorization.k8s.io "reader" already exists')

    created.rules[0].verbs = ["get", "list"]
    updated = rbac_api.replace_namespaced_role("reader", NS, created)
    assert updated.rules[0].verbs == ["get", "list"]
    assert updated.metadata.uid == created.metadata.uid
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    code, status = api_exception(rbac_api.replace_namespaced_role, "reader", NS, created)  # stale version
    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"].startswith('Operation cannot be fulfilled on roles.rbac.authorization.k8s.io "reader"')

    rbac_api.delete_namespaced_role("reader", NS)
    assert api_exception(rbac_api.read_namespaced_role, "reader", NS)[0] == 404
    code, status = api_exception(rbac_api.create_namespaced_role, "nowhere", role)
    assert (code, status["message"]) == (404, 'namespaces "nowhere" not found')


def test_cluster_scoped_objects(kube_api, cluster, tmp_path):
    import kubernetes

    rbac_api = kubernetes.client.RbacAuthorizationV1Api(client_for(kube_api, "admin", tmp_path))
    body = kubernetes.client.V1ClusterRole(metadata=kubernetes.client.V1ObjectMeta(name="lease-reader"),
                                           rules=[kubernetes.client.V1PolicyRule(
                                               api_groups=["coordination.k8s.io"], resources=["leases"],
                                               verbs=["get"])])
    rbac_api.create_cluster_role(body)
    stored = rbac_api.read_cluster_role("lease-reader")
    assert stored.metadata.namespace is None and stored.rules[0].resources == ["leases"]
    names = {role.metadata.name for role in rbac_api.list_cluster_role().items}
    assert {"lease-reader", "cluster-admin", "system:basic-user"} <= names


def _ssar(api, verb, resource, subresource=None, namespace=NS, group=""):
    import kubernetes

    attributes = kubernetes.client.V1ResourceAttributes(namespace=namespace, verb=verb, group=group,
                                                        resource=resource, subresource=subresource)
    review = kubernetes.client.V1SelfSubjectAccessReview(
        spec=kubernetes.client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))
    return kubernetes.client.AuthorizationV1Api(api).create_self_subject_access_review(review)


def test_self_subject_access_review_with_reasons(kube_api, cluster, tmp_path):
    kube_api.add_serviceaccount_token("ops", "runbook")
    grant(kube_api, NS, "forwarder",
          [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create", "get"]}],
          {"kind": "ServiceAccount", "name": "runbook", "namespace": "ops"})
    api = client_for(kube_api, SA_USER, tmp_path)
    allowed = _ssar(api, "create", "pods", "portforward")
    assert allowed.status.allowed is True
    assert allowed.status.reason == ('RBAC: allowed by RoleBinding "forwarder/argo-rollouts" of Role "forwarder" '
                                     'to ServiceAccount "runbook/ops"')
    assert allowed.spec.resource_attributes.subresource == "portforward"
    denied = _ssar(api, "list", "pods")
    assert denied.status.allowed is False and denied.status.denied is None and denied.status.reason is None
    assert _ssar(api, "create", "pods", "portforward", namespace="default").status.allowed is False
    admin = _ssar(client_for(kube_api, "admin", tmp_path), "delete", "anything", group="x.io")
    assert admin.status.allowed is True


def test_binding_to_a_missing_role_reports_the_rbac_error(kube_api, cluster, tmp_path):
    kube_api.add_serviceaccount_token("ops", "runbook")
    kube_api.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                  "metadata": {"name": "dangling", "namespace": NS},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "missing"},
                  "subjects": [{"kind": "ServiceAccount", "name": "runbook", "namespace": "ops"}]})
    review = _ssar(client_for(kube_api, SA_USER, tmp_path), "list", "pods")
    assert review.status.allowed is False
    assert review.status.reason == 'RBAC: role.rbac.authorization.k8s.io "missing" not found'


def test_subject_access_review_needs_permission_and_uses_the_given_groups(kube_api, cluster, tmp_path):
    import kubernetes

    grant(kube_api, NS, "sa-group-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
          {"kind": "Group", "name": "system:serviceaccounts:ops"})
    attributes = kubernetes.client.V1ResourceAttributes(namespace=NS, verb="list", resource="pods")

    def review(groups):
        return kubernetes.client.V1SubjectAccessReview(spec=kubernetes.client.V1SubjectAccessReviewSpec(
            user=SA_USER, groups=groups, resource_attributes=attributes))

    admin = kubernetes.client.AuthorizationV1Api(client_for(kube_api, "admin", tmp_path))
    with_groups = admin.create_subject_access_review(review(["system:serviceaccounts:ops"]))
    assert with_groups.status.allowed is True
    assert with_groups.status.reason.endswith('to Group "system:serviceaccounts:ops"')
    assert admin.create_subject_access_review(review(None)).status.allowed is False  # no implied groups

    kube_api.add_user("alice")
    alice = kubernetes.client.AuthorizationV1Api(client_for(kube_api, "alice", tmp_path))
    code, status = api_exception(alice.create_subject_access_review, review(["system:serviceaccounts:ops"]))
    assert code == 403
    assert status["message"] == (
        'subjectaccessreviews.authorization.k8s.io is forbidden: User "alice" cannot create resource '
        '"subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope'
    )
    empty = kubernetes.client.V1SubjectAccessReview(
        spec=kubernetes.client.V1SubjectAccessReviewSpec(resource_attributes=attributes))
    code, status = api_exception(admin.create_subject_access_review, empty)
    assert (code, status["reason"]) == (422, "Invalid")


def test_impersonation_checks_the_caller_then_runs_as_the_target(kube_api, cluster, tmp_path):
    import kubernetes

    kube_api.add_serviceaccount_token("ops", "runbook")
    grant(kube_api, NS, "pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
          {"kind": "ServiceAccount", "name": "runbook", "namespace": "ops"})
    kube_api.add_user("alice")
    alice = client_for(kube_api, "alice", tmp_path)
    alice.set_default_header("Impersonate-User", SA_USER)
    code, status = api_exception(kubernetes.client.CoreV1Api(alice).list_namespaced_pod, NS)
    assert code == 403
    assert status["message"] == (
        'serviceaccounts "runbook" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" in '
        'API group "" in the namespace "ops"'
    )
    grant(kube_api, "ops", "impersonator",
          [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"],
            "resourceNames": ["runbook"]}],
          {"kind": "User", "name": "alice"})
    assert len(kubernetes.client.CoreV1Api(alice).list_namespaced_pod(NS).items) == 3
    # The impersonated user has exactly the ServiceAccount's access, not alice's.
    code, _ = api_exception(kubernetes.client.CoreV1Api(alice).read_namespaced_pod, cluster.leader_pod, NS)
    assert code == 403

    admin = client_for(kube_api, "admin", tmp_path)
    admin.set_default_header("Impersonate-User", "bob")
    admin.set_default_header("Impersonate-Group", "developers")
    code, status = api_exception(kubernetes.client.CoreV1Api(admin).list_namespaced_pod, NS)
    assert status["message"].startswith('pods is forbidden: User "bob" cannot list resource "pods"')

    alice_as_user = client_for(kube_api, "alice", tmp_path)
    alice_as_user.set_default_header("Impersonate-User", "bob")
    _, status = api_exception(kubernetes.client.CoreV1Api(alice_as_user).list_namespaced_pod, NS)
    assert status["message"] == (
        'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the '
        "cluster scope"
    )


def test_discovery_documents(kube_api, cluster, tmp_path):
    import kubernetes

    api = client_for(kube_api, "admin", tmp_path)
    assert kubernetes.client.VersionApi(api).get_code().git_version == "v1.35.0"
    core = kubernetes.client.CoreV1Api(api).get_api_resources()
    by_name = {resource.name: resource for resource in core.resources}
    assert by_name["pods"].short_names == ["po"] and by_name["pods"].namespaced is True
    assert sorted(by_name["pods/portforward"].verbs) == ["create", "get"]
    assert by_name["pods/portforward"].kind == "PodPortForwardOptions"
    assert by_name["namespaces"].namespaced is False
    groups = kubernetes.client.ApisApi(api).get_api_versions()
    assert {group.name for group in groups.groups} >= {"coordination.k8s.io", "rbac.authorization.k8s.io",
                                                       "authorization.k8s.io", "apps"}
    leases = kubernetes.client.CoordinationV1Api(api).get_api_resources()
    assert [(r.name, r.kind) for r in leases.resources] == [("leases", "Lease")]


def test_reported_version_is_configurable(tmp_path):
    import kubernetes

    with KubeApiServer(git_version="v1.34.2") as server:
        api = client_for(server, "admin", tmp_path)
        version = kubernetes.client.VersionApi(api).get_code()
        assert (version.git_version, version.major, version.minor) == ("v1.34.2", "1", "34")
