"""Goroutine trend: goroutine snapshots at a fixed interval over one connection, the count over time, and the
call stacks that grew most between the first and the last snapshot.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kubectl_rollouts_profile.analysis.inputs import ProfileInput
from kubectl_rollouts_profile.analysis.run import trend_page
from kubectl_rollouts_profile.deliver import check_directory, default_name, write_atomic
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import RolloutsProfileError
from kubectl_rollouts_profile.kinds import get_kind
from kubectl_rollouts_profile.pipeline import (
    DEFAULT_MAX_BYTES,
    CaptureSpec,
    Destination,
    EndpointSpec,
    Sampling,
    open_endpoint,
    run_capture,
)
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.safe import terminal


@dataclass(frozen=True)
class Snapshot:
    path: Path
    taken_at: datetime
    goroutines: int


@dataclass(frozen=True)
class Growth:
    stack: tuple[str, ...]  # innermost frame first
    first: int
    last: int

    @property
    def delta(self) -> int:
        return self.last - self.first


def stack_counts(profile: Profile) -> Counter[tuple[str, ...]]:
    """Goroutines per call stack (function names, innermost first)."""
    counts: Counter[tuple[str, ...]] = Counter()
    index = profile.sample_index(None)
    for location_ids, values in zip(profile.sample_locations, profile.sample_values, strict=True):
        stack = tuple(name for location_id in location_ids for name in profile.function_names(location_id))
        counts[stack] += values[index]
    return counts


def growth(first: Profile, last: Profile, *, limit: int = 10) -> list[Growth]:
    """The stacks whose goroutine count grew most from ``first`` to ``last``, largest growth first."""
    before, after = stack_counts(first), stack_counts(last)
    grown = [Growth(stack, before.get(stack, 0), count) for stack, count in after.items()
             if count > before.get(stack, 0)]
    return sorted(grown, key=lambda g: (-g.delta, g.stack))[:limit]


def run_trend(
    endpoint_spec: EndpointSpec,
    every_seconds: float,
    count: int,
    out_dir: Path,
    env: Environment,
    *,
    stop: threading.Event | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[list[Snapshot], list[Growth]]:
    """Take ``count`` goroutine snapshots ``every_seconds`` apart over one endpoint into ``out_dir`` (0600 files,
    names that never collide), print one line per snapshot to stdout and the growth summary at the end. Ctrl-C
    (or ``stop``) ends early; the summary is still printed for the snapshots taken so far (then SIGTERM and SIGHUP
    still end the process with their exit status)."""
    stop = stop or threading.Event()
    kind = get_kind("goroutine")
    snapshots: list[Snapshot] = []
    profiles: list[Profile] = []
    interrupted: KeyboardInterrupt | None = None
    check_directory(out_dir)
    sampling = Sampling(what=f"a goroutine trend ({count} snapshots {every_seconds:g}s apart)", sustained=True)
    with open_endpoint(endpoint_spec, env, lock_seconds=every_seconds * count, sampling=sampling) as endpoint:
        env.result("time                  goroutines   change")
        try:
            for number in range(count):
                if number and stop.wait(every_seconds):
                    break
                spec = CaptureSpec(kind=kind, seconds=None, max_bytes=max_bytes,
                                   destination=Destination(directory=out_dir, label=f"goroutine-{number + 1:03d}"))
                outcome = run_capture(spec, endpoint)
                profile = outcome.profile
                assert profile is not None  # a goroutine profile is pprof, decoded by the capture
                snapshot = Snapshot(Path(outcome.raw_path), outcome.finished_at, profile.total(None))
                change = f"{snapshot.goroutines - snapshots[0].goroutines:+d}" if snapshots else ""
                snapshots.append(snapshot)
                profiles = [profiles[0], profile] if profiles else [profile]
                env.result(f"{snapshot.taken_at:%Y-%m-%dT%H:%M:%SZ}  {snapshot.goroutines:>10}   {change}")
        except KeyboardInterrupt as error:
            env.message("interrupted: summary of the snapshots taken so far")
            interrupted = error
    for warning in endpoint.warnings():
        env.message(f"warning: {warning}")
    grown = growth(profiles[0], profiles[-1]) if len(profiles) > 1 else []
    print_summary(env, snapshots, grown, out_dir)
    if len(snapshots) > 1:
        _write_chart(env, snapshots, profiles, out_dir, endpoint.source_name)
    if interrupted is not None and type(interrupted) is not KeyboardInterrupt:
        raise interrupted  # a termination signal: summary printed, and the process still ends as told
    return snapshots, grown


def print_summary(env: Environment, snapshots: list[Snapshot], grown: list[Growth], out_dir: Path) -> None:
    if not snapshots:
        env.message("no snapshot was taken")
        return
    first, last = snapshots[0], snapshots[-1]
    env.result(f"\n{len(snapshots)} snapshots in {out_dir}: {first.goroutines} -> {last.goroutines} goroutines "
               f"({last.goroutines - first.goroutines:+d})")
    if len(snapshots) < 2:
        return
    if not grown:
        env.result("no call stack grew")
        return
    env.result("stacks that grew most (first -> last):")
    for item in grown:
        frames = " <- ".join(map(terminal, item.stack[:6])) + (" <- ..." if len(item.stack) > 6 else "")
        env.result(f"  {item.delta:+6d}  ({item.first} -> {item.last})  {frames}")


def _write_chart(env: Environment, snapshots: list[Snapshot], profiles: list[Profile], out_dir: Path,
                 source_name: str) -> None:  # fmt: skip
    """The trend's chart page beside the snapshots; a failure to write it is a warning, the snapshots stay."""
    points = [(f"{snapshot.taken_at:%H:%M:%S}", float(snapshot.goroutines)) for snapshot in snapshots]
    first = ProfileInput(snapshots[0].path.name, "goroutine", profiles[0])
    last = ProfileInput(snapshots[-1].path.name, "goroutine", profiles[-1])
    path = out_dir / default_name(source_name, "goroutine-trend", snapshots[-1].taken_at, ".html")
    try:
        written = write_atomic(path, trend_page(points, first, last, source_name=source_name), force=False)
    except (RolloutsProfileError, OSError) as error:
        env.message(f"warning: no trend chart page: {error}")
        return
    env.result(f"trend chart: {written}")
