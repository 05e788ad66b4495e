"""Several contexts at once: the runner's rules (bounded, exit status, names), and fleet runs of the real plugin
against test API servers as the contexts of one kubeconfig, one of them down, and a SIGTERM in the middle."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectl_rollouts_profile.runbook.fleet import (
    NOT_RUN,
    ContextOutcome,
    FleetRun,
    context_folders,
    failure_error,
    run_contexts,
    without_options,
)
from tests.clitools import PLUGIN, files_in, plugin_env, run_plugin
from tests.kubeapi.fleet import Fleet, start_fleet

LOCK = ("coordination.k8s.io/v1", "Lease", "argo-rollouts", "rollouts-profile-lock")


def run_of(*codes: int) -> FleetRun:
    return FleetRun(tuple(ContextOutcome(f"c{index}", code) for index, code in enumerate(codes)))


def test_exit_status_of_a_run() -> None:
    assert run_of(0, 0).exit_code == 0
    assert run_of(0, 7).exit_code == 10  # partial
    assert run_of(7, 7).exit_code == 7  # all failed the same way: that way's code
    assert run_of(7, 4).exit_code == 10
    assert run_of(NOT_RUN, NOT_RUN).exit_code == 10
    error = failure_error(run_of(0, 7, 4))
    assert error is not None and error.exit_code == 10
    assert str(error) == "2 of 3 contexts failed: c1 (exit 7), c2 (exit 4)"
    assert failure_error(run_of(0)) is None


def test_fleet_flags_are_taken_out_of_the_command_arguments() -> None:
    typed = ["--context", "a", "--context=b", "--all-contexts", "-n", "team", "--parallel", "8", "--json",
             "--output-dir", "x", "--seconds", "5", "--", "--context"]
    assert without_options(typed, valued=("--context", "--parallel", "--output-dir"),
                           flags=("--all-contexts", "--json")) == ["-n", "team", "--seconds", "5", "--", "--context"]


def test_one_folder_per_context_with_safe_unique_names(tmp_path: Path) -> None:
    folders = context_folders(["arn:aws:eks:eu-west-1:1:cluster/prod", "prod", "prod/", "../x"], tmp_path)
    assert [path.name for path in folders.values()] == ["arn_aws_eks_eu-west-1_1_cluster_prod", "prod", "prod-2", "x"]
    assert all(path.parent == tmp_path for path in folders.values())


def test_runner_is_bounded_and_keeps_the_given_order() -> None:
    running, most = 0, 0
    guard = threading.Lock()
    both_running = threading.Barrier(2, timeout=30)
    reported: list[str] = []

    def work(context: str, stop) -> ContextOutcome:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        if context in ("a", "b"):
            both_running.wait()  # the first two do run at the same time
        with guard:
            running -= 1
        return ContextOutcome(context, 0 if context != "c" else 3)

    run = run_contexts(list("abcde"), work, parallel=2,
                       progress=lambda outcome, done, total: reported.append(f"{done}/{total}"))
    assert most == 2
    assert [outcome.context for outcome in run.outcomes] == list("abcde")
    assert sorted(reported) == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    assert run.exit_code == 10 and run.stopped_by is None


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Iterator[tuple[Fleet, Path]]:
    from tests.goproc import start_gotarget

    go = start_gotarget(layout="new", metrics=True)
    started = start_fleet(["prod-eu-1", "prod-us-1"], pprof_port=go.pprof_port, metrics_port=go.metrics_port,
                          refused=["prod-eu-2"], images={"prod-us-1": "quay.io/argoproj/argo-rollouts:v1.9.0"})
    try:
        yield started, started.write_kubeconfig(tmp_path_factory.mktemp("fleet") / "kubeconfig")
    finally:
        started.stop()
        go.stop()


def test_partial_run_with_one_context_down(fleet, tmp_path: Path) -> None:
    _, kubeconfig = fleet
    result = run_plugin("heap", "--all-contexts", "--kubeconfig", str(kubeconfig), "--output-dir", str(tmp_path),
                        "--format", "none", "--json", cwd=tmp_path, timeout=600)
    assert result.returncode == 10, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] == ["prod-eu-1", "prod-us-1"] and document["exitCode"] == 10
    assert [(entry["context"], entry["exitCode"]) for entry in document["failed"]] == [("prod-eu-2", 7)]
    assert "cannot reach the API server" in document["failed"][0]["error"]
    run_directory = Path(document["directory"])
    assert run_directory.parent == tmp_path and json.loads((run_directory / "fleet.json").read_text()) == document
    for entry in document["contexts"][:2]:
        pprof = Path(entry["result"]["files"]["pprof"])
        assert pprof.parent == run_directory / entry["context"] and pprof.stat().st_size > 0
    assert files_in(run_directory) == ["fleet.json", "prod-eu-1", "prod-us-1"]  # nothing for the context down
    # stderr: one progress line per context, then the summary table, then the error naming the failure.
    lines = result.stderr.splitlines()
    assert sum(line.startswith("[") and "/3] " in line for line in lines) == 3
    header = lines.index(next(line for line in lines if line.startswith("CONTEXT")))
    assert lines[header].split() == ["CONTEXT", "TARGET", "RESULT", "FILE", "OR", "ERROR"]
    assert [line.split()[0] for line in lines[header + 1 : header + 4]] == ["prod-eu-1", "prod-us-1", "prod-eu-2"]
    assert "exit 7" in lines[header + 3]
    assert lines[-2] == "error: 1 of 3 contexts failed: prod-eu-2 (exit 7)"

    # The run's folder is what the fleet report reads: versions from the images the captures recorded.
    report = run_plugin("analyze", str(run_directory), "--json", cwd=tmp_path, timeout=600)
    assert report.returncode == 0, report.stderr
    clusters = {entry["context"]: entry for entry in json.loads(report.stdout)["fleet"]["clusters"]}
    assert {context: entry["version"] for context, entry in clusters.items()} == {
        "prod-eu-1": "v1.8.3", "prod-us-1": "v1.9.0", "prod-eu-2": None}
    assert clusters["prod-eu-2"]["problem"] == "no captures" and len(clusters["prod-eu-1"]["files"]) == 1


def test_targets_over_several_contexts_and_all_failing_the_same_way(fleet, tmp_path: Path) -> None:
    cluster, kubeconfig = fleet
    both = run_plugin("targets", "--context", "prod-eu-1", "--context", "prod-us-1", "--kubeconfig", str(kubeconfig),
                      cwd=tmp_path, timeout=600)
    assert both.returncode == 0, both.stderr
    rows = [line.split() for line in both.stdout.splitlines()[1:]]
    leaders = {row[0]: row[2] for row in rows if "*" in row}
    assert leaders == {name: cluster.cluster(name).scenario.leader_pod for name in ("prod-eu-1", "prod-us-1")}
    assert {row[0]: next(cell for cell in row if cell.startswith("v1.")) for row in rows} == {
        "prod-eu-1": "v1.8.3", "prod-us-1": "v1.9.0"}
    assert all(line.endswith("argo-rollouts/argo-rollouts (cluster-wide)") for line in both.stdout.splitlines()[1:])
    down = run_plugin("check", "--context", "prod-eu-2", "--context", "prod-eu-2", "--context", "prod-eu-1",
                      "--kubeconfig", str(kubeconfig), "--parallel", "1", "--skip-preflight", cwd=tmp_path, timeout=600)
    assert down.returncode == 10 and "1 of 2 contexts failed: prod-eu-2 (exit 7)" in down.stderr
    refused = run_plugin("forward", "--context", "prod-eu-1", "--context", "prod-us-1", "--kubeconfig",
                         str(kubeconfig), cwd=tmp_path, timeout=600)
    assert refused.returncode == 2 and "forward works with one context at a time" in refused.stderr


def test_sigterm_stops_every_context_and_cleans_each_up(fleet, tmp_path: Path) -> None:
    cluster, kubeconfig = fleet
    servers = [cluster.cluster(name).server for name in ("prod-eu-1", "prod-us-1")]
    child = subprocess.Popen(
        [str(PLUGIN), "heap", "--seconds", "120", "--lock", "--context", "prod-eu-1", "--context", "prod-us-1",
         "--kubeconfig", str(kubeconfig), "--output-dir", str(tmp_path), "--format", "none"],
        cwd=tmp_path, env=plugin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300

        def capturing() -> bool:
            runs = list(tmp_path.glob("fleet-heap-*"))
            held = all((server.get_object(*LOCK) or {}).get("spec", {}).get("holderIdentity") for server in servers)
            parts = [name for run in runs for folder in run.iterdir() if folder.is_dir()
                     for name in files_in(folder) if name.endswith(".part")]
            return held and len(parts) == 2

        # Both contexts hold their capture lock and stream into their temp file.
        while not capturing():
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()[1]
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 143, stderr
    (run_directory,) = tmp_path.glob("fleet-heap-*")
    assert stderr.splitlines()[-1] == ("terminated by SIGTERM: stopped; each context cleaned up after itself; what "
                                       f"each did is in {run_directory / 'fleet.json'}")
    assert stderr.count("exit 143") >= 2 and stdout == ""
    for server in servers:
        lease = server.get_object(*LOCK)
        assert lease is not None and not lease["spec"].get("holderIdentity")
    assert [name for folder in run_directory.iterdir() if folder.is_dir() for name in files_in(folder)] == []
    document = json.loads((run_directory / "fleet.json").read_text())
    assert document["stoppedBy"] == "SIGTERM" and document["exitCode"] == 143


def test_ctrl_c_stops_the_running_contexts_and_starts_no_more() -> None:
    main_thread = threading.get_ident()
    running = threading.Barrier(3, timeout=120)  # the two running contexts and the thread that sends the signal
    told: list[tuple[str, int]] = []

    def work(context: str, stop) -> ContextOutcome:
        ended = threading.Event()

        def on_stop(number: int) -> None:
            told.append((context, number))
            ended.set()

        stop.on_stop(on_stop)
        running.wait()
        assert ended.wait(120)
        return ContextOutcome(context, 128 + signal.SIGINT)

    def interrupt() -> None:
        running.wait()
        signal.pthread_kill(main_thread, signal.SIGINT)

    sender = threading.Thread(target=interrupt)
    sender.start()
    run = run_contexts(["a", "b", "c", "d"], work, parallel=2)
    sender.join()
    assert run.stopped_by == signal.SIGINT
    assert sorted(told) == [("a", signal.SIGINT), ("b", signal.SIGINT)]
    assert [(outcome.context, outcome.exit_code) for outcome in run.outcomes] == [
        ("a", 130), ("b", 130), ("c", NOT_RUN), ("d", NOT_RUN)]
    assert run.as_json("cpu", None)["exitCode"] == 130
