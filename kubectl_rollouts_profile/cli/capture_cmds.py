"""The capture commands, one per profile kind: ``kubectl rollouts-profile cpu``, ``heap``, ... ``trace``.

Each parses its flags into a ``CaptureRequest`` and runs the pipeline: target (``--url`` or the cluster path) ->
capture -> deliver -> report. Results go to stdout (paths, or one JSON object); everything else to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from kubectl_rollouts_profile.catalog import KINDS, MAX_SECONDS, MIN_SECONDS, ProfileKind, check_seconds
from kubectl_rollouts_profile.cli.cluster_options import CLUSTER_OPTION_NAMES, cluster_options, cluster_request
from kubectl_rollouts_profile.cli.params import Duration
from kubectl_rollouts_profile.cluster.config import ClusterRequest
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import UsageError

if TYPE_CHECKING:
    from kubectl_rollouts_profile.capture import CaptureResult

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_EXPORTS = ("speedscope", "html")


@dataclass(frozen=True)
class CaptureRequest:
    kind: ProfileKind
    seconds: int | None
    url: str | None
    output: str | None  # exact path, or "-" for stdout
    output_dir: str | None
    force: bool
    as_json: bool
    quiet: bool
    max_bytes: int
    cluster: ClusterRequest
    formats: tuple[str, ...]  # exports written beside the raw profile (which is always kept)
    top: bool
    redact: bool
    open_viewer: bool | None  # None: only when a person is at the screen
    viewer: str
    lock: bool  # hold the rollouts-profile-lock Lease for the capture
    cooldown: float  # seconds since the last timed capture before another may start (implies lock)
    every: float | None = None  # goroutine only: snapshot period of a trend
    count: int = 10  # goroutine only: number of trend snapshots


@dataclass(frozen=True)
class Endpoint:
    """Where the pprof server answers (a direct URL or the local end of a tunnel) and what to call the target."""

    base_url: str
    target_name: str


def parse_url(url: str) -> Endpoint:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must look like http://HOST:PORT, got {url!r}", hint="e.g. --url http://127.0.0.1:6060")
    if parts.path.rstrip("/") not in ("", "/debug/pprof"):
        raise UsageError(
            f"--url is the pprof server's base URL, not a profile path: {url!r}",
            hint=f"use --url {parts.scheme}://{parts.netloc}",
        )
    base_url = f"{parts.scheme}://{parts.netloc}"
    target_name = f"{parts.hostname}-{parts.port}" if parts.port else parts.hostname
    return Endpoint(base_url=base_url, target_name=target_name)


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


def capture_request(kind: ProfileKind, options: dict[str, Any]) -> CaptureRequest:
    to_stdout = options["output"] == "-"
    request = CaptureRequest(
        kind=kind,
        seconds=check_seconds(kind, options.pop("seconds")),
        url=options.pop("url"),
        output=options.pop("output"),
        output_dir=options.pop("output_dir"),
        force=options.pop("force"),
        as_json=options.pop("as_json"),
        quiet=options.pop("quiet"),
        max_bytes=options.pop("max_bytes"),
        cluster=cluster_request(**{name: options.pop(name) for name in CLUSTER_OPTION_NAMES}),
        formats=parse_formats(kind, options.pop("formats"), to_stdout=to_stdout),
        top=options.pop("top"),
        redact=options.pop("redact"),
        open_viewer=options.pop("open_viewer"),
        viewer=options.pop("viewer"),
        lock=options.pop("lock") or options["cooldown"] is not None,
        cooldown=options.pop("cooldown") or 0.0,
        every=options.pop("every", None),
        count=options.pop("count", 10),
    )
    if request.lock and request.url is not None:
        raise UsageError("--lock and --cooldown need the cluster (the lock is a Lease)", hint="drop --url")
    if request.every is not None:
        clashing = [flag for flag, given in (("-o", request.output), ("--seconds", request.seconds),
                                             ("--top", request.top), ("--json", request.as_json)) if given]
        if clashing:
            raise UsageError(f"--every takes a series of snapshots; it cannot be combined with {clashing[0]}",
                             hint="use --output-dir for where the snapshots go")
    if request.top and (request.as_json or request.output == "-"):
        raise UsageError(
            "--top prints to stdout, which --json or -o - already use", hint="write it to a file with --format top"
        )
    if (request.top or request.redact) and not kind.pprof_format:
        raise UsageError(f"{kind.name} data is not a pprof profile: --top and --redact do not apply to it")
    if request.url is not None:
        cluster_flags = ("kubeconfig", "context", "as_user", "pod", "port", "instance_id")
        given = [name for name in cluster_flags if getattr(request.cluster, name)]
        if given:
            raise UsageError(
                f"--url captures without the cluster; it cannot be combined with --{given[0].replace('_', '-')}",
                hint="drop --url to go through the cluster, or drop the cluster flags",
            )
    if request.output is not None and request.output_dir is not None:
        raise UsageError("-o and --output-dir cannot be used together", hint="-o names the exact file")
    if request.output == "-" and request.as_json:
        raise UsageError(
            "-o - writes the profile to stdout, which --json also needs", hint="write to a file with --json"
        )
    return request


def parse_formats(kind: ProfileKind, given: tuple[str, ...], *, to_stdout: bool) -> tuple[str, ...]:
    from kubectl_rollouts_profile.export import FORMATS

    if not given:
        return DEFAULT_EXPORTS if kind.pprof_format and not to_stdout else ()
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in (*FORMATS, "pprof", "none")]
    if unknown:
        raise UsageError(f"unknown --format {unknown[0]!r}", hint=f"choose from: pprof, {', '.join(FORMATS)}, none")
    exports = tuple(dict.fromkeys(name for name in names if name in FORMATS))
    if exports and not kind.pprof_format:
        raise UsageError(f"{kind.name} data is not a pprof profile: it has no {exports[0]} export")
    if exports and to_stdout:
        raise UsageError("-o - writes only the raw profile to stdout", hint="write exports to files with -o FILE")
    return exports


@contextlib.contextmanager
def open_endpoint(request: CaptureRequest, env: Environment) -> Iterator[Endpoint]:
    """The pprof server to capture from: ``--url`` as given, or the leader through a tunnel (holding the capture
    lock for the ``with`` body when asked)."""
    if request.url is not None:
        yield parse_url(request.url)
        return
    from kubectl_rollouts_profile.cluster import connect
    from kubectl_rollouts_profile.runbook.lock import LOCK_RULES, capture_lock, lease_duration

    extra_rules = LOCK_RULES if request.lock else ()
    with connect(request.cluster, env=env, extra_rules=extra_rules) as connection, contextlib.ExitStack() as stack:
        if request.lock:
            trend_seconds = (request.every or 0) * request.count
            stack.enter_context(
                capture_lock(
                    connection.api,
                    connection.target.namespace,
                    duration_seconds=lease_duration(request.seconds or trend_seconds),
                    timed=request.kind.timed,
                    cooldown_seconds=request.cooldown,
                )
            )
        yield Endpoint(base_url=connection.base_url, target_name=connection.target.pod_name)


def run_trend_command(env: Environment, request: CaptureRequest) -> None:
    from kubectl_rollouts_profile import deliver
    from kubectl_rollouts_profile.runbook.trend import run_trend

    assert request.every is not None
    out_dir = Path(request.output_dir or ".")
    deliver.check_target(out_dir / ".rollouts-profile-probe", force=True)
    with open_endpoint(request, env) as endpoint:
        run_trend(
            endpoint.base_url,
            request.every,
            request.count,
            out_dir,
            env,
            target_name=endpoint.target_name,
            max_bytes=request.max_bytes,
        )


def run_capture(env: Environment, request: CaptureRequest) -> None:
    from kubectl_rollouts_profile import capture, deliver

    to_stdout = request.output == "-"
    if to_stdout and env.stdout_isatty:
        raise UsageError(
            "refusing to write binary profile data to a terminal", hint="redirect stdout (> file) or use -o FILE"
        )
    with open_endpoint(request, env) as endpoint:
        started = datetime.now(timezone.utc)
        name = deliver.default_name(endpoint.target_name, request.kind.name, started, request.kind.extension)
        with contextlib.ExitStack() as stack:
            if to_stdout:
                final_path = None
                export_paths: dict[str, Path] = {}
                dest_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rollouts-profile-")))
            else:
                final_path = deliver.output_path(request.output, request.output_dir, name)
                export_paths = export_paths_for(final_path, request.formats)
                for path in (final_path, *export_paths.values()):
                    deliver.check_target(path, force=request.force)
                dest_dir = final_path.parent
            result = capture.fetch_profile(
                endpoint.base_url,
                request.kind,
                request.seconds,
                dest_dir,
                max_bytes=request.max_bytes,
                progress=None if request.quiet else _progress(env, request),
            )
            try:
                if request.redact:
                    result = redact_result(result)
                if final_path is None:
                    deliver.copy_to_stream(result.temp_path, env.stdout)
                else:
                    deliver.commit(result.temp_path, final_path, force=request.force)
            finally:
                result.temp_path.unlink(missing_ok=True)
    files = {("pprof" if request.kind.pprof_format else "trace"): str(final_path) if final_path else "-"}
    title = f"{endpoint.target_name} {request.kind.name}"
    files.update(write_exports(result, export_paths, title=title, force=request.force))
    for warning in result.warnings:
        env.message(f"warning: {warning}")
    _report(env, request, endpoint, result, files)
    if request.top and result.profile is not None:
        from kubectl_rollouts_profile.export import render

        env.result(render(result.profile, "top", title=title).decode().rstrip("\n"))
    _maybe_open(env, request, files)


def export_paths_for(pprof_path: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """Exports sit beside the raw profile: ``x-cpu-T.pb.gz`` -> ``x-cpu-T.html``, ``x-cpu-T.speedscope.json``."""
    from kubectl_rollouts_profile.deliver import profile_stem
    from kubectl_rollouts_profile.export import EXTENSIONS

    stem = profile_stem(pprof_path)
    return {fmt: pprof_path.with_name(stem + EXTENSIONS[fmt]) for fmt in formats}


def write_exports(result: CaptureResult, paths: dict[str, Path], *, title: str, force: bool) -> dict[str, str]:
    from functools import partial

    from kubectl_rollouts_profile import deliver
    from kubectl_rollouts_profile.export import render_to

    written: dict[str, str] = {}
    for fmt, path in paths.items():
        assert result.profile is not None  # capture_request refuses exports for trace, the one non-pprof kind
        # Streamed into the file: a big speedscope document is never whole in memory.
        deliver.write_atomic_stream(path, partial(render_to, result.profile, fmt, title=title), force=force)
        written[fmt] = str(path)
    return written


def redact_result(result: CaptureResult) -> CaptureResult:
    """Rewrite the captured file without label values, file paths and build IDs (the exports follow)."""
    import dataclasses
    import hashlib

    from kubectl_rollouts_profile.pprof.encode import encode_profile
    from kubectl_rollouts_profile.pprof.transform import redact

    assert result.profile is not None  # capture_request refuses --redact for trace, the one non-pprof kind
    profile = redact(result.profile)
    data = encode_profile(profile)
    with result.temp_path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return dataclasses.replace(
        result, profile=profile, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def _maybe_open(env: Environment, request: CaptureRequest, files: dict[str, str]) -> None:
    path = files.get(request.viewer)
    wanted = request.open_viewer
    if wanted is False or (wanted is None and (request.as_json or request.quiet)):
        return
    from kubectl_rollouts_profile import viewer

    if wanted is None and not viewer.person_present(env):
        return
    if path is None:
        if wanted:
            env.message(f"nothing to open: no {request.viewer} export was written (see --format)")
        return
    if not viewer.open_file(Path(path), viewer=request.viewer, environ=dict(env.environ)):
        env.message(f"could not open a viewer; the file is {path}")


def _report(
    env: Environment, request: CaptureRequest, endpoint: Endpoint, result: CaptureResult, files: dict[str, str]
) -> None:
    if request.as_json:
        env.result(
            json.dumps(
                {
                    "kind": request.kind.name,
                    "target": endpoint.target_name,
                    "seconds": result.seconds,
                    "started_at": result.started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "finished_at": result.finished_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "files": files,
                    "bytes": result.size,
                    "sha256": result.sha256,
                    "samples": result.sample_count,
                    "warnings": list(result.warnings),
                }
            )
        )
        return
    if request.output == "-":
        return
    for path in files.values():
        env.result(path)
    if not request.quiet:
        samples = f", {result.sample_count} samples" if result.sample_count is not None else ""
        env.message(f"saved {request.kind.name} profile of {endpoint.target_name} ({result.size} bytes{samples})")


def _progress(env: Environment, request: CaptureRequest) -> Callable[[str, float, float], None]:
    """A countdown bar on a terminal; on a log, one line at the start and one at the end."""
    kind = request.kind.name
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
        request = capture_request(kind, options)
        if request.every is not None:
            run_trend_command(env, request)
        else:
            run_capture(env, request)

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
