"""The capture commands' flags: their click definitions, the parsed ``CaptureFlags`` value, and the rules between
them as one table (``FLAG_RULES``: a row per combination that is refused, with its message and hint), checked
before anything is contacted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import click

from kubectl_rollouts_profile import pipeline
from kubectl_rollouts_profile.analysis.rollup import GROUPINGS
from kubectl_rollouts_profile.cli.cluster_options import cluster_request
from kubectl_rollouts_profile.cli.params import Duration, with_options
from kubectl_rollouts_profile.cluster.config import ClusterRequest
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.export import RENDERERS
from kubectl_rollouts_profile.kinds import MAX_SECONDS, MIN_SECONDS, ProfileKind, check_seconds

DEFAULT_EXPORTS = ("speedscope", "html")
DEFAULT_WAIT_SECONDS = 600.0  # cpu --at-start: how long to wait for a start
DEFAULT_TREND_COUNT = 10
# The cluster flags that make no sense with --url, as their flag names.
_CLUSTER_ONLY = {"kubeconfig": "--kubeconfig", "context": "--context", "as_user": "--as", "pod": "--pod",
                 "port": "--port", "instance_id": "--instance-id"}


def guarded(kind: ProfileKind) -> bool:
    """The kinds whose commands sample for a while and take the load guard's flags: cpu and trace, and goroutine
    (its --every trend)."""
    return kind.timed or kind.name == "goroutine"


def capture_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags every capture command takes."""
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
            default=pipeline.DEFAULT_MAX_BYTES,
            show_default=True,
            help="Abort when the profile is larger than this.",
        ),
    ]
    return with_options(options, command)


def cold_start_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``cpu --at-start`` and its companions."""
    options = [
        click.option(
            "--at-start", is_flag=True,
            help="Wait for the controller to start (new pod, container restart, or the Lease moving to another pod), "
            "then profile its first moments: cpu from as soon as pprof answers, then heap and goroutine.",
        ),
        click.option(
            "--restart", is_flag=True,
            help="With --at-start: delete the leader pod (or the one --pod names) to provoke the start, once every "
            "check has passed and the lock is taken (needs delete on pods).",
        ),
        click.option(
            "--wait", type=Duration(), metavar="DURATION",
            help="With --at-start: how long to wait for the start and for pprof to answer (default 10m).",
        ),
    ]
    return with_options(options, command)


def trend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``goroutine --every``: a trend of snapshots."""
    options = [
        click.option(
            "--every",
            type=Duration(),
            metavar="DURATION",
            help="Take a trend: a snapshot this often (e.g. 30s), each saved, the goroutine count printed, and at "
            "the end the stacks that grew most. Ctrl-C stops early and still prints the summary.",
        ),
        click.option(
            "--count", type=click.IntRange(2, 10000), default=DEFAULT_TREND_COUNT, show_default=True,
            help="Snapshots in a trend.",
        ),
    ]
    return with_options(options, command)


@dataclass(frozen=True)
class CaptureFlags:
    """A capture command's flags as click parsed them (plus the kind, and the cluster flags as one request)."""

    kind: ProfileKind
    cluster: ClusterRequest
    url: str | None = None
    seconds: int | None = None
    output: str | None = None
    output_dir: str | None = None
    force: bool = False
    as_json: bool = False
    quiet: bool = False
    formats: tuple[str, ...] = ()
    top: bool = False
    top_by: str = "function"
    redact: bool = False
    open_viewer: bool | None = None
    viewer: str = "html"
    lock: bool = False
    cooldown: float | None = None
    max_bytes: int = pipeline.DEFAULT_MAX_BYTES
    at_start: bool = False
    restart: bool = False
    wait: float | None = None
    every: float | None = None
    count: int = DEFAULT_TREND_COUNT

    @classmethod
    def parse(cls, kind: ProfileKind, options: dict[str, Any]) -> CaptureFlags:
        """From a command's keyword arguments; the cluster flags become one ``ClusterRequest`` (the load flags
        are not read here: ``load_options.load_guard`` takes them)."""
        names = {spec.name for spec in fields(cls)} - {"kind", "cluster"}
        given = {name: value for name, value in options.items() if name in names}
        cluster = cluster_request(**options)  # an exec plugin may prompt unless the output is machine-read (--json)
        return cls(kind=kind, cluster=cluster, **given)

    @property
    def to_stdout(self) -> bool:
        return self.output == "-"

    @property
    def every_clash(self) -> str | None:
        """The first flag given that a trend cannot take."""
        return next((flag for flag, given in (("-o", self.output), ("--seconds", self.seconds), ("--top", self.top),
                                              ("--json", self.as_json)) if given), None)

    @property
    def cluster_flag(self) -> str | None:
        """The first cluster-only flag given."""
        return next((flag for name, flag in _CLUSTER_ONLY.items() if getattr(self.cluster, name)), None)


@dataclass(frozen=True)
class FlagRule:
    """A combination of flags that is refused: when ``refused`` holds, a usage error (exit 2) with ``message``
    (formatted with the flags as ``f``) and ``hint``."""

    refused: Callable[[CaptureFlags], object]
    message: str
    hint: str | None = None


FLAG_RULES: tuple[FlagRule, ...] = (
    FlagRule(lambda f: f.restart and not f.at_start, "--restart goes with --at-start",
             "kubectl rollouts-profile cpu --at-start --restart"),
    FlagRule(lambda f: f.wait is not None and not f.at_start, "--wait goes with --at-start"),
    FlagRule(lambda f: f.top_by != "function" and not f.top, "--by {f.top_by} groups the rows of the --top table",
             "add --top"),
    FlagRule(lambda f: (f.lock or f.cooldown is not None) and f.url is not None,
             "--lock and --cooldown need the cluster (the lock is a Lease)", "drop --url"),
    FlagRule(lambda f: f.every is not None and f.every_clash,
             "--every takes a series of snapshots; it cannot be combined with {f.every_clash}",
             "use --output-dir for where the snapshots go"),
    FlagRule(lambda f: f.top and (f.as_json or f.to_stdout), "--top prints to stdout, which --json or -o - already use",
             "write it to a file with --format top"),
    FlagRule(lambda f: (f.top or f.redact) and not f.kind.pprof_format,
             "{f.kind.name} data is not a pprof profile: --top and --redact do not apply to it"),
    FlagRule(lambda f: f.url is not None and f.cluster_flag,
             "--url captures without the cluster; it cannot be combined with {f.cluster_flag}",
             "drop --url to go through the cluster, or drop the cluster flags"),
    FlagRule(lambda f: f.output is not None and f.output_dir is not None,
             "-o and --output-dir cannot be used together", "-o names the exact file"),
    FlagRule(lambda f: f.to_stdout and f.as_json, "-o - writes the profile to stdout, which --json also needs",
             "write to a file with --json"),
    FlagRule(lambda f: f.at_start and f.url is not None,
             "--at-start watches the cluster for a controller start; it cannot be used with --url"),
    FlagRule(lambda f: f.at_start and f.output is not None,
             "--at-start writes three profiles (cpu, heap, goroutine); -o names one file", "use --output-dir"),
)


def check_flags(flags: CaptureFlags, *, stdout_isatty: bool) -> None:
    """Every usage error of a capture command's flags, before anything is contacted."""
    check_seconds(flags.kind, flags.seconds)
    for rule in FLAG_RULES:
        if rule.refused(flags):
            raise UsageError(rule.message.format(f=flags), hint=rule.hint)
    if flags.to_stdout and stdout_isatty:
        raise UsageError(
            "refusing to write binary profile data to a terminal", hint="redirect stdout (> file) or use -o FILE"
        )


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
