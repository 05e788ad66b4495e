"""diagnose SYMPTOM end to end against the real Go target and its workloads (short --over): each symptom's files,
its findings and the incident report; through the cluster with the capture lock, the cooldown and the load guard;
cold-start while the controller pod restarts."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.environment import Environment
from tests.analysis_material import QUIET
from tests.clitools import PLUGIN, invoke, plugin_env
from tests.kubeapi.scenario import replace_deleted_leader


def diagnose_url(target: Any, out: Path, symptom: str, *args: str) -> dict:
    code, stdout, stderr = invoke("diagnose", symptom, "--url", target.base_url, "--metrics-url",
                                  f"http://{target.metrics_addr}", "--output-dir", str(out), "--json", *args)
    assert code == 0, stderr
    result = json.loads(stdout)
    directory = Path(result["directory"])
    assert directory.parent == out and symptom in directory.name
    for path in result["files"]:
        assert Path(path).parent == directory and Path(path).stat().st_size > 0
        assert Path(path).stat().st_mode & 0o777 == 0o600
    report = Path(result["report"]).read_text()
    assert report.startswith("<!DOCTYPE html>") or "<html" in report[:200]
    return result


def names(result: dict) -> list[str]:
    return [Path(path).name for path in result["files"]]


def finding_ids(result: dict) -> set[str]:
    return {finding["id"] for finding in result["findings"]}


def test_memory_growth_finds_the_growing_informer_cache(go_factory: Any, tmp_path: Path) -> None:
    target = go_factory("--workloads", "informer-growth", "--memprofile-rate", "4096", *QUIET, metrics=True)
    result = diagnose_url(target, tmp_path, "memory-growth", "--over", "8s")
    files = names(result)
    assert files[0] == "metrics-start.txt" and files[-2:] == ["metrics-end.txt", "report.html"]
    assert sum("-heap-start-" in name for name in files) == 1 and sum("-heap-end-" in name for name in files) == 1
    assert "heap-growth" in finding_ids(result), result["findings"]
    assert result["load"] is not None and result["load"]["goroutines"] > 0


def test_goroutine_leak_finds_the_stuck_provider(go_factory: Any, tmp_path: Path) -> None:
    target = go_factory("--workloads", "stuck-http", *QUIET, metrics=True)
    result = diagnose_url(target, tmp_path, "goroutine-leak", "--over", "4s")
    assert sum("-goroutine-0" in name for name in names(result)) == 5
    assert "goroutine-growth" in finding_ids(result), result["findings"]


def test_high_cpu_captures_cpu_allocs_and_metrics(go_factory: Any, tmp_path: Path) -> None:
    target = go_factory(*QUIET, metrics=True)  # idle: the report says there is too little to conclude anything
    result = diagnose_url(target, tmp_path, "high-cpu", "--seconds", "1")
    files = names(result)
    assert any("-cpu-" in name for name in files) and any("-allocs-" in name for name in files)
    assert "metrics-start.txt" in files and "metrics-end.txt" in files
    assert "too-few-samples" in finding_ids(result)
    assert any("mostly idle" in warning for warning in result["warnings"])


def test_slow_reconcile_keeps_block_and_mutex_only_with_their_rates(go_factory: Any, tmp_path: Path) -> None:
    plain = go_factory(*QUIET, metrics=True)
    result = diagnose_url(plain, tmp_path, "slow-reconcile", "--seconds", "1", "--over", "2s")
    files = names(result)
    assert any("-cpu-" in name for name in files) and not any("-block-" in name or "-mutex-" in name
                                                               for name in files)
    assert any("block: empty" in warning for warning in result["warnings"])
    metrics_end = (Path(result["directory"]) / "metrics-end.txt").read_text()
    assert "rollout_reconcile" in metrics_end and "workqueue_depth" in metrics_end
    rates = go_factory("--block-rate", "1", "--mutex-fraction", "1", metrics=True)
    result = diagnose_url(rates, tmp_path, "slow-reconcile", "--seconds", "1", "--over", "1s")
    assert any("-block-" in name for name in names(result)) and any("-mutex-" in name for name in names(result))


def test_refused_under_high_load(go_new: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("diagnose", "goroutine-leak", "--url", go_new.base_url, "--metrics-url",
                                  f"http://{go_new.metrics_addr}", "--over", "1s", "--load-threshold",
                                  "goroutines=2", "--output-dir", str(tmp_path))
    assert code == 6 and "refusing a goroutine-leak run over 1s" in stderr
    assert list(tmp_path.iterdir()) == []


def test_through_the_cluster_with_the_lock_and_the_cooldown(argo_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = ("diagnose", "high-cpu", "--kubeconfig", str(argo_cluster.kubeconfig), "--seconds", "1",
            "--output-dir", str(out), "--json")
    code, stdout, stderr = invoke(*args)
    assert code == 0, stderr
    result = json.loads(stdout)
    leader = argo_cluster.scenario.leader_pod
    assert result["target"] == leader and Path(result["directory"]).name.startswith(f"{leader}-diagnose-high-cpu-")
    assert "metrics-start.txt" in names(result) and result["load"]["source"] == f"pod {leader} port 8090"
    # A second run right away meets the cooldown stamped by the first one's cpu capture.
    code, _, stderr = invoke(*args)
    assert code == 6 and "cooldown" in stderr


def test_cold_start_symptom_restarts_the_pod_named_by_pod(argo_cluster: Any, go_factory: Any, tmp_path: Path) -> None:
    server, scenario = argo_cluster.server, argo_cluster.scenario
    other = next(name for name in scenario.controller_pods if name != scenario.leader_pod)
    like = server.get_object("v1", "Pod", scenario.namespace, other)
    new_target = go_factory()
    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.Popen(
        [str(PLUGIN), "diagnose", "cold-start", "--restart", "--pod", other, "--wait", "90s", "--seconds", "1",
         "--kubeconfig", str(argo_cluster.kubeconfig), "--output-dir", str(out), "--json"],
        env=plugin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    new_pod, stdout, stderr = replace_deleted_leader(child, server, scenario, like, pprof_port=new_target.pprof_port)
    assert child.returncode == 0, stderr
    result = json.loads(stdout)
    assert result["target"] == new_pod
    kinds = [name.split(f"{new_pod}-")[1].split("-")[0] for name in names(result) if name.startswith(new_pod)]
    assert kinds == ["cpu", "heap", "goroutine"]
    assert Path(result["report"]).exists()
    assert f"restart: deleting pod {scenario.namespace}/{other}" in stderr
    assert [path for method, path, _ in server.requests if method == "DELETE"] == [
        f"/api/v1/namespaces/{scenario.namespace}/pods/{other}"]


@pytest.mark.parametrize(("args", "message"), [
    (("high-cpu", "--restart"), "--restart only applies to cold-start"),
    (("cold-start", "--url", "http://127.0.0.1:1"), "cannot use --url"),
    (("cold-start", "--pod", "p"), "--pod names the pod --restart deletes"),
    (("slow-reconcile", "--metrics-url", "http://127.0.0.1:1"), "--metrics-url goes with --url"),
])
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, _, stderr = invoke("diagnose", *args, "--output-dir", str(tmp_path))
    assert code == 2 and message in stderr, stderr


def test_a_cut_wait_still_ends_with_the_closing_captures(go_new: Any, tmp_path: Path) -> None:
    """Ctrl-C during --over (here: the stop event already set) skips the wait, not the end-of-run captures."""
    import threading

    from kubectl_rollouts_profile.pipeline import EndpointSpec
    from kubectl_rollouts_profile.runbook.diagnose import DiagnoseSpec, run_diagnose

    stop = threading.Event()
    stop.set()
    stderr = io.StringIO()
    outcome = run_diagnose(EndpointSpec(url=go_new.base_url),
                           DiagnoseSpec(symptom="memory-growth", over_seconds=3600, directory=tmp_path),
                           Environment(stdout=io.StringIO(), stderr=stderr, environ={}), stop=stop)
    heaps = [Path(path).name for path in outcome.files if "-heap-" in path]
    assert len(heaps) == 2 and "heap-start" in heaps[0] and "heap-end" in heaps[1]
    assert outcome.report.exists() and "waiting" not in stderr.getvalue()
