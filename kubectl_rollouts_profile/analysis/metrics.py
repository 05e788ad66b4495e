"""The controller's Prometheus metrics (port 8090 ``/metrics``) read with prometheus_client's text parser into one
frozen value with the readings the analysis (and a load guard) needs: goroutines, CPU seconds, resident memory,
work queue depths and the ``rollout_reconcile`` histogram."""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_rollouts_profile.errors import UsageError

RECONCILE = "rollout_reconcile"
# The per-object reconcile histograms (controller/metrics/prommetrics.go), each with its object's kind.
RECONCILE_KINDS = (("rollout_reconcile", "Rollout"), ("analysis_run_reconcile", "AnalysisRun"),
                   ("experiment_reconcile", "Experiment"))


@dataclass(frozen=True)
class MetricSample:
    name: str  # the sample's own name (``rollout_reconcile_bucket``, ``go_goroutines``)
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


@dataclass(frozen=True)
class ReconcileStats:
    """``rollout_reconcile`` summed over every rollout: observations, seconds, the cumulative bucket counts, and
    the rollouts with the most reconcile time."""

    count: int
    seconds: float
    buckets: tuple[tuple[float, int], ...]  # (upper bound, cumulative count), +Inf last
    slowest: tuple[tuple[str, int, float], ...]  # (namespace/name, count, seconds), most seconds first

    @property
    def mean_seconds(self) -> float:
        return self.seconds / self.count if self.count else 0.0

    def share_slower_than(self, bound: float) -> float:
        """The fraction of reconciles that took longer than ``bound`` (one of the histogram's bucket bounds)."""
        if not self.count:
            return 0.0
        within = next((count for upper, count in self.buckets if upper >= bound), self.count)
        return (self.count - within) / self.count


@dataclass(frozen=True)
class MetricsSnapshot:
    samples: tuple[MetricSample, ...]
    source: str = ""
    taken_at: float | None = None  # when it was read (seconds since the epoch), when known

    def values(self, name: str) -> list[MetricSample]:
        return [sample for sample in self.samples if sample.name == name]

    def value(self, name: str) -> float | None:
        """The sum of every series of ``name``, or None when it is not exposed."""
        found = self.values(name)
        return sum(sample.value for sample in found) if found else None

    @property
    def goroutines(self) -> int | None:
        value = self.value("go_goroutines")
        return None if value is None else int(value)

    @property
    def cpu_seconds(self) -> float | None:
        return self.value("process_cpu_seconds_total")

    @property
    def resident_bytes(self) -> int | None:
        value = self.value("process_resident_memory_bytes")
        return None if value is None else int(value)

    @property
    def version(self) -> str:
        """The controller's version from ``argo_rollouts_controller_info{version}`` ("" when not exposed)."""
        return next((sample.label("version") or "" for sample in self.values("argo_rollouts_controller_info")), "")

    def reconcile_counts(self, metric: str = RECONCILE) -> dict[tuple[str, str], int]:
        """Reconciles so far per object, (namespace, name) -> count, from a reconcile histogram's ``_count``."""
        return {(sample.label("namespace") or "", sample.label("name") or ""): int(sample.value)
                for sample in self.values(f"{metric}_count")}

    def workqueue(self, metric: str = "workqueue_depth") -> dict[str, float]:
        """One work queue metric per queue name (``workqueue_depth``, ``workqueue_adds_total``...)."""
        return {sample.label("name") or "": sample.value for sample in self.values(metric)}

    def reconcile(self) -> ReconcileStats | None:
        """``rollout_reconcile`` over every rollout, or None when the controller exposes no observation yet."""
        counts = self.values(f"{RECONCILE}_count")
        if not counts:
            return None
        sums = {sample.labels: sample.value for sample in self.values(f"{RECONCILE}_sum")}
        buckets: dict[float, float] = {}
        for sample in self.values(f"{RECONCILE}_bucket"):
            bound = float(sample.label("le") or "inf")
            buckets[bound] = buckets.get(bound, 0) + sample.value
        per_rollout = []
        for sample in counts:
            name = f"{sample.label('namespace') or ''}/{sample.label('name') or ''}"
            per_rollout.append((name, int(sample.value), sums.get(sample.labels, 0.0)))
        per_rollout.sort(key=lambda row: (-row[2], row[0]))
        return ReconcileStats(
            count=int(sum(sample.value for sample in counts)),
            seconds=sum(sums.values()),
            buckets=tuple(sorted((bound, int(count)) for bound, count in buckets.items())),
            slowest=tuple(per_rollout[:5]),
        )


def parse_metrics(text: str, *, source: str = "", taken_at: float | None = None) -> MetricsSnapshot:
    """Prometheus text exposition -> MetricsSnapshot (a UsageError naming the source if it is not one)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: list[MetricSample] = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.append(MetricSample(sample.name, tuple(sorted(sample.labels.items())), float(sample.value)))
    except (ValueError, TypeError, IndexError) as error:
        raise UsageError(f"{source or 'metrics'}: not Prometheus text format ({error})",
                         "give the controller's /metrics output (port 8090)") from error
    return MetricsSnapshot(tuple(samples), source, taken_at)
