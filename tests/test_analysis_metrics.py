"""Metrics read with prometheus_client's parser: the Go target's real /metrics (the controller's metric names),
the rollout_reconcile histogram, and text that is not a metrics exposition."""

from __future__ import annotations

import pytest

from kubectl_rollouts_profile.analysis.metrics import parse_metrics
from kubectl_rollouts_profile.errors import UsageError
from tests.analysis_material import metrics_text, wait_until

RECONCILE = """# HELP rollout_reconcile Rollout reconciliation performance.
# TYPE rollout_reconcile histogram
rollout_reconcile_bucket{name="a",namespace="ns",le="0.01"} 2
rollout_reconcile_bucket{name="a",namespace="ns",le="0.15"} 2
rollout_reconcile_bucket{name="a",namespace="ns",le="0.25"} 3
rollout_reconcile_bucket{name="a",namespace="ns",le="0.5"} 3
rollout_reconcile_bucket{name="a",namespace="ns",le="1"} 4
rollout_reconcile_bucket{name="a",namespace="ns",le="+Inf"} 5
rollout_reconcile_sum{name="a",namespace="ns"} 4.2
rollout_reconcile_count{name="a",namespace="ns"} 5
rollout_reconcile_bucket{name="b",namespace="ns",le="0.01"} 5
rollout_reconcile_bucket{name="b",namespace="ns",le="0.15"} 5
rollout_reconcile_bucket{name="b",namespace="ns",le="0.25"} 5
rollout_reconcile_bucket{name="b",namespace="ns",le="0.5"} 5
rollout_reconcile_bucket{name="b",namespace="ns",le="1"} 5
rollout_reconcile_bucket{name="b",namespace="ns",le="+Inf"} 5
rollout_reconcile_sum{name="b",namespace="ns"} 0.02
rollout_reconcile_count{name="b",namespace="ns"} 5
"""


def test_the_go_targets_metrics_carry_the_controllers_names(go_new) -> None:
    # The plain target reconciles three rollouts a second: wait until the histogram has observations.
    wait_until(lambda: (parse_metrics(metrics_text(go_new)).reconcile() or None) is not None, what="reconciles")
    snapshot = parse_metrics(metrics_text(go_new), source="go_new")
    assert snapshot.goroutines and snapshot.goroutines > 3
    assert snapshot.cpu_seconds is not None and snapshot.cpu_seconds > 0
    assert snapshot.resident_bytes and snapshot.resident_bytes > 1 << 20
    assert set(snapshot.workqueue()) == {"rollouts"}
    assert snapshot.value("controller_clientset_k8s_request_total") is not None
    stats = snapshot.reconcile()
    assert stats is not None and stats.count >= 1 and stats.mean_seconds < 0.1


def test_reconcile_histogram_sums_every_rollout() -> None:
    stats = parse_metrics(RECONCILE).reconcile()
    assert stats is not None
    assert (stats.count, round(stats.seconds, 2)) == (10, 4.22)
    assert stats.buckets[0] == (0.01, 7) and stats.buckets[-1] == (float("inf"), 10)
    assert stats.share_slower_than(0.5) == pytest.approx(0.2)  # 2 of 10 above 0.5 s
    assert stats.slowest[0][0] == "ns/a"


def test_missing_metrics_are_none_not_zero() -> None:
    snapshot = parse_metrics("# TYPE up gauge\nup 1\n")
    assert (snapshot.goroutines, snapshot.cpu_seconds, snapshot.reconcile(), snapshot.workqueue()) == (
        None, None, None, {})  # fmt: skip


def test_text_that_is_not_metrics_is_one_usage_error() -> None:
    with pytest.raises(UsageError, match="metrics.txt: not Prometheus text format"):
        parse_metrics("this is { not metrics", source="metrics.txt")
