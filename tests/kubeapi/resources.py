"""The API resources the test API server serves, and the discovery documents kubectl and the clients read."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
REVIEW_VERBS = ("create",)


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives, what it is called, and which verbs discovery advertises."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    # Extra field selectors beyond metadata.name / metadata.namespace (as the real registry strategies allow).
    field_labels: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The resource as the real API server names it in messages: ``pods``, ``leases.coordination.k8s.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def is_review(self) -> bool:
        return self.verbs == REVIEW_VERBS


_POD_SUBRESOURCES = (
    Subresource("attach", "PodAttachOptions", ("create", "get")),
    Subresource("binding", "Binding", ("create",)),
    Subresource("ephemeralcontainers", "Pod", ("get", "patch", "update")),
    Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
    Subresource("exec", "PodExecOptions", ("create", "get")),
    Subresource("log", "Pod", ("get",)),
    Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
    Subresource("proxy", "PodProxyOptions", ("create", "delete", "get", "patch", "update")),
    Subresource("status", "Pod", ("get", "patch", "update")),
)

_EVENT_FIELDS = (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type",
)
_POD_FIELDS = (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
    "status.phase", "status.podIP", "status.nominatedNodeName",
)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "namespace", "Namespace", False,
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"), short_names=("ns",),
                 subresources=(Subresource("finalize", "Namespace", ("update",)),
                               Subresource("status", "Namespace", ("get", "patch", "update"))),
                 field_labels=("status.phase",)),
    ResourceType("", "v1", "pods", "pod", "Pod", True, short_names=("po",), categories=("all",),
                 subresources=_POD_SUBRESOURCES, field_labels=_POD_FIELDS),
    ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, short_names=("sa",),
                 subresources=(Subresource("token", "TokenRequest", ("create",),
                                           group="authentication.k8s.io", version="v1"),)),
    ResourceType("", "v1", "events", "event", "Event", True, short_names=("ev",), field_labels=_EVENT_FIELDS),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, short_names=("deploy",),
                 categories=("all",),
                 subresources=(Subresource("scale", "Scale", ("get", "patch", "update"),
                                           group="autoscaling", version="v1"),
                               Subresource("status", "Deployment", ("get", "patch", "update")))),
    ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, short_names=("rs",),
                 categories=("all",),
                 subresources=(Subresource("scale", "Scale", ("get", "patch", "update"),
                                           group="autoscaling", version="v1"),
                               Subresource("status", "ReplicaSet", ("get", "patch", "update")))),
    ResourceType("authorization.k8s.io", "v1", "localsubjectaccessreviews", "localsubjectaccessreview",
                 "LocalSubjectAccessReview", True, verbs=REVIEW_VERBS),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
                 "SelfSubjectAccessReview", False, verbs=REVIEW_VERBS),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview",
                 "SelfSubjectRulesReview", False, verbs=REVIEW_VERBS),
    ResourceType("authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview",
                 "SubjectAccessReview", False, verbs=REVIEW_VERBS),
    ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
                 "ClusterRoleBinding", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
)

BY_PATH: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND: dict[tuple[str, str], ResourceType] = {(r.group_version, r.kind): r for r in RESOURCES}
# Group order as the real server lists it in /apis (registration order, not alphabetical).
GROUP_ORDER = ("apps", "authorization.k8s.io", "coordination.k8s.io", "rbac.authorization.k8s.io")


def find_by_kind(api_version: str, kind: str) -> ResourceType:
    try:
        return BY_KIND[(api_version, kind)]
    except KeyError:
        raise KeyError(f"the test API server does not serve {kind} in {api_version}") from None


def api_versions(server_address: str) -> dict:
    """``GET /api``: the legacy core group's APIVersions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group: str) -> dict:
    version = next(r.version for r in RESOURCES if r.group == group)
    group_version = {"groupVersion": f"{group}/{version}", "version": version}
    return {"name": group, "versions": [group_version], "preferredVersion": group_version}


def api_group_list() -> dict:
    """``GET /apis``: every named group with its (single) version."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g) for g in GROUP_ORDER]}


def api_group(group: str) -> dict | None:
    """``GET /apis/GROUP``."""
    if group not in GROUP_ORDER:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def api_resource_list(group: str, version: str) -> dict | None:
    """``GET /api/v1`` or ``/apis/GROUP/VERSION``: the APIResourceList with subresources as ``pods/log`` rows."""
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    rows: list[dict] = []
    for resource in sorted(served, key=lambda r: r.plural):
        row: dict = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        if resource.short_names:
            row["shortNames"] = list(resource.short_names)
        if resource.categories:
            row["categories"] = list(resource.categories)
        rows.append(row)
        for sub in resource.subresources:
            sub_row: dict = {
                "name": f"{resource.plural}/{sub.name}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group:
                sub_row["group"] = sub.group
                sub_row["version"] = sub.version
            rows.append(sub_row)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": rows}


def _openapi_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_v3_root() -> dict:
    """``GET /openapi/v3``: where each group-version's document is (kubectl reads it before create/apply)."""
    group_versions = sorted({(r.group, r.version) for r in RESOURCES})
    return {"paths": {
        _openapi_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_openapi_path(g, v)}?hash=0"}
        for g, v in group_versions
    }}


def openapi_v3_document(path: str) -> dict | None:
    """A group-version's OpenAPI v3 document, reduced to the one thing kubectl checks in it: that the PATCH
    operation of each kind accepts the ``fieldValidation`` query parameter (server-side field validation)."""
    served = [r for r in RESOURCES if _openapi_path(r.group, r.version) == path and not r.is_review]
    reviews = [r for r in RESOURCES if _openapi_path(r.group, r.version) == path and r.is_review]
    if not served and not reviews:
        return None
    paths: dict = {}
    for resource in served:
        scope = "namespaces/{namespace}/" if resource.namespaced else ""
        gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        paths[f"/{path}/{scope}{resource.plural}/{{name}}"] = {"patch": {
            "operationId": f"patch{resource.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
        }}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": paths,
            "components": {"schemas": {}}}
