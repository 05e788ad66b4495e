"""Findings: rules that turn profiles and metrics into one-line statements of what is wrong, each with its
evidence (numbers and the stacks behind them) and a next step right for that cause.

Every rule is a pure function of one read-only Context (the input, the catalog, which profiles are too thin to
conclude from, the controller's version), registered in one table (RULES: id, inputs, rule, next step), so the
rules give the same findings in any order. Where two rules see the same evidence, both read it from a shared pure
helper (never from state another rule left behind). Thresholds are module constants, named in the findings'
numbers; known upstream issues come from known_issues.py."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_rollouts_profile.analysis import catalog as cat
from kubectl_rollouts_profile.analysis.catalog import Catalog, default_catalog
from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, ProfileInput
from kubectl_rollouts_profile.analysis.known_issues import controller_version, issue_notes
from kubectl_rollouts_profile.analysis.metrics import RECONCILE_KINDS, MetricsSnapshot
from kubectl_rollouts_profile.analysis.rollup import Stack, stacks
from kubectl_rollouts_profile.export.units import scaled_label

SEVERITIES = ("critical", "warning", "info")
MIN_CPU_SAMPLES = 100
MIN_CPU_SECONDS = 1.0
MIN_HEAP_BYTES = 1 << 20
GC_SHARE = 0.20
DECODING_SHARE = 0.15
CONVERSION_SHARE = 0.15
HEAP_GROWTH_BYTES = 4 << 20
HEAP_GROWTH_SHARE = 0.10
INFORMER_BYTES = 256 << 20  # one heap snapshot: informer caches this large are worth a look by type
GOROUTINE_GROWTH = 20
GOROUTINE_GROWTH_SHARE = 0.10
GOROUTINES_WAITING_HTTP = 100
QUEUE_DEPTH = 50
QUEUE_GROWTH = 20
RECONCILE_MIN_COUNT = 5
RECONCILE_MEAN_SECONDS = 0.25
RECONCILE_SLOW_SHARE = 0.10  # of reconciles slower than 0.5 s
HOT_LOOP_RATE = 1.0  # reconciles a second of one object, sustained
HOT_LOOP_FACTOR = 10.0  # times the median of the other objects
HOT_LOOP_MIN = 300  # reconciles of the object in the interval looked at
HOT_LOOP_MIN_UNTIMED = 10_000  # when no time says over how long: counts since the controller started
SERIES_GROWTH = 100
SERIES_GROWTH_SHARE = 0.10

_GC = {cat.GC_MARK, cat.GC_SWEEP}
_DECODE = {cat.JSON, cat.DECODING}
AR = "github.com/argoproj/argo-rollouts"
CACHE = "k8s.io/client-go/tools/cache"
_WATCH_DECODER = "k8s.io/apimachinery/pkg/watch.(*StreamWatcher).receive"  # apimachinery pkg/watch/streamwatcher.go
# The goroutines every running informer keeps (client-go tools/cache: reflector.go, shared_informer.go,
# controller.go): their number grows only when informers are started and never stopped.
_INFORMER_LOOPS = (f"{CACHE}.(*Reflector).", f"{CACHE}.(*processorListener).", f"{CACHE}.(*sharedProcessor).run",
                   f"{CACHE}.(*sharedIndexInformer).Run", f"{CACHE}.(*controller).Run",
                   f"{CACHE}.(*controller).processLoop", f"{CACHE}.(*DeltaFIFO).Pop")
# Who reconciles each kind (v1.9.1: rollout/controller.go:392, analysis/controller.go:166,
# experiments/controller.go:247).
_SYNC_HANDLERS = {"Rollout": f"{AR}/rollout.(*Controller).syncHandler",
                  "AnalysisRun": f"{AR}/analysis.(*Controller).syncHandler",
                  "Experiment": f"{AR}/experiments.(*Controller).syncHandler"}
# The controller's per-object info metrics, one series per object (controller/metrics/prommetrics.go).
_INFO_METRICS = {"Rollout": "rollout_info", "AnalysisRun": "analysis_run_info", "Experiment": "experiment_info"}


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    title: str  # the one line
    evidence: tuple[str, ...]
    next_step: str
    numbers: tuple[tuple[str, float | int | str], ...] = ()
    subsystem: str = ""
    source: str = ""  # which file(s) it came from

    def as_json(self) -> dict:
        return {
            "id": self.id, "severity": self.severity, "title": self.title, "subsystem": self.subsystem,
            "source": self.source, "evidence": list(self.evidence), "numbers": dict(self.numbers),
            "nextStep": self.next_step,
        }  # fmt: skip


@dataclass(frozen=True)
class Context:
    """What every rule reads, computed once before any rule runs and never changed by one. ``_memo`` only caches
    the results of pure functions of the input (stacks, deltas), so which rule asks first makes no difference."""

    data: AnalysisInput
    catalog: Catalog
    thin: frozenset[str]  # profile names too thin to conclude from
    version: str  # the controller's version, "" when nothing says
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def once(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def stacks(self, item: ProfileInput, sample_type: str) -> tuple[Stack, ...]:
        return self.once(("stacks", item.name, id(item.profile), sample_type),
                         lambda: tuple(stacks(item.profile, sample_type)))

    def subsystems(self, stack: Stack) -> list[str]:
        return self.catalog.subsystems_of(stack.functions)

    def layer(self, name: str) -> str:
        return self.catalog.layer_of(name)

    def concluded(self, kind: str) -> list[ProfileInput]:
        """The profiles of ``kind`` with enough in them to conclude from."""
        return [item for item in self.data.of_kind(kind) if item.name not in self.thin]


@dataclass(frozen=True)
class Rule:
    id: str
    inputs: str  # what it reads
    rule: Callable[[Context], Iterable[Finding]]
    next_step: str  # the kind of next step it gives
    can_tell: Callable[[AnalysisInput], bool]  # whether the input holds the least the rule needs to conclude


def _has(*kinds: str) -> Callable[[AnalysisInput], bool]:
    return lambda data: any(data.of_kind(kind) for kind in kinds)


def _has_pair(kind: str) -> Callable[[AnalysisInput], bool]:
    return lambda data: data.pair(kind) is not None


def _has_metrics(snapshots: int = 1) -> Callable[[AnalysisInput], bool]:
    return lambda data: len(data.metrics) >= snapshots


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _bytes(value: int) -> str:
    return scaled_label(value, "bytes")


def _short(function: str) -> str:
    """A function name without its package path's directories: ``cache.(*Reflector).watchHandler``."""
    return function.rsplit("/", 1)[-1]


def _site(ctx: Context, stack: Stack) -> str:
    """The innermost frame that is controller or client-go code, else the innermost one outside the runtime."""
    for name in stack.functions:
        if ctx.layer(name) in ("controller", "client-go"):
            return name
    for name in stack.functions:
        if ctx.layer(name) != "runtime":
            return name
    return stack.functions[0] if stack.functions else "?"


def _owner(ctx: Context, stack: Stack) -> str:
    """Who holds what a stack allocated (or whose work it is): the informer caches when a reflector/DeltaFIFO/
    indexer is on the stack or the stack decodes a watch stream (the controller watches only through its
    informers), else the innermost controller or client-go subsystem, else the innermost library."""
    subsystems = ctx.subsystems(stack)
    if cat.INFORMERS in subsystems or _WATCH_DECODER in stack.functions:
        return cat.INFORMERS
    for name, subsystem in zip(stack.functions, subsystems, strict=True):
        if ctx.layer(name) in ("controller", "client-go"):
            return subsystem
    for name, subsystem in zip(stack.functions, subsystems, strict=True):
        if ctx.layer(name) != "runtime":
            return subsystem
    return subsystems[0] if subsystems else "?"


def _top(counter: Counter[str], limit: int = 3) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _plural(kind: str) -> str:
    """``ReplicaSet`` -> ``ReplicaSets``; descriptions of untyped objects stay as they are."""
    return f"{kind}s" if kind in cat.OBJECT_KINDS else kind


def _stack_kind(stack: Stack) -> str | None:
    """The API object type a stack works on (the ReplicaSet being decoded, the AnalysisRuns being listed)."""
    return cat.object_type(stack.functions)


# ---- shared evidence (pure helpers several rules read) ------------------------------------------------------

@dataclass(frozen=True)
class _Delta:
    """What grew between two profiles of one kind: per stack, the positive difference."""

    base: ProfileInput
    new: ProfileInput
    before: int
    after: int
    grown: tuple[tuple[tuple[str, ...], int], ...]  # (functions, delta), largest first

    @property
    def growth(self) -> int:
        return self.after - self.before


def _by_stack(ctx: Context, item: ProfileInput, sample_type: str) -> dict[tuple[str, ...], int]:
    merged: dict[tuple[str, ...], int] = {}
    for stack in ctx.stacks(item, sample_type):
        merged[stack.functions] = merged.get(stack.functions, 0) + stack.value
    return merged


def _delta(ctx: Context, kind: str, sample_type: str) -> _Delta | None:
    def compute() -> _Delta | None:
        pair = ctx.data.pair(kind)
        if pair is None:
            return None
        base, new = pair
        before, after = _by_stack(ctx, base, sample_type), _by_stack(ctx, new, sample_type)
        grown = sorted(((functions, value - before.get(functions, 0)) for functions, value in after.items()
                        if value > before.get(functions, 0)), key=lambda item: (-item[1], item[0]))
        return _Delta(base, new, sum(before.values()), sum(after.values()), tuple(grown))
    return ctx.once(("delta", kind, sample_type), compute)  # type: ignore[no-any-return]


def _is_informer_loop(functions: Sequence[str]) -> bool:
    return any(name.startswith(_INFORMER_LOOPS) for name in functions)


def _informer_goroutines(ctx: Context) -> tuple[int, _Delta] | None:
    """Goroutines of informer loops (reflectors, listeners) that grew between two goroutine profiles, when they
    grew by at least GOROUTINE_GROWTH: informers started and never stopped."""
    delta = _delta(ctx, "goroutine", "goroutine")
    if delta is None:
        return None
    grown = sum(value for functions, value in delta.grown if _is_informer_loop(functions))
    return (grown, delta) if grown >= GOROUTINE_GROWTH else None


def _heap_growth_by_owner(ctx: Context) -> tuple[_Delta, Counter[str], Counter[str]] | None:
    """The in-use heap growth between two heap profiles, by owner and by site, when it is large enough."""
    delta = _delta(ctx, "heap", "inuse_space")
    if delta is None or delta.growth < HEAP_GROWTH_BYTES or delta.growth < HEAP_GROWTH_SHARE * delta.before:
        return None
    owners: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    for functions, value in delta.grown:
        stack = Stack(functions, value)
        owners[_owner(ctx, stack)] += value
        sites[_site(ctx, stack)] += value
    return delta, owners, sites


def _metrics_versions(data: AnalysisInput) -> list[str]:
    return [snapshot.version for snapshot in data.metrics if snapshot.version]


def _known(ctx: Context, finding_id: str, tokens: Iterable[str]) -> list[str]:
    return issue_notes(finding_id, tokens, ctx.version)


def _claims(notes: Iterable[str]) -> bool:
    """Whether a known issue is claimed (not only named as fixed in the version in use)."""
    return any(note.startswith("matches") for note in notes)


# ---- CPU ----------------------------------------------------------------------------------------------------

def _thin_profiles(data: AnalysisInput) -> list[tuple[ProfileInput, Finding]]:
    """Profiles too thin to conclude anything from, each with the finding that says so."""
    thin = []
    for item in data.of_kind("cpu"):
        profile = item.profile
        samples = profile.total("samples") if any(t.type == "samples" for t in profile.sample_types) else 0
        cpu_seconds = profile.total("cpu") / 1e9
        if samples >= MIN_CPU_SAMPLES and cpu_seconds >= MIN_CPU_SECONDS:
            continue
        thin.append((item, Finding(
            "too-few-samples", "info",
            f"{item.name}: only {samples} samples ({cpu_seconds:.2f}s of CPU): too few to conclude anything",
            (f"the controller was mostly idle while the profile was taken "
             f"(needs at least {MIN_CPU_SAMPLES} samples and {MIN_CPU_SECONDS:g}s of CPU)",),
            "capture again while the symptom is present, or for longer (--seconds 60)",
            (("samples", samples), ("cpuSeconds", round(cpu_seconds, 3)), ("minSamples", MIN_CPU_SAMPLES)),
            source=item.name,
        )))  # fmt: skip
    for item in data.of_kind("heap"):
        in_use = item.profile.total("inuse_space")
        if in_use < MIN_HEAP_BYTES:
            thin.append((item, Finding(
                "too-few-samples", "info",
                f"{item.name}: only {_bytes(in_use)} in use: too little to conclude anything",
                ("the heap profile holds almost nothing in use",),
                "capture the heap when memory is high (compare two snapshots minutes apart)",
                (("inuseBytes", in_use), ("minBytes", MIN_HEAP_BYTES)), source=item.name,
            )))  # fmt: skip
    return thin


def _too_few_samples(ctx: Context) -> Iterable[Finding]:
    return [finding for _, finding in _thin_profiles(ctx.data)]


def _allocation_sites(ctx: Context, cpu: ProfileInput) -> list[tuple[str, int, str]]:
    """Where the allocations come from: the allocs (or heap) profile's alloc_space by site when one was given,
    else the CPU spent in runtime.mallocgc by calling site. (site, value, unit)"""
    source = next(iter(ctx.data.of_kind("allocs") + ctx.data.of_kind("heap")), None)
    sites: Counter[str] = Counter()
    if source is not None:
        for stack in ctx.stacks(source, "alloc_space"):
            sites[_site(ctx, stack)] += stack.value
        return [(site, value, "bytes") for site, value in _top(sites)]
    for stack in ctx.stacks(cpu, "cpu"):
        if any(name.startswith("runtime.mallocgc") for name in stack.functions):
            sites[_site(ctx, stack)] += stack.value
    return [(site, value, "nanoseconds") for site, value in _top(sites)]


def _gc_share(ctx: Context) -> Iterable[Finding]:
    for item in ctx.concluded("cpu"):
        total = gc = 0
        for stack in ctx.stacks(item, "cpu"):
            total += stack.value
            if _GC.intersection(ctx.subsystems(stack)) or "runtime.gcAssistAlloc" in stack.functions:
                gc += stack.value
        share = gc / total if total else 0.0
        if share < GC_SHARE:
            continue
        sites = _allocation_sites(ctx, item)
        evidence = [f"garbage collection (marking, sweeping, assists) took {_pct(share)} of the CPU samples "
                    f"({scaled_label(gc, 'nanoseconds')} of {scaled_label(total, 'nanoseconds')})"]
        evidence += [f"allocation site: {_short(site)} ({scaled_label(value, unit)}, "
                     f"{ctx.catalog.match(site).subsystem})" for site, value, unit in sites]
        top_site = _short(sites[0][0]) if sites else "the top allocation sites"
        yield Finding(
            "gc-share", "warning" if share < 0.4 else "critical",
            f"{item.name}: garbage collection takes {_pct(share)} of the CPU; most allocation comes from {top_site}",
            tuple(evidence),
            f"reduce allocation in {top_site} (reuse objects, avoid deep copies); compare with `allocs`; "
            "a GOMEMLIMIT / GOGC raise trades memory for CPU",
            (("gcShare", round(share, 4)), ("gcNanoseconds", gc), ("cpuNanoseconds", total),
             ("threshold", GC_SHARE)),
            subsystem=cat.GC_MARK, source=item.name,
        )  # fmt: skip


def _cpu_decoding(ctx: Context) -> Iterable[Finding]:
    """API responses and watch events decoded: JSON/protobuf frames on a stack with no object conversion (objects
    re-converted from unstructured are conversion churn, whose cure is not the wire format)."""
    for item in ctx.concluded("cpu"):
        total = decoding = 0
        callers: Counter[str] = Counter()
        owners: Counter[str] = Counter()
        for stack in ctx.stacks(item, "cpu"):
            total += stack.value
            subsystems = ctx.subsystems(stack)
            if not _DECODE.intersection(subsystems) or cat.CONVERSION in subsystems:
                continue
            decoding += stack.value
            caller = next((name for name in stack.functions if ctx.layer(name) in ("controller", "client-go")),
                          _site(ctx, stack))
            callers[caller] += stack.value
            owners[_owner(ctx, stack)] += stack.value
        share = decoding / total if total else 0.0
        if share < DECODING_SHARE:
            continue
        owner = _top(owners, 1)[0][0] if owners else "?"
        cause = ("watch events decoded by the informers: too many watches, relists or very large objects"
                 if owner == cat.INFORMERS else "large API responses (lists) decoded by the REST client")
        evidence = [f"JSON/protobuf decoding took {_pct(share)} of the CPU samples "
                    f"({scaled_label(decoding, 'nanoseconds')})"]
        evidence += [f"decoded for {_short(name)} ({scaled_label(value, 'nanoseconds')})"
                     for name, value in _top(callers)]
        yield Finding(
            "cpu-decoding", "warning",
            f"{item.name}: {_pct(share)} of the CPU decodes API objects, mostly for {owner}: {cause}",
            tuple(evidence),
            "check the size of the objects listed/watched (kubectl get --raw ... | wc -c), the number of watches "
            "and relists in controller_clientset_k8s_request_total; enable protobuf where the API offers it",
            (("decodingShare", round(share, 4)), ("decodingNanoseconds", decoding), ("threshold", DECODING_SHARE)),
            subsystem=owner, source=item.name,
        )  # fmt: skip


def _conversion_profiles(ctx: Context) -> list[tuple[ProfileInput, str, str]]:
    """(profile, sample type, unit) to look for conversion in: CPU profiles, and allocs profiles by bytes."""
    found = [(item, "cpu", "nanoseconds") for item in ctx.concluded("cpu")]
    found += [(item, "alloc_space", "bytes") for item in ctx.data.of_kind("allocs")]
    return found


def _converter(ctx: Context, stack: Stack) -> tuple[str, str]:
    """Who converts on a stack: (the frame that asks for the objects, what it is): a metrics collector run on
    every scrape, else the controller code that listed or got them (innermost frame outside conversion, listers
    and client-go)."""
    for name, subsystem in zip(stack.functions, ctx.subsystems(stack), strict=True):
        if subsystem == cat.METRICS_SCRAPE or (name.startswith(f"{AR}/controller/metrics.") and ".Collect" in name):
            return name, "a metrics collector, on every scrape of /metrics"
    for name, subsystem in zip(stack.functions, ctx.subsystems(stack), strict=True):
        if (ctx.layer(name) == "controller" and subsystem != cat.CONVERSION and "tolerantinformer" not in name
                and "Lister)" not in name and "/pkg/client/" not in name):
            return name, "the controller's own code"
    return _site(ctx, stack), "other code"


def _conversion_churn(ctx: Context) -> Iterable[Finding]:
    for item, sample_type, unit in _conversion_profiles(ctx):
        total = converting = 0
        converters: Counter[str] = Counter()
        listers: Counter[str] = Counter()
        roles: dict[str, str] = {}
        kinds: Counter[str] = Counter()
        tokens: set[str] = set()
        for stack in ctx.stacks(item, sample_type):
            total += stack.value
            if cat.CONVERSION not in ctx.subsystems(stack):
                continue
            converting += stack.value
            who, role = _converter(ctx, stack)
            converters[who] += stack.value
            roles[who] = role
            lister = next((name for name in stack.functions if "Lister)." in name), None)
            if lister:
                listers[lister] += stack.value
            kinds[_stack_kind(stack) or "?"] += stack.value
            tokens.update(stack.functions)
        share = converting / total if total else 0.0
        if share < CONVERSION_SHARE:
            continue
        who = _top(converters, 1)[0][0]
        kind = next((k for k, _ in _top(kinds, 5) if k != "?"), "")
        count = _object_count(ctx.data.metrics, kind)
        objects = f"{count} {kind}s" if count is not None and kind else (f"every {kind}" if kind else "objects")
        what = "CPU" if sample_type == "cpu" else "allocated bytes"
        evidence = [f"object conversion (unstructured to typed, deep copies, JSON re-marshalling) took "
                    f"{_pct(share)} of the {what} ({scaled_label(converting, unit)})"]
        evidence += [f"converted for {_short(name)} ({roles[name]}): {scaled_label(value, unit)}"
                     for name, value in _top(converters)]
        evidence += [f"through the lister {_short(name)}, which converts every object it returns "
                     f"({scaled_label(value, unit)})" for name, value in _top(listers, 2)]
        if count is not None and kind:
            evidence.append(f"the controller's metrics list {count} {kind}s ({_INFO_METRICS[kind]})")
        notes = _known(ctx, "conversion-churn", tokens)
        evidence += notes
        on_scrape = roles[who].startswith("a metrics collector")
        history = (", keep fewer finished AnalysisRuns and Experiments (spec.analysis.successfulRunHistoryLimit / "
                   "unsuccessfulRunHistoryLimit on the Rollouts)" if kind in ("AnalysisRun", "Experiment", "") else "")
        next_step = (f"every scrape of /metrics converts {objects} again: scrape the controller less often (the "
                     f"ServiceMonitor's interval){history}" if on_scrape else
                     f"{_short(who)} converts {objects} on each call: look at how often it runs (the reconcile "
                     f"rate, *_reconcile metrics){history}")
        next_step += "; upgrade to a release that converts once per object change" if _claims(notes) else ""
        how = ("re-converts {} from unstructured" if any("romUnstructured" in name for name in tokens) else
               "copies or re-marshals {}").format(objects)
        yield Finding(
            "conversion-churn", "warning" if share < 0.4 else "critical",
            f"{item.name}: {_pct(share)} of the {what} {how}, for {_short(who)} ({roles[who]})",
            tuple(evidence), next_step,
            (("conversionShare", round(share, 4)), ("conversionValue", converting), ("unit", unit),
             ("objects", count if count is not None else -1), ("threshold", CONVERSION_SHARE)),
            subsystem=cat.CONVERSION, source=item.name,
        )  # fmt: skip


def _object_count(metrics: Sequence[MetricsSnapshot], kind: str) -> int | None:
    """How many objects of ``kind`` the controller's last metrics snapshot lists (its ``*_info`` series)."""
    metric = _INFO_METRICS.get(kind)
    if not metrics or metric is None:
        return None
    names = {(sample.label("namespace"), sample.label("name")) for sample in metrics[-1].values(metric)}
    return len(names) if names else None


# ---- reconcile rate -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Reconciles:
    metric: str
    kind: str
    counts: dict[tuple[str, str], int]  # per object, in the interval looked at
    seconds: float | None  # the interval's length, when times say
    since: str  # what the interval is


def _reconciles(metrics: Sequence[MetricsSnapshot], metric: str, kind: str) -> _Reconciles | None:
    """Reconciles per object: between the first and the last snapshot when two are given, else since the
    controller started (``process_start_time_seconds``)."""
    if not metrics:
        return None
    first, last = metrics[0], metrics[-1]
    counts = last.reconcile_counts(metric)
    if not counts:
        return None
    if len(metrics) > 1:
        before = first.reconcile_counts(metric)
        counts = {key: value - before.get(key, 0) for key, value in counts.items()}
        seconds = (last.taken_at - first.taken_at
                   if last.taken_at is not None and first.taken_at is not None else None)
        return _Reconciles(metric, kind, counts, seconds if seconds and seconds > 0 else None,
                           f"between {first.source} and {last.source}")
    started = last.value("process_start_time_seconds")
    seconds = last.taken_at - started if last.taken_at is not None and started else None
    return _Reconciles(metric, kind, counts, seconds if seconds and seconds > 0 else None,
                       "since the controller started")


def _cpu_share_in(ctx: Context, *, function: str = "", subsystem: str = "") -> tuple[float, str] | None:
    """The share of the first conclusive CPU profile with ``function`` or ``subsystem`` on the stack, and its name."""
    item = next(iter(ctx.concluded("cpu")), None)
    if item is None:
        return None
    total = hit = 0
    for stack in ctx.stacks(item, "cpu"):
        total += stack.value
        if (function and function in stack.functions) or (subsystem and subsystem in ctx.subsystems(stack)):
            hit += stack.value
    return (hit / total if total else 0.0), item.name


def _requests_for(metrics: Sequence[MetricsSnapshot], kind: str, namespace: str, name: str) -> Counter[str]:
    """The controller's API requests for one object by verb and status (controller_clientset_k8s_request_total)."""
    found: Counter[str] = Counter()
    if not metrics:
        return found
    for sample in metrics[-1].values("controller_clientset_k8s_request_total"):
        if (sample.label("kind"), sample.label("namespace"), sample.label("name")) == (cat.OBJECT_KINDS[kind],
                                                                                       namespace, name):
            found[f"{sample.label('verb')} {sample.label('status_code')}"] += int(sample.value)
    return found


def _reconcile_hot_loop(ctx: Context) -> Iterable[Finding]:
    for metric, kind in RECONCILE_KINDS:
        seen = _reconciles(ctx.data.metrics, metric, kind)
        if seen is None:
            continue
        ranked = sorted(seen.counts.items(), key=lambda item: (-item[1], item[0]))
        (namespace, name), count = ranked[0]
        others = [value for _, value in ranked[1:]]
        median = statistics.median(others) if others else None
        rate = count / seen.seconds if seen.seconds else None
        if count < (HOT_LOOP_MIN if seen.seconds or len(ctx.data.metrics) > 1 else HOT_LOOP_MIN_UNTIMED):
            continue
        if median is not None and count < HOT_LOOP_FACTOR * max(median, 1):
            continue
        if (rate is None and median is None) or (rate is not None and rate < HOT_LOOP_RATE):
            continue
        pace = f" ({rate:.1f} a second)" if rate is not None else ""
        evidence = [f"{metric}_count{{namespace={namespace!r}, name={name!r}}}: {count} reconciles {seen.since}"
                    f"{pace}"]
        if median is not None:
            evidence.append(f"the other {len(others)} {kind}s: {median:g} reconciles each (median), "
                            f"{count / max(median, 1):.0f}x fewer")
        requests = _requests_for(ctx.data.metrics, kind, namespace, name)
        if requests:
            evidence.append("its API requests: " + ", ".join(f"{key}: {value}" for key, value in _top(requests, 4)))
        handler = _SYNC_HANDLERS[kind]
        reconciling = _cpu_share_in(ctx, function=handler)
        if reconciling is not None:
            evidence.append(f"{_short(handler)} took {_pct(reconciling[0])} of the CPU in {reconciling[1]}")
        logging = _cpu_share_in(ctx, subsystem=cat.LOGGING)
        if logging is not None and logging[0] > 0:
            evidence.append(f"logging took {_pct(logging[0])} of the CPU in {logging[1]} (each reconcile logs)")
        conflicts = sum(value for key, value in requests.items() if key.endswith(" 409"))
        writer = (f"; its {conflicts} conflicting writes (409) point at another writer" if conflicts else "")
        yield Finding(
            "reconcile-hot-loop", "critical" if rate is not None and rate >= 10 * HOT_LOOP_RATE else "warning",
            f"{kind} {namespace}/{name} is reconciled over and over: {count} times {seen.since}{pace}"
            + (f", {count / max(median or 0, 1):.0f}x the others" if median is not None else ""),
            tuple(evidence),
            f"find what requeues {namespace}/{name}: `kubectl logs <leader pod> | grep '{name}'` shows each "
            "reconcile and what it changed. Two causes fit: the controller requeues it itself (a status or "
            "condition it never settles), or another writer keeps changing it (Argo CD, an HPA, a webhook). "
            f"Its resourceVersion and managedFields tell them apart (kubectl get {kind.lower()} -n {namespace} "
            f"{name} -w --show-managed-fields -o yaml): changes by other managers mean the other writer{writer}",
            (("reconciles", count), ("perSecond", round(rate, 3) if rate is not None else -1),
             ("othersMedian", median if median is not None else -1), ("factor", HOT_LOOP_FACTOR),
             ("object", f"{namespace}/{name}"), ("kind", kind)),
            subsystem={"Rollout": "rollout reconcile", "AnalysisRun": "analysis runs",
                       "Experiment": "experiments"}[kind],
            source=ctx.data.metrics[-1].source,
        )  # fmt: skip


# ---- heap ---------------------------------------------------------------------------------------------------

def _heap_growth(ctx: Context) -> Iterable[Finding]:
    grown = _heap_growth_by_owner(ctx)
    if grown is None:
        return
    delta, owners, sites = grown
    top_owner = _top(owners, 1)[0][0] if owners else "?"
    where = {cat.INFORMERS: "the informer caches (objects kept by the reflector/indexer)",
             cat.METRICS_RECORD: "Prometheus metric vectors (one entry per label set)"}.get(
        top_owner, f"the controller's own state ({top_owner})")
    evidence = [f"in-use heap grew {_bytes(delta.growth)}, from {_bytes(delta.before)} to {_bytes(delta.after)}"]
    evidence += [f"grew in {owner}: {_bytes(value)}" for owner, value in _top(owners)]
    evidence += [f"allocation site: {_short(site)} (+{_bytes(value)})" for site, value in _top(sites)]
    next_step = {
        cat.INFORMERS: "see the informer finding: informer-memory names the object type the caches hold, "
                       "informer-leak says when the informers themselves multiply; compare two goroutine "
                       "snapshots if neither is there",
        cat.METRICS_RECORD: "see metric-series-growth; take two /metrics snapshots minutes apart to see which "
                        "metric's series multiply",
    }.get(top_owner, f"look for state kept and never released in {top_owner}; take another heap snapshot later "
                     "to confirm it keeps growing")
    yield Finding(
        "heap-growth", "warning", f"heap grew {_bytes(delta.growth)} between {delta.base.name} and "
        f"{delta.new.name}, mostly in {where}", tuple(evidence), next_step,
        (("growthBytes", delta.growth), ("beforeBytes", delta.before), ("afterBytes", delta.after),
         ("topOwnerBytes", owners[top_owner] if owners else 0)),
        subsystem=top_owner, source=f"{delta.base.name} -> {delta.new.name}",
    )  # fmt: skip


_UNSTRUCTURED = "unstructured (Argo Rollouts CRDs through the dynamic informer)"
_WATCHED = "objects decoded from watch events (the stack names no type)"
_UNTYPED = "objects whose stack names no type"
_COUNT_BY_TYPE = ("count the objects of each type the controller watches; a heap profile taken soon after a restart "
                  "names the types (the informers' initial lists carry them)")
_TYPE_ADVICE = {
    "ReplicaSet": "lower revisionHistoryLimit on the Rollouts (default 10 old ReplicaSets each); count them with "
                  "`kubectl get rs -A --no-headers | wc -l` (before v1.10.0-rc1 the controller caches the ReplicaSets "
                  "of Deployments too, so their revisionHistoryLimit counts as well)",
    "AnalysisRun": "keep fewer finished AnalysisRuns: spec.analysis.successfulRunHistoryLimit and "
                   "unsuccessfulRunHistoryLimit on each Rollout (default 5 each)",
    "Experiment": "keep fewer finished Experiments: spec.analysis.successfulRunHistoryLimit and "
                  "unsuccessfulRunHistoryLimit on each Rollout also limit experiments (default 5 each)",
    "Pod": "the controller caches Pods of the namespaces it watches: count them, and watch one namespace "
           "(--namespaced) if the controller only needs that",
    _WATCHED: _COUNT_BY_TYPE,
    _UNTYPED: _COUNT_BY_TYPE,
    _UNSTRUCTURED: "count the Rollouts, AnalysisRuns and Experiments (kubectl get rollouts,analysisruns,"
                   "experiments -A --no-headers | wc -l) and their size; keep fewer finished AnalysisRuns "
                   "(spec.analysis.successfulRunHistoryLimit / unsuccessfulRunHistoryLimit)",
}


def _informer_types(ctx: Context, grown: Iterable[tuple[tuple[str, ...], int]]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for functions, value in grown:
        stack = Stack(functions, value)
        if _owner(ctx, stack) != cat.INFORMERS:
            continue
        kind = _stack_kind(stack)
        if kind is None and any("unstructured" in name for name in functions):
            kind = _UNSTRUCTURED
        elif kind is None and _WATCH_DECODER in functions:
            kind = _WATCHED
        kinds[kind or _UNTYPED] += value
    return kinds


def _informer_stacks(ctx: Context, item: ProfileInput) -> list[tuple[tuple[str, ...], int]]:
    """The in-use heap's stacks that run informer code or decode (watch streams are decoded for the informers),
    picked in bulk (a few stacks of a huge profile)."""
    return ctx.once(("informer stacks", item.name, id(item.profile)), lambda: [
        (stack.functions, stack.value)
        for stack in stacks(item.profile, "inuse_space", within=(cat.INFORMERS, cat.DECODING), catalog=ctx.catalog)])


def _informer_memory(ctx: Context) -> Iterable[Finding]:
    if _informer_goroutines(ctx) is not None:
        return  # informers multiply: informer-leak says so, and pruning objects would not help
    grown = _heap_growth_by_owner(ctx)
    if grown is not None and _top(grown[1], 1)[0][0] == cat.INFORMERS:
        delta = grown[0]
        kinds = _informer_types(ctx, delta.grown)
        held = _informer_types(ctx, _informer_stacks(ctx, delta.new))
        source, severity, how = f"{delta.base.name} -> {delta.new.name}", "warning", "grew"
        between = f" between {delta.base.name} and {delta.new.name}"
    else:
        heaps = ctx.data.of_kind("heap")
        if not heaps:
            return
        held = kinds = _informer_types(ctx, _informer_stacks(ctx, heaps[-1]))
        if sum(held.values()) < INFORMER_BYTES:
            return
        source, severity, how, between = heaps[-1].name, "info", "hold", ""
    if not kinds:
        return
    kind, value = _top(kinds, 1)[0]
    label = _plural(kind)
    evidence = [f"{_plural(k)}: {_bytes(held.get(k, 0))} in use"
                + (f" (+{_bytes(v)})" if how == "grew" else "") for k, v in _top(kinds, 4)]
    notes = _known(ctx, "informer-memory", [f"type {k}" for k in kinds])
    evidence += notes
    advice = _TYPE_ADVICE.get(kind, f"count the {label} the controller watches and their size")
    yield Finding(
        "informer-memory", severity,
        f"the informer caches {how} {label}: {_bytes(held.get(kind, value))}"
        + (f" (+{_bytes(value)}{between})" if how == "grew" else ""),
        tuple(evidence),
        f"{advice}. If the number of {label} did not grow, compare two goroutine snapshots: growing reflector "
        "goroutines mean informers started and never stopped (a leak, which pruning does not fix)"
        + ("; or upgrade (see the known issue above)" if _claims(notes) else ""),
        (("type", kind), ("bytes", held.get(kind, value)), ("growthBytes", value if how == "grew" else 0)),
        subsystem=cat.INFORMERS, source=source,
    )  # fmt: skip


def _informer_creator(ctx: Context) -> str:
    """Who creates the informers that grew: the innermost frame outside client-go, the runtime and the libraries
    on heap stacks that grew under informer code (the informers' own structures are allocated by their
    creator)."""
    grown = _delta(ctx, "heap", "inuse_space")
    creators: Counter[str] = Counter()
    for functions, value in grown.grown if grown else ():
        stack = Stack(functions, value)
        if cat.INFORMERS not in ctx.subsystems(stack) or _is_informer_loop(functions):
            continue
        creator = next((name for name in functions if ctx.layer(name) in ("controller", "cli", "other")
                        and "/pkg/client/" not in name), None)
        if creator:
            creators[creator] += value
    return _top(creators, 1)[0][0] if creators else ""


def _informer_leak(ctx: Context) -> Iterable[Finding]:
    found = _informer_goroutines(ctx)
    if found is None:
        return
    count, delta = found
    heap = _heap_growth_by_owner(ctx)
    informer_heap = heap[1][cat.INFORMERS] if heap else 0
    creator = _informer_creator(ctx)
    loops: Counter[str] = Counter()
    tokens: set[str] = set()
    for functions, value in delta.grown:
        if _is_informer_loop(functions):
            loops[_short(next(name for name in functions if name.startswith(_INFORMER_LOOPS)))] += value
            tokens.update(functions)
    if heap:
        tokens.update(name for functions, _ in heap[0].grown for name in functions)
    evidence = [f"informer goroutines (reflectors, listeners) grew by {count} between {delta.base.name} and "
                f"{delta.new.name}"]
    evidence += [f"+{value} in {name}" for name, value in _top(loops)]
    if informer_heap:
        evidence.append(f"the informer caches grew {_bytes(informer_heap)} at the same time")
    if creator:
        evidence.append(f"informers created by {_short(creator)}")
    evidence += _known(ctx, "informer-leak", tokens)
    by = f" by {_short(creator)}" if creator else ""
    yield Finding(
        "informer-leak", "critical" if informer_heap else "warning",
        f"informers are started and never stopped{by}: {count} more informer goroutines"
        + (f", informer caches +{_bytes(informer_heap)}" if informer_heap else ""),
        tuple(evidence),
        f"find where informers are started{by} with a stop channel or context that is never closed (every "
        "start keeps its own cache of every object and its own watch); restarting the process releases them "
        "until it happens again. Deleting objects does not help: the copies multiply, not the objects",
        (("goroutineGrowth", count), ("informerHeapGrowthBytes", informer_heap), ("creator", creator)),
        subsystem=cat.INFORMERS, source=f"{delta.base.name} -> {delta.new.name}",
    )  # fmt: skip


# ---- metric series ------------------------------------------------------------------------------------------

_SUFFIXES = ("_bucket", "_sum", "_count", "_created")  # a histogram's or summary's samples, one family


def _series(snapshot: MetricsSnapshot) -> dict[str, set[tuple[tuple[str, str], ...]]]:
    """Label sets per metric family (a histogram's buckets count once per label set)."""
    families: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for sample in snapshot.samples:
        family = next((sample.name[: -len(s)] for s in _SUFFIXES if sample.name.endswith(s)), sample.name)
        families.setdefault(family, set()).add(tuple(item for item in sample.labels if item[0] != "le"))
    return families


@dataclass(frozen=True)
class _SeriesGrowth:
    metric: str
    before: int
    after: int
    label: str  # the label whose distinct values grew most
    values_before: int
    values_after: int
    shared: tuple[str, ...]  # ``key=value`` of the other labels on the new series (at most 3 values a label)


def _series_growth(metrics: Sequence[MetricsSnapshot]) -> _SeriesGrowth | None:
    """The metric whose series grew most between the first and the last snapshot, the label whose distinct values
    grew most, and what the new series have in common."""
    if len(metrics) < 2:
        return None
    before, after = _series(metrics[0]), _series(metrics[-1])
    growth = sorted(((len(sets) - len(before.get(name, ())), name) for name, sets in after.items()), reverse=True)
    if not growth:
        return None
    grew, metric = growth[0]
    old = before.get(metric, set())
    if grew < SERIES_GROWTH or grew < SERIES_GROWTH_SHARE * len(old):
        return None
    labels = sorted({key for labels in after[metric] for key, _ in labels})

    def values(sets: Iterable[tuple[tuple[str, str], ...]], key: str) -> set[str | None]:
        return {dict(labels).get(key) for labels in sets}

    label = max(labels, key=lambda key: len(values(after[metric], key)) - len(values(old, key)))
    new = after[metric] - old
    shared = tuple(f"{key}={value}" for key in labels if key != label and len(values(new, key)) <= 3
                   for value in sorted(v for v in values(new, key) if v is not None))
    return _SeriesGrowth(metric, len(old), len(after[metric]), label, len(values(old, label)),
                         len(values(after[metric], label)), shared)


def _metric_series_growth(ctx: Context) -> Iterable[Finding]:
    series = _series_growth(ctx.data.metrics)
    heap = _heap_growth_by_owner(ctx)
    vectors = heap[1][cat.METRICS_RECORD] if heap else 0
    if series is None and vectors < HEAP_GROWTH_BYTES:
        return
    evidence = []
    tokens: list[str] = []
    if series is not None:
        evidence.append(f"{series.metric}: {series.before} -> {series.after} series (+{series.after - series.before})"
                        f" between {ctx.data.metrics[0].source} and {ctx.data.metrics[-1].source}")
        evidence.append(f"its label {series.label!r}: {series.values_before} -> {series.values_after} distinct "
                        "values")
        if series.shared:
            evidence.append("the new series have " + ", ".join(series.shared))
        tokens = [series.metric, f"label {series.label}", *series.shared]
    if vectors:
        evidence.append(f"Prometheus metric vectors took +{_bytes(vectors)} of the heap's growth")
    notes = _known(ctx, "metric-series-growth", tokens)
    evidence += notes
    if series is not None:
        title = (f"{series.metric} keeps adding series: +{series.after - series.before}, its label {series.label!r} "
                 "takes new values" + (f"; metric vectors +{_bytes(vectors)} of heap" if vectors else ""))
        next_step = (f"every new value of {series.label!r} is a series the controller keeps in memory until it "
                     "restarts: restarting the leader releases them now (dropping the label in Prometheus does not "
                     "shrink the controller)"
                     + ("; no release fixes it yet (see the known issue above)" if _claims(notes) else
                        f"; find which code labels {series.metric} with per-object values"))
    else:
        title = f"the heap grows in Prometheus metric vectors: +{_bytes(vectors)}"
        next_step = ("take two /metrics snapshots minutes apart and analyze them together: the metric whose series "
                     "multiply, and the label that takes new values, is the cause")
    yield Finding(
        "metric-series-growth", "warning", title, tuple(evidence), next_step,
        (("metric", series.metric if series else ""), ("label", series.label if series else ""),
         ("seriesBefore", series.before if series else -1), ("seriesAfter", series.after if series else -1),
         ("vectorHeapGrowthBytes", vectors)),
        subsystem=cat.METRICS_RECORD, source=ctx.data.metrics[-1].source if series else "",
    )  # fmt: skip


# ---- goroutines ---------------------------------------------------------------------------------------------

_WAITS = (
    ("net/http.(*persistConn).roundTrip", "waiting for an HTTP response that never comes (no client timeout)"),
    ("net/http.(*persistConn).readLoop", "an HTTP connection's read loop: the connection is never closed"),
    ("net/http.(*persistConn).writeLoop", "an HTTP connection's write loop: the connection is never closed"),
    ("internal/poll.(*FD).Read", "blocked reading from the network"),
    ("sync.(*Cond).Wait", "waiting on a condition variable"),
    ("sync.(*Mutex).Lock", "waiting for a mutex"),
    ("sync.(*WaitGroup).Wait", "waiting for other goroutines"),
    ("time.Sleep", "sleeping"),
    ("runtime.selectgo", "blocked in a select"),
    ("runtime.chanrecv", "blocked receiving from a channel"),
    ("runtime.chansend", "blocked sending on a channel"),
)


def _wait_point(stack: Stack) -> str:
    for function, meaning in _WAITS:
        if function in stack.functions:
            return meaning
    return "parked in " + (_short(stack.functions[0]) if stack.functions else "?")


def _goroutine_stacks_text(ctx: Context, grown: Sequence[tuple[tuple[str, ...], int]]) -> list[str]:
    lines = []
    for functions, delta in grown[:3]:
        stack = Stack(functions, delta)
        lines.append(f"+{delta} in {_short(_site(ctx, stack))} ({_owner(ctx, stack)}): {_wait_point(stack)}")
    return lines


def _goroutines_grew(ctx: Context) -> _Delta | None:
    delta = _delta(ctx, "goroutine", "goroutine")
    if delta is None or delta.growth < GOROUTINE_GROWTH or delta.growth < GOROUTINE_GROWTH_SHARE * delta.before:
        return None
    return delta


def _goroutine_growth(ctx: Context) -> Iterable[Finding]:
    delta = _goroutines_grew(ctx)
    if delta is None:
        return
    owners: Counter[str] = Counter()
    for functions, value in delta.grown:
        owners[_owner(ctx, Stack(functions, value))] += value
    # The goroutine that started the wait names the culprit better than the connection's own loops.
    controller_owned = [(o, v) for o, v in _top(owners, 10) if o not in (cat.NET_HTTP, "network I/O")]
    top_owner = controller_owned[0][0] if controller_owned else (_top(owners, 1)[0][0] if owners else "?")
    if top_owner == cat.INFORMERS and _informer_goroutines(ctx) is not None:
        return  # informers started and never stopped: informer-leak says so, with the right next step
    owned = [Stack(functions, value) for functions, value in delta.grown
             if _owner(ctx, Stack(functions, value)) == top_owner]
    top_wait = _wait_point(owned[0]) if owned else "?"
    evidence = [f"goroutines grew by {delta.growth}, from {delta.before} to {delta.after}"]
    evidence += _goroutine_stacks_text(ctx, delta.grown)
    http_wait = any("net/http.(*persistConn)" in "".join(functions) for functions, _ in delta.grown[:3])
    next_step = (f"set a timeout on the HTTP client of {top_owner} (and close response bodies); check that the "
                 "provider's address answers" if http_wait else
                 f"find what should end the goroutines started in {top_owner} (a missing cancel or close)")
    yield Finding(
        "goroutine-growth", "critical" if delta.growth >= 500 else "warning",
        f"goroutines grew by {delta.growth} between {delta.base.name} and {delta.new.name}, started by "
        f"{top_owner}: {top_wait}",
        tuple(evidence), next_step,
        (("growth", delta.growth), ("before", delta.before), ("after", delta.after)),
        subsystem=top_owner, source=f"{delta.base.name} -> {delta.new.name}",
    )  # fmt: skip


def _goroutines_waiting_http(ctx: Context) -> Iterable[Finding]:
    """Many goroutines waiting for HTTP responses in one snapshot, when no growth between two says more."""
    if _goroutines_grew(ctx) is not None:
        return
    for item in ctx.data.of_kind("goroutine")[-1:]:
        waiting: Counter[str] = Counter()
        count = 0
        for stack in ctx.stacks(item, "goroutine"):
            if "net/http.(*persistConn).roundTrip" in stack.functions:
                waiting[_owner(ctx, stack)] += stack.value
                count += stack.value
        if count < GOROUTINES_WAITING_HTTP:
            continue
        owner = _top(waiting, 1)[0][0]
        yield Finding(
            "goroutines-waiting-http", "warning",
            f"{item.name}: {count} goroutines wait for HTTP responses, mostly in {owner}",
            tuple(f"{value} goroutines in {name} wait for a response" for name, value in _top(waiting)),
            f"set a timeout on the HTTP client of {owner}; take a second goroutine snapshot to see if they grow",
            (("waiting", count),), subsystem=owner, source=item.name,
        )  # fmt: skip


# ---- metrics ------------------------------------------------------------------------------------------------

def _workqueue_backlog(ctx: Context) -> Iterable[Finding]:
    if not ctx.data.metrics:
        return
    first, last = ctx.data.metrics[0], ctx.data.metrics[-1]
    depths, first_depths = last.workqueue("workqueue_depth"), first.workqueue("workqueue_depth")
    longest = last.workqueue("workqueue_longest_running_processor_seconds")
    for queue, depth in sorted(depths.items()):
        grew = depth - first_depths.get(queue, depth)
        if depth < QUEUE_DEPTH and not (len(ctx.data.metrics) > 1 and grew >= QUEUE_GROWTH):
            continue
        evidence = [f"workqueue_depth{{name={queue!r}}} = {depth:g}"]
        if len(ctx.data.metrics) > 1:
            evidence.append(f"grew by {grew:g} between {first.source} and {last.source}")
        if queue in longest:
            evidence.append(f"longest running worker: {longest[queue]:.2f}s")
        workers: Counter[str] = Counter()
        for item in ctx.data.of_kind("goroutine")[-1:]:
            for stack in ctx.stacks(item, "goroutine"):
                if any(name.endswith("processNextWorkItem") for name in stack.functions):
                    workers[f"{_short(_site(ctx, stack))}: {_wait_point(stack)}"] += stack.value
        evidence += [f"{count} worker(s) in {where}" for where, count in _top(workers)]
        busy = f"; workers are busy in {_top(workers, 1)[0][0]}" if workers else ""
        yield Finding(
            "workqueue-backlog", "warning",
            f"work queue {queue!r} holds {depth:g} items and keeps growing{busy}" if grew > 0 else
            f"work queue {queue!r} holds {depth:g} items waiting for a worker{busy}",
            tuple(evidence),
            "see what the workers wait on (goroutine profile, block profile with its rate set); raise "
            "--rollout-threads only if they are CPU-bound",
            (("depth", depth), ("growth", grew), ("threshold", QUEUE_DEPTH)),
            subsystem=cat.WORKQUEUE, source=last.source,
        )  # fmt: skip


def _reconcile_latency(ctx: Context) -> Iterable[Finding]:
    if not ctx.data.metrics:
        return
    stats = ctx.data.metrics[-1].reconcile()
    if stats is None or stats.count < RECONCILE_MIN_COUNT:
        return
    slow_share = stats.share_slower_than(0.5)
    if stats.mean_seconds < RECONCILE_MEAN_SECONDS and slow_share < RECONCILE_SLOW_SHARE:
        return
    evidence = [f"{stats.count} reconciles took {stats.seconds:.2f}s: {stats.mean_seconds * 1000:.0f} ms each on "
                f"average", f"{_pct(stats.share_slower_than(0.25))} took longer than 0.25 s, {_pct(slow_share)} "
                f"longer than 0.5 s"]
    evidence += [f"{name}: {count} reconciles, {seconds:.2f}s" for name, count, seconds in stats.slowest[:3]]
    yield Finding(
        "reconcile-latency", "critical" if stats.mean_seconds >= 1 else "warning",
        f"rollout reconciles are slow: {stats.mean_seconds * 1000:.0f} ms on average over {stats.count} "
        f"(rollout_reconcile)",
        tuple(evidence),
        "profile CPU while it happens, and look at what syncHandler waits on (goroutine profile; block/mutex "
        "profiles once their rates are set); check the API server's latency",
        (("count", stats.count), ("meanSeconds", round(stats.mean_seconds, 4)),
         ("slowerThan500msShare", round(slow_share, 4)), ("thresholdSeconds", RECONCILE_MEAN_SECONDS)),
        subsystem="rollout reconcile", source=ctx.data.metrics[-1].source,
    )  # fmt: skip


RULES: tuple[Rule, ...] = (
    Rule("too-few-samples", "cpu, heap", _too_few_samples, "capture again while the symptom is present",
         _has("cpu", "heap")),
    Rule("gc-share", "cpu (+ allocs)", _gc_share, "reduce allocation at the named site; GOGC/GOMEMLIMIT", _has("cpu")),
    Rule("cpu-decoding", "cpu", _cpu_decoding, "object sizes, watches and relists; protobuf where offered",
         _has("cpu")),
    Rule("conversion-churn", "cpu or allocs (+ metrics)", _conversion_churn,
         "scrape less often / keep fewer objects / upgrade; never the wire format", _has("cpu", "allocs")),
    Rule("reconcile-hot-loop", "metrics (one or two snapshots) (+ cpu)", _reconcile_hot_loop,
         "what requeues the object: the controller itself or another writer", _has_metrics()),
    Rule("heap-growth", "two heaps", _heap_growth, "state kept and never released, by owner", _has_pair("heap")),
    Rule("informer-memory", "heap(s) (+ two goroutine profiles)", _informer_memory,
         "advice for the object type held (history limits)", _has("heap")),
    Rule("informer-leak", "two goroutine profiles (+ two heaps)", _informer_leak,
         "find who starts informers and never stops them; never pruning", _has_pair("goroutine")),
    Rule("metric-series-growth", "two metrics snapshots and/or two heaps", _metric_series_growth,
         "the metric and label that take new values; restart releases them",
         lambda data: len(data.metrics) >= 2 or data.pair("heap") is not None),
    Rule("goroutine-growth", "two goroutine profiles", _goroutine_growth, "a missing cancel, close or timeout",
         _has_pair("goroutine")),
    Rule("goroutines-waiting-http", "one goroutine profile", _goroutines_waiting_http, "an HTTP client timeout",
         _has("goroutine")),
    Rule("workqueue-backlog", "metrics (+ goroutine)", _workqueue_backlog, "what the workers wait on", _has_metrics()),
    Rule("reconcile-latency", "metrics", _reconcile_latency, "what syncHandler waits on", _has_metrics()),
)  # fmt: skip
_RULE_ORDER = {rule.id: index for index, rule in enumerate(RULES)}
RULES_BY_ID = {rule.id: rule for rule in RULES}


def context(data: AnalysisInput, catalog: Catalog | None = None) -> Context:
    """The read-only context every rule gets, computed before any of them runs."""
    thin = frozenset(item.name for item, _ in _thin_profiles(data))
    return Context(data, catalog or default_catalog(), thin, controller_version(data.facts, _metrics_versions(data)))


def find(data: AnalysisInput, catalog: Catalog | None = None, *, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every finding the rules make of ``data``, most severe first, then in the table's order (the same whatever
    order ``rules`` come in)."""
    ctx = context(data, catalog)
    found = []
    for rule in rules:
        for finding in rule.rule(ctx):
            assert finding.id == rule.id, (finding.id, rule.id)
            found.append(finding)
    return sorted(found, key=lambda finding: (SEVERITIES.index(finding.severity), _RULE_ORDER[finding.id],
                                              finding.source, finding.title))
