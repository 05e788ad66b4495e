"""Samples folded into call stacks of frames: the shared first step of every renderer (top, folded, speedscope,
flame graph). Stacks are aggregated on location-id tuples before any per-frame work, so identical samples cost
one dictionary update."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

from kubectl_rollouts_profile.pprof.model import Profile


@dataclass(frozen=True)
class Frame:
    name: str
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class StackTable:
    """Distinct stacks (frame indices, root first) and their summed values, one per requested sample type."""

    frames: tuple[Frame, ...]
    stacks: tuple[tuple[int, ...], ...]
    values: tuple[tuple[int, ...], ...]
    sample_indexes: tuple[int, ...]

    def totals(self) -> tuple[int, ...]:
        if not self.values:
            return (0,) * len(self.sample_indexes)
        return tuple(sum(column) for column in zip(*self.values, strict=True))


def stack_table(profile: Profile, sample_indexes: tuple[int, ...] | None = None) -> StackTable:
    """Fold the profile's samples into distinct root-first frame stacks with values for ``sample_indexes``
    (all sample types when None). Inlined calls become frames of their own; frames are keyed by function name,
    file and start line, like pprof's function granularity."""
    if sample_indexes is None:
        sample_indexes = tuple(range(len(profile.sample_types)))
    by_locations: dict[tuple[int, ...], list[int]] = {}
    if len(sample_indexes) == 1:
        (only,) = sample_indexes
        single: dict[tuple[int, ...], int] = {}
        get = single.get
        for location_ids, values in zip(profile.sample_locations, profile.sample_values, strict=True):
            single[location_ids] = get(location_ids, 0) + values[only]
        by_locations = {key: [value] for key, value in single.items()}
    else:
        for location_ids, values in zip(profile.sample_locations, profile.sample_values, strict=True):
            picked = [values[i] for i in sample_indexes]
            known = by_locations.get(location_ids)
            if known is None:
                by_locations[location_ids] = picked
            else:
                for position, value in enumerate(picked):
                    known[position] += value

    frame_ids: dict[Frame, int] = {}
    functions = profile.functions
    location_frames: dict[int, tuple[int, ...]] = {}  # root-first frame ids of each location
    for location in profile.locations.values():
        ids = []
        if location.lines:
            for line in location.lines:
                function = functions[line.function_id]
                frame = Frame(function.name, function.filename, function.start_line)
                ids.append(frame_ids.setdefault(frame, len(frame_ids)))
        else:
            frame = Frame(f"0x{location.address:x}")
            ids.append(frame_ids.setdefault(frame, len(frame_ids)))
        location_frames[location.id] = tuple(reversed(ids))

    by_frames: dict[tuple[int, ...], list[int]] = {}
    lookup = location_frames.__getitem__
    for location_ids, summed in by_locations.items():
        stack = tuple(chain.from_iterable(map(lookup, reversed(location_ids))))
        merged = by_frames.get(stack)
        if merged is None:
            by_frames[stack] = summed
        else:
            for position, value in enumerate(summed):
                merged[position] += value
    return StackTable(
        frames=tuple(frame_ids),
        stacks=tuple(by_frames),
        values=tuple(tuple(values) for values in by_frames.values()),
        sample_indexes=tuple(sample_indexes),
    )
