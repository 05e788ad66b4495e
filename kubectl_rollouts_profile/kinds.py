"""The table of profile kinds the plugin captures: URL path, timed or not, and the duration bounds."""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_rollouts_profile.errors import UsageError

MIN_SECONDS = 1
MAX_SECONDS = 300
PPROF_PREFIX = "/debug/pprof"


@dataclass(frozen=True)
class ProfileKind:
    name: str
    path: str  # request path; profile and trace work in both mux layouts (see capture.py)
    timed: bool  # a duration is part of the request (cpu, trace)
    pprof_format: bool  # gzip'd pprof protobuf (all but trace)
    default_seconds: int | None
    description: str

    @property
    def extension(self) -> str:
        return ".pb.gz" if self.pprof_format else ".trace"

    @property
    def named(self) -> bool:
        """Served by the index handler by name (not routable in the v1.8.0-rc1 layout)."""
        return not self.timed


def _named(name: str, description: str) -> ProfileKind:
    return ProfileKind(name, f"{PPROF_PREFIX}/{name}", False, True, None, description)


KINDS: dict[str, ProfileKind] = {
    kind.name: kind
    for kind in (
        ProfileKind("cpu", f"{PPROF_PREFIX}/profile", True, True, 30, "CPU profile sampled for --seconds"),
        _named("heap", "memory in use and allocated, by allocation site"),
        _named("allocs", "all past allocations, by allocation site"),
        _named("goroutine", "stacks of all current goroutines"),
        _named("block", "where goroutines blocked on synchronization (needs a block profile rate)"),
        _named("mutex", "holders of contended mutexes (needs a mutex profile fraction)"),
        _named("threadcreate", "stacks that led to the creation of OS threads"),
        ProfileKind("trace", f"{PPROF_PREFIX}/trace", True, False, 30, "execution trace for --seconds (go tool trace)"),
    )
}

# Profiles that stay empty unless the process set a sampling rate, and the runtime call that sets it.
RATE_SETTERS = {
    "block": "runtime.SetBlockProfileRate",
    "mutex": "runtime.SetMutexProfileFraction",
}


def get_kind(name: str) -> ProfileKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UsageError(f"unknown profile kind {name!r}", hint=f"choose one of: {', '.join(KINDS)}") from None


def check_seconds(kind: ProfileKind, seconds: int | None) -> int | None:
    """The capture duration for ``kind``: the default for timed kinds; None keeps a named profile cumulative."""
    if seconds is None:
        return kind.default_seconds
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise UsageError(
            f"--seconds must be between {MIN_SECONDS} and {MAX_SECONDS}, got {seconds}",
            hint="choose a shorter capture; long captures keep the controller under sampling",
        )
    return seconds
