"""Resolve how to reach the cluster, once, the way kubectl does: kubeconfig files, context, impersonation, or the
pod's own ServiceAccount when running inside the cluster. The result is one frozen ``ClusterConfig``, holding the
one transport (TLS context + proxy) that REST and the port-forward tunnel share; exec credential plugins are run
here, before any API request (see ``credentials``).
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_rollouts_profile.cluster.api import ClusterApi
from kubectl_rollouts_profile.cluster.credentials import (
    ExecTokenSource,
    check_auth_provider,
    exec_plugin,
    terminal_available,
)
from kubectl_rollouts_profile.cluster.kubeconfig_check import check_kubeconfig_file, check_token, mask
from kubectl_rollouts_profile.cluster.transport import Transport, build_transport
from kubectl_rollouts_profile.errors import AccessDenied, ConnectionFailed, RolloutsProfileError, UsageError

DEFAULT_NAMESPACE = "argo-rollouts"
SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# One budget for each API request and each port-forward handshake: connecting (TCP + TLS) gets at most
# CONNECT_TIMEOUT_SECONDS of it, and nothing is retried, so an unreachable API server fails within the budget the
# message states.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class ClusterRequest:
    """What the person asked for on the command line (the cluster flags), before anything is resolved."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    # -n was given: when it was not and the cluster holds other installs, a capture says which (see locate).
    namespace_given: bool = True
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    pod: str | None = None
    port: int | None = None
    instance_id: str | None = None
    skip_preflight: bool = False
    # May an exec credential plugin use the terminal (when there is one)? False for --json and unattended runs.
    interactive: bool = True
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
    transport: Transport | None = field(default=None, repr=False, compare=False)
    credential_source: ExecTokenSource | None = field(default=None, repr=False, compare=False)
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

    def open_api(self) -> ClusterApi:
        """A new handle on the API server (its own connection pool); the caller closes it."""
        from kubernetes.client import ApiClient

        client: Any = ApiClient(configuration=self.client_configuration)
        client.user_agent = "kubectl-rollouts-profile"
        # Read by ClusterApi.send for every request (and named in its timeout message).
        client.request_timeout_seconds = self.request_timeout_seconds
        client.connect_timeout_seconds = self.connect_timeout_seconds
        if self.transport is not None:
            # The generated client builds its own pool from the Configuration (its own TLS and proxy reading);
            # ours shares the tunnel's SSL context and proxy decision.
            client.rest_client.pool_manager.clear()
            client.rest_client.pool_manager = self.transport.pool_manager()
        impersonation = self.impersonation_headers()
        if impersonation:
            _add_headers_to_every_request(client, impersonation)
        return ClusterApi(client)


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
    proxy_url = None
    credential_source = None
    if kubeconfig_paths is not None:
        terminal = request.interactive and terminal_available()
        client_configuration, context, proxy_url, credential_source = _load_kubeconfig(
            kubeconfig_paths, request.context, environ, terminal=terminal
        )
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
    # The generated Configuration reads the proxy environment itself; the transport decides instead, like kubectl.
    client_configuration.proxy = None
    return ClusterConfig(
        server=client_configuration.host,
        namespace=request.namespace,
        source=source,
        context=context,
        impersonate_user=request.as_user,
        impersonate_groups=tuple(request.as_groups),
        client_configuration=client_configuration,
        transport=build_transport(client_configuration, environ, proxy_url=proxy_url),
        credential_source=credential_source,
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


def _load_kubeconfig(
    paths: list[str], context: str | None, environ: Mapping[str, str], *, terminal: bool
) -> tuple[Any, str | None, str | None, ExecTokenSource | None]:
    """``(client configuration, context name, the cluster's proxy-url, the exec plugin's token source)``."""
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

    # Each file's shape is checked first, so a wrong type names its file and field instead of failing deep inside
    # the loader (or, for a bad token, only when the first request is sent).
    secrets = tuple(secret for path in paths for secret in check_kubeconfig_file(Path(path)))
    where = os.pathsep.join(paths)
    credential_source = None
    try:
        with _client_logging_as_errors(where):
            merged = KubeConfigMerger(where)
            if merged.config is None:
                raise ConfigException("no configuration in the file")
            loader = KubeConfigLoader(
                config_dict=merged.config,
                active_context=context,
                config_base_path=None,
                config_persister=None,
            )
            # The loader keeps the chosen user and cluster as ConfigNodes (private attributes, but the only place
            # the merged, path-aware entries exist). The exec section is taken out so the client never runs the
            # plugin itself; we run it and hand the loader the credential it printed.
            user = loader._user
            cluster = loader._cluster
            user_name = str(loader.current_context.get("context", {}).get("user") or "")
            if user is not None:
                check_auth_provider(user_name, user.value)
                if "exec" in user.value:
                    plugin = exec_plugin(user.value, _base_dir(user.path), cluster.value if cluster else None)
                    credential_source = ExecTokenSource(plugin, environ, terminal=terminal)
                    credential = credential_source.current()
                    del user.value["exec"]
                    if credential.token is not None:
                        user.value["token"] = credential.token
                    else:
                        user.value["client-certificate-data"] = _b64(credential.client_certificate_data)
                        user.value["client-key-data"] = _b64(credential.client_key_data)
            client_configuration = _new_configuration()
            loader.load_and_set(client_configuration)
            if credential_source is not None and credential_source.current().token is not None:
                setattr(client_configuration, "refresh_api_key_hook", credential_source.refresh_hook)  # noqa: B010
            proxy_url = str(cluster.value["proxy-url"]) if cluster and cluster.value.get("proxy-url") else None
    except ConfigException as error:
        # The loader's messages may quote a whole user entry, credentials included.
        raise UsageError(f"cannot use kubeconfig {where}: {mask(str(error), secrets)}") from error
    except RolloutsProfileError:
        raise
    except Exception as error:
        # Other messages from the loader may quote the file's values (credentials among them): the type only.
        raise UsageError(
            f"kubeconfig {where} is malformed ({type(error).__name__} while loading it)",
            hint="check it with `kubectl config view`",
        ) from error
    context_name = loader.current_context.get("name")
    _check_token(client_configuration, where=f"kubeconfig {where}: the token of context {context_name}")
    if not client_configuration.host:
        raise UsageError(f"kubeconfig {where}: the cluster of context {context_name} has no server",
                         hint="set clusters[].cluster.server")
    return client_configuration, context_name, proxy_url, credential_source


def _base_dir(path: str | None) -> str:
    return os.path.dirname(os.path.abspath(path)) if path else ""


def _b64(pem: str | None) -> str:
    return base64.b64encode((pem or "").encode()).decode()


@contextmanager
def _client_logging_as_errors(where: str) -> Iterator[None]:
    """The kubernetes client reports some kubeconfig problems only with ``logging.error`` and carries on; on a root
    logger with no handler that prints ``ERROR:root:...`` and configures logging for the rest of the run. Collect
    those records instead, and fail with the first one."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    handler = Collect(level=logging.ERROR)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    if records:
        raise AccessDenied(
            f"kubeconfig {where}: {records[0].getMessage()}",
            hint="fix the kubeconfig user's credentials (kubectl config view), then retry",
        )


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


def context_names(kubeconfig: str | None, environ: Mapping[str, str], *, home: Path | None = None) -> list[str]:
    """The contexts of the kubeconfig kubectl would read (``--kubeconfig``, else ``KUBECONFIG``'s files merged, the
    first of a name winning, else ``~/.kube/config``), in file order; for ``--all-contexts``. Read as YAML, each
    file checked first: listing names needs no client."""
    import yaml

    home = Path(environ.get("HOME") or Path.home()) if home is None else home
    paths = _kubeconfig_paths(ClusterRequest(kubeconfig=kubeconfig), environ, home)
    if paths is None:
        raise UsageError("--all-contexts needs a kubeconfig, and none was found",
                         hint="pass --kubeconfig PATH or set KUBECONFIG")
    names: list[str] = []
    for path in paths:
        check_kubeconfig_file(Path(path))
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        names += [entry["name"] for entry in document.get("contexts") or []
                  if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]]
    if not names:
        raise UsageError(f"kubeconfig {os.pathsep.join(paths)} has no contexts",
                         hint="add one with `kubectl config set-context`")
    return list(dict.fromkeys(names))
