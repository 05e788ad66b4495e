"""The findings on real Argo Rollouts incidents, modelled on the upstream code at a real tag (tests/incident_material
.py): each test asserts the finding's id, its subsystem, the object or type it names, that its next step fits the
cause (and not the misleading one), and what it says about the known upstream issue for the version in use. The
rules give the same findings whatever order they run in."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kubectl_rollouts_profile.analysis import catalog as cat
from kubectl_rollouts_profile.analysis.findings import RULES, find
from kubectl_rollouts_profile.analysis.inputs import load_paths
from kubectl_rollouts_profile.analysis.known_issues import KNOWN_ISSUES, controller_version, issue_notes
from tests import incident_material as m
from tests.test_analysis_findings import ids, only


def text(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


# ---- conversion churn (argoproj/argo-rollouts#4571 at v1.9.1) -----------------------------------------------

RUNS = [f"checkout-7d9f8b6c5-{revision}" for revision in range(1200)]


def conversion_files(tmp_path: Path, version: str = "v1.9.1") -> list[Path]:
    profile = m.cpu([
        (["runtime.mallocgc", "reflect.unsafe_New", *m.CONVERT, *m.ANALYSIS_RUN_COLLECT], 260),
        (["reflect.Value.Field", *m.CONVERT, *m.ANALYSIS_RUN_COLLECT], 140),
        ([*m.CONVERT_VIA_JSON, *m.ANALYSIS_RUN_COLLECT], 60),
        (["runtime.mapaccess2_faststr", *m.CONVERT, *m.ROLLOUT_COLLECT], 40),
        (["runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"], 90),
        ([*m.RECONCILE], 150),
        (["sigs.k8s.io/json/internal/golang/encoding/json.(*decodeState).object", *m.WATCH_EVENTS[1:]], 40),
        (["syscall.Syscall", "internal/poll.(*FD).Write", "net/http.(*conn).serve", "runtime.goexit"], 80),
    ])
    metrics = m.reconcile_metrics({("shop", "checkout"): 40}, version=version) + m.analysis_run_info(RUNS)
    return [m.write(tmp_path / "cpu.pb.gz", profile), text(tmp_path / "metrics.txt", metrics)]


def test_conversion_churn_on_every_scrape(tmp_path: Path) -> None:
    findings = find(load_paths(conversion_files(tmp_path)))
    finding = only(findings, "conversion-churn")
    assert finding.subsystem == cat.CONVERSION
    assert "analysisRunCollector).Collect" in finding.title and "on every scrape" in finding.title
    assert "1200 AnalysisRuns" in finding.title and dict(finding.numbers)["objects"] == 1200
    assert dict(finding.numbers)["conversionShare"] >= 0.45
    assert any(line.startswith("through the lister tolerantinformer.(*tolerantAnalysisRunLister).List") for line in
               finding.evidence), finding.evidence
    assert "scrape the controller less often" in finding.next_step and "HistoryLimit" in finding.next_step
    assert "protobuf" not in (finding.next_step + " ".join(finding.evidence)).lower()
    assert any("matches argoproj/argo-rollouts#4571, fixed in v1.10.0-rc1 by #4745 (you run v1.9.1)" in line
               for line in finding.evidence), finding.evidence
    # The misleading cause: the JSON inside the conversion is not API decoding.
    assert "cpu-decoding" not in ids(findings)


def test_conversion_churn_on_a_release_with_the_fix_does_not_claim_the_issue(tmp_path: Path) -> None:
    finding = only(find(load_paths(conversion_files(tmp_path, version="v1.10.0"))), "conversion-churn")
    assert not any(line.startswith("matches") for line in finding.evidence)
    assert any("fixed in v1.10.0-rc1 and you run v1.10.0: something else is the cause" in line
               for line in finding.evidence)
    assert "upgrade" not in finding.next_step


def test_conversion_churn_in_the_reconcile_from_allocations(tmp_path: Path) -> None:
    """Every reconcile gets its Rollout through the tolerant lister (rollout/controller.go:398@v1.9.1 ->
    tolerantRolloutNamespaceLister.Get, utils/tolerantinformer/rollout.go:57), converting it again: seen in the
    allocations."""
    get = [*m.CONVERT, f"{m.AR}/utils/tolerantinformer.(*tolerantRolloutNamespaceLister).Get", *m.ROLLOUT_WORKER]
    allocs = m.heap([(["runtime.mallocgc", *get], 300 * m.MB), ([*m.RECONCILE], 100 * m.MB), (m.IDLE, 50 * m.MB)],
                    allocs=True)
    finding = only(find(load_paths([m.write(tmp_path / "allocs.pb.gz", allocs)])), "conversion-churn")
    assert "of the allocated bytes" in finding.title and "rollout.(*Controller).syncHandler" in finding.title
    assert "the controller's own code" in finding.title and dict(finding.numbers)["unit"] == "bytes"
    assert "how often it runs" in finding.next_step and "protobuf" not in finding.next_step


def test_copies_are_not_called_unstructured_conversion(tmp_path: Path) -> None:
    """Deep copies of Rollouts in every reconcile (zz_generated.deepcopy.go) are conversion work too, but not from
    unstructured, and no AnalysisRun history limit applies."""
    copy = [f"{m.AR}/pkg/apis/rollouts/v1alpha1.(*RolloutSpec).DeepCopyInto",
            f"{m.AR}/pkg/apis/rollouts/v1alpha1.(*Rollout).DeepCopyInto",
            f"{m.AR}/pkg/apis/rollouts/v1alpha1.(*Rollout).DeepCopy", *m.ROLLOUT_WORKER]
    profile = m.cpu([(["runtime.mallocgc", *copy], 400), ([*m.RECONCILE], 400), (m.IDLE, 200)])
    finding = only(find(load_paths([m.write(tmp_path / "cpu.pb.gz", profile)])), "conversion-churn")
    assert "copies or re-marshals every Rollout" in finding.title and "unstructured" not in finding.title
    assert "rollout.(*Controller).syncHandler" in finding.title and "HistoryLimit" not in finding.next_step


def test_api_decoding_still_points_at_decoding(tmp_path: Path) -> None:
    """Watch events decoded by the informers stay cpu-decoding: conversion churn does not swallow them."""
    profile = m.cpu([(["sigs.k8s.io/json/internal/golang/encoding/json.(*decodeState).object", *m.WATCH_EVENTS[1:]],
                      300), ([*m.RECONCILE], 700)])
    findings = find(load_paths([m.write(tmp_path / "cpu.pb.gz", profile)]))
    assert ids(findings) == ["cpu-decoding"]
    assert findings[0].subsystem == cat.INFORMERS and "watch events decoded by the informers" in findings[0].title


# ---- reconcile hot loop -----------------------------------------------------------------------------------------

def hot_loop_metrics(tmp_path: Path, *, hot: int, seconds: float) -> list[Path]:
    others = {("shop", f"svc-{i}"): 30 + i for i in range(12)}
    first = text(tmp_path / "metrics-1.txt", m.reconcile_metrics({**others, ("shop", "checkout"): 1000}))
    later = {key: value + 2 for key, value in others.items()}
    requests = m.request_counts([("rollouts", "shop", "checkout", "Update", "200", hot // 2),
                                 ("rollouts", "shop", "checkout", "Update", "409", hot // 4),
                                 ("rollouts", "shop", "svc-1", "Update", "200", 3)])
    second = text(tmp_path / "metrics-2.txt",
                  m.reconcile_metrics({**later, ("shop", "checkout"): 1000 + hot}, extra=requests))
    import os

    os.utime(first, (1_800_000_000, 1_800_000_000))
    os.utime(second, (1_800_000_000 + seconds, 1_800_000_000 + seconds))
    return [first, second]


def test_reconcile_hot_loop_between_two_snapshots(tmp_path: Path) -> None:
    profile = m.cpu([([*m.RECONCILE], 300), ([*m.REMARSHAL], 120), ([*m.LOG_LINE], 180),
                     (["runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"], 100), (m.IDLE, 40)])
    cpu = m.write(tmp_path / "cpu.pb.gz", profile)
    findings = find(load_paths([*hot_loop_metrics(tmp_path, hot=18000, seconds=60), cpu]))
    finding = only(findings, "reconcile-hot-loop")
    numbers = dict(finding.numbers)
    assert numbers["object"] == "shop/checkout" and numbers["kind"] == "Rollout"
    assert numbers["perSecond"] == 300.0 and numbers["othersMedian"] == 2
    assert finding.subsystem == cat.ROLLOUT_RECONCILE and finding.severity == "critical"
    assert "Rollout shop/checkout is reconciled over and over: 18000 times" in finding.title
    assert any("syncHandler took 81.1% of the CPU" in line for line in finding.evidence), finding.evidence
    assert any("logging took 24." in line for line in finding.evidence), finding.evidence
    assert any("Update 409: 4500" in line for line in finding.evidence)
    # Both causes, and what tells them apart; the conflicts point at the other writer.
    assert "another writer" in finding.next_step and "managedFields" in finding.next_step
    assert "409" in finding.next_step
    assert "reconcile-latency" not in ids(findings)


def test_reconcile_hot_loop_from_one_snapshot_and_a_healthy_controller(tmp_path: Path) -> None:
    counts = {("shop", f"svc-{i}"): 40 for i in range(20)}
    analysis = m.reconcile_metrics({**counts, ("shop", "checkout-7d9f8b6c5-3"): 60_000},
                                   metric="analysis_run_reconcile")
    finding = only(find(load_paths([text(tmp_path / "one.txt", analysis)])), "reconcile-hot-loop")
    assert dict(finding.numbers)["kind"] == "AnalysisRun" and finding.subsystem == "analysis runs"
    assert "shop/checkout-7d9f8b6c5-3" in finding.title and "since the controller started" in finding.title
    # Even counts, or a lead without a time to say it is fast, are no hot loop.
    healthy = m.reconcile_metrics({**counts, ("shop", "checkout"): 90})
    assert find(load_paths([text(tmp_path / "healthy.txt", healthy)])) == []
    busy_but_slow = hot_loop_metrics(tmp_path, hot=400, seconds=3600)  # 0.1 a second
    assert "reconcile-hot-loop" not in ids(find(load_paths(busy_but_slow)))


def test_reconcile_rate_since_the_controller_started(tmp_path: Path) -> None:
    """One snapshot with process_start_time_seconds: the rate is over the controller's uptime (the file's time)."""
    import os

    counts = {("shop", f"svc-{i}"): 20 for i in range(8)}

    def snapshot_at(name: str, uptime: float) -> Path:
        path = text(tmp_path / name, m.reconcile_metrics({**counts, ("shop", "checkout"): 600}, start=1_800_000_000))
        os.utime(path, (1_800_000_000 + uptime, 1_800_000_000 + uptime))
        return path

    finding = only(find(load_paths([snapshot_at("young.txt", 100)])), "reconcile-hot-loop")
    assert dict(finding.numbers)["perSecond"] == 6.0 and "since the controller started" in finding.title
    assert find(load_paths([snapshot_at("old.txt", 10_000)])) == []  # 0.06 a second: no loop


# ---- metric series growth (argoproj/argo-rollouts#4571: unbounded name label) ------------------------------

def test_metric_series_growth_names_the_metric_and_the_label(tmp_path: Path) -> None:
    def requests(runs: int) -> str:
        return m.request_counts([("analysisruns", "shop", f"checkout-7d9f8b6c5-{i}", "Update", "200", 3)
                                 for i in range(runs)] + [("replicasets", "shop", "N/A", "List", "200", 9)])
    first = text(tmp_path / "metrics-1.txt", m.reconcile_metrics({("shop", "checkout"): 10}) + requests(300))
    second = text(tmp_path / "metrics-2.txt", m.reconcile_metrics({("shop", "checkout"): 12}) + requests(900))
    base = m.heap([(m.NEW_SERIES, 30 * m.MB), (m.REPLICASET_LIST, 20 * m.MB)])
    grown = m.heap([(m.NEW_SERIES, 90 * m.MB), (m.REPLICASET_LIST, 20 * m.MB)])
    files = [first, m.write(tmp_path / "heap-1.pb.gz", base), second, m.write(tmp_path / "heap-2.pb.gz", grown)]
    findings = find(load_paths(files))
    finding = only(findings, "metric-series-growth")
    numbers = dict(finding.numbers)
    assert numbers["metric"] == "controller_clientset_k8s_request_total" and numbers["label"] == "name"
    assert (numbers["seriesBefore"], numbers["seriesAfter"]) == (301, 901)
    assert numbers["vectorHeapGrowthBytes"] == 60 * m.MB
    assert finding.subsystem == cat.METRICS_RECORD
    assert "the new series have kind=analysisruns, namespace=shop, status_code=200, verb=Update" in finding.evidence
    assert any("matches argoproj/argo-rollouts#4571, which no release fixes yet" in line for line in finding.evidence)
    assert "restarting the leader" in finding.next_step and "prune" not in finding.next_step
    heap = only(findings, "heap-growth")
    assert heap.subsystem == cat.METRICS_RECORD and "metric-series-growth" in heap.next_step
    # Series per Event name (before v1.6.0-rc1, #2851) grow the same way but are not #4571.
    events = [text(tmp_path / f"events-{n}.txt", m.request_counts([("events", "shop", f"checkout.{i}", "Create",
                                                                     "201", 1) for i in range(runs)]))
              for n, runs in ((1, 200), (2, 500))]
    other = only(find(load_paths(events)), "metric-series-growth")
    assert dict(other.numbers)["label"] == "name" and not any("#4571" in line for line in other.evidence)
    assert "find which code labels" in other.next_step


# ---- informer memory by type, and informers that are never stopped -----------------------------------------

def test_informer_memory_names_replicasets(tmp_path: Path) -> None:
    """v1.9.1 caches every ReplicaSet of the cluster (#2552): a heap after the initial list, by type."""
    base = m.heap([(m.REPLICASET_LIST, 40 * m.MB), (m.WATCH_EVENTS, 8 * m.MB), (m.RECONCILE, 4 * m.MB)])
    grown = m.heap([(m.REPLICASET_LIST, 600 * m.MB), (m.WATCH_EVENTS, 30 * m.MB), (m.RECONCILE, 4 * m.MB)])
    files = [m.write(tmp_path / "heap-1.pb.gz", base), m.write(tmp_path / "heap-2.pb.gz", grown),
             text(tmp_path / "metrics.txt", m.reconcile_metrics({("shop", "checkout"): 5}, version="v1.9.1"))]
    findings = find(load_paths(files))
    finding = only(findings, "informer-memory")
    assert finding.subsystem == cat.INFORMERS and dict(finding.numbers)["type"] == "ReplicaSet"
    assert "ReplicaSets: 600MB" in finding.title
    assert "objects decoded from watch events (the stack names no type): 30MB in use (+22MB)" in finding.evidence
    assert "revisionHistoryLimit" in finding.next_step
    assert any("matches argoproj/argo-rollouts#2552, fixed in v1.10.0-rc1 by #4666 (you run v1.9.1)" in line
               for line in finding.evidence), finding.evidence
    assert "informer-leak" not in ids(findings)
    # One large heap alone says what the caches hold, as information.
    single = only(find(load_paths([files[1]])), "informer-memory")
    assert single.severity == "info" and dict(single.numbers)["type"] == "ReplicaSet"


def test_informer_memory_of_unstructured_crds(tmp_path: Path) -> None:
    """v1.9.1 keeps Rollouts, AnalysisRuns and Experiments unstructured: the type is not on the stack, and the
    advice covers the CRDs whose numbers grow (finished AnalysisRuns above all)."""
    base = m.heap([(m.DYNAMIC_LIST, 50 * m.MB)])
    grown = m.heap([(m.DYNAMIC_LIST, 400 * m.MB)])
    files = [m.write(tmp_path / "heap-1.pb.gz", base), m.write(tmp_path / "heap-2.pb.gz", grown)]
    finding = only(find(load_paths(files)), "informer-memory")
    assert "unstructured (Argo Rollouts CRDs through the dynamic informer): 400MB" in finding.title
    assert "successfulRunHistoryLimit" in finding.next_step and "analysisruns" in finding.next_step
    assert not any(line.startswith("matches") for line in finding.evidence)


def test_informers_never_stopped_are_a_leak_not_a_reason_to_prune(tmp_path: Path) -> None:
    """The dashboard before v1.8.0-rc1 (#2095): every GetRolloutInfo starts informers that are never stopped."""
    goroutines_1 = m.goroutines([(m.REFLECTOR_WAIT, 10), (m.LISTENER_WAIT, 10), (m.IDLE, 20)])
    goroutines_2 = m.goroutines([(m.REFLECTOR_WAIT, 250), (m.LISTENER_WAIT, 250), (m.IDLE, 20)])
    heap_1 = m.heap([(m.REPLICASET_LIST, 10 * m.MB), (m.VIEW_CONTROLLER_INFORMERS, 1 * m.MB)])
    heap_2 = m.heap([(m.REPLICASET_LIST, 240 * m.MB), (m.VIEW_CONTROLLER_INFORMERS, 24 * m.MB)])
    files = [m.write(tmp_path / "goroutine-1.pb.gz", goroutines_1), m.write(tmp_path / "heap-1.pb.gz", heap_1),
             m.write(tmp_path / "goroutine-2.pb.gz", goroutines_2), m.write(tmp_path / "heap-2.pb.gz", heap_2)]
    data = load_paths(files)
    findings = find(data)
    finding = only(findings, "informer-leak")
    assert finding.subsystem == cat.INFORMERS and finding.severity == "critical"
    assert dict(finding.numbers)["goroutineGrowth"] == 480
    assert "viewcontroller.newViewController" in finding.title
    for wrong in ("prune", "HistoryLimit", "revisionHistoryLimit"):
        assert wrong not in finding.next_step
    assert "Deleting objects does not help" in finding.next_step
    assert any("argoproj/argo-rollouts#2095" in line and "v1.8.0-rc1" in line for line in finding.evidence)
    # The same evidence gives no pruning advice anywhere else.
    assert "informer-memory" not in ids(findings) and "goroutine-growth" not in ids(findings)
    assert not any("HistoryLimit" in other.next_step for other in findings)
    # With the version known to hold the fix, the match is not claimed.
    fixed = find(type(data)(data.profiles, data.metrics, (("image", "quay.io/argoproj/kubectl-argo-rollouts:v1.8.3"),)))
    leak = only(fixed, "informer-leak")
    assert not any(line.startswith("matches") for line in leak.evidence)


# ---- healthy, order, the table ----------------------------------------------------------------------------------

def healthy_files(tmp_path: Path) -> list[Path]:
    counts = {("shop", f"svc-{i}"): 50 + i for i in range(10)}
    cpu = m.cpu([([*m.RECONCILE], 120), ([*m.LOG_LINE], 20), (["runtime.mallocgc", *m.CONVERT, *m.ROLLOUT_COLLECT], 8),
                 (["runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"], 25),
                 (["sigs.k8s.io/json/internal/golang/encoding/json.(*decodeState).object", *m.WATCH_EVENTS[1:]], 15),
                 (m.IDLE, 12)])
    heap = m.heap([(m.REPLICASET_LIST, 30 * m.MB), (m.WATCH_EVENTS, 6 * m.MB), (m.NEW_SERIES, 2 * m.MB)])
    goroutines = m.goroutines([(m.REFLECTOR_WAIT, 9), (m.LISTENER_WAIT, 9), (m.IDLE, 30)])
    metrics = m.reconcile_metrics(counts) + m.analysis_run_info(RUNS[:20])
    return [m.write(tmp_path / "cpu.pb.gz", cpu), m.write(tmp_path / "heap-1.pb.gz", heap),
            m.write(tmp_path / "goroutine-1.pb.gz", goroutines), text(tmp_path / "metrics-1.txt", metrics),
            m.write(tmp_path / "heap-2.pb.gz", heap), m.write(tmp_path / "goroutine-2.pb.gz", goroutines),
            text(tmp_path / "metrics-2.txt", metrics)]


def test_a_healthy_controller_gives_no_finding(tmp_path: Path) -> None:
    assert find(load_paths(healthy_files(tmp_path))) == []


@pytest.mark.parametrize("seed", range(4))
def test_rules_give_the_same_findings_in_any_order(tmp_path: Path, seed: int) -> None:
    files = [conversion_files(tmp_path)[0], *hot_loop_metrics(tmp_path, hot=18000, seconds=60)]
    leak = tmp_path / "leak"
    leak.mkdir()
    files += [m.write(leak / "goroutine-1.pb.gz", m.goroutines([(m.REFLECTOR_WAIT, 10), (m.IDLE, 5)])),
              m.write(leak / "heap-1.pb.gz", m.heap([(m.REPLICASET_LIST, 10 * m.MB)])),
              m.write(leak / "goroutine-2.pb.gz", m.goroutines([(m.REFLECTOR_WAIT, 200), (m.IDLE, 5)])),
              m.write(leak / "heap-2.pb.gz", m.heap([(m.REPLICASET_LIST, 90 * m.MB)]))]
    data = load_paths(files)
    expected = find(data)
    assert {"conversion-churn", "reconcile-hot-loop", "informer-leak"} <= set(ids(expected))
    shuffled = list(RULES)
    random.Random(seed).shuffle(shuffled)
    assert find(data, rules=shuffled) == expected
    assert find(data, rules=list(reversed(RULES))) == expected


def test_the_rule_table_has_one_row_per_finding() -> None:
    assert len({rule.id for rule in RULES}) == len(RULES)
    assert all(rule.inputs and rule.next_step for rule in RULES)


# ---- known issues -------------------------------------------------------------------------------------------

def test_known_issue_rows_are_complete() -> None:
    finding_ids = {rule.id for rule in RULES}
    for issue in KNOWN_ISSUES:
        assert issue.finding in finding_ids and issue.signature and issue.title
        assert (issue.fixed_in is None) == (issue.fix_pr is None) == (not issue.fix_commit)
        assert issue.fix_commit == "" or len(issue.fix_commit) == 40


@pytest.mark.parametrize(("facts", "metrics", "version"), [
    ((("image", "quay.io/argoproj/argo-rollouts:v1.8.3"),), (), "v1.8.3"),
    ((("image", "registry.redhat.io/argo-rollouts-rhel8@sha256:0123"),), ("v1.9.1+abc1234",), "v1.9.1"),
    ((("version", "v1.10.0-rc1"),), ("v1.8.0",), "v1.10.0-rc1"),
    ((), (), ""),
])
def test_controller_version(facts: tuple[tuple[str, str], ...], metrics: tuple[str, ...], version: str) -> None:
    assert controller_version(facts, metrics) == version


def test_issue_notes_by_version() -> None:
    tokens = ["github.com/argoproj/argo-rollouts/utils/tolerantinformer.convertObject"]
    assert issue_notes("conversion-churn", tokens, "v1.10.0-rc1")[0].startswith("looks like")
    assert issue_notes("conversion-churn", tokens, "v1.9.1")[0].startswith("matches")
    assert "version is unknown" in issue_notes("conversion-churn", tokens, "")[0]
    assert issue_notes("conversion-churn", ["main.f"], "v1.9.1") == []
    assert issue_notes("informer-leak", tokens, "v1.9.1") == []
