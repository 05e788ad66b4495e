"""Cluster commands: ``targets`` (the controller pods), ``check`` (RBAC preflight, also for a ServiceAccount),
``rbac`` (least-privilege Role YAML) and ``forward`` (hold a port-forward to the leader's pprof port).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from kubectl_rollouts_profile.cli.cluster_options import cluster_options, cluster_request
from kubectl_rollouts_profile.cli.fleet_options import format_table
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.safe import dumps


@click.command("targets")
@cluster_options
@click.option(
    "-A",
    "--all-namespaces",
    "all_namespaces",
    is_flag=True,
    help="Every controller install in the cluster (needs list pods at the cluster scope).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of the table.")
@click.pass_obj
def targets_command(env: Environment, as_json: bool, all_namespaces: bool, **options: Any) -> None:
    """List the Argo Rollouts controller pods: ready, leader, pprof address, image tag, restarts, age."""
    from kubectl_rollouts_profile.cluster.config import resolve_config
    from kubectl_rollouts_profile.cluster.locate import install_of, survey, survey_cluster

    request = cluster_request(**options, as_json=as_json)
    config = resolve_config(request, env.environ)
    with config.open_api() as api:
        if all_namespaces:
            installs = survey_cluster(api)
        else:
            found = survey(api, config.namespace, instance_id=request.instance_id)
            installs = (install_of(found),) if found.pods else ()
    now = datetime.now(timezone.utc)
    rows = [_target_row(install, pod, now) for install in installs for pod in install.survey.pods]
    if as_json:
        env.result(dumps(rows, indent=2))
        return
    if not rows:
        where = "any namespace" if all_namespaces else f"namespace {config.namespace}"
        env.message(f"no Argo Rollouts controller pods in {where}")
        return
    for install in installs:
        if install.survey.lease_problem:
            env.message(f"note: {install.survey.lease_problem}")
    if all_namespaces:
        table: list[tuple[str, ...]] = [
            ("NAMESPACE", "POD", "READY", "LEADER", "INSTANCE ID", "PPROF", "VERSION", "INSTALL")
        ]
        table += [
            (
                str(row["namespace"]),
                str(row["pod"]),
                _ready(row),
                "*" if row["leader"] else "",
                str(row["instanceId"] or "-"),
                str(row["pprofAddress"] or "profiling off"),
                str(row["imageTag"]),
                f"{row['install']['name']} ({row['install']['scope']})",
            )
            for row in rows
        ]
    else:
        table = [("POD", "READY", "LEADER", "PPROF", "IMAGE TAG", "RESTARTS", "AGE")]
        table += [
            (
                str(row["pod"]),
                _ready(row),
                "*" if row["leader"] else "",
                str(row["pprofAddress"] or "profiling off"),
                str(row["imageTag"]),
                str(row["restarts"]),
                str(row["age"]),
            )
            for row in rows
        ]
    for line in format_table(table):
        env.result(line)


def _target_row(install: Any, pod: Any, now: datetime) -> dict[str, Any]:
    return {
        "pod": pod.name,
        "namespace": pod.namespace,
        "ready": pod.ready,
        "phase": pod.phase,
        "leader": pod.name == install.survey.leader_name,
        "instanceId": pod.instance_id,
        "pprofAddress": pod.pprof_address,
        "pprofPort": pod.pprof_port,
        "metricsPort": pod.metrics_port,
        "image": pod.image,
        "imageTag": pod.image_tag,
        "restarts": pod.restarts,
        "created": pod.created.isoformat() if pod.created else None,
        "age": _age(now, pod.created),
        "install": {
            "name": install.label,
            "namespace": install.namespace,
            "instanceId": install.instance_id,
            "release": install.release or pod.release,
            "scope": install.scope,
            "lease": install.survey.lease_name,
        },
    }


def _ready(row: dict[str, Any]) -> str:
    return "yes" if row["ready"] else f"no ({row['phase']})"


@click.command("check")
@cluster_options
@click.option(
    "--serviceaccount",
    metavar="NS/NAME",
    help="Check this ServiceAccount (e.g. a runbook Job's) instead of yourself.",
)
@click.option("--with-lock", is_flag=True, help="Also check the Lease rules of the runbook's capture lock.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def check_command(env: Environment, serviceaccount: str | None, with_lock: bool, as_json: bool, **options: Any) -> None:
    """Check the RBAC permissions a capture needs (exit 4 when one is missing)."""
    from kubectl_rollouts_profile.cluster.access import (
        capture_permissions,
        lock_permissions,
        parse_serviceaccount,
        preflight,
        review_serviceaccount,
    )
    from kubectl_rollouts_profile.cluster.config import resolve_config
    from kubectl_rollouts_profile.cluster.locate import lease_names

    request = cluster_request(**options, as_json=as_json)
    subject = parse_serviceaccount(serviceaccount) if serviceaccount else None
    config = resolve_config(request, env.environ)
    permissions = capture_permissions(lease_names(request.instance_id))
    if with_lock:
        permissions += lock_permissions()
    with config.open_api() as api:
        if subject:
            report = review_serviceaccount(api, config, config.namespace, subject, permissions)
        else:
            report = preflight(api, config.namespace, permissions, subject=config.subject)
    if as_json:
        env.result(dumps(report.as_json(), indent=2))
    else:
        env.message(
            f"{report.subject} in namespace {report.namespace} (API server {report.server_version or 'unknown'}, "
            f"{report.method}):"
        )
        table: list[tuple[str, ...]] = [("PERMISSION", "ALLOWED", "REQUIRED", "FOR")]
        table += [
            (
                check.permission.label,
                "yes" if check.allowed else "NO",
                "yes" if check.required else "no",
                check.permission.purpose,
            )
            for check in report.checks
        ]
        for line in format_table(table):
            env.result(line)
    if not report.ok:
        raise report.denied_error()


@click.command("rbac")
@click.option("--serviceaccount", required=True, metavar="NS/NAME", help="The ServiceAccount to bind the Role to.")
@click.option(
    "-n",
    "--namespace",
    default="argo-rollouts",
    show_default=True,
    help="Namespace of the Argo Rollouts controller (where the Role goes).",
)
@click.option("--instance-id", metavar="ID", help="The controller's --instance-id (its Lease name).")
@click.option("--name", "role_name", default="rollouts-profile", show_default=True, help="Name of the Role.")
@click.option(
    "--with-lock",
    is_flag=True,
    help="Add what a runbook's bundle needs: the capture lock's Lease rules and the reads of the pod and its events.",
)
@click.option(
    "--with-restart",
    is_flag=True,
    help="Add delete on pods, which only `cpu --at-start --restart` needs (it deletes the leader pod).",
)
@click.pass_obj
def rbac_command(
    env: Environment, serviceaccount: str, namespace: str, instance_id: str | None, role_name: str, with_lock: bool,
    with_restart: bool = False,
) -> None:
    """Print a least-privilege Role + RoleBinding (YAML) that lets a ServiceAccount capture profiles."""
    from kubectl_rollouts_profile.cluster.access import (
        LOCK_COMMENT,
        capture_permissions,
        lock_permissions,
        parse_serviceaccount,
        role_yaml,
    )
    from kubectl_rollouts_profile.cluster.locate import lease_names

    subject = parse_serviceaccount(serviceaccount)
    permissions = capture_permissions(lease_names(instance_id))
    comments = [
        "Least-privilege access for `kubectl rollouts-profile` captures from the Argo Rollouts controller.",
        "pods/portforward needs get (websocket) and, from Kubernetes v1.35, create.",
    ]
    if with_lock:
        from kubectl_rollouts_profile.runbook.bundle import BUNDLE_RULES

        permissions += lock_permissions() + BUNDLE_RULES
        comments.append(LOCK_COMMENT)
    if with_restart:
        from kubectl_rollouts_profile.runbook.coldstart import RESTART_RULES

        permissions += RESTART_RULES
        comments.append("delete on pods: only for `cpu --at-start --restart`, which deletes the leader pod.")
    env.result(
        role_yaml(permissions, namespace=namespace, serviceaccount=subject, name=role_name, comments=comments).rstrip(
            "\n"
        )
    )


@click.command("forward")
@cluster_options
@click.pass_obj
def forward_command(env: Environment, **options: Any) -> None:
    """Hold a port-forward to the leader's pprof port and print its local URL; stop with Ctrl-C."""
    import signal
    import threading

    from kubectl_rollouts_profile.pipeline import EndpointSpec, open_endpoint

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with open_endpoint(EndpointSpec(cluster=cluster_request(**options)), env) as endpoint:
            env.result(endpoint.base_url)
            env.message(f"forwarding {endpoint.base_url} -> {endpoint.where}; stop with Ctrl-C")
            env.message(f"try: go tool pprof {endpoint.base_url}/debug/pprof/heap")
            stop.wait()
            env.message("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _age(now: datetime, created: datetime | None) -> str:
    if created is None:
        return "?"
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    for command in (targets_command, check_command, rbac_command, forward_command):
        group.add_command(command)
