"""Samples folded into call stacks: the shared first step of every renderer (top, folded, speedscope, flame graph).

Stacks are aggregated on location ids before any per-frame work, and a stack is kept as one bytes object (its ids
packed), not a tuple of ints: hashing, comparing and joining them runs in C. A location is expanded to its
(inlined) frames once per distinct location, never once per sample.
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import accumulate, pairwise, repeat, starmap
from typing import TypeVar

from kubectl_rollouts_profile.pprof.model import Profile

_Key = TypeVar("_Key", bytes, str)


@dataclass(frozen=True)
class Frame:
    name: str
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class LocationStacks:
    """Distinct stacks, each the root-first location ids packed as array ``typecode`` items, and their summed
    values, one column per requested sample type (aligned with ``keys``)."""

    typecode: str
    keys: list[bytes]
    columns: tuple[Sequence[int], ...]

    def ids(self, key: bytes) -> memoryview:
        """The root-first location ids of one stack."""
        return memoryview(key).cast(self.typecode)  # type: ignore[call-overload]


def location_stacks(profile: Profile, sample_indexes: tuple[int, ...]) -> LocationStacks:
    """The profile's samples merged by identical location stacks, with values for ``sample_indexes``."""
    store = profile.locations_store
    # Reversing the whole flat array (one C call) makes every sample's ids root first; the samples come out in
    # reverse order, so the value columns are reversed too.
    reversed_ids = store.ids[::-1]
    size = reversed_ids.itemsize
    blob = reversed_ids.tobytes()
    del reversed_ids
    end = len(store.ids)
    edges = [(end - bound) * size for bound in reversed(store.bounds)]
    keys = list(map(blob.__getitem__, map(slice, edges, edges[1:])))
    del blob
    values = profile.values_store
    columns: list[Sequence[int]] = [values.column(index)[::-1] for index in sample_indexes]
    return LocationStacks(store.ids.typecode, *merge_equal(keys, columns))


def merge_equal(keys: list[_Key], columns: list[Sequence[int]]) -> tuple[list[_Key], tuple[Sequence[int], ...]]:
    """Sum the values of equal keys (in first-seen order); nearly free when every key is distinct already."""
    distinct = dict.fromkeys(keys)  # one C-level pass answers the common case
    if len(distinct) == len(keys):
        return keys, tuple(columns)
    slots: dict[_Key, int] = {}
    positions = [slots.setdefault(key, len(slots)) for key in keys]
    merged = []
    for column in columns:
        sums = [0] * len(slots)
        for slot, value in zip(positions, column, strict=True):
            sums[slot] += value
        merged.append(sums)
    return list(slots), tuple(merged)


def frame_index(profile: Profile) -> tuple[tuple[Frame, ...], dict[int, tuple[int, ...]]]:
    """The profile's distinct frames and, per location id, its frames' indexes root first (the caller of an
    inlined call before it). Frames are keyed by function name, file and start line, like pprof's function
    granularity; an unsymbolized location is one frame named by its address. Frames are numbered in order of
    first use."""
    frame_ids: dict[tuple[str, str, int], int] = {}
    function_frames: dict[int, int] = {}  # each function's key is built and hashed once, not once per line
    functions = profile.functions
    location_frames: dict[int, tuple[int, ...]] = {}
    for location in profile.locations.values():
        if location.lines:
            indexes = []
            for line in reversed(location.lines):
                index = function_frames.get(line.function_id)
                if index is None:
                    f = functions[line.function_id]
                    index = frame_ids.setdefault((f.name, f.filename, f.start_line), len(frame_ids))
                    function_frames[line.function_id] = index
                indexes.append(index)
            location_frames[location.id] = tuple(indexes)
        else:
            key = (f"0x{location.address:x}", "", 0)
            location_frames[location.id] = (frame_ids.setdefault(key, len(frame_ids)),)
    return tuple(Frame(*key) for key in frame_ids), location_frames


def expand_stacks(
    stacks: LocationStacks,
    location_parts: dict[int, str],
    *,
    separator: str = "",
    boundary: str = "\n",
    batch: int = 16_384,
) -> list[str]:
    """Each stack as its locations' parts (root first) joined by ``separator``. ``boundary`` must occur in no
    part nor across two (for packed ints: an aligned pattern no id can form).
    Built as one str join in C over all stacks with a sentinel location between stacks, then split at the
    sentinels: no Python work per frame or per stack. (str, not bytes: bytes.join keeps an 80-byte buffer record
    per item, a gigabyte for a big profile; binary parts travel as latin-1 text.)"""
    sentinel = max(location_parts, default=0) + 1
    try:
        marker = array(stacks.typecode, [sentinel]).tobytes()
    except OverflowError:
        marker = b""
    keys = stacks.keys
    if not marker or sentinel > 4 * len(location_parts) + 1024:  # ids too sparse for a lookup list
        get = location_parts.__getitem__
        return [separator.join(map(get, stacks.ids(key))) for key in keys]
    if separator and b"" in keys:
        # Stacks are split where the boundary meets a part's leading separator, which an empty stack lacks:
        # expand the others, then put the empty ones back.
        rest = iter(expand_stacks(replace(stacks, keys=[key for key in keys if key]), location_parts,
                                  separator=separator, boundary=boundary, batch=batch))  # fmt: skip
        return [next(rest) if key else "" for key in keys]
    table = [""] * (sentinel + 1)
    for location_id, part in location_parts.items():
        table[location_id] = separator + part
    table[sentinel] = boundary
    get = table.__getitem__
    cut = boundary + separator  # a stack's start; cutting there also drops its first part's separator
    expanded: list[str] = []
    # In batches of stacks, so the temporary id list and joined text stay small next to the result.
    for start in range(0, len(keys), batch):
        every_id = memoryview(marker + marker.join(keys[start : start + batch])).cast(stacks.typecode)  # type: ignore[call-overload]
        expanded += "".join(map(get, every_id)).split(cut)[1:]
    return expanded


@dataclass(frozen=True)
class StackTable:
    """Distinct stacks of frames and their summed values, one column per requested sample type (aligned with the
    stacks). How a stack is stored is this class's own business; renderers ask it for the stacks in sorted order
    (``sorted``: the tree as runs of stacks sharing a prefix), for their texts (``joined``) or, for small profiles
    and tests, for tuples of frame indexes (``stacks``)."""

    frames: tuple[Frame, ...]
    columns: tuple[Sequence[int], ...]
    sample_indexes: tuple[int, ...]
    # Each stack is one key: its frame indexes root first, each stored as index + 1 in ``_width`` big-endian
    # base-255 digits (latin-1 characters below 0xff), so sorting keys sorts stacks frame by frame (stacks sharing
    # a prefix sort together) and 0xff can mark the end of a stack.
    _keys: list[str] = field(repr=False)
    _width: int = field(repr=False)
    # The location stacks the table was folded from, and per stack the position of one of them (its first).
    _origins: LocationStacks = field(repr=False)
    _origin_of: Sequence[int] = field(repr=False)
    _location_frames: dict[int, tuple[int, ...]] = field(repr=False)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def stacks(self) -> tuple[tuple[int, ...], ...]:
        """Frame indexes of every stack, root first (a tuple per stack: for small profiles and tests)."""
        width = self._width
        return tuple(
            tuple(_number(key[at : at + width]) - 1 for at in range(0, len(key), width)) for key in self._keys
        )

    @property
    def values(self) -> tuple[tuple[int, ...], ...]:
        if not self.columns:
            return ((),) * len(self._keys)
        return tuple(zip(*self.columns, strict=True))

    def sorted_order(self, *, skip_empty: bool = False) -> list[int]:
        """The stacks' positions sorted frame by frame (by frame index; a stack before those it is a prefix of),
        without the empty stacks (samples without locations) when ``skip_empty``."""
        keys = self._keys
        order = sorted(range(len(keys)), key=keys.__getitem__)
        if skip_empty:
            first = next((at for at, position in enumerate(order) if keys[position]), len(order))
            del order[:first]  # the empty key sorts first
        return order

    def sorted(self) -> SortedStacks:
        """The stacks sorted frame by frame (by frame index), with their columns in that order."""
        order = self.sorted_order()
        keys = [self._keys[i] for i in order]
        columns = tuple(list(map(column.__getitem__, order)) for column in self.columns)
        return SortedStacks(keys, self._width, columns, order)

    def joined(self, frame_texts: Sequence[str], order: Sequence[int], *, separator: str,
               batch: int = 16_384) -> Iterator[list[str]]:  # fmt: skip
        """The texts of the stacks at positions ``order``, in that order and in batches: each stack's frames'
        ``frame_texts`` joined by ``separator``, root first. Built by one C-level join per batch over the location
        stacks the table was folded from, so only one batch of text is in memory at a time."""
        parts = {
            location_id: separator.join(map(frame_texts.__getitem__, frames))
            for location_id, frames in self._location_frames.items()
        }
        origins = self._origins
        origin_keys, origin_of = origins.keys, self._origin_of
        for start in range(0, len(order), batch):
            keys = [origin_keys[origin_of[i]] for i in order[start : start + batch]]
            yield expand_stacks(replace(origins, keys=keys, columns=()), parts, separator=separator)


@dataclass(frozen=True)
class SortedStacks:
    """A StackTable's stacks in sorted order: the stacks below any tree node are one contiguous run, found by
    ``runs``; ``columns`` are in this order too, and ``order`` maps each position to the table's."""

    _keys: list[str] = field(repr=False)
    _width: int
    columns: tuple[Sequence[int], ...]
    order: Sequence[int]

    def __len__(self) -> int:
        return len(self._keys)

    def runs(self, low: int, high: int, depth: int) -> Iterator[tuple[int, int, int]]:
        """The children of the tree node whose stacks are ``low..high`` and which sits ``depth`` frames deep, as
        (frame index, start, end) runs of stacks in the order they sort; stacks ending at the node are skipped.
        Found by binary search: the work follows the children, not the stacks."""
        keys, width = self._keys, self._width
        start, end = depth * width, (depth + 1) * width
        while low < high and len(keys[low]) <= start:
            low += 1  # stacks ending at this node sort first
        while low < high:
            code = keys[low][start:end]
            after = bisect_right(keys, code, low, high, key=operator.itemgetter(slice(start, end)))
            yield _number(code) - 1, low, after
            low = after

    def node_count(self) -> int:
        """How many tree nodes the stacks make (the root not counted): each stack adds the frames it does not
        share with the one before. The shared length comes from the highest differing bit of the two keys read as
        (zero-padded) integers; padding never matches a real frame, whose code is never zero."""
        keys, width = self._keys, self._width
        if not keys:
            return 0
        longest = max(map(len, keys))
        # Every step in C (map, pairwise, starmap) except one small expression per pair of neighbours.
        padded = map(bytes.ljust, map(str.encode, keys, repeat("latin-1")), repeat(longest), repeat(b"\0"))
        numbers = map(partial(int.from_bytes, byteorder="big"), padded)
        differing_bits = map(int.bit_length, starmap(operator.xor, pairwise(numbers)))
        shared = sum(
            (longest - (bits + 7) // 8) // width if bits else len(key) // width
            for key, bits in zip(keys[1:], differing_bits, strict=True)
        )
        return sum(map(len, keys)) // width - shared


def stack_table(
    profile: Profile, sample_indexes: tuple[int, ...] | None = None, *, by_name: bool = False
) -> StackTable:
    """Fold the profile's samples into distinct root-first frame stacks with values for ``sample_indexes``
    (all sample types when None). Inlined calls become frames of their own. ``by_name``: frames are function names
    only (file and line dropped), numbered in name order, so sorted stacks are sorted by their names."""
    if sample_indexes is None:
        sample_indexes = tuple(range(len(profile.sample_types)))
    by_locations = location_stacks(profile, sample_indexes)
    frames, location_frames = frame_index(profile)
    if by_name:
        names = sorted({frame.name for frame in frames})
        rank = {name: position for position, name in enumerate(names)}
        renumbered = [rank[frame.name] for frame in frames]
        location_frames = {
            location_id: tuple(map(renumbered.__getitem__, ids)) for location_id, ids in location_frames.items()
        }
        frames = tuple(Frame(name) for name in names)
    width = 1
    while 255**width <= len(frames):
        width += 1
    codes = [_digits(frame + 1, width) for frame in range(len(frames))]  # once per frame, not per location's use
    packed = {location_id: "".join(map(codes.__getitem__, ids)) for location_id, ids in location_frames.items()}
    keys = expand_stacks(by_locations, packed, boundary="\xff")
    del packed
    merged_keys, columns, origin_of = _merge_with_origins(keys, list(by_locations.columns))
    return StackTable(frames, columns, sample_indexes, merged_keys, width, by_locations, origin_of, location_frames)


def _merge_with_origins(
    keys: list[str], columns: list[Sequence[int]]
) -> tuple[list[str], tuple[Sequence[int], ...], Sequence[int]]:
    """``merge_equal``, and per merged key the position of its first occurrence."""
    merged_keys, merged_columns = merge_equal(keys, columns)
    if len(merged_keys) == len(keys):
        return merged_keys, merged_columns, range(len(keys))
    first: dict[str, int] = {}
    for position, key in enumerate(keys):
        first.setdefault(key, position)
    return merged_keys, merged_columns, [first[key] for key in merged_keys]


def _digits(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 255)
        digits.append(chr(digit))
    return "".join(reversed(digits))


def _number(code: str) -> int:
    number = 0
    for digit in code:
        number = number * 255 + ord(digit)
    return number


def prefix_sums(values: Sequence[int]) -> Sequence[int]:
    """Running totals with a leading zero, in an int64 array when they fit (a list otherwise)."""
    sums = accumulate(values, initial=0)
    try:
        return array("q", sums)
    except OverflowError:
        return list(accumulate(values, initial=0))
