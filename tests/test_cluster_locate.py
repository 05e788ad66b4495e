"""Locating the target: controller pods vs the dashboard, the leader from the Lease, the pprof address."""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.cluster.config import ClusterRequest, resolve_config
from kubectl_rollouts_profile.cluster.locate import (
    ControllerPod,
    Survey,
    choose_profiled_pod,
    describe_pod,
    find_flag,
    holder_pod_name,
    image_tag,
    lease_names,
    parse_image,
    parse_listen_address,
)
from kubectl_rollouts_profile.errors import ProfilingUnavailable, TargetNotFound
from tests.clitools import wait_for


def pod_json(
    name: str,
    *,
    args=(),
    command=None,
    image="quay.io/argoproj/argo-rollouts:v1.8.3",
    ready=True,
    component="rollouts-controller",
    phase="Running",
    container="argo-rollouts",
) -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": "argo-rollouts",
            "labels": {"app.kubernetes.io/name": "argo-rollouts", "app.kubernetes.io/component": component},
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {"containers": [{"name": container, "image": image, "args": list(args), "command": command}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": container, "restartCount": 2}],
        },
    }


def controller(name: str, *, ready: bool = True, pprof: str | None = ":6060", image_version: str = "v1.8.3"):
    args = [f"--enable-pprof-address={pprof}"] if pprof else []
    pod = describe_pod(pod_json(name, args=args, ready=ready, image=f"quay.io/argoproj/argo-rollouts:{image_version}"))
    assert pod is not None
    return pod


def survey_of(*pods: ControllerPod, holder: str | None = None, problem: str | None = None) -> Survey:
    return Survey("argo-rollouts", tuple(pods), "argo-rollouts-controller-lock", holder, problem)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--enable-pprof-address=:6060"], ":6060"),
        (["--enable-pprof-address", "localhost:6061"], "localhost:6061"),
        (["/bin/rollouts-controller", "--enable-pprof-address", "0.0.0.0:7070", "--loglevel=info"], "0.0.0.0:7070"),
        (["--enable-pprof-address=[::1]:6060"], "[::1]:6060"),
        (["--enable-pprof-address=:1", "--enable-pprof-address=:2"], ":2"),  # pflag: the last one wins
        (["--enable-pprof-address-extra=:1"], None),
        (["--enable-pprof-address"], None),
        ([], None),
    ],
)
def test_find_flag(argv: list[str], expected: str | None) -> None:
    assert find_flag(argv, "--enable-pprof-address") == expected


@pytest.mark.parametrize(
    "address, expected",
    [
        (":6060", ("", 6060)),
        ("localhost:6060", ("localhost", 6060)),
        ("0.0.0.0:6060", ("0.0.0.0", 6060)),
        ("[::1]:6060", ("::1", 6060)),
        ("127.0.0.1:65535", ("127.0.0.1", 65535)),
    ],
)
def test_parse_listen_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(address) == expected


@pytest.mark.parametrize("address", ["6060", "localhost", ":0", ":70000", "::1:6060", ""])
def test_parse_listen_address_rejects(address: str) -> None:
    with pytest.raises(ProfilingUnavailable):
        parse_listen_address(address)


def test_lease_names_and_holder() -> None:
    assert lease_names(None) == ("argo-rollouts-controller-lock",)
    assert lease_names("blue") == ("argo-rollouts-controller-lock-blue", "argo-rollouts-controller-lock")
    assert (
        holder_pod_name("argo-rollouts-5f7d-abcde_0e2b6c2e-1f7b-4c5e-9a7e-0123456789ab") == "argo-rollouts-5f7d-abcde"
    )


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_image_tag() -> None:
    assert image_tag("quay.io/argoproj/argo-rollouts:v1.8.3") == "v1.8.3"
    assert image_tag("registry:5000/argo-rollouts:v1.7.2@sha256:abcd") == "v1.7.2"
    assert image_tag("registry:5000/argo-rollouts") == "latest"
    # No tag: the digest is what identifies the build.
    assert image_tag(f"registry.redhat.io/openshift-gitops-1/argo-rollouts-rhel8@{DIGEST}") == "sha256:0123456789ab"
    assert image_tag(f"registry:5000/mirror/argo-rollouts@{DIGEST}") == "sha256:0123456789ab"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("argo-rollouts", (None, "argo-rollouts", None, None)),
        ("argoproj/argo-rollouts:v1.8.3", (None, "argoproj/argo-rollouts", "v1.8.3", None)),
        ("registry:5000/mirror/argo-rollouts", ("registry:5000", "mirror/argo-rollouts", None, None)),
        (f"registry:5000/mirror/argo-rollouts@{DIGEST}", ("registry:5000", "mirror/argo-rollouts", None, DIGEST)),
        (f"localhost/a:v1@{DIGEST}", ("localhost", "a", "v1", DIGEST)),
        (f"registry.redhat.io/openshift-gitops-1/argo-rollouts-rhel8@{DIGEST}",
         ("registry.redhat.io", "openshift-gitops-1/argo-rollouts-rhel8", None, DIGEST)),
    ],
)
def test_parse_image(reference: str, expected: tuple) -> None:
    image = parse_image(reference)
    assert (image.registry, image.repository, image.tag, image.digest) == expected


@pytest.mark.parametrize(
    "image",
    [
        f"registry.redhat.io/openshift-gitops-1/argo-rollouts-rhel8@{DIGEST}",
        f"registry:5000/mirror/argo-rollouts@{DIGEST}",
        "registry:5000/mirror/some-other-name:v1.8.3",
    ],
)
def test_controller_recognised_by_flags_under_any_image_name(image: str) -> None:
    pod = describe_pod(pod_json("c", args=["--leader-elect", "--enable-pprof-address=:6060"], image=image,
                                container="manager"))
    assert pod is not None and pod.pprof_port == 6060 and pod.image == image
    # install.yaml passes no args: the container name and the controller's labels are enough.
    assert describe_pod(pod_json("c", image=image)) is not None
    # The dashboard shares the name label and runs `dashboard`, whatever its image is called.
    assert describe_pod(pod_json("d", args=["dashboard"], image=image, component="rollouts-dashboard")) is None
    assert describe_pod(pod_json("d", args=["dashboard"], image=image, component="rollouts-controller")) is None


def test_leader_elect_and_instance_id_from_flags() -> None:
    def described(*args: str) -> ControllerPod:
        pod = describe_pod(pod_json("c", args=list(args)))
        assert pod is not None
        return pod

    assert described("--leader-elect").leader_elect and described().leader_elect
    assert not described("--leader-elect=false").leader_elect
    assert described("--instance-id", "blue").instance_id == "blue"


def test_dashboard_and_other_pods_are_not_controllers() -> None:
    dashboard = pod_json(
        "dash",
        args=["dashboard"],
        image="quay.io/argoproj/kubectl-argo-rollouts:v1.8.3",
        component="rollouts-dashboard",
        container="argo-rollouts-dashboard",
    )
    assert describe_pod(dashboard) is None
    # Same labels, no dashboard component label, but not the controller's image or binary.
    sidecar_only = pod_json("other", image="busybox:1.36", component="something")
    assert describe_pod(sidecar_only) is None
    by_command = pod_json("custom", command=["/bin/rollouts-controller"], image="mirror.local/custom:1")
    assert describe_pod(by_command) is not None


def test_describe_pod_reads_flags_and_state() -> None:
    pod = describe_pod(
        pod_json(
            "c",
            args=["--enable-pprof-address", "localhost:6061", "--metricsPort=9000", "--instance-id=blue"],
            ready=False,
        )
    )
    assert pod is not None
    assert (pod.pprof_port, pod.metrics_port, pod.instance_id, pod.ready, pod.restarts) == (
        6061,
        9000,
        "blue",
        False,
        2,
    )


def test_leader_from_lease_skips_the_other_replica() -> None:
    target = choose_profiled_pod(survey_of(controller("a"), controller("b"), holder="b_1234-uuid"))
    assert (target.pod_name, target.pprof_port) == ("b", 6060)
    assert "Lease" in target.chosen_by


def test_stale_lease_names_the_gone_pod_and_the_existing_ones() -> None:
    with pytest.raises(TargetNotFound) as caught:
        choose_profiled_pod(survey_of(controller("a"), controller("b"), holder="gone_1234"))
    assert "gone" in str(caught.value) and "a (ready)" in str(caught.value) and "b (ready)" in str(caught.value)
    assert caught.value.exit_code == 3


def test_pod_flag_overrides_the_lease_and_port_flag_overrides_the_address() -> None:
    target = choose_profiled_pod(survey_of(controller("a"), controller("b"), holder="b_1"), pod="a", port=7000)
    assert (target.pod_name, target.pprof_port, target.chosen_by) == ("a", 7000, "--pod")
    with pytest.raises(TargetNotFound, match="not a controller pod"):
        choose_profiled_pod(survey_of(controller("a")), pod="zzz")


def test_no_pods_and_no_ready_pods() -> None:
    with pytest.raises(TargetNotFound, match="no Argo Rollouts controller pods"):
        choose_profiled_pod(survey_of())
    with pytest.raises(TargetNotFound, match="no controller pod is ready"):
        choose_profiled_pod(survey_of(controller("a", ready=False), holder="a_1"))


def test_missing_lease_uses_the_only_ready_pod_but_not_one_of_two() -> None:
    target = choose_profiled_pod(survey_of(controller("a"), controller("b", ready=False), problem="Lease x not found"))
    assert target.pod_name == "a" and "only ready pod" in target.chosen_by
    with pytest.raises(TargetNotFound, match="cannot tell which"):
        choose_profiled_pod(survey_of(controller("a"), controller("b"), problem="Lease x not found"))


def test_profiling_off_names_flag_helm_value_and_version() -> None:
    with pytest.raises(ProfilingUnavailable) as caught:
        choose_profiled_pod(survey_of(controller("a", pprof=None, image_version="v1.7.2"), holder="a_1"))
    assert caught.value.exit_code == 5
    assert "--enable-pprof-address=:6060" in caught.value.hint
    assert "controller.pprofAddress" in caught.value.hint
    assert ">= v1.8.0" in caught.value.hint and "v1.7.2" in caught.value.hint
    with pytest.raises(ProfilingUnavailable) as newer:
        choose_profiled_pod(survey_of(controller("a", pprof=None, image_version="v1.8.3"), holder="a_1"))
    assert ">= v1.8.0" not in newer.value.hint


# -- against the test API server -------------------------------------------------------------------------------


def test_targets_table_and_json(argo_cluster) -> None:
    scenario = argo_cluster.scenario
    runner = CliRunner()
    table = runner.invoke(main, ["targets", "--kubeconfig", str(argo_cluster.kubeconfig)])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["POD", "READY", "LEADER"]
    leader_line = next(line for line in lines if line.startswith(scenario.leader_pod))
    assert "*" in leader_line.split() and ":6060" in leader_line and "v1.8.3" in leader_line
    assert scenario.dashboard_pod not in table.stdout
    as_json = runner.invoke(main, ["targets", "--kubeconfig", str(argo_cluster.kubeconfig), "--json"])
    rows = json.loads(as_json.stdout)
    assert sorted(row["pod"] for row in rows) == sorted(scenario.controller_pods)
    assert [row["pod"] for row in rows if row["leader"]] == [scenario.leader_pod]


def test_targets_shows_profiling_off(kube_api, go_new, tmp_path) -> None:
    from tests.kubeapi.scenario import install_argo_rollouts

    kube_api.reset()
    install_argo_rollouts(kube_api, pprof_port=None, pprof_flag=None)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kc", "admin")
    result = CliRunner().invoke(main, ["targets", "--kubeconfig", str(kubeconfig)])
    assert result.exit_code == 0
    assert result.stdout.count("profiling off") == 2


def _expire_lease(server, scenario, *, renewed_ago: timedelta = timedelta(minutes=10)) -> None:
    lease = server.get_object("coordination.k8s.io/v1", "Lease", scenario.namespace, scenario.lease_name)
    renewed = (datetime.now(timezone.utc) - renewed_ago).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease["spec"]["renewTime"] = renewed
    server.put(lease)


def _connect_target(argo_cluster, stderr: io.StringIO, **request: object):
    from kubectl_rollouts_profile.cluster import ClusterRequest, connect
    from kubectl_rollouts_profile.environment import Environment

    cluster_request = ClusterRequest(kubeconfig=str(argo_cluster.kubeconfig), **request)  # type: ignore[arg-type]
    with connect(cluster_request, env=Environment(stderr=stderr)) as connection:
        return connection.pod


def test_stale_holder_after_restart_falls_back_to_the_only_ready_pod_with_a_warning(argo_cluster) -> None:
    scenario = argo_cluster.scenario
    argo_cluster.server.delete("v1", "Pod", scenario.namespace, scenario.leader_pod)
    _expire_lease(argo_cluster.server, scenario)  # long expired: nothing to wait for
    other = [p for p in scenario.controller_pods if p != scenario.leader_pod][0]
    argo_cluster.server.route_port(scenario.namespace, other, 6060, "127.0.0.1", 9)  # the tunnel's handshake only
    stderr = io.StringIO()
    target = _connect_target(argo_cluster, stderr)
    assert target.pod_name == other
    assert f"warning: Lease {scenario.lease_name} still names pod {scenario.leader_pod}" in stderr.getvalue()
    assert "waiting" not in stderr.getvalue()


def test_stale_holder_with_two_ready_pods_exits_3_naming_it(kube_api, go_new, tmp_path) -> None:
    from kubectl_rollouts_profile.cluster import ClusterRequest, connect
    from kubectl_rollouts_profile.environment import Environment
    from tests.kubeapi.scenario import install_argo_rollouts

    kube_api.reset()
    scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port, replicas=3)
    kube_api.delete("v1", "Pod", scenario.namespace, scenario.leader_pod)
    _expire_lease(kube_api, scenario)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kc", "admin")
    with pytest.raises(TargetNotFound) as caught:
        with connect(ClusterRequest(kubeconfig=str(kubeconfig)), env=Environment(stderr=io.StringIO())):
            pass
    assert caught.value.exit_code == 3
    assert f"stale holder {scenario.holder_identity}" in str(caught.value)
    assert all(pod in str(caught.value) for pod in scenario.controller_pods if pod != scenario.leader_pod)


def test_stale_holder_waits_for_the_new_leader(argo_cluster) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    server.delete("v1", "Pod", scenario.namespace, scenario.leader_pod)
    _expire_lease(server, scenario, renewed_ago=timedelta(seconds=0))  # the old leader renewed just now
    new_leader = [p for p in scenario.controller_pods if p != scenario.leader_pod][0]
    server.route_port(scenario.namespace, new_leader, 6060, "127.0.0.1", 9)
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{scenario.namespace}/leases/{scenario.lease_name}"
    stderr = io.StringIO()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["target"] = _connect_target(argo_cluster, stderr)
        except Exception as error:  # reported by the assertion below
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    # Once the plugin has re-read the Lease at least once, the new pod takes it over.
    assert wait_for(lambda: sum(path == lease_path for _, path, _ in server.requests) >= 2)
    lease = server.get_object("coordination.k8s.io/v1", "Lease", scenario.namespace, scenario.lease_name)
    lease["spec"]["holderIdentity"] = f"{new_leader}_new-uuid"
    server.put(lease)
    worker.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["target"].pod_name == new_leader and "Lease" in outcome["target"].chosen_by
    assert f"still names pod {scenario.leader_pod}, which is gone; waiting up to" in stderr.getvalue()
    assert f"new leader: {new_leader}" in stderr.getvalue()
    assert "warning" not in stderr.getvalue()



def test_instance_id_is_read_from_the_pods_and_leader_elect_false_needs_no_lease(kube_api, go_new, tmp_path) -> None:
    from kubectl_rollouts_profile.cluster.locate import survey
    from tests.kubeapi.scenario import install_argo_rollouts

    kube_api.reset()
    scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port, instance_id="blue", leader_index=0)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kc", "admin")
    config = resolve_config(ClusterRequest(kubeconfig=str(kubeconfig)), {})
    with config.open_api() as api:
        found = survey(api, scenario.namespace)  # no --instance-id given
    assert (found.lease_name, found.leader_name) == ("argo-rollouts-controller-lock-blue", scenario.leader_pod)
    assert choose_profiled_pod(found).instance_id == "blue"  # the bundle reads the same Lease

    kube_api.reset()
    scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port, replicas=1, leader_index=0,
                                     leader_election=False)
    assert kube_api.get_object("coordination.k8s.io/v1", "Lease", scenario.namespace, scenario.lease_name) is None
    before = len(kube_api.requests)
    result = CliRunner().invoke(main, ["cpu", "--seconds", "1", "--kubeconfig", str(kubeconfig),
                                       "--output-dir", str(tmp_path), "--format", "none"])
    assert result.exit_code == 0, result.output
    assert f"pod {scenario.namespace}/{scenario.controller_pods[0]}" in result.stderr
    assert "leader election is off" in result.stderr
    assert not any("/leases/" in path for _, path, _ in kube_api.requests[before:])


def test_instance_id_selects_its_lease(kube_api, go_new, tmp_path) -> None:
    from kubectl_rollouts_profile.cluster.locate import survey
    from tests.kubeapi.scenario import install_argo_rollouts

    kube_api.reset()
    scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port, instance_id="blue", leader_index=0)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kc", "admin")
    from kubectl_rollouts_profile.cluster.config import ClusterRequest, resolve_config

    config = resolve_config(ClusterRequest(kubeconfig=str(kubeconfig)), {})
    client = config.open_api()
    try:
        found = survey(client, scenario.namespace, instance_id="blue")
        with pytest.raises(TargetNotFound, match="--instance-id green"):
            survey(client, scenario.namespace, instance_id="green")
    finally:
        client.close()
    assert found.lease_name == "argo-rollouts-controller-lock-blue"
    assert found.leader_name == scenario.leader_pod


@pytest.mark.parametrize("image", [
    f"registry.redhat.io/openshift-gitops-1/argo-rollouts-rhel8@{DIGEST}",
    f"registry:5000/mirror/argo-rollouts@{DIGEST}",
])
def test_renamed_controller_image_is_found_and_profiled(kube_api, go_new, tmp_path, image: str) -> None:
    from tests.kubeapi.scenario import install_argo_rollouts

    kube_api.reset()
    scenario = install_argo_rollouts(kube_api, pprof_port=go_new.pprof_port, image=image)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kc", "admin")
    targets = CliRunner().invoke(main, ["targets", "--kubeconfig", str(kubeconfig), "--json"])
    rows = json.loads(targets.stdout)
    assert sorted(row["pod"] for row in rows) == sorted(scenario.controller_pods)  # the dashboard is not one
    assert {row["imageTag"] for row in rows} == {"sha256:0123456789ab"}
    capture = CliRunner().invoke(main, ["goroutine", "--kubeconfig", str(kubeconfig), "--output-dir",
                                        str(tmp_path), "--format", "none"])
    assert capture.exit_code == 0, capture.output
    assert f"pod {scenario.namespace}/{scenario.leader_pod}" in capture.stderr


def _second_install(server, go_new) -> object:
    """A team's namespaced install (Helm clusterInstall: false) with its own instance id and Lease."""
    from tests.kubeapi.scenario import install_argo_rollouts

    return install_argo_rollouts(
        server, pprof_port=go_new.pprof_port, namespace="team-a", instance_id="team-a", namespaced=True,
        release="rollouts-team-a", image="quay.io/argoproj/argo-rollouts:v1.10.0", leader_index=0,
    )


def test_targets_all_namespaces_lists_every_install(argo_cluster, go_new) -> None:
    first = argo_cluster.scenario
    team = _second_install(argo_cluster.server, go_new)
    assert team.lease_name == "argo-rollouts-controller-lock-team-a"
    kubeconfig = str(argo_cluster.kubeconfig)
    runner = CliRunner()
    table = runner.invoke(main, ["targets", "-A", "--kubeconfig", kubeconfig])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "POD", "READY", "LEADER", "INSTANCE", "ID", "PPROF", "VERSION", "INSTALL"]
    assert len(lines) == 1 + 4 and first.dashboard_pod not in table.stdout and team.dashboard_pod not in table.stdout
    team_leader = next(line for line in lines if line.startswith("team-a") and team.leader_pod in line)
    assert team_leader.split()[3:7] == ["*", "team-a", ":6060", "v1.10.0"]
    assert team_leader.endswith("team-a/rollouts-team-a (instance team-a) (namespaced)")
    first_leader = next(line for line in lines if first.leader_pod in line)
    assert "*" in first_leader.split() and first_leader.endswith("argo-rollouts/argo-rollouts (cluster-wide)")

    rows = json.loads(runner.invoke(main, ["targets", "--all-namespaces", "--json", "--kubeconfig", kubeconfig]).stdout)
    assert sorted(row["pod"] for row in rows) == sorted(first.controller_pods + team.controller_pods)
    assert sorted(row["pod"] for row in rows if row["leader"]) == sorted([first.leader_pod, team.leader_pod])
    team_rows = [row for row in rows if row["namespace"] == "team-a"]
    assert {row["install"]["lease"] for row in team_rows} == {team.lease_name}
    assert {(row["instanceId"], row["install"]["scope"], row["imageTag"]) for row in team_rows} == {
        ("team-a", "namespaced", "v1.10.0")
    }


def test_targets_all_namespaces_without_cluster_wide_list_exits_4(argo_cluster, tmp_path) -> None:
    server = argo_cluster.server
    server.add_user("nina")
    server.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "pods", "namespace": "argo-rollouts"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})
    from tests.kubeapi.scenario import bind_role

    bind_role(server, "argo-rollouts", "pods", {"kind": "User", "name": "nina"}, kind="Role", role="pods")
    kubeconfig = str(server.write_kubeconfig(tmp_path / "nina", "nina"))
    result = CliRunner().invoke(main, ["targets", "-A", "--kubeconfig", kubeconfig])
    assert result.exit_code == 4, result.output
    # The API server's own text for a cluster-scope list (k8s.io/apiserver responsewriters.forbiddenMessage).
    assert ('list pods at the cluster scope (all namespaces): pods is forbidden: User "nina" cannot list resource '
            '"pods" in API group "" at the cluster scope') in result.stderr
    assert "-n NAMESPACE instead of -A" in result.stderr and "Traceback" not in result.output
    namespaced = CliRunner().invoke(main, ["targets", "--kubeconfig", kubeconfig])
    assert namespaced.exit_code == 0 and argo_cluster.scenario.leader_pod in namespaced.stdout


def test_without_n_a_capture_says_which_installs_exist(argo_cluster, go_new, tmp_path) -> None:
    team = _second_install(argo_cluster.server, go_new)
    kubeconfig = str(argo_cluster.kubeconfig)
    heap = ["heap", "--kubeconfig", kubeconfig, "--output-dir", str(tmp_path), "--format", "none"]
    result = CliRunner().invoke(main, heap)
    assert result.exit_code == 0, result.output
    assert ("note: 2 installs in this cluster: argo-rollouts/argo-rollouts: -n argo-rollouts; team-a/rollouts-team-a "
            "(instance team-a): -n team-a --instance-id team-a; profiling the one in namespace argo-rollouts") in (
        result.stderr)
    assert f"target: pod argo-rollouts/{argo_cluster.scenario.leader_pod}" in result.stderr
    chosen = CliRunner().invoke(main, [*heap, "-n", "team-a", "--instance-id", "team-a"])
    assert chosen.exit_code == 0, chosen.output
    assert "note:" not in chosen.stderr and f"target: pod team-a/{team.leader_pod}" in chosen.stderr

    argo_cluster.server.delete("v1", "Namespace", None, "argo-rollouts")
    missing = CliRunner().invoke(main, [*heap, "--skip-preflight"])
    assert missing.exit_code == 3
    assert ("no Argo Rollouts controller pods in namespace argo-rollouts; this cluster holds 1 install: "
            "team-a/rollouts-team-a (instance team-a): -n team-a --instance-id team-a") in missing.stderr
    assert "hint: choose one with -n NAMESPACE (and --instance-id ID)" in missing.stderr
