"""authorization.k8s.io/v1 reviews: SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview and
SelfSubjectRulesReview, answered from the same RBAC evaluation that guards every request."""

from __future__ import annotations

from tests.kubeapi import rbac
from tests.kubeapi.rbac import Attributes, UserInfo
from tests.kubeapi.resources import ResourceType


def _invalid(resource: ResourceType, field: str, value: str, detail: str):
    from tests.kubeapi.server import ApiError

    return ApiError(
        422, "Invalid",
        f'{resource.kind}.{resource.group} "" is invalid: {field}: Invalid value: "{value}": {detail}',
        {"group": resource.group, "kind": resource.kind,
         "causes": [{"reason": "FieldValueInvalid", "message": f'Invalid value: "{value}": {detail}',
                     "field": field}]},
    )


def _attributes(resource: ResourceType, spec: dict, user: UserInfo) -> Attributes:
    resource_attrs = spec.get("resourceAttributes")
    non_resource_attrs = spec.get("nonResourceAttributes")
    if bool(resource_attrs) == bool(non_resource_attrs):
        raise _invalid(resource, "spec.resourceAttributes", "null",
                       "exactly one of nonResourceAttributes or resourceAttributes must be specified")
    if non_resource_attrs:
        return Attributes(user=user, verb=non_resource_attrs.get("verb", ""), resource_request=False,
                          path=non_resource_attrs.get("path", ""))
    return Attributes(
        user=user,
        verb=resource_attrs.get("verb", ""),
        namespace=resource_attrs.get("namespace", ""),
        api_group=resource_attrs.get("group", ""),
        api_version=resource_attrs.get("version", ""),
        resource=resource_attrs.get("resource", ""),
        subresource=resource_attrs.get("subresource", ""),
        name=resource_attrs.get("name", ""),
    )


def _access_status(attributes: Attributes, get_object, list_objects) -> dict:
    decision = rbac.authorize(attributes, get_object, list_objects)
    status: dict = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _rules_status(user: UserInfo, namespace: str, get_object, list_objects) -> dict:
    resource_rules: list[dict] = []
    non_resource_rules: list[dict] = []
    errors: list[str] = []
    for _source, rules, error in rbac.applicable_rules(user, namespace, get_object, list_objects):
        if error:
            errors.append(error)
        for rule in rules:
            if rule.get("nonResourceURLs"):
                non_resource_rules.append({"verbs": rule.get("verbs", []),
                                           "nonResourceURLs": rule["nonResourceURLs"]})
            else:
                entry = {key: rule[key] for key in ("verbs", "apiGroups", "resources", "resourceNames")
                         if rule.get(key)}
                entry.setdefault("verbs", [])
                resource_rules.append(entry)
    status: dict = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                    "incomplete": bool(errors)}
    if errors:
        status["evaluationError"] = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return status


def answer(resource: ResourceType, review: dict, user: UserInfo, url_namespace: str,
           get_object, list_objects) -> dict:
    """Return the review object the real server sends back (spec echoed, status filled in)."""
    spec = review.get("spec") or {}
    if resource.kind == "SelfSubjectRulesReview":
        status = _rules_status(user, spec.get("namespace", ""), get_object, list_objects)
    elif resource.kind == "SelfSubjectAccessReview":
        status = _access_status(_attributes(resource, spec, user), get_object, list_objects)
    else:
        subject_groups = tuple(spec.get("groups") or ())
        if not spec.get("user") and not subject_groups:
            raise _invalid(resource, "spec.user,spec.groups", "",
                           "at least one of user or group must be specified")
        if resource.kind == "LocalSubjectAccessReview":
            namespace = (spec.get("resourceAttributes") or {}).get("namespace", "")
            if namespace != url_namespace:
                raise _invalid(resource, "spec.resourceAttributes.namespace", namespace,
                               "must match metadata.namespace")
        # The subject is reviewed exactly as given: no groups are added (not even system:authenticated).
        subject = UserInfo(name=spec.get("user", ""), groups=subject_groups, uid=spec.get("uid", ""))
        status = _access_status(_attributes(resource, spec, subject), get_object, list_objects)
    metadata = dict(review.get("metadata") or {})
    metadata.setdefault("creationTimestamp", None)
    if url_namespace:
        metadata["namespace"] = url_namespace
    return {
        "kind": resource.kind,
        "apiVersion": resource.group_version,
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }
