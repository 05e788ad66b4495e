"""The one typed handle on the Kubernetes API (``ClusterApi``): pods, one pod, Leases (get, find, create, update),
events and the server version, as small JSON requests through one configured ``ApiClient``; and the one place that
turns API failures into the project's errors (keeping the API server's Status message).

Raw JSON instead of the generated models: we read a handful of fields, and strict model validation of whole
objects would fail on fields a newer server adds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from kubectl_rollouts_profile.errors import (
    AccessDenied,
    ConnectionFailed,
    RolloutsProfileError,
    TargetNotFound,
    connection_refused,
)

# Used only for a client that does not carry its own budget (see ClusterConfig.open_api).
REQUEST_TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 5.0
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


@dataclass(frozen=True)
class LeaseLookup:
    """The first of several candidate Leases that exists, or why none could be read.

    ``name`` is the Lease found, else the one that could not be read, else the first name tried.
    """

    namespace: str
    name: str
    lease: dict | None
    problem: str | None = None
    error: RolloutsProfileError | None = field(default=None, compare=False)

    @property
    def holder(self) -> str | None:
        """``spec.holderIdentity``, or None when there is no Lease or no holder."""
        return ((self.lease or {}).get("spec") or {}).get("holderIdentity") or None


class ClusterApi:
    """One API server as one identity: a typed front on one ``kubernetes.client.ApiClient``.

    Created by ``ClusterConfig.open_api()``; ``close()`` releases the connection pool. Safe to share between
    threads (the capture lock renews from its own thread). ``server_version`` is read once per handle.
    """

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        self._version_guard = threading.Lock()
        self._server_version: dict | None = None

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: list[tuple[str, str]] | None = None,
        body: dict | None = None,
        answers: tuple[int, ...] = (),
    ) -> tuple[int, dict]:
        """One request; return (status, JSON body). A 2xx or a status in ``answers`` (e.g. 404, 409 for a caller
        that handles them) is returned; any other status raises the project's error for it."""
        import urllib3.exceptions

        api_client = self.api_client

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        method, url, headers, serialized_body, _ = api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        budget = float(getattr(api_client, "request_timeout_seconds", REQUEST_TIMEOUT_SECONDS))
        connect = min(float(getattr(api_client, "connect_timeout_seconds", CONNECT_TIMEOUT_SECONDS)), budget)
        host = api_client.configuration.host
        hint = ("check the kubeconfig context (--context) and that the cluster is reachable "
                "(--request-timeout: the budget)")
        try:
            # A (connect, read) pair, and the connection pool retries nothing (Transport.pool_manager): the request
            # ends within ``budget``, instead of urllib3 retrying a dead server for minutes.
            response = api_client.call_api(
                method, url, header_params=headers, body=serialized_body, _request_timeout=(connect, budget)
            )
            response.read()
        except urllib3.exceptions.HTTPError as error:
            reason = _reason(error)
            cause = getattr(error, "reason", None) or error
            # NewConnectionError (refused, unreachable) is a subclass of ConnectTimeoutError in urllib3 2.
            if isinstance(cause, urllib3.exceptions.TimeoutError) and not isinstance(
                cause, urllib3.exceptions.NewConnectionError
            ):
                raise ConnectionFailed(
                    f"the API server {host} did not answer within {budget:g}s ({what})", hint=hint
                ) from error
            raise ConnectionFailed(f"cannot reach the API server {host} ({what}): {reason}", hint=hint) from error
        except OSError as error:
            raise ConnectionFailed(f"cannot reach the API server {host} ({what}): {error}", hint=hint) from error
        text = response.data.decode("utf-8", "replace") if response.data else ""
        if not (200 <= response.status < 300 or response.status in answers):
            raise api_error(response.status, text, what)
        try:
            return response.status, (json.loads(text) if text else {})
        except ValueError as error:
            if not 200 <= response.status < 300:
                # An answered failure without a Status (e.g. the plain "404 page not found" of a path no API group
                # serves): the caller gets its first line as the message.
                return response.status, {"message": status_message(text)}
            raise ConnectionFailed(f"the API server answered {what} with something that is not JSON") from error

    def list_pods(self, namespace: str, label_selector: str) -> list[dict]:
        _, listing = self.send(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            query=[("labelSelector", label_selector)],
            what=f"list pods in namespace {namespace}",
        )
        return list(listing.get("items") or [])

    def list_pods_all_namespaces(self, label_selector: str) -> list[dict]:
        """Pods of every namespace (``GET /api/v1/pods``); a 403 names the cluster-scope permission it needs and
        the namespaced alternative."""
        what = "list pods at the cluster scope (all namespaces)"
        status, listing = self.send(
            "GET", "/api/v1/pods", query=[("labelSelector", label_selector)], what=what, answers=(403,)
        )
        if status == 403:
            raise AccessDenied(
                f"{what}: {listing.get('message') or 'forbidden'}",
                hint="all namespaces need list on pods at the cluster scope (a ClusterRole bound by a "
                "ClusterRoleBinding); without it, look in one namespace: -n NAMESPACE instead of -A",
            )
        return list(listing.get("items") or [])

    def get_pod(self, namespace: str, name: str) -> dict:
        return self.send("GET", f"/api/v1/namespaces/{namespace}/pods/{name}", what=f"get pod {name}")[1]

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod (its controller starts a replacement); a pod already gone (404) is not an error."""
        self.send("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", what=f"delete pod {name}", answers=(404,))

    def get_lease(self, namespace: str, name: str) -> dict | None:
        """The Lease, or None when it does not exist (404)."""
        status, lease = self.send(
            "GET", LEASES.format(namespace=namespace) + f"/{name}", what=f"get Lease {name}", answers=(404,)
        )
        return None if status == 404 else lease

    def find_lease(self, namespace: str, names: Sequence[str]) -> LeaseLookup:
        """The first of ``names`` that exists. A missing or unreadable Lease is an answer here, not an error,
        because callers can often carry on without one (e.g. a single ready controller pod)."""
        problem = None
        for name in names:
            try:
                lease = self.get_lease(namespace, name)
            except AccessDenied as error:
                return LeaseLookup(namespace, name, None, f"Lease {namespace}/{name} is not readable: {error}", error)
            if lease is None:
                problem = f"Lease {namespace}/{name} not found"
                continue
            found = LeaseLookup(namespace, name, lease)
            if found.holder is None:
                return LeaseLookup(namespace, name, lease, f"Lease {namespace}/{name} has no holder")
            return found
        return LeaseLookup(namespace, names[0], None, problem)

    def create_lease(self, namespace: str, body: dict) -> tuple[int, dict]:
        """(status, body); 409 (exists) and 404 (no such namespace) are returned, not raised."""
        name = (body.get("metadata") or {}).get("name", "")
        return self.send(
            "POST", LEASES.format(namespace=namespace), what=f"create Lease {name}", body=body, answers=(404, 409)
        )

    def update_lease(self, namespace: str, name: str, body: dict) -> tuple[int, dict]:
        """(status, body); 409 (changed meanwhile) and 404 (deleted) are returned, not raised."""
        return self.send(
            "PUT",
            LEASES.format(namespace=namespace) + f"/{name}",
            what=f"update Lease {name}",
            body=body,
            answers=(404, 409),
        )

    def list_events(self, namespace: str, involved_object: str) -> list[dict]:
        _, listing = self.send(
            "GET",
            f"/api/v1/namespaces/{namespace}/events",
            query=[("fieldSelector", f"involvedObject.name={involved_object}")],
            what=f"list events of {involved_object}",
        )
        return list(listing.get("items") or [])

    def server_version(self) -> dict:
        """``GET /version`` (major, minor, gitVersion, platform ...), read once per handle."""
        with self._version_guard:
            if self._server_version is None:
                self._server_version = self.send("GET", "/version", what="read the server version")[1]
            return self._server_version

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> ClusterApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def api_error(status: int, body: str, what: str) -> RolloutsProfileError:
    """The project error for an API server answer ``status`` with Status ``body`` to the operation ``what``."""
    message = status_message(body) or f"HTTP {status}"
    if status == 401:
        return AccessDenied(
            f"credentials rejected by the API server ({what}): {message}",
            hint="log in again or refresh the kubeconfig credentials, then retry",
        )
    if status == 403:
        return AccessDenied(f"{what}: {message}")
    if status == 404:
        return TargetNotFound(f"{what}: {message}")
    return ConnectionFailed(f"the API server answered {status} to {what}: {message}")


def status_message(body: str) -> str:
    """The ``message`` of a Kubernetes Status object, or the body's first line when it is not one."""
    try:
        status = json.loads(body)
    except ValueError:
        return body.strip().splitlines()[0][:200] if body.strip() else ""
    if isinstance(status, dict):
        return str(status.get("message") or status.get("reason") or "")
    return ""


def _reason(error: Exception) -> str:
    # urllib3 wraps the interesting part (refused, TLS failure) a level or two down.
    if connection_refused(error):
        return "connection refused"
    return str(getattr(error, "reason", None) or error)


def is_missing_object(status: dict, kind: str) -> bool:
    """True when a 404 Status says an object of ``kind`` (plural: "leases", "namespaces") does not exist, as opposed
    to the path not being served at all (the plain "404 page not found" of a missing resource type)."""
    details = status.get("details") if isinstance(status, dict) else None
    return isinstance(details, dict) and details.get("kind") == kind


def format_micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime (``2026-12-01T10:00:00.000000Z``), as Lease times are written."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_expiry(lease: dict | None) -> tuple[datetime | None, float | None]:
    """When a Lease runs out unless renewed (its renewTime, else acquireTime, plus leaseDurationSeconds), and that
    duration; None for what the Lease does not say (a duration that is not a positive number says nothing)."""
    spec = (lease or {}).get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration > 0:
        return None, None
    renewed = parse_micro_time(spec.get("renewTime")) or parse_micro_time(spec.get("acquireTime"))
    return (renewed + timedelta(seconds=float(duration)) if renewed else None), float(duration)


def parse_micro_time(value: str | None) -> datetime | None:
    """A Kubernetes Time (``creationTimestamp``) or MicroTime (Lease times) as an aware datetime; None when
    missing or unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
