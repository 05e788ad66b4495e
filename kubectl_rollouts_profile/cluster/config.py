"""Resolve how to reach the cluster, once, the way kubectl does: kubeconfig files, context, impersonation, or the
pod's own ServiceAccount when running inside the cluster. The result is one frozen ``ClusterConfig``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_rollouts_profile.cluster.kubeconfig_check import check_kubeconfig_file, check_token, mask
from kubectl_rollouts_profile.errors import ConnectionFailed, UsageError

DEFAULT_NAMESPACE = "argo-rollouts"
SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# One budget for each API request: connecting (TCP + TLS) gets at most CONNECT_TIMEOUT_SECONDS of it, and nothing
# is retried, so an unreachable API server fails within the budget the message states.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class ClusterRequest:
    """What the person asked for on the command line (the cluster flags), before anything is resolved."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    pod: str | None = None
    port: int | None = None
    instance_id: str | None = None
    skip_preflight: bool = False
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS


@dataclass(frozen=True)
class ClusterConfig:
    """Everything needed to talk to one API server as one identity. Credentials stay inside
    ``client_configuration`` (never printed: it is left out of ``repr``)."""

    server: str
    namespace: str
    source: str
    context: str | None = None
    impersonate_user: str | None = None
    impersonate_groups: tuple[str, ...] = ()
    client_configuration: Any = field(default=None, repr=False, compare=False)
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS

    @property
    def connect_timeout_seconds(self) -> float:
        return min(CONNECT_TIMEOUT_SECONDS, self.request_timeout_seconds)

    @property
    def subject(self) -> str:
        """Who the requests act as, in words (for messages)."""
        if self.impersonate_user:
            return f"{self.impersonate_user} (impersonated)"
        return f"the credentials of {self.source}"

    def impersonation_headers(self) -> list[tuple[str, str]]:
        headers = []
        if self.impersonate_user:
            headers.append(("Impersonate-User", self.impersonate_user))
        headers.extend(("Impersonate-Group", group) for group in self.impersonate_groups)
        return headers

    def auth_headers(self) -> list[tuple[str, str]]:
        """Authorization (refreshed if the credentials expire) plus impersonation, for raw websocket requests."""
        headers = [
            (setting["key"], setting["value"])
            for setting in self.client_configuration.auth_settings().values()
            if setting.get("in") == "header" and setting.get("value")
        ]
        return headers + self.impersonation_headers()

    def api_client(self) -> Any:
        """A new ``kubernetes.client.ApiClient``; the caller closes it."""
        from kubernetes.client import ApiClient

        try:
            client: Any = ApiClient(configuration=self.client_configuration)
        except Exception as error:  # e.g. a proxy URL urllib3 cannot use; its message may quote credentials
            raise UsageError(
                f"cannot use the connection settings of {self.source} ({type(error).__name__})",
                hint="check the cluster's proxy-url and TLS settings in the kubeconfig",
            ) from error
        client.user_agent = "kubectl-rollouts-profile"
        # Read by cluster.api.send for every request (and named in its timeout message).
        client.request_timeout_seconds = self.request_timeout_seconds
        client.connect_timeout_seconds = self.connect_timeout_seconds
        impersonation = self.impersonation_headers()
        if impersonation:
            _add_headers_to_every_request(client, impersonation)
        return client


def _add_headers_to_every_request(client: Any, extra_headers: list[tuple[str, str]]) -> None:
    # The generated client keeps default headers in a plain dict, which cannot carry the repeated
    # Impersonate-Group header; so the headers are added where the request leaves, as a multi-value dict.
    from urllib3 import HTTPHeaderDict

    send = client.rest_client.request

    def request_with_headers(method: str, url: str, headers: Any = None, **kwargs: Any) -> Any:
        merged = HTTPHeaderDict(headers or {})
        for name, value in extra_headers:
            merged.add(name, value)
        return send(method, url, headers=merged, **kwargs)

    client.rest_client.request = request_with_headers


def resolve_config(
    request: ClusterRequest,
    environ: Mapping[str, str],
    *,
    home: Path | None = None,
    serviceaccount_dir: Path = SERVICEACCOUNT_DIR,
) -> ClusterConfig:
    """Pick the credentials like kubectl: ``--kubeconfig``, else ``KUBECONFIG`` (paths merged), else
    ``~/.kube/config``, else the pod's ServiceAccount (token + CA files and ``KUBERNETES_SERVICE_HOST/PORT``)."""
    if request.as_groups and not request.as_user:
        raise UsageError("--as-group needs --as: the API server impersonates groups only together with a user")
    home = Path(environ.get("HOME") or Path.home()) if home is None else home
    kubeconfig_paths = _kubeconfig_paths(request, environ, home)
    if kubeconfig_paths is not None:
        client_configuration, context = _load_kubeconfig(kubeconfig_paths, request.context)
        source = "kubeconfig " + os.pathsep.join(kubeconfig_paths)
    elif environ.get("KUBERNETES_SERVICE_HOST") and (serviceaccount_dir / "token").exists():
        if request.context:
            raise UsageError(f"--context {request.context} needs a kubeconfig, and none was found")
        client_configuration = _load_in_cluster(environ, serviceaccount_dir)
        context = None
        source = "in-cluster ServiceAccount"
    else:
        raise ConnectionFailed(
            "no cluster configuration: no kubeconfig file and not running inside a pod",
            hint="pass --kubeconfig PATH or set KUBECONFIG",
        )
    import urllib3

    # No retries: each request gets one attempt within the budget (urllib3 would otherwise retry a dead server
    # three more times, each with its own timeout: ~2 minutes instead of the budget the message states).
    client_configuration.retries = urllib3.Retry(total=0, redirect=False, raise_on_redirect=False)
    return ClusterConfig(
        server=client_configuration.host,
        namespace=request.namespace,
        source=source,
        context=context,
        impersonate_user=request.as_user,
        impersonate_groups=tuple(request.as_groups),
        client_configuration=client_configuration,
        request_timeout_seconds=request.request_timeout_seconds,
    )


def _kubeconfig_paths(request: ClusterRequest, environ: Mapping[str, str], home: Path) -> list[str] | None:
    if request.kubeconfig:
        if not Path(request.kubeconfig).expanduser().is_file():
            raise UsageError(f"--kubeconfig {request.kubeconfig}: no such file")
        return [str(Path(request.kubeconfig).expanduser())]
    listed = [path for path in environ.get("KUBECONFIG", "").split(os.pathsep) if path]
    if listed:
        # kubectl skips listed files that do not exist, and fails only when none does.
        existing = [path for path in listed if Path(path).expanduser().is_file()]
        if not existing:
            raise UsageError(f"KUBECONFIG names no existing file: {environ['KUBECONFIG']}")
        return existing
    default = home / ".kube" / "config"
    return [str(default)] if default.is_file() else None


def _load_kubeconfig(paths: list[str], context: str | None) -> tuple[Any, str | None]:
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

    # Each file's shape is checked first, so a wrong type names its file and field instead of failing deep
    # inside the loader (or, for a bad token, only when the first request is sent).
    secrets = tuple(secret for path in paths for secret in check_kubeconfig_file(Path(path)))
    shown = os.pathsep.join(paths)
    try:
        merged = KubeConfigMerger(shown)
        if merged.config is None:
            raise ConfigException("no configuration in the file")
        loader = KubeConfigLoader(
            config_dict=merged.config,
            active_context=context,
            config_base_path=None,
            config_persister=None,
        )
        client_configuration = _new_configuration()
        loader.load_and_set(client_configuration)
    except ConfigException as error:
        # The loader's messages may quote a whole user entry, credentials included.
        raise UsageError(f"cannot use kubeconfig {shown}: {mask(str(error), secrets)}") from error
    except Exception as error:
        # The loader's own messages may quote the file's values (credentials among them): only the type is shown.
        raise UsageError(
            f"kubeconfig {shown} is malformed ({type(error).__name__} while loading it)",
            hint="check it with `kubectl config view`",
        ) from error
    context_name = loader.current_context.get("name")
    _check_token(client_configuration, where=f"kubeconfig {shown}: the token of context {context_name}")
    if not client_configuration.host:
        raise UsageError(f"kubeconfig {shown}: the cluster of context {context_name} has no server",
                         hint="set clusters[].cluster.server")
    return client_configuration, context_name


def _load_in_cluster(environ: Mapping[str, str], serviceaccount_dir: Path) -> Any:
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    client_configuration = _new_configuration()
    try:
        InClusterConfigLoader(
            token_filename=str(serviceaccount_dir / "token"),
            cert_filename=str(serviceaccount_dir / "ca.crt"),
            environ=environ,
        ).load_and_set(client_configuration)
    except ConfigException as error:
        raise ConnectionFailed(f"cannot use the in-cluster ServiceAccount: {error}") from error
    _check_token(client_configuration, where=f"the ServiceAccount token {serviceaccount_dir / 'token'}")
    return client_configuration


def _new_configuration() -> Any:
    """A ``kubernetes.client.Configuration`` whose bearer token is trimmed of surrounding whitespace each time it is
    read, as client-go trims tokens: a token file written by ``echo`` ends in a newline, which no HTTP header may
    carry. At the point of use, because the client's loaders put the raw token back whenever they reload it."""
    from kubernetes.client import Configuration

    class TrimmedTokenConfiguration(Configuration):
        def get_api_key_with_prefix(self, identifier: str, alias: str | None = None) -> str | None:
            value = super().get_api_key_with_prefix(identifier, alias)
            if not value:
                return value
            scheme, _, credential = value.strip().partition(" ")
            return f"{scheme} {credential.strip()}" if credential.strip() else scheme

    return TrimmedTokenConfiguration()


def _check_token(client_configuration: Any, *, where: str) -> None:
    """Refuse a token that, even trimmed, is no valid header value; ``where`` names its source (never the token)."""
    value = client_configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    if value:
        check_token(value.partition(" ")[2], where=where)
