"""Findings: rules that turn profiles and metrics into one-line statements of what is wrong, each with its
evidence (numbers and the stacks behind them) and a next step. Every rule is a plain function of the
AnalysisInput; thresholds are module constants, named in the findings' numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kubectl_rollouts_profile.analysis import catalog as cat
from kubectl_rollouts_profile.analysis.catalog import Catalog, default_catalog
from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, ProfileInput
from kubectl_rollouts_profile.analysis.rollup import Stack, stacks
from kubectl_rollouts_profile.export.units import scaled_label

SEVERITIES = ("critical", "warning", "info")
MIN_CPU_SAMPLES = 100
MIN_CPU_SECONDS = 1.0
MIN_HEAP_BYTES = 1 << 20
GC_SHARE = 0.20
DECODING_SHARE = 0.15
HEAP_GROWTH_BYTES = 4 << 20
HEAP_GROWTH_SHARE = 0.10
GOROUTINE_GROWTH = 20
GOROUTINE_GROWTH_SHARE = 0.10
GOROUTINES_WAITING_HTTP = 100
QUEUE_DEPTH = 50
QUEUE_GROWTH = 20
RECONCILE_MIN_COUNT = 5
RECONCILE_MEAN_SECONDS = 0.25
RECONCILE_SLOW_SHARE = 0.10  # of reconciles slower than 0.5 s

_GC = {cat.GC_MARK, cat.GC_SWEEP}
_DECODE = {cat.JSON, cat.DECODING}


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


@dataclass
class _Context:
    data: AnalysisInput
    catalog: Catalog
    insufficient: set[str] = field(default_factory=set)  # profile names too thin to conclude from

    def subsystems(self, stack: Stack) -> list[str]:
        return [self.catalog.match(name).subsystem for name in stack.functions]

    def layer(self, name: str) -> str:
        return self.catalog.match(name).layer


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _short(function: str) -> str:
    """A function name without its package path's directories: ``cache.(*Reflector).watchHandler``."""
    return function.rsplit("/", 1)[-1]


def _site(ctx: _Context, stack: Stack) -> str:
    """The innermost frame that is controller or client-go code, else the innermost one outside the runtime."""
    for name in stack.functions:
        if ctx.layer(name) in ("controller", "client-go"):
            return name
    for name in stack.functions:
        if ctx.layer(name) != "runtime":
            return name
    return stack.functions[0] if stack.functions else "?"


def _owner(ctx: _Context, stack: Stack) -> str:
    """Who holds what a stack allocated: the informer caches when a reflector/DeltaFIFO/indexer is on the stack,
    else the innermost controller or client-go subsystem, else the innermost library."""
    subsystems = ctx.subsystems(stack)
    if cat.INFORMERS in subsystems:
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


# ---- CPU ----------------------------------------------------------------------------------------------------

def _too_few_samples(ctx: _Context) -> Iterable[Finding]:
    for item in ctx.data.of_kind("cpu"):
        profile = item.profile
        samples = profile.total("samples") if any(t.type == "samples" for t in profile.sample_types) else 0
        cpu_seconds = profile.total("cpu") / 1e9
        if samples >= MIN_CPU_SAMPLES and cpu_seconds >= MIN_CPU_SECONDS:
            continue
        ctx.insufficient.add(item.name)
        yield Finding(
            "too-few-samples", "info",
            f"{item.name}: only {samples} samples ({cpu_seconds:.2f}s of CPU): too few to conclude anything",
            (f"the controller was mostly idle while the profile was taken "
             f"(needs at least {MIN_CPU_SAMPLES} samples and {MIN_CPU_SECONDS:g}s of CPU)",),
            "capture again while the symptom is present, or for longer (--seconds 60)",
            (("samples", samples), ("cpuSeconds", round(cpu_seconds, 3)), ("minSamples", MIN_CPU_SAMPLES)),
            source=item.name,
        )  # fmt: skip
    for item in ctx.data.of_kind("heap"):
        in_use = item.profile.total("inuse_space")
        if in_use < MIN_HEAP_BYTES:
            ctx.insufficient.add(item.name)
            yield Finding(
                "too-few-samples", "info",
                f"{item.name}: only {scaled_label(in_use, 'bytes')} in use: too little to conclude anything",
                ("the heap profile holds almost nothing in use",),
                "capture the heap when memory is high (compare two snapshots minutes apart)",
                (("inuseBytes", in_use), ("minBytes", MIN_HEAP_BYTES)), source=item.name,
            )  # fmt: skip


def _allocation_sites(ctx: _Context, cpu: ProfileInput) -> list[tuple[str, int, str]]:
    """Where the allocations come from: the allocs (or heap) profile's alloc_space by site when one was given,
    else the CPU spent in runtime.mallocgc by calling site. (site, value, unit)"""
    source = next(iter(ctx.data.of_kind("allocs") + ctx.data.of_kind("heap")), None)
    sites: Counter[str] = Counter()
    if source is not None:
        for stack in stacks(source.profile, "alloc_space"):
            sites[_site(ctx, stack)] += stack.value
        return [(site, value, "bytes") for site, value in _top(sites)]
    for stack in stacks(cpu.profile, "cpu"):
        if "runtime.mallocgc" in stack.functions:
            sites[_site(ctx, stack)] += stack.value
    return [(site, value, "nanoseconds") for site, value in _top(sites)]


def _gc_share(ctx: _Context) -> Iterable[Finding]:
    for item in ctx.data.of_kind("cpu"):
        if item.name in ctx.insufficient:
            continue
        total = gc = 0
        for stack in stacks(item.profile, "cpu"):
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


def _cpu_decoding(ctx: _Context) -> Iterable[Finding]:
    for item in ctx.data.of_kind("cpu"):
        if item.name in ctx.insufficient:
            continue
        total = decoding = 0
        callers: Counter[str] = Counter()
        owners: Counter[str] = Counter()
        for stack in stacks(item.profile, "cpu"):
            total += stack.value
            if not _DECODE.intersection(ctx.subsystems(stack)):
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


# ---- heap ---------------------------------------------------------------------------------------------------

def _heap_growth(ctx: _Context) -> Iterable[Finding]:
    pair = ctx.data.pair("heap")
    if pair is None:
        return
    base, new = pair
    before, after = _by_stack(base, "inuse_space"), _by_stack(new, "inuse_space")
    total_before, total_after = sum(before.values()), sum(after.values())
    growth = total_after - total_before
    if growth < HEAP_GROWTH_BYTES or growth < HEAP_GROWTH_SHARE * total_before:
        return
    owners: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    for functions, value in after.items():
        delta = value - before.get(functions, 0)
        if delta <= 0:
            continue
        stack = Stack(functions, delta)
        owners[_owner(ctx, stack)] += delta
        sites[_site(ctx, stack)] += delta
    top_owner = _top(owners, 1)[0][0] if owners else "?"
    where = ("the informer caches (objects kept by the reflector/indexer)" if top_owner == cat.INFORMERS
             else f"the controller's own state ({top_owner})")
    evidence = [f"in-use heap grew {scaled_label(growth, 'bytes')}, from {scaled_label(total_before, 'bytes')} "
                f"to {scaled_label(total_after, 'bytes')}"]
    evidence += [f"grew in {owner}: {scaled_label(value, 'bytes')}" for owner, value in _top(owners)]
    evidence += [f"allocation site: {_short(site)} (+{scaled_label(value, 'bytes')})" for site, value in _top(sites)]
    next_step = ("the informers hold every watched object: check how many objects the controller watches "
                 "(Rollouts, ReplicaSets, AnalysisRuns...) and their size; prune old AnalysisRuns/ReplicaSets "
                 "(revisionHistoryLimit, analysis successfulRunHistoryLimit)"
                 if top_owner == cat.INFORMERS else
                 f"look for state kept and never released in {top_owner}; take another heap snapshot later to "
                 "confirm it keeps growing")
    yield Finding(
        "heap-growth", "warning", f"heap grew {scaled_label(growth, 'bytes')} between {base.name} and {new.name}, "
        f"mostly in {where}", tuple(evidence), next_step,
        (("growthBytes", growth), ("beforeBytes", total_before), ("afterBytes", total_after),
         ("topOwnerBytes", owners[top_owner] if owners else 0)),
        subsystem=top_owner, source=f"{base.name} -> {new.name}",
    )  # fmt: skip


def _by_stack(item: ProfileInput, sample_type: str) -> dict[tuple[str, ...], int]:
    merged: dict[tuple[str, ...], int] = {}
    for stack in stacks(item.profile, sample_type):
        merged[stack.functions] = merged.get(stack.functions, 0) + stack.value
    return merged


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


def _goroutine_stacks_text(ctx: _Context, grown: list[tuple[tuple[str, ...], int]]) -> list[str]:
    lines = []
    for functions, delta in grown[:3]:
        stack = Stack(functions, delta)
        lines.append(f"+{delta} in {_short(_site(ctx, stack))} ({_owner(ctx, stack)}): {_wait_point(stack)}")
    return lines


def _goroutine_growth(ctx: _Context) -> Iterable[Finding]:
    pair = ctx.data.pair("goroutine")
    if pair is None:
        yield from _goroutines_waiting_http(ctx)
        return
    base, new = pair
    before, after = _by_stack(base, "goroutine"), _by_stack(new, "goroutine")
    total_before, total_after = sum(before.values()), sum(after.values())
    growth = total_after - total_before
    if growth < GOROUTINE_GROWTH or growth < GOROUTINE_GROWTH_SHARE * total_before:
        yield from _goroutines_waiting_http(ctx)
        return
    grown = sorted(((functions, count - before.get(functions, 0)) for functions, count in after.items()
                    if count > before.get(functions, 0)), key=lambda item: (-item[1], item[0]))
    owners: Counter[str] = Counter()
    for functions, delta in grown:
        owners[_owner(ctx, Stack(functions, delta))] += delta
    # The goroutine that started the wait names the culprit better than the connection's own loops.
    controller_owned = [(o, v) for o, v in _top(owners, 10) if o not in (cat.NET_HTTP, "network I/O")]
    top_owner = controller_owned[0][0] if controller_owned else (_top(owners, 1)[0][0] if owners else "?")
    owned = [Stack(functions, delta) for functions, delta in grown
             if _owner(ctx, Stack(functions, delta)) == top_owner]
    top_wait = _wait_point(owned[0]) if owned else "?"
    evidence = [f"goroutines grew by {growth}, from {total_before} to {total_after}"]
    evidence += _goroutine_stacks_text(ctx, grown)
    http_wait = any("net/http.(*persistConn)" in "".join(functions) for functions, _ in grown[:3])
    next_step = (f"set a timeout on the HTTP client of {top_owner} (and close response bodies); check that the "
                 "provider's address answers" if http_wait else
                 f"find what should end the goroutines started in {top_owner} (a missing cancel or close)")
    yield Finding(
        "goroutine-growth", "critical" if growth >= 500 else "warning",
        f"goroutines grew by {growth} between {base.name} and {new.name}, started by {top_owner}: {top_wait}",
        tuple(evidence), next_step,
        (("growth", growth), ("before", total_before), ("after", total_after)),
        subsystem=top_owner, source=f"{base.name} -> {new.name}",
    )  # fmt: skip


def _goroutines_waiting_http(ctx: _Context) -> Iterable[Finding]:
    for item in ctx.data.of_kind("goroutine")[-1:]:
        waiting: Counter[str] = Counter()
        count = 0
        for stack in stacks(item.profile, "goroutine"):
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

def _workqueue_backlog(ctx: _Context) -> Iterable[Finding]:
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
            for stack in stacks(item.profile, "goroutine"):
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


def _reconcile_latency(ctx: _Context) -> Iterable[Finding]:
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


RULES: tuple[Callable[[_Context], Iterable[Finding]], ...] = (
    _too_few_samples, _gc_share, _cpu_decoding, _heap_growth, _goroutine_growth, _workqueue_backlog,
    _reconcile_latency,
)


def find(data: AnalysisInput, catalog: Catalog | None = None) -> list[Finding]:
    """Every finding the rules make of ``data``, most severe first (the rules' order within a severity)."""
    ctx = _Context(data, catalog or default_catalog())
    found = [finding for rule in RULES for finding in rule(ctx)]
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))
