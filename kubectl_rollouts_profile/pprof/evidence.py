"""Is there enough in a profile to conclude anything? A CPU profile of a mostly idle controller, a heap profile with
almost nothing in use and a diff of two identical snapshots are handed over with a warning saying so, and what to
do instead, rather than as if they meant something."""

from __future__ import annotations

from collections import defaultdict

from kubectl_rollouts_profile.pprof.model import Profile

MIN_CPU_SECONDS = 1.0  # under this much CPU time in total, the hot spots are noise
MIN_CPU_SAMPLES = 100  # the same at Go's 100 Hz, for profiles without a cpu value
# The controller's informer caches alone hold tens of MiB; under 4 MiB (a few samples at Go's 512 KiB sampling rate)
# the heap shows next to nothing but the runtime's own start-up allocations.
MIN_HEAP_INUSE_BYTES = 4 << 20


def _column(profile: Profile, name: str) -> int | None:
    names = [value_type.type for value_type in profile.sample_types]
    return names.index(name) if name in names else None


def _total(profile: Profile, name: str) -> int | None:
    index = _column(profile, name)
    return None if index is None else sum(profile.values_store.column(index))


def thin_profile_warnings(kind_name: str, profile: Profile) -> tuple[str, ...]:
    """Warnings for a ``cpu`` or ``heap`` profile too thin to conclude anything from; none for other kinds."""
    if kind_name == "cpu":
        cpu_nanos, samples = _total(profile, "cpu"), _total(profile, "samples")
        cpu_seconds = cpu_nanos / 1e9 if cpu_nanos is not None else None
        if (cpu_seconds is not None and cpu_seconds < MIN_CPU_SECONDS) or (
            samples is not None and samples < MIN_CPU_SAMPLES
        ):
            held = f"{cpu_seconds:.2f}s of CPU" if cpu_seconds is not None else "little CPU"
            counted = f" in {samples} samples" if samples is not None else ""
            return (f"the cpu profile holds only {held}{counted} (under {MIN_CPU_SECONDS:g}s or "
                    f"{MIN_CPU_SAMPLES} samples): the controller was mostly idle, so its hot spots are noise; "
                    "capture while the symptom is present, or for longer (--seconds)",)
    if kind_name == "heap":
        inuse = _total(profile, "inuse_space")
        if inuse is not None and inuse < MIN_HEAP_INUSE_BYTES:
            return (f"the heap profile shows only {_size(inuse)} in use (under "
                    f"{MIN_HEAP_INUSE_BYTES >> 20} MiB): almost nothing to look at; capture while memory is high "
                    "(after the growth you want to explain)",)
    return ()


def _size(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB" if count >= 1 << 20 else f"{count / 1024:.0f} KiB"


def unchanged(difference: Profile) -> bool:
    """True when a diff (``new`` minus ``base``) nets to zero for every call stack and sample type: the two
    snapshots held the same thing (the same file twice, or a process that did not change in between)."""
    net: defaultdict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * len(difference.sample_types))
    for location_ids, values in zip(difference.locations_store, difference.values_store, strict=True):
        stack = tuple(name for location_id in location_ids for name in difference.function_names(location_id))
        totals = net[stack]
        for index, value in enumerate(values):
            totals[index] += value
    return all(value == 0 for totals in net.values() for value in totals)


UNCHANGED_WARNING = ("the two snapshots are identical: nothing grew or shrank between them; take the second one "
                     "later (after the growth), or check that BASE and NEW are different captures")
