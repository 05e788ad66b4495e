"""The capture commands, one per profile kind: ``kubectl rollouts-profile cpu``, ``heap``, ... ``trace``.

Each turns its flags into a target, a capture spec and how to report, calls the application layer
(``pipeline.capture_once``, or the goroutine trend) once, and reports the outcome: results go to stdout (paths,
or one JSON object); everything else to stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import click

from kubectl_rollouts_profile import pipeline, viewer
from kubectl_rollouts_profile.analysis.rollup import GROUPINGS, render_table
from kubectl_rollouts_profile.cli.cluster_options import CLUSTER_OPTION_NAMES, cluster_options, cluster_request
from kubectl_rollouts_profile.cli.load_options import load_guard, load_options
from kubectl_rollouts_profile.cli.params import Duration
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import OutputError, UsageError
from kubectl_rollouts_profile.export import RENDERERS
from kubectl_rollouts_profile.kinds import KINDS, MAX_SECONDS, MIN_SECONDS, ProfileKind, check_seconds
from kubectl_rollouts_profile.runbook import coldstart, trend
from kubectl_rollouts_profile.safe import dumps

DEFAULT_MAX_BYTES = pipeline.DEFAULT_MAX_BYTES
DEFAULT_EXPORTS = ("speedscope", "html")


@dataclass(frozen=True)
class ReportOptions:
    """How the outcome is reported; nothing here changes what is captured."""

    as_json: bool = False
    quiet: bool = False
    top: bool = False  # also print a top table to stdout
    top_by: str = "function"  # its rows: function, package or subsystem
    open_viewer: bool | None = None  # None: only when a person is at the screen
    viewer: str = "html"


@dataclass(frozen=True)
class TrendOptions:
    every_seconds: float
    count: int


@dataclass(frozen=True)
class CaptureCommand:
    """A capture command's flags, parsed: what to capture from where, and how to report it."""

    target: pipeline.TargetSpec
    spec: pipeline.CaptureSpec
    report: ReportOptions
    trend: TrendOptions | None = None


def capture_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--url", metavar="URL", help="Capture from this pprof server (http://HOST:PORT) instead of the cluster."
        ),
        click.option(
            "--seconds",
            type=int,
            metavar="N",
            help=f"Capture duration, {MIN_SECONDS}-{MAX_SECONDS} (cpu and trace default to 30; for named profiles "
            "it makes a delta profile).",
        ),
        click.option("-o", "--output", metavar="PATH", help="Write to exactly this file ('-' for stdout)."),
        click.option("--output-dir", metavar="DIR", help="Directory for the default file name (default: current)."),
        click.option("--force", is_flag=True, help="Replace an existing output file."),
        click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object describing the result."),
        click.option("-q", "--quiet", is_flag=True, help="Print only the written path(s); no progress."),
        click.option(
            "--format",
            "formats",
            multiple=True,
            metavar="LIST",
            help="Exports written beside the raw pprof (always kept), comma-separated: speedscope, html, top, "
            "folded, or none (default: speedscope,html).",
        ),
        click.option("--top", is_flag=True, help="Also print a top table (like go tool pprof -top) to stdout."),
        click.option("--by", "top_by", type=click.Choice(GROUPINGS), default="function", show_default=True,
                     help="Rows of the --top table: functions, Go packages, or the controller's subsystems."),
        click.option(
            "--redact", is_flag=True, help="Strip label values, file paths and build IDs from every written file."
        ),
        click.option(
            "--open/--no-open",
            "open_viewer",
            default=None,
            help="Open the flame graph when done (default: only when a person is at the screen).",
        ),
        click.option(
            "--viewer",
            type=click.Choice(["html", "speedscope"]),
            default="html",
            show_default=True,
            help="What --open opens: the flame graph page or the speedscope export.",
        ),
        click.option(
            "--lock",
            is_flag=True,
            help="Hold the rollouts-profile-lock Lease during the capture, so two runbooks never profile at once.",
        ),
        click.option(
            "--cooldown",
            type=Duration(),
            default=None,
            metavar="DURATION",
            help="Refuse a cpu/trace capture sooner than this after the last one ended (e.g. 60s; implies --lock).",
        ),
        click.option(
            "--max-bytes",
            type=click.IntRange(min=1),
            default=DEFAULT_MAX_BYTES,
            show_default=True,
            help="Abort when the profile is larger than this.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def parse_command(kind: ProfileKind, options: dict[str, Any], env: Environment) -> CaptureCommand:
    """Flags -> a ``CaptureCommand``; every usage error is raised here, before anything is contacted."""
    output, output_dir = options.pop("output"), options.pop("output_dir")
    to_stdout = output == "-"
    seconds = check_seconds(kind, options.pop("seconds"))
    url = options.pop("url")
    as_json, quiet = options.pop("as_json"), options.pop("quiet")
    top, redact = options.pop("top"), options.pop("redact")
    top_by = options.pop("top_by")
    if top_by != "function" and not top:
        raise UsageError(f"--by {top_by} groups the rows of the --top table", hint="add --top")
    cooldown = options.pop("cooldown")
    lock = options.pop("lock") or cooldown is not None
    every, count = options.pop("every", None), options.pop("count", 10)
    cluster = cluster_request(**{name: options.pop(name) for name in CLUSTER_OPTION_NAMES}, as_json=as_json)
    load = load_guard(url, options) if guarded(kind) else None
    if lock and url is not None:
        raise UsageError("--lock and --cooldown need the cluster (the lock is a Lease)", hint="drop --url")
    if every is not None:
        clashing = [flag for flag, given in (("-o", output), ("--seconds", seconds), ("--top", top),
                                             ("--json", as_json)) if given]
        if clashing:
            raise UsageError(f"--every takes a series of snapshots; it cannot be combined with {clashing[0]}",
                             hint="use --output-dir for where the snapshots go")
    if top and (as_json or to_stdout):
        raise UsageError(
            "--top prints to stdout, which --json or -o - already use", hint="write it to a file with --format top"
        )
    if (top or redact) and not kind.pprof_format:
        raise UsageError(f"{kind.name} data is not a pprof profile: --top and --redact do not apply to it")
    if url is not None:
        cluster_flags = ("kubeconfig", "context", "as_user", "pod", "port", "instance_id")
        given = [name for name in cluster_flags if getattr(cluster, name)]
        if given:
            raise UsageError(
                f"--url captures without the cluster; it cannot be combined with --{given[0].replace('_', '-')}",
                hint="drop --url to go through the cluster, or drop the cluster flags",
            )
    if output is not None and output_dir is not None:
        raise UsageError("-o and --output-dir cannot be used together", hint="-o names the exact file")
    if to_stdout and as_json:
        raise UsageError(
            "-o - writes the profile to stdout, which --json also needs", hint="write to a file with --json"
        )
    if to_stdout and env.stdout_isatty:
        raise UsageError(
            "refusing to write binary profile data to a terminal", hint="redirect stdout (> file) or use -o FILE"
        )
    return CaptureCommand(
        target=pipeline.TargetSpec(url=url, cluster=cluster, lock=lock, cooldown_seconds=cooldown or 0.0,
                                   load=load),
        spec=pipeline.CaptureSpec(
            kind=kind,
            seconds=seconds,
            destination=pipeline.Destination.from_flags(output, output_dir, force=options.pop("force"),
                                                         stdout=env.stdout),
            exports=parse_formats(kind, options.pop("formats"), to_stdout=to_stdout),
            redact=redact,
            max_bytes=options.pop("max_bytes"),
        ),
        report=ReportOptions(as_json=as_json, quiet=quiet, top=top, top_by=top_by,
                             open_viewer=options.pop("open_viewer"),
                             viewer=options.pop("viewer")),
        trend=TrendOptions(every, count) if every is not None else None,
    )


def guarded(kind: ProfileKind) -> bool:
    """The kinds whose commands sample for a while and take the load guard's flags: cpu and trace, and goroutine
    (its --every trend)."""
    return kind.timed or kind.name == "goroutine"


def parse_formats(kind: ProfileKind, given: tuple[str, ...], *, to_stdout: bool) -> tuple[str, ...]:
    if not given:
        return DEFAULT_EXPORTS if kind.pprof_format and not to_stdout else ()
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in (*RENDERERS, "pprof", "none")]
    if unknown:
        raise UsageError(f"unknown --format {unknown[0]!r}", hint=f"choose from: pprof, {', '.join(RENDERERS)}, none")
    exports = tuple(dict.fromkeys(name for name in names if name in RENDERERS))
    if exports and not kind.pprof_format:
        raise UsageError(f"{kind.name} data is not a pprof profile: it has no {exports[0]} export")
    if exports and to_stdout:
        raise UsageError("-o - writes only the raw profile to stdout", hint="write exports to files with -o FILE")
    return exports


def run_trend_command(env: Environment, command: CaptureCommand) -> None:
    assert command.trend is not None
    trend.run_trend(command.target, command.trend.every_seconds, command.trend.count,
                    command.spec.destination.directory, env, max_bytes=command.spec.max_bytes)


def run_capture_command(env: Environment, command: CaptureCommand) -> None:
    progress = None if command.report.quiet else _progress(env, command.spec.kind.name)
    outcome = pipeline.capture_once(command.target, command.spec, env, progress=progress)
    for warning in outcome.warnings:
        env.message(f"warning: {warning}")
    _report(env, command, outcome)
    if command.report.top and outcome.profile is not None:
        title = f"{outcome.target_name} {outcome.kind.name}"
        env.result(render_table(outcome.profile, command.report.top_by, title=title).rstrip("\n"))
    if outcome.missing:
        what = "; ".join(f"{fmt}: {why}" for fmt, why in outcome.missing.items())
        raise OutputError(f"the profile was saved to {outcome.raw_path}, but not every export: {what}",
                          hint="free some space, then write the exports with `kubectl rollouts-profile convert`")
    _maybe_open(env, command.report, outcome.files)


DEFAULT_WAIT_SECONDS = 600.0


def run_cold_start_command(env: Environment, command: CaptureCommand, *, restart: bool, wait_seconds: float) -> None:
    """``cpu --at-start``: wait for a controller start, then cpu, heap and goroutine from its first moments."""
    target, spec = command.target, command.spec
    if target.url is not None:
        raise UsageError("--at-start watches the cluster for a controller start; it cannot be used with --url")
    if target.cluster.pod is not None:
        raise UsageError("--at-start profiles the pod that starts; it cannot be combined with --pod")
    if spec.destination.name is not None or spec.destination.stream is not None:
        raise UsageError("--at-start writes three profiles (cpu, heap, goroutine); -o names one file",
                         hint="use --output-dir")
    cold_spec = coldstart.ColdStartSpec(
        seconds=spec.seconds or 30, wait_seconds=wait_seconds, restart=restart, destination=spec.destination,
        exports=spec.exports, max_bytes=spec.max_bytes, lock=target.lock, cooldown_seconds=target.cooldown_seconds)
    coldstart.check_spec(cold_spec)
    pipeline.check_destination(spec.destination, spec.exports)
    outcome = coldstart.run_cold_start(target.cluster, cold_spec, env)
    for warning in outcome.warnings:
        env.message(f"warning: {warning}")
    if command.report.as_json:
        env.result(dumps({
            "start": {"pod": outcome.start.pod.name, "how": outcome.start.how,
                      "waited_seconds": round(outcome.waited_seconds, 3)},
            "captures": [outcome_json(capture) for capture in outcome.captures],
            "warnings": list(outcome.warnings),
        }))
        return
    for capture in outcome.captures:
        for path in capture.files.values():
            env.result(path)
    if not command.report.quiet:
        env.message(f"cold start of {outcome.start.pod.name} ({outcome.start.how}) profiled: "
                    + ", ".join(f"{c.kind.name} {c.sample_count} samples" for c in outcome.captures))


def _maybe_open(env: Environment, report: ReportOptions, files: dict[str, str]) -> None:
    path = files.get(report.viewer)
    wanted = report.open_viewer
    if wanted is False or (wanted is None and (report.as_json or report.quiet)):
        return
    if wanted is None and not viewer.person_present(env):
        return
    if path is None:
        if wanted:
            env.message(f"nothing to open: no {report.viewer} export was written (see --format)")
        return
    if not viewer.open_file(Path(path), viewer=report.viewer, environ=dict(env.environ)):
        env.message(f"could not open a viewer; the file is {path}")


def outcome_json(outcome: pipeline.CaptureOutcome) -> dict[str, Any]:
    """The one JSON object of ``--json`` (also a bundle manifest's view of a capture)."""
    return {
        "kind": outcome.kind.name,
        "target": outcome.target_name,
        "seconds": outcome.seconds,
        "started_at": outcome.started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "finished_at": outcome.finished_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "files": outcome.files,
        "bytes": outcome.size,
        "sha256": outcome.sha256,
        "samples": outcome.sample_count,
        "warnings": list(outcome.warnings),
        "load": outcome.load.as_json() if outcome.load is not None else None,
        "image": outcome.image,
        **({"missing": outcome.missing} if outcome.missing else {}),
    }


def _report(env: Environment, command: CaptureCommand, outcome: pipeline.CaptureOutcome) -> None:
    if command.report.as_json:
        env.result(dumps(outcome_json(outcome)))
        return
    if command.spec.destination.stream is not None:
        return
    for path in outcome.files.values():
        env.result(path)
    if not command.report.quiet:
        samples = f", {outcome.sample_count} samples" if outcome.sample_count is not None else ""
        env.message(f"saved {outcome.kind.name} profile of {outcome.target_name} ({outcome.size} bytes{samples})")


def _progress(env: Environment, kind: str) -> Callable[[str, float, float], None]:
    """A countdown bar on a terminal; on a log, one line at the start and one at the end."""
    interactive = env.stderr_isatty

    def report(event: str, elapsed: float, total: float) -> None:
        if event == "start":
            what = f"for {int(total)}s" if total else "(snapshot)"
            if not interactive:
                env.message(f"capturing {kind} profile {what}")
        elif event == "tick" and interactive and total:
            done = min(elapsed / total, 1.0)
            width = 30
            bar = "#" * int(done * width) + "-" * (width - int(done * width))
            left = max(total - elapsed, 0)
            env.stderr.write(f"\rcapturing {kind} [{bar}] {left:4.0f}s left ")
            env.stderr.flush()
        else:  # "stop" or "abort"
            if interactive and total:
                env.stderr.write("\r" + " " * 60 + "\r")
                env.stderr.flush()
            if event == "stop":
                env.message(f"{kind} capture finished after {elapsed:.1f}s")

    return report


def _make_command(kind: ProfileKind) -> click.Command:
    @click.command(name=kind.name, help=f"Capture the {kind.name} profile: {kind.description}.")
    @capture_options
    @cluster_options
    @click.pass_obj
    def command(env: Environment, **options: Any) -> None:
        at_start, restart = options.pop("at_start", False), options.pop("restart", False)
        wait = options.pop("wait", None)
        if restart and not at_start:
            raise UsageError("--restart goes with --at-start", hint="kubectl rollouts-profile cpu --at-start --restart")
        if wait is not None and not at_start:
            raise UsageError("--wait goes with --at-start")
        parsed = parse_command(kind, options, env)
        if at_start:
            run_cold_start_command(env, parsed, restart=restart, wait_seconds=wait or DEFAULT_WAIT_SECONDS)
        elif parsed.trend is not None:
            run_trend_command(env, parsed)
        else:
            run_capture_command(env, parsed)

    if guarded(kind):
        command = cast(click.Command, load_options(command))
    if kind.name == "cpu":
        command = click.option(
            "--wait", type=Duration(), metavar="DURATION",
            help="With --at-start: how long to wait for the start and for pprof to answer (default 10m).",
        )(command)
        command = click.option(
            "--restart", is_flag=True,
            help="With --at-start: delete the leader pod first to provoke the start (needs delete on pods).",
        )(command)
        command = click.option(
            "--at-start", is_flag=True,
            help="Wait for the controller to start (new pod, container restart, or the Lease moving to another pod), "
            "then profile its first moments: cpu from as soon as pprof answers, then heap and goroutine.",
        )(command)
    if kind.name == "goroutine":
        command = click.option(
            "--count", type=click.IntRange(2, 10000), default=10, show_default=True, help="Snapshots in a trend."
        )(command)
        command = click.option(
            "--every",
            type=Duration(),
            metavar="DURATION",
            help="Take a trend: a snapshot this often (e.g. 30s), each saved, the goroutine count printed, and at "
            "the end the stacks that grew most. Ctrl-C stops early and still prints the summary.",
        )(command)
    return command


def register(group: click.Group) -> None:
    for kind in KINDS.values():
        group.add_command(_make_command(kind))
