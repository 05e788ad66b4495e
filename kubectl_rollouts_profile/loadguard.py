"""The load guard: read the controller's own metrics before sampling it, so a profile never makes an incident worse.

CPU use comes from ``process_cpu_seconds_total`` read twice about a second apart and is set against the controller
container's CPU limit (else its request); ``go_goroutines`` and the work queues' depth (``workqueue_depth``) are
read from the second reading. Under high load one short capture (at most ``SHORT_CAPTURE_SECONDS``) goes ahead with
a warning; sustained sampling (a longer cpu/trace capture, a trend, a bundle, a symptom run) is refused with
``TargetBusy`` (exit 6) unless the caller passed the override. A metrics port that cannot be read is a warning, and
so is a value that is not a finite number (left out of the judgement). What the reading shows is bounded whatever the
page holds: the deepest work queues by name (escaped for the terminal), and how many there were.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from kubectl_rollouts_profile.analysis.metrics import parse_metrics
from kubectl_rollouts_profile.errors import RolloutsProfileError, TargetBusy, UsageError
from kubectl_rollouts_profile.safe import terminal

SHORT_CAPTURE_SECONDS = 30  # the longest cpu/trace capture that still goes ahead under high load
SAMPLE_INTERVAL_SECONDS = 1.0  # between the two reads of process_cpu_seconds_total
OVERRIDE_FLAG = "--ignore-load"
QUEUES_KEPT = 20  # the deepest work queues a reading keeps (and --json shows)
QUEUES_SHOWN = 5  # of which the load line names


@dataclass(frozen=True)
class LoadThresholds:
    """Where high load starts. ``cpu_percent`` is of the container's CPU limit, else its request (no limit and no
    request: CPU is reported but not judged); ``goroutines`` and ``queue_depth`` are absolute."""

    cpu_percent: float = 80.0
    goroutines: int = 10_000
    queue_depth: int = 1_000

    KEYS = ("cpu", "goroutines", "queue")

    def as_json(self) -> dict[str, float]:
        return {"cpu_percent": self.cpu_percent, "goroutines": self.goroutines, "queue_depth": self.queue_depth}


def parse_thresholds(given: Iterable[str]) -> LoadThresholds:
    """``--load-threshold`` values (``cpu=90``, ``goroutines=20000``, ``queue=500``; repeatable or comma-separated)
    over the defaults."""
    values: dict[str, float] = {}
    for item in (part.strip() for text in given for part in text.split(",")):
        if not item:
            continue
        key, equals, raw = item.partition("=")
        key = key.strip().lower()
        if not equals or key not in LoadThresholds.KEYS:
            raise UsageError(f"--load-threshold takes KEY=VALUE with KEY one of {', '.join(LoadThresholds.KEYS)}; "
                             f"got {item!r}", hint="e.g. --load-threshold cpu=90,goroutines=20000")
        try:
            number = float(raw.strip().removesuffix("%"))
        except ValueError:
            number = -1.0
        if not number > 0:
            raise UsageError(f"--load-threshold {key} must be a positive number, got {raw!r}")
        values[key] = number
    defaults = LoadThresholds()
    return LoadThresholds(
        cpu_percent=values.get("cpu", defaults.cpu_percent),
        goroutines=int(values.get("goroutines", defaults.goroutines)),
        queue_depth=int(values.get("queue", defaults.queue_depth)),
    )


@dataclass(frozen=True)
class LoadGuard:
    """What the caller asked of the guard: where the metrics are (a ``--metrics-url``, or the metrics port in the
    pod: None means the port the controller's flags name), the thresholds, and the override."""

    metrics_url: str | None = None
    metrics_port: int | None = None
    thresholds: LoadThresholds = field(default_factory=LoadThresholds)
    ignore: bool = False


@dataclass(frozen=True)
class LoadReading:
    """The controller's load as its metrics showed it, and whether that is high by the thresholds."""

    source: str
    thresholds: LoadThresholds
    cpu_cores: float | None = None  # cores used between the two reads
    cpu_budget_cores: float | None = None
    cpu_budget: str | None = None  # "limit" or "request": what cpu_budget_cores is
    goroutines: int | None = None
    queue_depth: Mapping[str, float] = field(default_factory=dict)  # the deepest QUEUES_KEPT work queues by name
    queue_count: int | None = None  # how many work queues the page had (None: as many as queue_depth holds)
    error: str | None = None  # the metrics could not be read: nothing below is known
    warnings: tuple[str, ...] = ()  # what the page held that was left out (values that are not finite numbers)

    @property
    def cpu_percent(self) -> float | None:
        if self.cpu_cores is None or not self.cpu_budget_cores:
            return None
        return 100.0 * self.cpu_cores / self.cpu_budget_cores

    @property
    def reasons(self) -> tuple[str, ...]:
        """Each reading over its threshold, in words with the numbers."""
        found = []
        percent = self.cpu_percent
        if percent is not None and percent >= self.thresholds.cpu_percent:
            found.append(f"CPU {self.cpu_cores:.2f} cores = {percent:.0f}% of its {self.cpu_budget} "
                         f"{format_cores(self.cpu_budget_cores)} (threshold {self.thresholds.cpu_percent:g}%)")
        if self.goroutines is not None and self.goroutines >= self.thresholds.goroutines:
            found.append(f"{self.goroutines} goroutines (threshold {self.thresholds.goroutines})")
        deepest = max(self.queue_depth.items(), key=lambda item: item[1], default=None)
        if deepest is not None and deepest[1] >= self.thresholds.queue_depth:
            found.append(f"work queue {_queue_name(deepest[0])} holds {deepest[1]:.0f} items "
                         f"(threshold {self.thresholds.queue_depth})")
        return tuple(found)

    @property
    def busy(self) -> bool:
        return bool(self.reasons)

    def summary(self) -> str:
        """One line with every reading that is known."""
        if self.error is not None:
            return f"load unknown ({self.error})"
        parts = []
        if self.cpu_cores is not None:
            budget = (f" of {format_cores(self.cpu_budget_cores)} {self.cpu_budget} ({self.cpu_percent:.0f}%)"
                      if self.cpu_budget_cores else " (no CPU limit or request)")
            parts.append(f"CPU {self.cpu_cores:.2f} cores{budget}")
        if self.goroutines is not None:
            parts.append(f"{self.goroutines} goroutines")
        if self.queue_depth:
            deepest = sorted(self.queue_depth.items(), key=lambda item: -item[1])[:QUEUES_SHOWN]
            more = self.queues - len(deepest)
            parts.append("work queue depth " + ", ".join(f"{_queue_name(name)} {depth:.0f}"
                                                         for name, depth in sorted(deepest))
                         + (f" and {more} more queues" if more else ""))
        return ", ".join(parts) or "no load metrics exposed"

    @property
    def queues(self) -> int:
        return len(self.queue_depth) if self.queue_count is None else self.queue_count

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "cpu_cores": None if self.cpu_cores is None else round(self.cpu_cores, 4),
            "cpu_budget_cores": self.cpu_budget_cores,
            "cpu_budget": self.cpu_budget,
            "cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
            "goroutines": self.goroutines,
            "workqueue_depth": dict(sorted(self.queue_depth.items())),
            "workqueue_queues": self.queues,
            "busy": self.busy,
            "reasons": list(self.reasons),
            "thresholds": self.thresholds.as_json(),
            "error": self.error,
        }


def _queue_name(name: str) -> str:
    return terminal(name) if name else "(unnamed)"


def format_cores(cores: float | None) -> str:
    if cores is None:
        return "?"
    if cores < 1:
        return f"{cores * 1000:.0f}m CPU"
    return f"{cores:g} CPU" if cores != 1 else "1 CPU"


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
           "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18), "Ki": Decimal(2**10),
           "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50),
           "Ei": Decimal(2**60)}


def cpu_cores(quantity: str | None) -> float | None:
    """A Kubernetes CPU quantity (``500m``, ``1``, ``0.5``, ``2k``) in cores; None when absent or unreadable."""
    if not quantity:
        return None
    match = _QUANTITY.match(quantity.strip())
    if not match:
        return None
    try:
        value = Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        return None
    return float(value) if value > 0 else None


def read_load(
    fetch: Callable[[], bytes],
    *,
    source: str,
    thresholds: LoadThresholds,
    cpu_limit: str | None = None,
    cpu_request: str | None = None,
    interval: float = SAMPLE_INTERVAL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] = time.sleep,
) -> LoadReading:
    """Scrape the metrics twice ``interval`` apart through ``fetch``; a failure to read is recorded, not raised."""
    budget, budget_kind = cpu_cores(cpu_limit), "limit"
    if budget is None:
        budget, budget_kind = cpu_cores(cpu_request), "request"
    budget_name = budget_kind if budget is not None else None
    try:
        first_at = clock()
        first = parse_metrics(fetch().decode("utf-8", "replace"), source=source)
        cpu = None
        if first.cpu_seconds is not None:
            pause(interval)
            second_at = clock()
            second = parse_metrics(fetch().decode("utf-8", "replace"), source=source)
            if second.cpu_seconds is not None and second_at > first_at:
                cpu = max(second.cpu_seconds - first.cpu_seconds, 0.0) / (second_at - first_at)
            first = second
    except (RolloutsProfileError, OSError) as error:
        return LoadReading(source=source, thresholds=thresholds, error=terminal(str(error)), cpu_budget_cores=budget,
                           cpu_budget=budget_name)
    queues = first.workqueue("workqueue_depth")
    deepest = dict(sorted(queues.items(), key=lambda item: (-item[1], item[0]))[:QUEUES_KEPT])
    warning = first.warning()
    return LoadReading(source=source, thresholds=thresholds, cpu_cores=cpu, goroutines=first.goroutines,
                       queue_depth=deepest, queue_count=len(queues), cpu_budget_cores=budget, cpu_budget=budget_name,
                       warnings=(terminal(warning),) if warning else ())


def judge(reading: LoadReading | None, *, sustained: bool, what: str, ignore: bool) -> tuple[str, ...]:
    """The warnings to print for this reading, or ``TargetBusy`` when sustained sampling meets high load.

    ``what`` names the work in the refusal (``a 60s cpu capture``, ``a goroutine trend``)."""
    if reading is None:
        return ()
    if reading.error is not None:
        return (f"could not read the controller's metrics from {reading.source}, so its load was not checked: "
                f"{reading.error}",)
    if not reading.busy:
        return reading.warnings
    numbers = "; ".join(reading.reasons)
    if sustained and not ignore:
        raise TargetBusy(
            f"the controller is under high load ({numbers}): refusing {what}, which would sample it for long",
            hint=f"take one capture of at most {SHORT_CAPTURE_SECONDS}s, retry when the load drops, "
                 f"or pass {OVERRIDE_FLAG} to sample anyway",
        )
    going_ahead = "sampling anyway (--ignore-load)" if sustained else "one short capture goes ahead"
    return (*reading.warnings, f"the controller is under high load ({numbers}); {going_ahead}")
