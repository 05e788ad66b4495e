"""RBAC evaluation as the real authorizer chain does it: system:masters first, then Roles and ClusterRoles.

It reads the bindings and roles from the server's object store on every decision, so tests change access by
creating or deleting Role/RoleBinding objects, exactly as on a cluster. Allowed decisions carry the real reason
text (``RBAC: allowed by RoleBinding "b/ns" of Role "r" to User "u"``); RBAC never denies, it only has no opinion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (``authorizer.Attributes``): a resource request, or a non-resource path."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""

    @property
    def resource_with_subresource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    # Why RBAC could not evaluate some bindings (e.g. a RoleBinding to a missing Role).
    errors: tuple[str, ...] = field(default=())


def forbidden_message(attributes: Attributes) -> str:
    """The part after ``is forbidden: `` in the real server's 403 message."""
    user = attributes.user.name
    if not attributes.resource_request:
        return f'User "{user}" cannot {attributes.verb} path "{attributes.path}"'
    resource = attributes.resource_with_subresource
    where = (
        f'in the namespace "{attributes.namespace}"' if attributes.namespace else "at the cluster scope"
    )
    return (
        f'User "{user}" cannot {attributes.verb} resource "{resource}" in API group "{attributes.api_group}" '
        f"{where}"
    )


def _verb_matches(rule: dict, verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def _group_matches(rule: dict, group: str) -> bool:
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def _resource_matches(rule: dict, combined: str, subresource: str) -> bool:
    for rule_resource in rule.get("resources") or []:
        if rule_resource == "*" or rule_resource == combined:
            return True
        # "*/scale" matches the scale subresource of every resource.
        if subresource and rule_resource == f"*/{subresource}":
            return True
    return False


def _name_matches(rule: dict, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def _non_resource_matches(rule: dict, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(attributes: Attributes, rule: dict) -> bool:
    if not _verb_matches(rule, attributes.verb):
        return False
    if not attributes.resource_request:
        return _non_resource_matches(rule, attributes.path)
    return (
        _group_matches(rule, attributes.api_group)
        and _resource_matches(rule, attributes.resource_with_subresource, attributes.subresource)
        and _name_matches(rule, attributes.name)
    )


def _applies_to(user: UserInfo, subject: dict, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


def _describe_subject(subject: dict, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f'ServiceAccount "{subject.get("name")}/{namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


# get_object(group, plural, namespace, name) -> dict | None ; list_objects(group, plural, namespace) -> list
ObjectGetter = Callable[[str, str, str, str], "dict | None"]
ObjectLister = Callable[[str, str, str], "list[dict]"]


def applicable_rules(
    user: UserInfo, namespace: str, get_object: ObjectGetter, list_objects: ObjectLister
) -> Iterable[tuple[str | None, list[dict], str | None]]:
    """Yield (source description, rules, error) for every binding that applies to the user, in RBAC's order."""
    for binding in list_objects(RBAC_GROUP, "clusterrolebindings", ""):
        ref = binding.get("roleRef") or {}
        for subject in binding.get("subjects") or []:
            if not _applies_to(user, subject, ""):
                continue
            if ref.get("kind") != "ClusterRole":
                yield None, [], f'invalid ClusterRoleBinding roleRef kind "{ref.get("kind")}"'
                break
            role = get_object(RBAC_GROUP, "clusterroles", "", ref.get("name", ""))
            if role is None:
                yield None, [], f'clusterrole.rbac.authorization.k8s.io "{ref.get("name")}" not found'
                break
            source = (
                f'ClusterRoleBinding "{binding["metadata"]["name"]}" of ClusterRole "{ref.get("name")}" '
                f"to {_describe_subject(subject, '')}"
            )
            yield source, role.get("rules") or [], None
            break
    if not namespace:
        return
    for binding in list_objects(RBAC_GROUP, "rolebindings", namespace):
        ref = binding.get("roleRef") or {}
        for subject in binding.get("subjects") or []:
            if not _applies_to(user, subject, namespace):
                continue
            if ref.get("kind") == "ClusterRole":
                role = get_object(RBAC_GROUP, "clusterroles", "", ref.get("name", ""))
                missing = f'clusterrole.rbac.authorization.k8s.io "{ref.get("name")}" not found'
            else:
                role = get_object(RBAC_GROUP, "roles", namespace, ref.get("name", ""))
                missing = f'role.rbac.authorization.k8s.io "{ref.get("name")}" not found'
            if role is None:
                yield None, [], missing
                break
            source = (
                f'RoleBinding "{binding["metadata"]["name"]}/{namespace}" of {ref.get("kind")} '
                f'"{ref.get("name")}" to {_describe_subject(subject, namespace)}'
            )
            yield source, role.get("rules") or [], None
            break


def authorize(attributes: Attributes, get_object: ObjectGetter, list_objects: ObjectLister) -> Decision:
    """Decide one request. ``system:masters`` is allowed without a reason, as the privileged-group authorizer."""
    if "system:masters" in attributes.user.groups:
        return Decision(True)
    errors: list[str] = []
    for source, rules, error in applicable_rules(
        attributes.user, attributes.namespace, get_object, list_objects
    ):
        if error:
            errors.append(error)
            continue
        for rule in rules:
            if rule_allows(attributes, rule):
                return Decision(True, f"RBAC: allowed by {source}")
    if not errors:
        return Decision(False)
    aggregate = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return Decision(False, f"RBAC: {aggregate}", tuple(errors))
