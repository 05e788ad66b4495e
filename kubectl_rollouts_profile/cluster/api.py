"""Small JSON requests to the Kubernetes API through a configured ``ApiClient``, and the one place that turns API
failures into the project's errors (keeping the API server's Status message).

Raw JSON instead of the generated models: we read a handful of fields, and strict model validation of whole
objects would fail on fields a newer server adds.
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_rollouts_profile.errors import (
    AccessDenied,
    ConnectionFailed,
    RolloutsProfileError,
    TargetNotFound,
)

# Used only for a client that does not carry its own budget (see ClusterConfig.api_client).
REQUEST_TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 5.0


def request_json(
    api_client: Any,
    method: str,
    path: str,
    *,
    what: str,
    query: list[tuple[str, str]] | None = None,
    body: dict | None = None,
) -> dict:
    """Send one request and return the decoded JSON body; ``what`` names the operation in error messages."""
    return send(api_client, method, path, what=what, query=query, body=body)[1]


def send(
    api_client: Any,
    method: str,
    path: str,
    *,
    what: str,
    query: list[tuple[str, str]] | None = None,
    body: dict | None = None,
    answers: tuple[int, ...] = (),
) -> tuple[int, dict]:
    """Send one request; return (status, JSON body). A 2xx or a status in ``answers`` (e.g. 404, 409 for a
    caller that handles them) is returned; any other status raises the project's error for it."""
    import urllib3.exceptions

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
    hint = "check the kubeconfig context (--context) and that the cluster is reachable (--request-timeout: the budget)"
    try:
        # A (connect, read) pair, and the client is built with retries off (ClusterConfig.api_client): the whole
        # request ends within ``budget``, instead of urllib3 retrying a dead server for minutes.
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
    reason = getattr(error, "reason", None)
    text = str(reason or error)
    if "Connection refused" in text or "[Errno 111]" in text:
        return "connection refused"
    return text
