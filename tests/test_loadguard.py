"""The load guard against the real Go target's metrics port: the reading (CPU against the pod's CPU limit,
goroutines, work queues), the warning for one short capture, the refusal (exit 6) of sustained sampling (long cpu,
trend, bundle) and its override, an unreachable metrics port as a warning, and --url without --metrics-url."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.capture import fetch_text
from kubectl_rollouts_profile.cluster.lock import LEASE_NAME as LOCK_LEASE
from kubectl_rollouts_profile.errors import TargetBusy, UsageError
from kubectl_rollouts_profile.loadguard import (
    LoadReading,
    LoadThresholds,
    cpu_cores,
    judge,
    parse_thresholds,
    read_load,
)
from kubectl_rollouts_profile.safe import dumps
from tests.clitools import invoke, refuse_constant


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def set_cpu_resources(server: Any, namespace: str, pod_name: str, *, limit: str | None = None,
                      request: str | None = None) -> None:
    """Give the leader's controller container a CPU limit and/or request, as a Helm values file would."""
    pod = server.get_object("v1", "Pod", namespace, pod_name)
    resources: dict = {}
    if limit is not None:
        resources["limits"] = {"cpu": limit, "memory": "512Mi"}
    if request is not None:
        resources["requests"] = {"cpu": request, "memory": "256Mi"}
    pod["spec"]["containers"][0]["resources"] = resources
    server.put(pod)


# ----- the pieces -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("quantity", "cores"), [("500m", 0.5), ("1", 1.0), ("0.25", 0.25), ("2", 2.0),
                                                  ("1500m", 1.5), ("1e3m", 1.0), (None, None), ("", None),
                                                  ("lots", None), ("0", None)])
def test_cpu_quantities(quantity: str | None, cores: float | None) -> None:
    assert cpu_cores(quantity) == cores


def test_thresholds_from_flags() -> None:
    assert parse_thresholds([]) == LoadThresholds()
    parsed = parse_thresholds(["cpu=90%,goroutines=20000", "queue=50"])
    assert (parsed.cpu_percent, parsed.goroutines, parsed.queue_depth) == (90.0, 20000, 50)
    for bad in ("cpu", "memory=5", "cpu=-1", "goroutines=many"):
        with pytest.raises(UsageError):
            parse_thresholds([bad])


def test_reading_of_the_real_metrics_port(go_new: Any) -> None:
    """CPU from two reads of process_cpu_seconds_total a second apart: the target burns about a fifth of a core,
    so against a 50m limit it is far over 80%, against 8 CPUs far under."""
    base = f"http://{go_new.metrics_addr}"
    busy = read_load(lambda: fetch_text(base, "/metrics"), source=base, thresholds=LoadThresholds(),
                     cpu_limit="50m", cpu_request="8")
    assert busy.error is None and busy.cpu_cores is not None and busy.cpu_cores > 0
    assert busy.cpu_budget == "limit" and busy.cpu_budget_cores == 0.05
    assert busy.goroutines is not None and busy.goroutines > 3
    assert busy.busy and "CPU" in busy.reasons[0] and "of its limit 50m CPU" in busy.reasons[0]
    idle = read_load(lambda: fetch_text(base, "/metrics"), source=base, thresholds=LoadThresholds(),
                     cpu_request="8")
    assert idle.cpu_budget == "request" and not idle.busy and idle.reasons == ()
    unknown = read_load(lambda: fetch_text(base, "/metrics"), source=base, thresholds=LoadThresholds())
    assert unknown.cpu_percent is None and not unknown.busy and "no CPU limit or request" in unknown.summary()


def test_workqueue_depth_over_its_threshold() -> None:
    scrape = (b"# TYPE workqueue_depth gauge\nworkqueue_depth{name=\"rollouts\"} 1500\n"
              b"workqueue_depth{name=\"experiments\"} 2\n# TYPE go_goroutines gauge\ngo_goroutines 80\n")
    reading = read_load(lambda: scrape, source="test", thresholds=LoadThresholds())
    assert reading.cpu_cores is None  # no process_cpu_seconds_total: one read only
    assert reading.queue_depth == {"rollouts": 1500.0, "experiments": 2.0}
    assert reading.reasons == ("work queue rollouts holds 1500 items (threshold 1000)",)


def test_judgement() -> None:
    busy = LoadReading(source="s", thresholds=LoadThresholds(goroutines=10), goroutines=50)
    (warning,) = judge(busy, sustained=False, what="a 10s cpu capture", ignore=False)
    assert "high load (50 goroutines (threshold 10))" in warning and "one short capture goes ahead" in warning
    with pytest.raises(TargetBusy) as refused:
        judge(busy, sustained=True, what="a goroutine trend", ignore=False)
    assert refused.value.exit_code == 6 and "--ignore-load" in refused.value.hint
    assert "sampling anyway" in judge(busy, sustained=True, what="a trend", ignore=True)[0]
    calm = LoadReading(source="s", thresholds=LoadThresholds(), goroutines=50)
    assert judge(calm, sustained=True, what="x", ignore=False) == ()
    broken = LoadReading(source="s", thresholds=LoadThresholds(), error="connection refused")
    assert "load was not checked" in judge(broken, sustained=True, what="x", ignore=False)[0]
    assert judge(None, sustained=True, what="x", ignore=False) == ()


def test_garbage_from_the_metrics_port_is_a_reading_error() -> None:
    reading = read_load(lambda: b"<html>not metrics{{{", source="test", thresholds=LoadThresholds())
    assert reading.error is not None and "not Prometheus text format" in reading.error


def test_non_finite_readings_are_a_warning_never_a_failure() -> None:
    """go_goroutines NaN (and CPU seconds +Inf) are left out of the judgement: a warning names them, the reading
    judges what is left, and it is strict JSON."""
    scrape = b"go_goroutines NaN\nprocess_cpu_seconds_total +Inf\nworkqueue_depth{name=\"rollouts\"} 3\n"
    reading = read_load(lambda: scrape, source="test", thresholds=LoadThresholds(goroutines=1))
    assert reading.error is None and (reading.goroutines, reading.cpu_cores) == (None, None)
    assert reading.queue_depth == {"rollouts": 3.0}
    for sustained in (False, True):
        (warning,) = judge(reading, sustained=sustained, what="a bundle", ignore=False)
        assert "not a finite number left out (go_goroutines NaN, process_cpu_seconds_total +Inf)" in warning
    json.loads(dumps(reading.as_json()), parse_constant=refuse_constant)


def test_many_work_queues_give_a_short_line_and_a_short_document() -> None:
    """A page with a work queue per label value (a cardinality explosion) gives a bounded load line and --json:
    the deepest queues by name, and how many there were; names from the page are shown escaped."""
    scrape = "".join(f'workqueue_depth{{name="q{i}"}} {i % 97}\n' for i in range(5000))
    scrape += 'workqueue_depth{name="\x1b]0;owned\x07\x1b[2J"} 2000\n'
    reading = read_load(lambda: scrape.encode(), source="test", thresholds=LoadThresholds())
    line = reading.summary()
    assert len(line) < 400 and "and 4996 more queues" in line and "\x1b" not in line
    assert "\\x1b]0;owned\\x07\\x1b[2J 2000" in line
    assert "\x1b" not in reading.reasons[0] and "holds 2000 items" in reading.reasons[0]
    document = reading.as_json()
    assert len(document["workqueue_depth"]) == 20 and document["workqueue_queues"] == 5001
    assert len(dumps(document)) < 2000


# ----- --url with --metrics-url -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["cpu", "trace"])
def test_long_capture_refused_under_high_load(go_new: Any, tmp_path: Path, kind: str) -> None:
    code, stdout, stderr = invoke(kind, "--url", go_new.base_url, "--metrics-url", f"http://{go_new.metrics_addr}",
                                  "--seconds", "45", "--load-threshold", "goroutines=2", "--output-dir",
                                  str(tmp_path))
    assert code == 6, stderr
    assert "under high load" in stderr and "goroutines (threshold 2)" in stderr and "--ignore-load" in stderr
    assert f"refusing a 45s {kind} capture" in stderr
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_short_cpu_capture_goes_ahead_with_a_warning(go_new: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("cpu", "--url", go_new.base_url, "--metrics-url",
                                  f"http://{go_new.metrics_addr}/metrics", "--seconds", "1", "--load-threshold",
                                  "goroutines=2", "--json", "--format", "none", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["load"]["busy"] is True and result["load"]["goroutines"] > 2
    assert any("under high load" in warning for warning in result["warnings"])
    assert Path(result["files"]["pprof"]).exists()


def test_url_without_metrics_url_skips_the_guard_silently(go_new: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("cpu", "--url", go_new.base_url, "--seconds", "1", "--json", "--format", "none",
                                  "--load-threshold", "goroutines=1", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["load"] is None and "load:" not in stderr
    assert not any("load" in warning for warning in result["warnings"])


def test_unreachable_metrics_url_is_a_warning(go_new: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("cpu", "--url", go_new.base_url, "--metrics-url",
                                  f"http://127.0.0.1:{closed_port()}", "--seconds", "1", "--json", "--format", "none",
                                  "--output-dir", str(tmp_path))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["load"]["error"] and result["load"]["busy"] is False
    assert any("load was not checked" in warning for warning in result["warnings"])


def test_trend_refused_under_high_load_and_the_override(go_new: Any, tmp_path: Path) -> None:
    common = ("goroutine", "--url", go_new.base_url, "--metrics-url", f"http://{go_new.metrics_addr}",
              "--every", "0.1", "--count", "2", "--load-threshold", "goroutines=2", "--output-dir", str(tmp_path))
    code, _, stderr = invoke(*common)
    assert code == 6 and "refusing a goroutine trend" in stderr
    assert list(tmp_path.iterdir()) == []
    code, stdout, stderr = invoke(*common, "--ignore-load")
    assert code == 0, stderr
    assert "2 snapshots in" in stdout and "sampling anyway (--ignore-load)" in stderr


def test_metrics_port_is_for_the_cluster(go_new: Any, tmp_path: Path) -> None:
    code, _, stderr = invoke("cpu", "--url", go_new.base_url, "--metrics-port", "8090", "--output-dir", str(tmp_path))
    assert code == 2 and "--metrics-url" in stderr


def test_metrics_url_is_for_url(tmp_path: Path) -> None:
    code, _, stderr = invoke("cpu", "--metrics-url", "http://127.0.0.1:1/metrics", "--output-dir", str(tmp_path))
    assert code == 2 and "--metrics-url goes with --url" in stderr


# ----- through the cluster ------------------------------------------------------------------------------------------

def test_cluster_cpu_limit_makes_a_long_capture_refused(argo_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    scenario = argo_cluster.scenario
    set_cpu_resources(argo_cluster.server, scenario.namespace, scenario.leader_pod, limit="20m", request="10m")
    code, stdout, stderr = invoke("cpu", "--kubeconfig", str(argo_cluster.kubeconfig), "--seconds", "60", "--lock",
                                  "--output-dir", str(out))
    assert code == 6, stderr
    assert "of its limit 20m CPU (threshold 80%)" in stderr and "refusing a 60s cpu capture" in stderr
    assert list(out.iterdir()) == []
    # Refused before the lock was taken: no capture lock Lease exists.
    assert argo_cluster.server.get_object("coordination.k8s.io/v1", "Lease", scenario.namespace, LOCK_LEASE) is None


def _short_capture_with_cpu_limit(argo_cluster: Any, tmp_path: Path, limit: str) -> dict:
    """A 1 s cpu capture (--json) of the leader, its container's CPU limit set to ``limit`` first."""
    scenario = argo_cluster.scenario
    set_cpu_resources(argo_cluster.server, scenario.namespace, scenario.leader_pod, limit=limit)
    code, stdout, stderr = invoke("cpu", "--kubeconfig", str(argo_cluster.kubeconfig), "--seconds", "1", "--json",
                                  "--format", "none", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    return json.loads(stdout)


def test_cluster_short_capture_carries_the_reading(argo_cluster: Any, tmp_path: Path) -> None:
    scenario = argo_cluster.scenario
    load = _short_capture_with_cpu_limit(argo_cluster, tmp_path, "20m")["load"]
    assert load["busy"] is True and load["cpu_budget"] == "limit" and load["cpu_budget_cores"] == 0.02
    assert load["source"] == f"pod {scenario.leader_pod} port 8090"
    assert load["cpu_percent"] > 80


def test_cluster_calm_controller_no_warning(argo_cluster: Any, tmp_path: Path) -> None:
    result = _short_capture_with_cpu_limit(argo_cluster, tmp_path, "8")
    assert result["load"]["busy"] is False and result["load"]["cpu_percent"] < 80
    assert not any("load" in warning for warning in result["warnings"])


def test_cluster_closed_metrics_port_is_a_warning(argo_cluster: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("cpu", "--kubeconfig", str(argo_cluster.kubeconfig), "--seconds", "1", "--json",
                                  "--metrics-port", "9102", "--format", "none", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["load"]["error"] and result["load"]["source"].endswith("port 9102")
    assert any("load was not checked" in warning for warning in result["warnings"])


def test_bundle_refused_under_high_load_then_overridden(argo_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    scenario = argo_cluster.scenario
    set_cpu_resources(argo_cluster.server, scenario.namespace, scenario.leader_pod, limit="20m")
    args = ("bundle", "--kubeconfig", str(argo_cluster.kubeconfig), "--seconds", "1", "--output-dir", str(out))
    code, stdout, stderr = invoke(*args)
    assert code == 6 and "refusing a bundle" in stderr
    assert list(out.iterdir()) == []
    code, stdout, stderr = invoke(*args, "--ignore-load", "--json")
    assert code == 0, stderr
    manifest = json.loads(stdout)
    assert manifest["load"]["busy"] is True and manifest["load"]["cpu_budget_cores"] == 0.02
    assert any("sampling anyway" in warning for warning in manifest["warnings"])
