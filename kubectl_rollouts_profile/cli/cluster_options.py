"""The cluster flags every cluster-facing command shares (kubeconfig, context, namespace, impersonation, pod
overrides), and ``cluster_request`` that turns them into a frozen ``ClusterRequest``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from kubectl_rollouts_profile.cli.fleet_options import several_contexts
from kubectl_rollouts_profile.cli.params import Duration, with_options
from kubectl_rollouts_profile.cluster.config import (
    DEFAULT_NAMESPACE,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ClusterRequest,
)

CLUSTER_OPTION_NAMES = (
    "kubeconfig",
    "context",
    "namespace",
    "as_user",
    "as_groups",
    "pod",
    "port",
    "instance_id",
    "skip_preflight",
    "request_timeout",
)


def cluster_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the cluster flags to a click command (they arrive as keyword arguments; see ``cluster_request``)."""
    options = [
        click.option("--kubeconfig", metavar="PATH", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."),
        click.option(
            "-n",
            "--namespace",
            metavar="NAMESPACE",
            # No click default: a capture without -n names the other installs of the cluster (cluster_request).
            help=f"Namespace of the Argo Rollouts controller.  [default: {DEFAULT_NAMESPACE}]",
        ),
        click.option("--as", "as_user", metavar="USER", help="Impersonate this user (like kubectl --as)."),
        click.option(
            "--as-group", "as_groups", multiple=True, metavar="GROUP", help="Impersonate this group (repeatable)."
        ),
        click.option("--pod", metavar="NAME", help="Profile this controller pod instead of the leader."),
        click.option(
            "--port",
            type=click.IntRange(1, 65535),
            metavar="PORT",
            help="pprof port in the pod (default: from --enable-pprof-address).",
        ),
        click.option(
            "--instance-id", metavar="ID", help="The controller's --instance-id (selects its pods and its Lease)."
        ),
        click.option("--skip-preflight", is_flag=True, help="Do not check RBAC permissions before connecting."),
        click.option(
            "--request-timeout",
            type=Duration(positive=True),
            default=DEFAULT_REQUEST_TIMEOUT_SECONDS,
            show_default="15s",
            metavar="DURATION",
            help="Budget for each API server request (connecting, then answering), e.g. 10s or 1m30s; nothing is "
            "retried.",
        ),
    ]
    # --context (repeatable), --all-contexts and --parallel: one context runs the command, several a fleet run.
    return several_contexts(with_options(options, command))


def cluster_request(**kwargs: Any) -> ClusterRequest:
    """A ``ClusterRequest`` from a command's keyword arguments; keys that are not cluster flags are ignored."""
    return ClusterRequest(
        kubeconfig=kwargs.get("kubeconfig"),
        context=kwargs.get("context"),
        namespace=kwargs.get("namespace") or DEFAULT_NAMESPACE,
        namespace_given=kwargs.get("namespace") is not None,
        as_user=kwargs.get("as_user"),
        as_groups=tuple(kwargs.get("as_groups") or ()),
        pod=kwargs.get("pod"),
        port=kwargs.get("port"),
        instance_id=kwargs.get("instance_id"),
        skip_preflight=bool(kwargs.get("skip_preflight")),
        request_timeout_seconds=float(kwargs.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT_SECONDS),
        # An exec credential plugin may prompt on the terminal, except when the output is machine-read (--json).
        interactive=not kwargs.get("as_json", False),
    )
