"""Symptom runs: ``diagnose SYMPTOM`` runs the captures a symptom needs over one endpoint (with the capture lock, the
cooldown and the load guard), saves them into one directory, and writes the incident report with the analysis'
findings. ``SYMPTOMS`` is the table of symptoms: one row each with what it captures, the steps that do it, what the
load guard makes of it and the findings it is meant to bring out.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from kubectl_rollouts_profile import capture, deliver
from kubectl_rollouts_profile.analysis.findings import Finding, find
from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, ProfileInput
from kubectl_rollouts_profile.analysis.metrics import MetricsSnapshot, parse_metrics
from kubectl_rollouts_profile.analysis.report import render_report
from kubectl_rollouts_profile.budget import DEFAULT
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import RolloutsProfileError, Terminated, UsageError, note_leftovers
from kubectl_rollouts_profile.kinds import get_kind
from kubectl_rollouts_profile.loadguard import SHORT_CAPTURE_SECONDS, LoadReading
from kubectl_rollouts_profile.pipeline import (
    EMPTY_NOT_KEPT,
    CaptureOutcome,
    CaptureSpec,
    Destination,
    Endpoint,
    EndpointSpec,
    Sampling,
    discard_if_empty,
    metrics_location,
    open_endpoint,
    run_capture,
)
from kubectl_rollouts_profile.runbook import coldstart
from kubectl_rollouts_profile.runbook.bundle import fetch_pod_metrics

TREND_SNAPSHOTS = 5  # goroutine snapshots over --over for goroutine-leak


@dataclass(frozen=True)
class DiagnoseSpec:
    symptom: str
    over_seconds: float = 600.0
    cpu_seconds: int = 30
    directory: Path = Path(".")
    max_bytes: int = 512 * 1024 * 1024
    wait_seconds: float = 600.0  # cold-start: how long to wait for the start
    restart: bool = False  # cold-start: delete the leader first


@dataclass(frozen=True)
class DiagnoseOutcome:
    symptom: str
    source_name: str
    directory: Path
    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    report: Path
    warnings: tuple[str, ...] = ()
    load: LoadReading | None = None


@dataclass
class _Run:
    """What a run has collected so far: captures, metrics snapshots, files and warnings."""

    directory: Path
    captures: list[CaptureOutcome] = field(default_factory=list)
    metrics: list[MetricsSnapshot] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    trend: list[tuple[str, float]] = field(default_factory=list)


def run_diagnose(endpoint_spec: EndpointSpec, spec: DiagnoseSpec, env: Environment, *,
                 stop: threading.Event | None = None) -> DiagnoseOutcome:
    """Run the symptom's captures into a new directory under ``spec.directory``, then analyse and write the
    report there. ``stop`` cuts the waiting short (tests, Ctrl-C)."""
    symptom = SYMPTOMS.get(spec.symptom)
    if symptom is None:
        raise UsageError(f"unknown symptom {spec.symptom!r}", hint="choose from: " + ", ".join(SYMPTOMS))
    deliver.check_directory(spec.directory)
    stop = stop or threading.Event()
    started = datetime.now(timezone.utc)
    if symptom.steps is None:
        return _cold_start(endpoint_spec, spec, env, started)
    lock_seconds = spec.over_seconds + spec.cpu_seconds + 60
    made: list[Path] = []  # the run's directory, once made
    with (_complete_or_explained(made, spec.symptom),
          open_endpoint(endpoint_spec, env, lock_seconds=lock_seconds, timed=symptom.timed,
                        sampling=symptom.guard(spec)) as endpoint):
        run = _Run(_make_directory(spec.directory, endpoint.source_name, spec.symptom, started, made))
        env.message(f"diagnose {spec.symptom}: {endpoint.where}; files in {run.directory}")
        symptom.steps(endpoint, spec, run, env, _metrics_fetcher(endpoint_spec, endpoint), stop)
        run.warnings[:0] = endpoint.warnings()
        return _finish(run, spec.symptom, endpoint.source_name, env, started, load=endpoint.load)


def _make_directory(parent: Path, source_name: str, symptom: str, started: datetime, made: list[Path]) -> Path:
    """A new run directory, also appended to ``made`` (for ``_complete_or_explained``)."""
    stem = deliver.default_stem(source_name, f"diagnose-{symptom}", started)
    for name in deliver.numbered_names(stem):
        directory = parent / name
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as error:
            raise deliver.write_error(parent, error) from error
        made.append(directory)
        return directory
    raise UsageError(f"too many diagnose directories named {stem} in {parent}")


def _metrics_fetcher(endpoint_spec: EndpointSpec, endpoint: Endpoint) -> Callable[[], bytes] | None:
    if endpoint.connection is not None:
        connection = endpoint.connection
        return lambda: fetch_pod_metrics(connection)
    if endpoint_spec.load is not None and endpoint_spec.load.metrics_url is not None:
        base, path = metrics_location(endpoint_spec.load.metrics_url)
        return lambda: capture.fetch_text(base, path, timeout=10, max_bytes=DEFAULT.metrics_bytes)
    return None


def _capture(endpoint: Endpoint, run: _Run, kind_name: str, *, seconds: int | None = None, label: str | None = None,
             keep_empty: bool = True, max_bytes: int) -> CaptureOutcome | None:
    spec = CaptureSpec(kind=get_kind(kind_name), seconds=seconds, max_bytes=max_bytes,
                       destination=Destination(directory=run.directory, label=label))
    outcome = run_capture(spec, endpoint)
    if not keep_empty and discard_if_empty(outcome):
        run.warnings.append(f"{kind_name}: {EMPTY_NOT_KEPT}, not kept")
        return None
    run.captures.append(outcome)
    run.files.append(outcome.raw_path)
    run.warnings.extend(outcome.warnings)
    return outcome


def _metrics(run: _Run, fetch: Callable[[], bytes] | None, label: str) -> None:
    """One metrics snapshot saved as ``metrics-<label>.txt``; a failure is a warning, not the end of the run."""
    if fetch is None:
        return
    try:
        text = fetch()
        snapshot = parse_metrics(text.decode("utf-8", "replace"), source=f"metrics-{label}.txt",
                                 taken_at=time.time())
        path = deliver.write_atomic(run.directory / f"metrics-{label}.txt", text, force=False)
    except (RolloutsProfileError, OSError) as error:
        run.warnings.append(f"metrics at the {label} could not be read: {error}")
        return
    run.metrics.append(snapshot)
    run.files.append(str(path))


def _wait(env: Environment, stop: threading.Event, seconds: float, what: str) -> None:
    if seconds <= 0:
        return
    if stop.is_set():
        return
    env.message(f"waiting {seconds:.0f}s {what} (Ctrl-C cuts the wait short; the run still ends with its captures)")
    try:
        stop.wait(seconds)
    except KeyboardInterrupt as error:
        if type(error) is not KeyboardInterrupt:
            raise  # SIGTERM/SIGHUP: stop now, as every other command does
        env.message("interrupted: taking the closing captures now")
        stop.set()


def _memory_growth(endpoint: Endpoint, spec: DiagnoseSpec, run: _Run, env: Environment,
                   fetch: Callable[[], bytes] | None, stop: threading.Event) -> None:
    _metrics(run, fetch, "start")
    _capture(endpoint, run, "heap", label="heap-start", max_bytes=spec.max_bytes)
    _wait(env, stop, spec.over_seconds, "for the heap to grow")
    _capture(endpoint, run, "heap", label="heap-end", max_bytes=spec.max_bytes)
    _metrics(run, fetch, "end")


def _high_cpu(endpoint: Endpoint, spec: DiagnoseSpec, run: _Run, env: Environment,
              fetch: Callable[[], bytes] | None, stop: threading.Event) -> None:
    _metrics(run, fetch, "start")
    env.message(f"capturing cpu for {spec.cpu_seconds}s")
    _capture(endpoint, run, "cpu", seconds=spec.cpu_seconds, max_bytes=spec.max_bytes)
    _capture(endpoint, run, "allocs", max_bytes=spec.max_bytes)
    _metrics(run, fetch, "end")


def _slow_reconcile(endpoint: Endpoint, spec: DiagnoseSpec, run: _Run, env: Environment,
                    fetch: Callable[[], bytes] | None, stop: threading.Event) -> None:
    began = time.monotonic()
    _metrics(run, fetch, "start")
    env.message(f"capturing cpu for {spec.cpu_seconds}s")
    _capture(endpoint, run, "cpu", seconds=spec.cpu_seconds, max_bytes=spec.max_bytes)
    for kind_name in ("block", "mutex"):
        _capture(endpoint, run, kind_name, keep_empty=False, max_bytes=spec.max_bytes)
    _wait(env, stop, spec.over_seconds - (time.monotonic() - began), "for reconciles to add up in the metrics")
    _metrics(run, fetch, "end")


def _goroutine_leak(endpoint: Endpoint, spec: DiagnoseSpec, run: _Run, env: Environment,
                    fetch: Callable[[], bytes] | None, stop: threading.Event) -> None:
    _metrics(run, fetch, "start")
    every = spec.over_seconds / (TREND_SNAPSHOTS - 1)
    for number in range(TREND_SNAPSHOTS):
        if number:
            _wait(env, stop, every, f"for snapshot {number + 1} of {TREND_SNAPSHOTS}")
        outcome = _capture(endpoint, run, "goroutine", label=f"goroutine-{number + 1:03d}", max_bytes=spec.max_bytes)
        if outcome is not None and outcome.profile is not None:
            count = outcome.profile.total(None)
            run.trend.append((f"{outcome.finished_at:%H:%M:%S}", float(count)))
            env.message(f"goroutines: {count}")
    _metrics(run, fetch, "end")


MetricsFetcher = Callable[[], bytes]
Steps = Callable[[Endpoint, DiagnoseSpec, _Run, Environment, MetricsFetcher | None, threading.Event], None]


def _snapshots_only(spec: DiagnoseSpec) -> Sampling:
    """Snapshots cost the controller next to nothing: never refused under high load."""
    return Sampling(what=f"a {spec.symptom} run", sustained=False)


def _cpu_capture(spec: DiagnoseSpec) -> Sampling:
    """One cpu capture: refused under high load only when longer than a short capture."""
    return Sampling(what=f"a {spec.symptom} run", sustained=spec.cpu_seconds > SHORT_CAPTURE_SECONDS)


def _over_a_period(spec: DiagnoseSpec) -> Sampling:
    """Sampling spread over --over: sustained."""
    return Sampling(what=f"a {spec.symptom} run over {spec.over_seconds:g}s", sustained=True)


@dataclass(frozen=True)
class Symptom:
    """One row of the symptom table: what a run captures (in words, for --help), the steps that capture it, whether
    it takes a cpu capture (then the cooldown applies), what the load guard makes of it, and the findings it is
    meant to bring out (ids of analysis/findings.py; every finding is still looked for)."""

    name: str
    captures: str
    steps: Steps | None  # None: the cold start, which opens its own endpoint (runbook/coldstart.py)
    timed: bool
    guard: Callable[[DiagnoseSpec], Sampling]
    findings: tuple[str, ...]


SYMPTOMS: dict[str, Symptom] = {row.name: row for row in (
    Symptom("memory-growth", "heap and metrics at the start and the end of --over, then the diff", _memory_growth,
            timed=False, guard=_snapshots_only, findings=("heap-growth",)),
    Symptom("high-cpu", "cpu (--seconds), allocs and metrics", _high_cpu, timed=True, guard=_cpu_capture,
            findings=("gc-share", "cpu-decoding", "too-few-samples")),
    Symptom("slow-reconcile", "cpu, block/mutex when their rates are set, metrics (work queue, rollout_reconcile) "
            "over --over", _slow_reconcile, timed=True, guard=_over_a_period,
            findings=("reconcile-latency", "workqueue-backlog", "cpu-decoding")),
    Symptom("goroutine-leak", "goroutine snapshots spread over --over (a trend) and metrics", _goroutine_leak,
            timed=False, guard=_over_a_period, findings=("goroutine-growth", "goroutines-waiting-http")),
    Symptom("cold-start", "wait for a controller start (--restart provokes one), then cpu, heap and goroutine",
            None, timed=True, guard=_cpu_capture, findings=("cpu-decoding", "gc-share")),
)}


def _cold_start(endpoint_spec: EndpointSpec, spec: DiagnoseSpec, env: Environment,
                started: datetime) -> DiagnoseOutcome:
    if endpoint_spec.url is not None:
        raise UsageError("diagnose cold-start watches the cluster for a controller start; it cannot use --url")
    cold_spec = coldstart.ColdStartSpec(seconds=spec.cpu_seconds, wait_seconds=spec.wait_seconds,
                                        restart=spec.restart, max_bytes=spec.max_bytes)
    coldstart.check_spec(cold_spec, endpoint_spec.cluster)
    made: list[Path] = []
    with _complete_or_explained(made, spec.symptom):
        staging = _make_directory(spec.directory, "controller", "cold-start", started, made)
        cold = coldstart.run_cold_start(endpoint_spec, replace(cold_spec, destination=Destination(directory=staging)),
                                        env)
        run = _Run(staging, captures=list(cold.captures), files=[c.raw_path for c in cold.captures],
                   warnings=list(cold.warnings))
        return _finish(run, spec.symptom, cold.start.pod.name, env, started, load=cold.load,
                       facts=(("start", f"{cold.start.how}: pod {cold.start.pod.name}"),
                              ("waited", f"{cold.waited_seconds:.1f}s")))


def _finish(run: _Run, symptom: str, source_name: str, env: Environment, started: datetime, *,
            load: LoadReading | None, facts: Sequence[tuple[str, str]] = ()) -> DiagnoseOutcome:
    profiles = tuple(
        ProfileInput(Path(outcome.raw_path).name, _analysis_kind(outcome.kind.name), outcome.profile)
        for outcome in run.captures if outcome.profile is not None
    )
    data = AnalysisInput(
        profiles=profiles, metrics=tuple(run.metrics), trend=tuple(run.trend),
        facts=(("symptom", symptom), ("target", source_name),
               ("started", started.strftime("%Y-%m-%d %H:%M:%S UTC")), *facts,
               *((("load", load.summary()),) if load is not None else ())),
    )
    findings = tuple(find(data))
    page = render_report(data, findings, title=f"Diagnose {symptom}: {source_name}")
    report = deliver.write_atomic(run.directory / "report.html", page, force=False)
    return DiagnoseOutcome(symptom=symptom, source_name=source_name, directory=run.directory,
                           files=(*run.files, str(report)), findings=findings, report=report,
                           warnings=tuple(dict.fromkeys(run.warnings)), load=load)


def _analysis_kind(kind_name: str) -> str:
    return {"block": "contention", "mutex": "contention"}.get(kind_name, kind_name)


def with_default_lock(endpoint_spec: EndpointSpec, cooldown_seconds: float) -> EndpointSpec:
    """A symptom run through the cluster holds the capture lock (with the cooldown), like a bundle."""
    if endpoint_spec.url is not None:
        return endpoint_spec
    return replace(endpoint_spec, lock=True, cooldown_seconds=cooldown_seconds)


@contextlib.contextmanager
def _complete_or_explained(made: list[Path], symptom: str) -> Iterator[None]:
    """The ``with`` body makes a run directory (into ``made``) and fills it; if it stops midway (an error, Ctrl-C,
    SIGTERM), the directory is explained or removed (``_leave_explained``) before the stop goes on."""
    try:
        yield
    except BaseException as error:
        if made:
            _leave_explained(made[0], symptom, SYMPTOMS[symptom].captures, error)
        raise


def _leave_explained(directory: Path, symptom: str, captures: str, error: BaseException) -> None:
    """A run that did not finish: its directory is removed when nothing was kept in it, else it gets a README
    saying why the run stopped, what is here and what is missing. The error carries the note the CLI prints with
    it (never "cleaned up" while files stay)."""
    kept = sorted(path.name for path in directory.iterdir() if not path.name.startswith(".")) \
        if directory.is_dir() else []
    if not kept:
        shutil.rmtree(directory, ignore_errors=True)  # at most temp files, which are being removed anyway
        note_leftovers(error, f"its empty directory {directory} was removed")
        return
    if isinstance(error, Terminated):
        why = f"it was stopped by {error.signal_name}"
    elif isinstance(error, KeyboardInterrupt):
        why = "it was interrupted (Ctrl-C)"
    elif isinstance(error, RolloutsProfileError):
        why = f"it failed: {error}"
    else:
        why = f"it failed (unexpected {type(error).__name__})"
    files = "\n".join(f"  {name}" for name in kept)
    text = (f"This diagnose {symptom} run did not finish: {why}.\n\n"
            f"What is here:\n{files}\n\n"
            f"What is missing: the rest of its captures ({captures or symptom}) and report.html, the incident report, "
            "which is written only when every capture is done.\n\n"
            "What is here can still be analysed:\n"
            f"  kubectl rollouts-profile analyze {directory}/*.pb.gz {directory}/metrics-*.txt --html report.html\n")
    try:
        deliver.write_atomic(directory / "README", text.encode(), force=True)
    except (RolloutsProfileError, OSError):
        note_leftovers(error, f"the files so far are kept in {directory} (a README saying what is missing could "
                              "not be written)")
        return
    note_leftovers(error, f"the files so far are kept in {directory} with a README saying what is missing")
