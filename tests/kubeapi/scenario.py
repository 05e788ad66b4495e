"""A realistic Argo Rollouts install in the test API server: Deployment-owned controller pods, a dashboard,
the leader-election Lease and events, with the leader's pprof and metrics ports relayed to real processes."""

from __future__ import annotations

import datetime
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tests.kubeapi.server import KubeApiServer

IMAGE = "quay.io/argoproj/argo-rollouts:v1.8.3"
IMAGE_ID = "quay.io/argoproj/argo-rollouts@sha256:" + "4b1d" * 16
DASHBOARD_IMAGE = IMAGE
LEASE_NAME = "argo-rollouts-controller-lock"
NAME_LABELS = {"app.kubernetes.io/name": "argo-rollouts", "app.kubernetes.io/instance": "argo-rollouts"}
# The alphabet Kubernetes uses for generated name suffixes and pod-template-hash values (no vowels).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Scenario:
    namespace: str
    controller_pods: tuple[str, ...]
    leader_pod: str
    dashboard_pod: str
    lease_name: str
    holder_identity: str
    pprof_pod_port: int | None  # the port the pprof flag names inside the pod, e.g. 6060
    metrics_pod_port: int = 8090


def _suffix(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pprof_port_from_flag(args: Sequence[str]) -> int | None:
    """The port in ``--enable-pprof-address=[host]:PORT`` or ``--enable-pprof-address [host]:PORT``."""
    for index, arg in enumerate(args):
        value = None
        if arg.startswith("--enable-pprof-address="):
            value = arg.split("=", 1)[1]
        elif arg == "--enable-pprof-address" and index + 1 < len(args):
            value = args[index + 1]
        if value is not None:
            match = re.search(r":(\d+)$", value)
            return int(match.group(1)) if match else None
    return None


def _owner(kind: str, obj: dict, api_version: str = "apps/v1") -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _container(name: str, image: str, args: list[str], ports: list[dict]) -> dict:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": ports,
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
    }


def _pod(name: str, namespace: str, labels: dict, owner: dict, container: dict, node: str, ip: str,
         started: datetime.datetime, ready: bool = True, restarts: int = 0) -> dict:
    container_id = "containerd://" + secrets.token_hex(32)
    flag = "True" if ready else "False"
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": flag},
        {"type": "ContainersReady", "status": flag},
        {"type": "PodScheduled", "status": "True"},
    ]
    for condition in conditions:
        condition["lastProbeTime"] = None
        condition["lastTransitionTime"] = _timestamp(started)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generateName": name.rsplit("-", 1)[0] + "-",
            "labels": labels,
            "ownerReferences": [owner],
            "creationTimestamp": _timestamp(started),
        },
        "spec": {
            "containers": [container],
            "serviceAccountName": "argo-rollouts",
            "serviceAccount": "argo-rollouts",
            "nodeName": node,
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "securityContext": {"runAsNonRoot": True},
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300},
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": "10.0.0.11",
            "hostIPs": [{"ip": "10.0.0.11"}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": _timestamp(started),
            "qosClass": "BestEffort",
            "containerStatuses": [{
                "name": container["name"],
                "image": container["image"],
                "imageID": IMAGE_ID,
                "containerID": container_id,
                "ready": ready,
                "started": True,
                "restartCount": restarts,
                "state": {"running": {"startedAt": _timestamp(started)}},
                "lastState": {},
            }],
        },
    }


def install_argo_rollouts(
    server: KubeApiServer,
    *,
    pprof_port: int | None,
    metrics_port: int | None = None,
    namespace: str = "argo-rollouts",
    leader_index: int = 1,
    pprof_flag: str | Sequence[str] | None = "--enable-pprof-address=:6060",
    instance_id: str | None = None,
    replicas: int = 2,
    route_all: bool = False,
    image: str = IMAGE,
    container_name: str = "argo-rollouts",
    leader_election: bool = True,
    namespaced: bool = False,
    release: str = "argo-rollouts",
) -> Scenario:
    """Install the controller Deployment (``replicas`` pods), the dashboard and the Lease naming the leader.

    ``pprof_port``/``metrics_port`` are the real local ports (the Go target) the leader's in-pod pprof port and
    metrics port 8090 are relayed to; ``route_all`` relays every controller pod's ports, not only the leader's.
    ``image``/``container_name`` model renamed images (OpenShift GitOps, mirrors); ``leader_election=False`` runs
    the pods with ``--leader-elect=false`` and creates no Lease. ``namespaced`` adds ``--namespaced`` (the Helm
    chart's ``clusterInstall: false``: a team's install watching only its own namespace); ``release`` is the Helm
    release (the ``app.kubernetes.io/instance`` label and the name of the Deployment, its ReplicaSets and pods).
    """
    name_labels = dict(NAME_LABELS, **{"app.kubernetes.io/instance": release})
    deployment_name = release
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    started = now - datetime.timedelta(hours=3)
    server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    server.put({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "argo-rollouts", "namespace": namespace,
                             "labels": dict(name_labels, **{"app.kubernetes.io/component": "rollouts-controller"})}})

    flag_args = [pprof_flag] if isinstance(pprof_flag, str) else list(pprof_flag or [])
    args = ["--healthzPort=8080", "--metricsport=8090", "--loglevel=info", "--logformat=text", "--kloglevel=0",
            "--leader-elect" if leader_election else "--leader-elect=false", *flag_args]
    if namespaced:
        args.append("--namespaced")
    if instance_id:
        args.append(f"--instance-id={instance_id}")
    controller_labels = dict(name_labels, **{"app.kubernetes.io/component": "rollouts-controller"})
    ports = [{"name": "metrics", "containerPort": 8090, "protocol": "TCP"},
             {"name": "healthz", "containerPort": 8080, "protocol": "TCP"}]

    template_hash = _suffix(10)
    deployment = server.put({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": deployment_name, "namespace": namespace, "labels": dict(controller_labels),
                     "creationTimestamp": _timestamp(started)},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(name_labels)},
                 "template": {"metadata": {"labels": dict(controller_labels)},
                              "spec": {"serviceAccountName": "argo-rollouts",
                                       "containers": [_container(container_name, image, args, ports)]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                   "updatedReplicas": replicas, "observedGeneration": 1},
    })
    pod_labels = dict(controller_labels, **{"pod-template-hash": template_hash})
    replica_set = server.put({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{deployment_name}-{template_hash}", "namespace": namespace, "labels": pod_labels,
                     "ownerReferences": [_owner("Deployment", deployment)],
                     "creationTimestamp": _timestamp(started)},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": dict(name_labels, **{"pod-template-hash": template_hash})},
                 "template": {"metadata": {"labels": pod_labels},
                              "spec": {"containers": [_container(container_name, image, args, ports)]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                   "fullyLabeledReplicas": replicas, "observedGeneration": 1},
    })
    controller_pods: list[str] = []
    for index in range(replicas):
        name = f"{deployment_name}-{template_hash}-{_suffix(5)}"
        server.put(_pod(name, namespace, dict(pod_labels), _owner("ReplicaSet", replica_set),
                        _container(container_name, image, args, ports), node=f"node-{index + 1}",
                        ip=f"10.244.{index + 1}.{17 + index}", started=started))
        controller_pods.append(name)

    dashboard_hash = _suffix(10)
    dashboard_labels = dict(name_labels, **{"app.kubernetes.io/component": "rollouts-dashboard",
                                            "pod-template-hash": dashboard_hash})
    dashboard_rs = server.put({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{deployment_name}-dashboard-{dashboard_hash}", "namespace": namespace,
                     "labels": dashboard_labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": dashboard_labels}},
        "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
    })
    dashboard_pod = f"{deployment_name}-dashboard-{dashboard_hash}-{_suffix(5)}"
    server.put(_pod(dashboard_pod, namespace, dashboard_labels, _owner("ReplicaSet", dashboard_rs),
                    _container("argo-rollouts-dashboard", DASHBOARD_IMAGE, ["dashboard"],
                               [{"name": "dashboard", "containerPort": 3100, "protocol": "TCP"}]),
                    node="node-1", ip="10.244.1.40", started=started))

    leader_pod = controller_pods[leader_index]
    holder = f"{leader_pod}_{uuid.uuid4()}"
    lease_name = f"{LEASE_NAME}-{instance_id}" if instance_id else LEASE_NAME
    renew = now.strftime("%Y-%m-%dT%H:%M:%S.") + "123456Z"
    if leader_election:
        server.put({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": lease_name, "namespace": namespace, "creationTimestamp": _timestamp(started)},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "leaseTransitions": 1,
                     "acquireTime": _timestamp(started).replace("Z", ".000000Z"), "renewTime": renew},
        })
    for reason, message in (
        ("Scheduled", f"Successfully assigned {namespace}/{leader_pod} to node-{leader_index + 1}"),
        ("Pulled", f'Container image "{image}" already present on machine'),
        ("Created", "Created container: argo-rollouts"),
        ("Started", "Started container argo-rollouts"),
    ):
        server.put({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{leader_pod}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {"kind": "Pod", "namespace": namespace, "name": leader_pod, "apiVersion": "v1",
                               "fieldPath": "spec.containers{argo-rollouts}"},
            "reason": reason, "message": message, "type": "Normal",
            "source": {"component": "default-scheduler" if reason == "Scheduled" else "kubelet"},
            "firstTimestamp": _timestamp(started), "lastTimestamp": _timestamp(started), "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": f"node-{leader_index + 1}",
        })

    pprof_pod_port = pprof_port_from_flag(flag_args)
    for name in controller_pods if route_all else [leader_pod]:
        if pprof_pod_port is not None and pprof_port is not None:
            server.route_port(namespace, name, pprof_pod_port, "127.0.0.1", pprof_port)
        if metrics_port is not None:
            server.route_port(namespace, name, 8090, "127.0.0.1", metrics_port)
    return Scenario(namespace=namespace, controller_pods=tuple(controller_pods), leader_pod=leader_pod,
                    dashboard_pod=dashboard_pod, lease_name=lease_name, holder_identity=holder,
                    pprof_pod_port=pprof_pod_port)


def bind_role(server: KubeApiServer, namespace: str, name: str, subject: dict, *, kind: str = "ClusterRole",
              role: str = "cluster-admin") -> None:
    """A RoleBinding ``name`` in ``namespace`` giving ``subject`` (a RoleBinding subject) the Role or ClusterRole."""
    server.put({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [subject],
    })


def start_replacement_pod(server: KubeApiServer, scenario: Scenario, like: dict, *, pprof_port: int | None,
                          metrics_port: int | None = None, take_lease: bool = True) -> str:
    """What the ReplicaSet controller, the kubelet and leader election do after the controller pod ``like`` went
    away (or restarted): a new pod of the same ReplicaSet, its container running but not yet Ready (the informers
    are still syncing), its pprof and metrics ports relayed to ``pprof_port``/``metrics_port`` on 127.0.0.1 (a new
    process, possibly not listening yet), and with ``take_lease`` the Lease moved to it. Returns the new pod's name.

    Shortcut: the real sequence spans seconds (scheduling, image, container start, the old holder's Lease expiry);
    here it is one step, and the old pod is removed at once if it is still there."""
    old_name = like["metadata"]["name"]
    server.delete("v1", "Pod", scenario.namespace, old_name)
    template_hash = like["metadata"]["labels"].get("pod-template-hash", _suffix(10))
    name = f"argo-rollouts-{template_hash}-{_suffix(5)}"
    container = like["spec"]["containers"][0]
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    pod = _pod(name, scenario.namespace, dict(like["metadata"]["labels"]), like["metadata"]["ownerReferences"][0],
               _container(container["name"], container["image"], list(container.get("args") or []),
                          list(container.get("ports") or [])),
               node=like["spec"].get("nodeName", "node-1"), ip="10.244.3.33", started=now, ready=False)
    pod["spec"]["containers"][0]["resources"] = dict(container.get("resources") or {})
    server.put(pod)
    if scenario.pprof_pod_port is not None and pprof_port is not None:
        server.route_port(scenario.namespace, name, scenario.pprof_pod_port, "127.0.0.1", pprof_port)
    if metrics_port is not None:
        server.route_port(scenario.namespace, name, scenario.metrics_pod_port, "127.0.0.1", metrics_port)
    if take_lease:
        lease = server.get_object("coordination.k8s.io/v1", "Lease", scenario.namespace, scenario.lease_name)
        if lease is not None:
            renew = now.strftime("%Y-%m-%dT%H:%M:%S.") + "000000Z"
            lease["spec"].update({"holderIdentity": f"{name}_{uuid.uuid4()}", "acquireTime": renew,
                                  "renewTime": renew,
                                  "leaseTransitions": int(lease["spec"].get("leaseTransitions") or 0) + 1})
            server.put(lease)
    return name


def replace_deleted_leader(child: subprocess.Popen, server: KubeApiServer, scenario: Scenario, like: dict, *,
                           pprof_port: int, timeout: float = 120.0) -> tuple[str, str, str]:
    """For a ``--restart`` run in ``child``: once it has deleted the pod ``like`` (the leader, unless the run named
    another with ``--pod``), start its replacement (reaching ``pprof_port``) and wait for the run to end. Returns
    ``(new pod, stdout, stderr)``; the child never outlives it."""
    try:
        deadline = time.monotonic() + 60
        while server.get_object("v1", "Pod", scenario.namespace, like["metadata"]["name"]) is not None:
            assert time.monotonic() < deadline, "the run did not delete the pod"
            time.sleep(0.05)
        new_pod = start_replacement_pod(server, scenario, like, pprof_port=pprof_port)
        stdout, stderr = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return new_pod, stdout, stderr
