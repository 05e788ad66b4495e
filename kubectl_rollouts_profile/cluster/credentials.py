"""Credentials a kubeconfig user gets from a program (exec plugins: ``aws eks get-token``,
``gke-gcloud-auth-plugin``, ``kubelogin``), run by us instead of by the kubernetes client.

The client only logs a failing plugin (``ERROR:root:exec: ...``) and then sends anonymous requests, so the user
meets a 401 or "system:anonymous cannot ..." far from the cause. Here the plugin runs before any API request; a
failure is one line quoting the plugin's own stderr; the token is fetched again when it is about to expire (every
REST request and every tunnel connection asks for a current one), and ``interactiveMode`` decides whether the
plugin may use the terminal.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kubectl_rollouts_profile.errors import AccessDenied, UsageError

# Fetch a new token this long before the plugin's expirationTimestamp, so a request never leaves with a token
# that expires on the way.
EXPIRY_MARGIN = timedelta(seconds=60)
PLUGIN_TIMEOUT_SECONDS = 120.0
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
# Login commands for the plugins people meet most, for the hint.
LOGIN_HINTS = {
    "aws": "aws sso login (or refresh the AWS credentials the profile uses)",
    "aws-iam-authenticator": "refresh the AWS credentials (aws sso login)",
    "gke-gcloud-auth-plugin": "gcloud auth login",
    "gcloud": "gcloud auth login",
    "kubelogin": "az login (or kubelogin's own login for the chosen --login mode)",
}
# Auth providers the kubernetes client still implements; any other one would silently send anonymous requests.
SUPPORTED_AUTH_PROVIDERS = ("gcp", "oidc")


@dataclass(frozen=True)
class ExecPlugin:
    """The ``exec`` section of a kubeconfig user."""

    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    api_version: str
    interactive_mode: str
    install_hint: str | None
    cluster_info: dict | None = field(default=None, repr=False)
    base_dir: str = ""

    @property
    def name(self) -> str:
        return os.path.basename(self.command)

    def login_hint(self) -> str:
        login = LOGIN_HINTS.get(self.name)
        return f"log in again ({login}), then retry" if login else "log in again with the tool behind it, then retry"


@dataclass(frozen=True)
class ExecCredential:
    """What the plugin printed: a token, or a client certificate and key (PEM), and when it expires."""

    token: str | None = field(default=None, repr=False)
    client_certificate_data: str | None = field(default=None, repr=False)
    client_key_data: str | None = field(default=None, repr=False)
    expires: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires - EXPIRY_MARGIN


def check_auth_provider(user_name: str, user: Mapping) -> None:
    """Refuse an ``auth-provider`` the client does not implement (azure was removed from kubectl in v1.26), which
    would otherwise go out as anonymous requests."""
    provider = user.get("auth-provider")
    if not isinstance(provider, Mapping):
        return
    name = str(provider.get("name") or "")
    if name in SUPPORTED_AUTH_PROVIDERS:
        return
    if name == "azure":
        raise UsageError(
            f"kubeconfig user {user_name} uses auth-provider azure, which kubectl removed in v1.26 and this tool "
            "cannot use",
            hint="convert the kubeconfig to the kubelogin exec plugin: `kubelogin convert-kubeconfig -l azurecli`",
        )
    raise UsageError(
        f"kubeconfig user {user_name} uses auth-provider {name or '(unnamed)'}, which this tool cannot use",
        hint="use an exec credential plugin instead (the provider's kubectl documentation names it)",
    )


def exec_plugin(user: Mapping, base_dir: str, cluster: Mapping | None) -> ExecPlugin:
    """The plugin described by a kubeconfig user's ``exec`` section."""
    section = user.get("exec")
    if not isinstance(section, Mapping) or not section.get("command"):
        raise UsageError("the kubeconfig user's exec section has no command", hint="see `kubectl config view`")
    api_version = str(section.get("apiVersion") or "")
    if not api_version:
        raise UsageError("the kubeconfig user's exec section has no apiVersion",
                         hint="set apiVersion: client.authentication.k8s.io/v1 (or v1beta1)")
    mode = str(section.get("interactiveMode") or "IfAvailable")
    if mode not in INTERACTIVE_MODES:
        raise UsageError(f"exec interactiveMode {mode!r} is not one of {', '.join(INTERACTIVE_MODES)}")
    cluster_info = None
    if section.get("provideClusterInfo") and cluster is not None:
        cluster_info = _cluster_info(cluster)
    return ExecPlugin(
        command=str(section["command"]),
        args=tuple(str(arg) for arg in section.get("args") or ()),
        env=tuple((str(item["name"]), str(item["value"])) for item in section.get("env") or ()),
        api_version=api_version,
        interactive_mode=mode,
        install_hint=str(section["installHint"]).strip() if section.get("installHint") else None,
        cluster_info=cluster_info,
        base_dir=base_dir,
    )


def run_plugin(plugin: ExecPlugin, environ: Mapping[str, str], *, terminal: bool) -> ExecCredential:
    """Run the plugin once. ``terminal``: stdin and stderr are a terminal a person may answer on (never true for
    --json or unattended runs). Raises AccessDenied with the plugin's own words when it fails."""
    import subprocess  # only when a kubeconfig names a plugin: keeps the --help path light
    interactive = terminal and plugin.interactive_mode != "Never"
    if plugin.interactive_mode == "Always" and not terminal:
        raise AccessDenied(
            f"exec plugin {plugin.name} needs a terminal (interactiveMode: Always), and this run has none",
            hint="run it once in a terminal (or log in) so it has cached credentials, or use a non-interactive "
            "credential for unattended runs",
        )
    spec: dict = {"interactive": interactive}
    if plugin.cluster_info is not None:
        spec["cluster"] = plugin.cluster_info
    env = {**environ, **dict(plugin.env)}
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": plugin.api_version, "kind": "ExecCredential",
                                              "spec": spec})
    try:
        completed = subprocess.run(
            [_resolve_command(plugin, env), *plugin.args],
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if interactive else subprocess.PIPE,
            env=env,
            cwd=plugin.base_dir or None,
            timeout=None if interactive else PLUGIN_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as error:
        raise AccessDenied(
            f"exec plugin {plugin.command} not found"
            + ("" if os.sep in plugin.command else " on PATH"),
            hint=plugin.install_hint or f"install {plugin.name}, or fix the kubeconfig's exec command",
        ) from error
    except PermissionError as error:
        raise AccessDenied(f"exec plugin {plugin.command} is not executable: {error}",
                           hint="check the file's permissions") from error
    except subprocess.TimeoutExpired as error:
        raise AccessDenied(
            f"exec plugin {plugin.name} did not answer within {PLUGIN_TIMEOUT_SECONDS:.0f}s",
            hint="it may be waiting for a login prompt nobody can see: " + plugin.login_hint(),
        ) from error
    if completed.returncode != 0:
        said = _one_line(completed.stderr.decode("utf-8", "replace") if completed.stderr else "")
        quoted = f": {said}" if said else (" (its output is above)" if interactive else "")
        raise AccessDenied(
            f"exec plugin {plugin.name} failed (exit {completed.returncode}){quoted}",
            hint=plugin.login_hint(),
        )
    return _parse_credential(plugin, completed.stdout)


class ExecTokenSource:
    """The current credential of one plugin: run once up front, again when it is about to expire. Thread-safe
    (the tunnel's connections and the lock renewal ask from their own threads)."""

    def __init__(self, plugin: ExecPlugin, environ: Mapping[str, str], *, terminal: bool) -> None:
        self.plugin = plugin
        self._environ = dict(environ)
        self._terminal = terminal
        self._guard = threading.Lock()
        self.runs = 0
        self._credential = self._run()

    def _run(self) -> ExecCredential:
        self.runs += 1
        return run_plugin(self.plugin, self._environ, terminal=self._terminal)

    def current(self) -> ExecCredential:
        with self._guard:
            if self._credential.expired(datetime.now(timezone.utc)):
                self._credential = self._run()
            return self._credential

    def refresh_hook(self, client_configuration: object) -> None:
        """For ``Configuration.refresh_api_key_hook``: called before every request's auth header is built."""
        credential = self.current()
        if credential.token is not None:
            client_configuration.api_key["BearerToken"] = "Bearer " + credential.token  # type: ignore[attr-defined]


def _resolve_command(plugin: ExecPlugin, env: Mapping[str, str]) -> str:
    # client-go: a relative path with a separator is relative to the kubeconfig's directory; a bare name is
    # looked up on PATH (the plugin's own environment's PATH).
    import shutil

    command = plugin.command
    if os.sep in command and not os.path.isabs(command) and plugin.base_dir:
        return str(Path(plugin.base_dir) / command)
    if os.sep not in command:
        found = shutil.which(command, path=env.get("PATH"))
        if found is None:
            raise FileNotFoundError(command)
        return found
    return command


def _parse_credential(plugin: ExecPlugin, stdout: bytes) -> ExecCredential:
    def bad(detail: str) -> AccessDenied:
        return AccessDenied(f"exec plugin {plugin.name} printed no usable ExecCredential: {detail}",
                            hint="update the plugin, or check its arguments in the kubeconfig")

    try:
        answer = json.loads(stdout.decode("utf-8", "replace"))
    except ValueError as error:
        raise bad("its output is not JSON") from error
    if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
        raise bad("kind is not ExecCredential")
    if answer.get("apiVersion") != plugin.api_version:
        raise bad(f"apiVersion {answer.get('apiVersion')!r} does not match the kubeconfig's {plugin.api_version!r}")
    status = answer.get("status")
    if not isinstance(status, dict):
        raise bad("no status")
    token = status.get("token") or None
    cert, key = status.get("clientCertificateData") or None, status.get("clientKeyData") or None
    if token is None and not (cert and key):
        raise bad("status has neither a token nor clientCertificateData with clientKeyData")
    expires = None
    if status.get("expirationTimestamp"):
        try:
            expires = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        except ValueError as error:
            raise bad(f"expirationTimestamp {status['expirationTimestamp']!r} is not RFC 3339") from error
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
    return ExecCredential(token=token, client_certificate_data=cert, client_key_data=key, expires=expires)


def _cluster_info(cluster: Mapping) -> dict:
    # The Cluster object of the ExecCredential spec (client.authentication.k8s.io), from the kubeconfig cluster.
    info: dict = {"server": cluster.get("server")}
    for source, target in (("certificate-authority-data", "certificate-authority-data"),
                           ("tls-server-name", "tls-server-name"), ("proxy-url", "proxy-url"),
                           ("insecure-skip-tls-verify", "insecure-skip-tls-verify")):
        if cluster.get(source) is not None:
            info[target] = cluster[source]
    for extension in cluster.get("extensions") or ():
        if isinstance(extension, Mapping) and extension.get("name") == "client.authentication.k8s.io/exec":
            info["config"] = extension.get("extension")
    return info


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def terminal_available() -> bool:
    """Whether a person can answer a prompt: stdin and stderr are both terminals."""
    try:
        return sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
