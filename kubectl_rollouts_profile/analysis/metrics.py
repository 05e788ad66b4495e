"""The controller's Prometheus metrics (port 8090 ``/metrics``) read with prometheus_client's text parser into one
frozen value with the readings the analysis (and a load guard) needs: goroutines, CPU seconds, resident memory,
work queue depths and the ``rollout_reconcile`` histogram.

A page is read within the budget (bytes, series, time). Only finite numbers are values: a series whose value is NaN
or ±Inf, or a bucket whose bound is not a number, is left out of the snapshot (as if not exposed) and named in
``left_out``, so no judgement, count or JSON document ever meets one."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubectl_rollouts_profile.budget import DEFAULT, Budget, Deadline, InputTooLarge
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
    left_out: tuple[str, ...] = ()  # the series whose value was not a finite number, as the page wrote them
    taken_at: float | None = None  # when it was read (seconds since the epoch), when known

    def warning(self) -> str | None:
        """One line naming what was left out, or None."""
        if not self.left_out:
            return None
        shown = ", ".join(self.left_out[:3]) + (f" and {len(self.left_out) - 3} more" if len(self.left_out) > 3 else "")
        return (f"{self.source or 'metrics'}: {len(self.left_out)} series with a value that is not a finite number "
                f"left out ({shown})")

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
            bound = _bound(sample.label("le"))
            if bound is not None:
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


_SAMPLE_LINE = re.compile(r"^[ \t]*[^#\s]", re.MULTILINE)  # a line that is not blank and not a comment


def _bound(text: str | None) -> float | None:
    """A histogram bucket's ``le``: a number or +Inf; anything else (``abc``, ``NaN``) is no bound."""
    try:
        bound = float(text or "+Inf")
    except ValueError:
        return None
    return None if math.isnan(bound) else bound


def _series_text(name: str, labels: dict[str, str], value: float) -> str:
    pairs = ",".join(f'{key}="{label}"' for key, label in labels.items())
    shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return f"{name}{{{pairs}}} {shown}" if pairs else f"{name} {shown}"


def parse_metrics(text: str, *, source: str = "", budget: Budget = DEFAULT,
                  clock: Callable[[], float] = time.monotonic, taken_at: float | None = None) -> MetricsSnapshot:
    """Prometheus text exposition -> MetricsSnapshot (a UsageError naming the source if it is not one;
    ``InputTooLarge`` past the budget's bytes, series or time for a metrics page)."""
    from prometheus_client.parser import text_string_to_metric_families

    name = source or "metrics"
    if len(text) > budget.metrics_bytes:
        raise InputTooLarge(f"{name}: larger than {budget.metrics_bytes} bytes, the bound for a metrics page")
    # Counted before parsing: the parser reads a whole family before it yields any of it (one family can hold
    # every series of the page).
    if sum(1 for _ in _SAMPLE_LINE.finditer(text)) > budget.metrics_series:
        raise InputTooLarge(f"{name}: more than {budget.metrics_series} series, the bound for a metrics page")
    deadline = Deadline(budget.metrics_seconds, name, clock)
    samples: list[MetricSample] = []
    left_out: list[str] = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if len(samples) + len(left_out) >= budget.metrics_series:
                    raise InputTooLarge(f"{name}: more than {budget.metrics_series} series, the bound for a "
                                        "metrics page")
                if not len(samples) % 512:
                    deadline.check()
                value = float(sample.value)
                if math.isfinite(value):
                    samples.append(MetricSample(sample.name, tuple(sorted(sample.labels.items())), value))
                else:
                    left_out.append(_series_text(sample.name, sample.labels, value))
    except (ValueError, TypeError, IndexError) as error:
        raise UsageError(f"{name}: not Prometheus text format ({error})",
                         "give the controller's /metrics output (port 8090)") from error
    return MetricsSnapshot(tuple(samples), source, tuple(left_out), taken_at)
