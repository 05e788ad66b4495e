"""RBAC preflight: ask the API server (SelfSubjectAccessReview, or SubjectAccessReview for a named
ServiceAccount) whether each permission a capture needs is granted, and write the least-privilege Role that grants
them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_rollouts_profile.cluster.api import ClusterApi
from kubectl_rollouts_profile.errors import AccessDenied, UsageError

# From v1.35 the API server also authorizes the websocket upgrade of pods/portforward as "create"
# (feature gate AuthorizePodWebsocketUpgradeCreatePermission); before, a websocket port-forward is a "get".
CREATE_PORTFORWARD_SINCE = (1, 35)
AUTHZ = "/apis/authorization.k8s.io/v1"


@dataclass(frozen=True)
class Permission:
    """One thing a capture does, as an RBAC resource attribute."""

    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    names: tuple[str, ...] = ()
    purpose: str = ""

    @property
    def label(self) -> str:
        """kubectl auth can-i style: ``get pods/portforward``, ``get leases.coordination.k8s.io/NAME``."""
        resource = self.resource + (f".{self.group}" if self.group else "")
        resource += f"/{self.subresource}" if self.subresource else ""
        return f"{self.verb} {resource}" + (f" (name {self.names[0]})" if self.names else "")

    @property
    def rule_resource(self) -> str:
        return self.resource + (f"/{self.subresource}" if self.subresource else "")

    def rule_text(self) -> str:
        """The Role rule that grants this permission, on one line."""
        text = f'apiGroups: ["{self.group}"], resources: ["{self.rule_resource}"], verbs: ["{self.verb}"]'
        if self.names:
            text += ", resourceNames: [" + ", ".join(f'"{name}"' for name in self.names) + "]"
        return "{" + text + "}"


@dataclass(frozen=True)
class Check:
    permission: Permission
    allowed: bool
    required: bool
    reason: str = ""


@dataclass(frozen=True)
class AccessReport:
    subject: str
    namespace: str
    server_version: str | None
    checks: tuple[Check, ...]
    method: str = "SelfSubjectAccessReview"

    @property
    def missing(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.required and not check.allowed)

    @property
    def ok(self) -> bool:
        return not self.missing

    def as_json(self) -> dict:
        return {
            "subject": self.subject,
            "namespace": self.namespace,
            "serverVersion": self.server_version,
            "method": self.method,
            "allowed": self.ok,
            "checks": [
                {
                    "permission": check.permission.label,
                    "verb": check.permission.verb,
                    "group": check.permission.group,
                    "resource": check.permission.rule_resource,
                    "resourceNames": list(check.permission.names),
                    "purpose": check.permission.purpose,
                    "allowed": check.allowed,
                    "required": check.required,
                    "reason": check.reason,
                    "rule": check.permission.rule_text(),
                }
                for check in self.checks
            ],
        }

    def denied_error(self) -> AccessDenied:
        lines = "; ".join(
            f"{check.permission.label} ({check.permission.purpose}) -> rule {check.permission.rule_text()}"
            for check in self.missing
        )
        account = self.subject.removeprefix("ServiceAccount ") if self.subject.startswith("ServiceAccount ") else None
        verbs = {check.permission.verb: check.allowed for check in self.checks
                 if check.permission.subresource == "portforward"}
        if verbs.get("create") and verbs.get("get") is False:
            lines += f". {CREATE_ONLY_EXPLANATION}"
        return AccessDenied(
            f"missing {len(self.missing)} permission(s) in namespace {self.namespace} for {self.subject}: {lines}",
            hint=f"`kubectl rollouts-profile rbac --serviceaccount {account or 'NS/NAME'}` prints a Role and "
            "RoleBinding with exactly these rules",
        )


PORTFORWARD_RULE = '{apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"]}'
CREATE_ONLY_EXPLANATION = (
    "The Role grants create on pods/portforward, which is enough for kubectl (its SPDY fallback is a POST), but "
    "this tool's port-forward is a websocket, an HTTP GET, which before Kubernetes 1.35 needs get: add the rule "
    + PORTFORWARD_RULE
)


def portforward_forbidden(message: str, namespace: str, pod: str) -> AccessDenied:
    """The port-forward's 403 explained: the API server's own text is terse, and on v1.35 nearly empty
    (``pods "x" is forbidden: ``, from the extra create check of AuthorizePodWebsocketUpgradeCreatePermission)."""
    hint = f"add the rule {PORTFORWARD_RULE} to the Role in namespace {namespace} (`kubectl rollouts-profile rbac`)"
    said = message.strip()
    if 'cannot get resource "pods/portforward"' in message:
        return AccessDenied(
            f"port-forward to pod {namespace}/{pod} is forbidden: this tool's port-forward is a websocket, an HTTP "
            "GET, which needs get on pods/portforward; create alone is enough for kubectl (its SPDY fallback is a "
            f"POST) but not here before Kubernetes 1.35 (the API server said: {said})",
            hint=hint,
        )
    return AccessDenied(
        f"port-forward to pod {namespace}/{pod} is forbidden: from Kubernetes 1.35 "
        "(AuthorizePodWebsocketUpgradeCreatePermission) a websocket port-forward needs create on pods/portforward "
        f"as well as get (the API server said only: {said!r})",
        hint=hint,
    )


def capture_permissions(lease_names: Sequence[str]) -> tuple[Permission, ...]:
    """What one capture does: list the controller pods, read the leader Lease, port-forward (both verbs)."""
    return (
        Permission("list", "pods", purpose="find the controller pods"),
        Permission("get", "leases", group="coordination.k8s.io", names=tuple(lease_names), purpose="find the leader"),
        Permission("get", "pods", subresource="portforward", purpose="port-forward (websocket, all versions)"),
        Permission("create", "pods", subresource="portforward", purpose="port-forward (API server >= v1.35)"),
    )


LOCK_LEASE_NAME = "rollouts-profile-lock"
LOCK_COMMENT = (
    "The capture lock's Lease: get/update are limited to its name; create cannot be limited by\n"
    "resourceNames (the name is not known when a create is authorized), so it allows any Lease here."
)


def lock_permissions(lease_name: str = LOCK_LEASE_NAME) -> tuple[Permission, ...]:
    """The runbook's capture lock: a Lease it creates once and then takes over by updating."""
    group = "coordination.k8s.io"
    return (
        Permission("get", "leases", group=group, names=(lease_name,), purpose="read the capture lock"),
        Permission("update", "leases", group=group, names=(lease_name,), purpose="take the capture lock"),
        Permission("create", "leases", group=group, purpose="create the capture lock"),
    )


def parse_server_version(version: dict) -> tuple[int, int] | None:
    """``(major, minor)`` from ``/version``; minor may carry a ``+`` suffix (e.g. GKE's ``"30+"``)."""
    major = re.match(r"\d+", str(version.get("major", "")))
    minor = re.match(r"\d+", str(version.get("minor", "")))
    if major and minor:
        return int(major.group()), int(minor.group())
    match = re.match(r"v(\d+)\.(\d+)", str(version.get("gitVersion", "")))
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_required(permission: Permission, server_version: tuple[int, int] | None) -> bool:
    if permission.subresource == "portforward" and permission.verb == "create":
        # Unknown version: require it, because a newer server refuses the port-forward without it.
        return server_version is None or server_version >= CREATE_PORTFORWARD_SINCE
    return True


def server_version(api: ClusterApi) -> tuple[str | None, tuple[int, int] | None]:
    """``(gitVersion, (major, minor))``; both None when ``/version`` is not readable (then both port-forward
    verbs are required)."""
    try:
        version = api.server_version()
    except AccessDenied:
        return None, None
    return version.get("gitVersion"), parse_server_version(version)


def preflight(
    api: ClusterApi,
    namespace: str,
    permissions: Iterable[Permission],
    *,
    subject: str,
    serviceaccount: tuple[str, str] | None = None,
) -> AccessReport:
    """Review each permission for the caller (SelfSubjectAccessReview), or for ``serviceaccount`` (namespace,
    name) with SubjectAccessReview."""
    git_version, version = server_version(api)
    review = _subject_review(serviceaccount) if serviceaccount else _self_review
    checks = []
    for permission in permissions:
        allowed, reason = review(api, namespace, permission)
        checks.append(Check(permission, allowed, is_required(permission, version), reason))
    return AccessReport(
        subject=subject,
        namespace=namespace,
        server_version=git_version,
        checks=tuple(checks),
        method="SubjectAccessReview" if serviceaccount else "SelfSubjectAccessReview",
    )


def review_serviceaccount(
    api: ClusterApi,
    config: Any,
    namespace: str,
    serviceaccount: tuple[str, str],
    permissions: Iterable[Permission],
) -> AccessReport:
    """Review a ServiceAccount's permissions: SubjectAccessReview when the caller may create those, else
    SelfSubjectAccessReviews while impersonating the ServiceAccount when the caller may impersonate it."""
    from dataclasses import replace

    sa_namespace, sa_name = serviceaccount
    subject = f"ServiceAccount {sa_namespace}/{sa_name}"
    permissions = tuple(permissions)
    may_review, _ = _self_review(
        api, None, Permission("create", "subjectaccessreviews", group="authorization.k8s.io")
    )
    if may_review:
        return preflight(api, namespace, permissions, subject=subject, serviceaccount=serviceaccount)
    may_impersonate, _ = _self_review(
        api, sa_namespace, Permission("impersonate", "serviceaccounts", names=(sa_name,))
    )
    if not may_impersonate:
        raise AccessDenied(
            f"cannot review {subject}: you may neither create subjectaccessreviews nor impersonate the ServiceAccount",
            hint='one of: {apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], '
            'verbs: ["create"]} in a ClusterRole, or {apiGroups: [""], resources: ["serviceaccounts"], '
            f'verbs: ["impersonate"], resourceNames: ["{sa_name}"]}} in namespace {sa_namespace}',
        )
    # Impersonating a ServiceAccount user without naming groups makes the API server add its groups itself.
    impersonated = replace(
        config, impersonate_user=f"system:serviceaccount:{sa_namespace}:{sa_name}", impersonate_groups=()
    )
    with impersonated.open_api() as impersonated_api:
        report = preflight(impersonated_api, namespace, permissions, subject=subject)
    return replace(report, method="SelfSubjectAccessReview (impersonating)")


def parse_serviceaccount(value: str) -> tuple[str, str]:
    namespace, _, name = value.partition("/")
    if not namespace or not name or "/" in name:
        raise UsageError(f"--serviceaccount {value!r}: expected NAMESPACE/NAME")
    return namespace, name


def _attributes(namespace: str | None, permission: Permission) -> dict:
    attributes = {"verb": permission.verb, "group": permission.group, "resource": permission.resource}
    if namespace:
        attributes["namespace"] = namespace
    if permission.subresource:
        attributes["subresource"] = permission.subresource
    if permission.names:
        attributes["name"] = permission.names[0]
    return attributes


def _review(api: ClusterApi, kind: str, spec: dict, what: str) -> tuple[bool, str]:
    """Create one (Self)SubjectAccessReview; ``(allowed, reason)``."""
    _, answer = api.send(
        "POST",
        f"{AUTHZ}/{kind.lower()}s",
        body={"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": spec},
        what=what,
    )
    status = answer.get("status") or {}
    return bool(status.get("allowed")), str(status.get("reason") or status.get("evaluationError") or "")


def _self_review(api: ClusterApi, namespace: str | None, permission: Permission) -> tuple[bool, str]:
    spec = {"resourceAttributes": _attributes(namespace, permission)}
    return _review(api, "SelfSubjectAccessReview", spec, f"review access ({permission.label})")


def _subject_review(serviceaccount: tuple[str, str]) -> Any:
    sa_namespace, sa_name = serviceaccount
    user = f"system:serviceaccount:{sa_namespace}:{sa_name}"
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}", "system:authenticated"]

    def review(api: ClusterApi, namespace: str, permission: Permission) -> tuple[bool, str]:
        spec = {"user": user, "groups": groups, "resourceAttributes": _attributes(namespace, permission)}
        return _review(api, "SubjectAccessReview", spec, f"review access of {user} ({permission.label})")

    return review


def role_yaml(
    permissions: Iterable[Permission],
    *,
    namespace: str,
    serviceaccount: tuple[str, str],
    name: str = "rollouts-profile",
    comments: Sequence[str] = (),
) -> str:
    """A Role with exactly ``permissions`` (merged per resource) and a RoleBinding to the ServiceAccount."""
    sa_namespace, sa_name = serviceaccount
    rules: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for permission in permissions:
        verbs = rules.setdefault((permission.group, permission.rule_resource, permission.names), [])
        if permission.verb not in verbs:
            verbs.append(permission.verb)
    lines = [f"# {line}" for comment in comments for line in comment.splitlines()]
    lines += [
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: Role",
        "metadata:",
        f"  name: {_quote(name)}",
        f"  namespace: {_quote(namespace)}",
        "rules:",
    ]
    for (group, resource, names), verbs in rules.items():
        lines.append(f"- apiGroups: [{_quote(group)}]")
        lines.append(f"  resources: [{_quote(resource)}]")
        if names:
            lines.append("  resourceNames: [" + ", ".join(_quote(n) for n in names) + "]")
        lines.append("  verbs: [" + ", ".join(_quote(v) for v in verbs) + "]")
    lines += [
        "---",
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: RoleBinding",
        "metadata:",
        f"  name: {_quote(name + '-' + sa_name)}",
        f"  namespace: {_quote(namespace)}",
        "roleRef:",
        "  apiGroup: rbac.authorization.k8s.io",
        "  kind: Role",
        f"  name: {_quote(name)}",
        "subjects:",
        "- kind: ServiceAccount",
        f"  name: {_quote(sa_name)}",
        f"  namespace: {_quote(sa_namespace)}",
    ]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    # Double-quoted YAML scalars: always valid for names, even empty ("" for the core API group).
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
