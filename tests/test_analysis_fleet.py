"""The fleet report: one analysis per cluster folder, each finding with the clusters where it holds and where it
does not, and their versions; text, JSON and the HTML page."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clitools import invoke
from tests.test_analysis_metrics import RECONCILE

FAST = (RECONCILE.replace("} 4.2", "} 0.04").replace('le="1"} 4', 'le="1"} 5')
        .replace('le="0.25"} 3', 'le="0.25"} 5').replace('le="0.5"} 3', 'le="0.5"} 5'))


def metrics(reconcile: str, version: str) -> str:
    return (reconcile + "# HELP argo_rollouts_controller_info Running Argo-rollouts version\n"
            f'# TYPE argo_rollouts_controller_info gauge\nargo_rollouts_controller_info{{version="{version}"}} 1\n')


def fleet_run(tmp_path: Path) -> Path:
    """A run's folder as a run over four contexts leaves it: three with metrics, one that failed (no folder)."""
    run = tmp_path / "fleet-diagnose-20261201T010203Z"
    contexts = []
    for context, text in (("prod-eu-1", metrics(FAST, "v1.8.3")), ("prod-us-1", metrics(RECONCILE, "v1.9.0")),
                          ("prod-us-2", metrics(RECONCILE, "v1.9.0"))):
        folder = run / context / "argo-rollouts-x-diagnose-slow-reconcile-20261201T010203Z"
        folder.mkdir(parents=True)
        (folder / "metrics-end.txt").write_text(text)
        (folder / "report.html").write_text("<html>not read</html>")
        contexts.append({"context": context, "exitCode": 0, "directory": str(run / context)})
    contexts.append({"context": "prod-eu-2", "exitCode": 7, "directory": None})
    (run / "fleet.json").write_text(json.dumps({"command": "diagnose", "contexts": contexts}))
    return run


def test_each_finding_with_the_clusters_where_it_holds_and_not(tmp_path: Path) -> None:
    run = fleet_run(tmp_path)
    code, stdout, _ = invoke("analyze", str(run))
    assert code == 0
    assert ("reconcile-latency: 2 of 3 clusters, all on v1.9.0; not in prod-eu-1 (v1.8.3)") in stdout
    assert "prod-eu-2 (version unknown): no captures" in stdout

    code, stdout, _ = invoke("analyze", str(run), "--json", "--html", str(tmp_path / "fleet.html"))
    assert code == 0
    fleet = json.loads(stdout)["fleet"]
    (finding,) = fleet["findings"]
    assert [(entry["context"], entry["version"]) for entry in finding["holds"]] == [
        ("prod-us-1", "v1.9.0"), ("prod-us-2", "v1.9.0")]
    assert finding["notIn"] == [{"context": "prod-eu-1", "version": "v1.8.3"}]
    assert finding["noData"] == [{"context": "prod-eu-2", "problem": "no captures"}]
    page = (tmp_path / "fleet.html").read_text()
    assert page.count("holds: ") == 2 and page.count("does not hold") == 1 and "no data: no captures" in page
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing to fetch


def test_folders_without_a_manifest_are_one_cluster_each_and_later_runs_add_to_them(tmp_path: Path) -> None:
    first, later = tmp_path / "first", tmp_path / "later"
    for base, text in ((first, FAST), (later, RECONCILE)):
        (base / "lab").mkdir(parents=True)
        (base / "lab" / "metrics.txt").write_text(metrics(text, "v1.10.0"))
    code, stdout, _ = invoke("analyze", str(first), str(later), "--json")
    assert code == 0
    (cluster,) = json.loads(stdout)["fleet"]["clusters"]
    assert cluster["context"] == "lab" and len(cluster["files"]) == 2 and cluster["version"] == "v1.10.0"
    code, _, stderr = invoke("analyze", str(first), str(later / "lab" / "metrics.txt"))
    assert code == 2 and "not both" in stderr


def test_a_cluster_whose_captures_cannot_show_a_finding_is_not_counted_against_it(tmp_path: Path) -> None:
    """A cluster with only a heap snapshot cannot show a metrics finding: it is "cannot tell", never "not in"."""
    from kubectl_rollouts_profile.pprof.encode import encode_profile
    from tests.test_pprof_evidence import heap_profile

    run = fleet_run(tmp_path)
    staging = run / "staging"
    staging.mkdir()
    (staging / "argo-rollouts-x-heap-20261201T010203Z.pb.gz").write_bytes(encode_profile(heap_profile(8 << 20)))
    manifest = json.loads((run / "fleet.json").read_text())
    manifest["contexts"].append({"context": "staging", "exitCode": 0, "directory": str(staging)})
    (run / "fleet.json").write_text(json.dumps(manifest))

    code, stdout, _ = invoke("analyze", str(run), "--json", "--html", str(tmp_path / "fleet.html"))
    assert code == 0
    (finding,) = [item for item in json.loads(stdout)["fleet"]["findings"] if item["id"] == "reconcile-latency"]
    assert finding["notIn"] == [{"context": "prod-eu-1", "version": "v1.8.3"}]
    assert [entry["context"] for entry in finding["cannotTell"]] == ["staging"]
    assert "not in prod-eu-1 (v1.8.3); cannot tell in staging (needs metrics)" in finding["summary"]
    assert "cannot tell from its captures" in (tmp_path / "fleet.html").read_text()
