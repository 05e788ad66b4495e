"""The capture commands, one per profile kind: ``kubectl rollouts-profile cpu``, ``heap``, ... ``trace``.

Each turns its flags (``capture_flags``: definitions and the rules between them) into an endpoint spec and a
capture spec, calls the application layer once (``pipeline.capture_once``, the goroutine trend, or the cold start)
and reports the outcome: results go to stdout (paths, or one JSON object); everything else to stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import click

from kubectl_rollouts_profile import pipeline, viewer
from kubectl_rollouts_profile.analysis.rollup import render_table
from kubectl_rollouts_profile.cli.capture_flags import (
    DEFAULT_WAIT_SECONDS,
    CaptureFlags,
    capture_options,
    check_flags,
    cold_start_options,
    guarded,
    parse_formats,
    trend_options,
)
from kubectl_rollouts_profile.cli.cluster_options import cluster_options
from kubectl_rollouts_profile.cli.load_options import load_guard, load_options
from kubectl_rollouts_profile.cli.progress import countdown
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import OutputError
from kubectl_rollouts_profile.kinds import KINDS, ProfileKind, check_seconds
from kubectl_rollouts_profile.runbook import coldstart, trend
from kubectl_rollouts_profile.safe import dumps


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
class CaptureCommand:
    """A capture command's flags, parsed: what to capture from where, and how to report it."""

    endpoint: pipeline.EndpointSpec
    spec: pipeline.CaptureSpec
    report: ReportOptions


def parse_command(flags: CaptureFlags, options: dict[str, Any], env: Environment) -> CaptureCommand:
    """Checked flags -> a ``CaptureCommand`` (``options``: the load guard's flags, for ``load_guard``)."""
    return CaptureCommand(
        endpoint=pipeline.EndpointSpec(url=flags.url, cluster=flags.cluster,
                                   lock=flags.lock or flags.cooldown is not None,
                                   cooldown_seconds=flags.cooldown or 0.0,
                                   load=load_guard(flags.url, options) if guarded(flags.kind) else None),
        spec=pipeline.CaptureSpec(
            kind=flags.kind,
            seconds=check_seconds(flags.kind, flags.seconds),
            destination=pipeline.Destination.from_flags(flags.output, flags.output_dir, force=flags.force,
                                                         stdout=env.stdout),
            exports=parse_formats(flags.kind, flags.formats, to_stdout=flags.to_stdout),
            redact=flags.redact,
            max_bytes=flags.max_bytes,
        ),
        report=ReportOptions(as_json=flags.as_json, quiet=flags.quiet, top=flags.top, top_by=flags.top_by,
                             open_viewer=flags.open_viewer, viewer=flags.viewer),
    )


def run_capture_command(env: Environment, command: CaptureCommand) -> None:
    progress = None if command.report.quiet else countdown(env, command.spec.kind.name)
    outcome = pipeline.capture_once(command.endpoint, command.spec, env, progress=progress)
    _warn(env, outcome.warnings)
    _report(env, command, outcome)
    if command.report.top and outcome.profile is not None:
        title = f"{outcome.source_name} {outcome.kind.name}"
        env.result(render_table(outcome.profile, command.report.top_by, title=title).rstrip("\n"))
    if outcome.missing:
        what = "; ".join(f"{fmt}: {why}" for fmt, why in outcome.missing.items())
        raise OutputError(f"the profile was saved to {outcome.raw_path}, but not every export: {what}",
                          hint="free some space, then write the exports with `kubectl rollouts-profile convert`")
    _maybe_open(env, command.report, outcome.files)


def run_trend_command(env: Environment, command: CaptureCommand, flags: CaptureFlags) -> None:
    assert flags.every is not None
    trend.run_trend(command.endpoint, flags.every, flags.count, command.spec.destination.directory, env,
                    max_bytes=command.spec.max_bytes)


def run_cold_start_command(env: Environment, command: CaptureCommand, flags: CaptureFlags) -> None:
    """``cpu --at-start``: wait for a controller start, then cpu, heap and goroutine from its first moments."""
    spec = command.spec
    cold_spec = coldstart.ColdStartSpec(
        seconds=spec.seconds or 30, wait_seconds=flags.wait or DEFAULT_WAIT_SECONDS, restart=flags.restart,
        destination=spec.destination, exports=spec.exports, max_bytes=spec.max_bytes)
    coldstart.check_spec(cold_spec, command.endpoint.cluster)
    pipeline.check_destination(spec.destination, spec.exports)
    outcome = coldstart.run_cold_start(command.endpoint, cold_spec, env)
    _warn(env, outcome.warnings)
    if command.report.as_json:
        env.result(dumps(outcome.as_json()))
        return
    for capture in outcome.captures:
        for path in capture.files.values():
            env.result(path)
    if not command.report.quiet:
        env.message(f"cold start of {outcome.start.pod.name} ({outcome.start.how}) profiled: "
                    + ", ".join(f"{c.kind.name} {c.sample_count} samples" for c in outcome.captures))


def _warn(env: Environment, warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        env.message(f"warning: {warning}")


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


def _report(env: Environment, command: CaptureCommand, outcome: pipeline.CaptureOutcome) -> None:
    if command.report.as_json:
        env.result(dumps(outcome.as_json()))
        return
    if command.spec.destination.stream is not None:
        return
    for path in outcome.files.values():
        env.result(path)
    if not command.report.quiet:
        samples = f", {outcome.sample_count} samples" if outcome.sample_count is not None else ""
        env.message(f"saved {outcome.kind.name} profile of {outcome.source_name} ({outcome.size} bytes{samples})")


def _make_command(kind: ProfileKind) -> click.Command:
    @click.command(name=kind.name, help=f"Capture the {kind.name} profile: {kind.description}.")
    @capture_options
    @cluster_options
    @click.pass_obj
    def command(env: Environment, **options: Any) -> None:
        flags = CaptureFlags.parse(kind, options)
        check_flags(flags, stdout_isatty=env.stdout_isatty)
        parsed = parse_command(flags, options, env)
        if flags.at_start:
            run_cold_start_command(env, parsed, flags)
        elif flags.every is not None:
            run_trend_command(env, parsed, flags)
        else:
            run_capture_command(env, parsed)

    if guarded(kind):
        command = cast(click.Command, load_options(command))
    if kind.name == "cpu":
        command = cast(click.Command, cold_start_options(command))
    if kind.name == "goroutine":
        command = cast(click.Command, trend_options(command))
    return command


def register(group: click.Group) -> None:
    for kind in KINDS.values():
        group.add_command(_make_command(kind))
