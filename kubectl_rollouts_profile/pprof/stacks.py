"""Samples folded into call stacks: the shared first step of every renderer (top, folded, speedscope, flame graph).

The per-id work runs as array operations (numpy) over the profile's flat arrays, never as Python work per location
id: a location is expanded to its (inlined) frames once per distinct location, and every sample's stack is then
gathered from that table in bulk. A stack is kept as one bytes object (its frames' codes, big-endian), so hashing,
comparing and sorting stacks runs in C too.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple, TypeVar

import numpy as np

from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.pprof.model import Function, Profile

_Key = TypeVar("_Key", bound=Hashable)

# Samples per step of the bulk expansion: bounds the temporary arrays (a few hundred bytes per location id).
_CHUNK_IDS = 1 << 19


class Frame(NamedTuple):
    """One frame of a stack: a function (name, file, start line), or an unsymbolized address as its name."""

    name: str
    file: str = ""
    line: int = 0


def sample_arrays(profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """The profile's location ids (leaf first per sample, as in the file) and the samples' bounds into them, as
    arrays sharing the profile's memory."""
    store = profile.locations_store
    ids = np.frombuffer(store.ids, dtype=np.dtype(store.ids.typecode)) if len(store.ids) else np.zeros(0, np.uint32)
    bounds = np.frombuffer(store.bounds, dtype=np.uint64).astype(np.int64)
    return ids, bounds


def value_column(profile: Profile, index: int) -> np.ndarray:
    """One sample type's values, in sample order (int64)."""
    values = profile.values_store
    flat = np.frombuffer(values.flat, dtype=np.int64) if len(values.flat) else np.zeros(0, np.int64)
    return flat[index :: values.width].copy() if values.width else np.zeros(values.samples, np.int64)


@dataclass(frozen=True)
class LocationTable:
    """Per location, a run of codes (its frames or names, root first or innermost first), as flat arrays:
    ``lookup`` turns location ids into rows, row ``r``'s codes are ``codes[starts[r]:starts[r + 1]]``."""

    ids: np.ndarray  # the location id of each row
    starts: np.ndarray
    codes: np.ndarray
    # id -> row: a lookup array when the ids are dense enough for one, else a binary search over the sorted ids.
    _dense: np.ndarray | None = field(repr=False)
    _by_id: np.ndarray = field(repr=False)  # the rows in id order

    @classmethod
    def of(cls, ids: Sequence[int], counts: Sequence[int], codes: np.ndarray) -> LocationTable:
        """Location ``ids[i]`` holds the next ``counts[i]`` of ``codes``."""
        id_array = np.array(ids, dtype=np.uint64)
        starts = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(counts, out=starts[1:])
        dense = None
        if len(id_array) and int(id_array.max()) <= 4 * len(id_array) + 1024:
            dense = np.full(int(id_array.max()) + 1, -1, np.int64)
            dense[id_array.astype(np.int64)] = np.arange(len(id_array))
        return cls(id_array, starts, codes, dense, np.argsort(id_array, kind="stable"))

    def lookup(self, location_ids: np.ndarray) -> np.ndarray:
        if self._dense is not None and (not len(location_ids) or int(location_ids.max()) < len(self._dense)):
            rows = self._dense[location_ids]
            if len(rows) and rows.min() < 0:
                raise ProfileError("a sample names a location that does not exist")
            return rows
        found = np.searchsorted(self.ids, location_ids.astype(np.uint64), sorter=self._by_id)
        if len(found) and found.max() >= len(self.ids):
            raise ProfileError("a sample names a location that does not exist")
        rows = self._by_id[found]
        if (self.ids[rows] != location_ids).any():
            raise ProfileError("a sample names a location that does not exist")
        return rows

    def expand(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The codes of ``rows`` back to back, and how many each row gave."""
        counts = self.starts[rows + 1] - self.starts[rows]
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        positions = np.repeat(self.starts[rows] - offsets, counts) + np.arange(total)
        return self.codes[positions], counts


def _reversing(bounds: np.ndarray) -> np.ndarray:
    """The positions that reverse each run ``bounds[i]:bounds[i + 1]`` of an array in place (the bounds start at
    zero): position p of run i reads start + end - 1 - p."""
    return np.repeat(bounds[:-1] + bounds[1:] - 1, np.diff(bounds)) - np.arange(int(bounds[-1]))


def sample_codes(
    profile: Profile, table: LocationTable, *, root_first: bool = True
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Every sample's codes (each location's run from ``table``), root first (or in the file's leaf-first location
    order), a chunk of samples at a time: per chunk, its samples, their codes back to back, and the samples' bounds
    into them. Chunks keep the temporary arrays small next to the profile."""
    ids, bounds = sample_arrays(profile)
    samples = len(bounds) - 1
    first = 0
    while first < samples:
        # The next samples holding about _CHUNK_IDS ids (at least one sample).
        last = max(int(np.searchsorted(bounds, bounds[first] + _CHUNK_IDS, side="right")) - 1, first + 1)
        low, high = int(bounds[first]), int(bounds[last])
        chunk = ids[low:high]
        local_bounds = bounds[first : last + 1] - low
        if root_first:
            chunk = chunk[_reversing(local_bounds)]
        codes, per_location = table.expand(table.lookup(chunk))
        running = np.zeros(len(per_location) + 1, np.int64)
        np.cumsum(per_location, out=running[1:])
        yield slice(first, last), codes, running[local_bounds]
        first = last


def location_keys(
    profile: Profile,
    function_key: Callable[[Function], _Key],
    address_key: Callable[[int], _Key],
    *,
    root_first: bool = True,
) -> tuple[list[_Key], LocationTable]:
    """Per location, the numbers of its frames' keys: a key per inlined line (``function_key`` of its function),
    the outermost call first when ``root_first`` (else innermost first, as the file lists them); an unsymbolized
    location is one frame, ``address_key`` of its address. Keys are numbered in order of first use (each function
    is keyed once, not once per line)."""
    numbers: dict[_Key, int] = {}
    function_numbers = {
        function_id: numbers.setdefault(function_key(function), len(numbers))
        for function_id, function in profile.functions.items()
    }
    locations = list(profile.locations.values())
    runs: list[int] = []
    for location in locations:
        if location.lines:
            lines = reversed(location.lines) if root_first else location.lines
            runs += [function_numbers[line.function_id] for line in lines]
        else:
            runs.append(numbers.setdefault(address_key(location.address), len(numbers)))
    codes = np.array(runs, dtype=np.int64)
    # Renumbered in order of first use, leaving out the keys no location uses.
    used, first_use = np.unique(codes, return_index=True)
    in_use_order = used[np.argsort(first_use)]
    renumber = np.zeros(len(numbers), np.int64)
    renumber[in_use_order] = np.arange(len(in_use_order))
    all_keys = list(numbers)
    keys = [all_keys[number] for number in in_use_order.tolist()]
    counts = [len(location.lines) or 1 for location in locations]
    return keys, LocationTable.of([location.id for location in locations], counts, renumber[codes])


@dataclass(frozen=True)
class LocationStacks:
    """Distinct stacks of location ids and their summed values, one column per requested sample type (aligned
    with ``keys``); ``ids`` reads a key's root-first location ids."""

    keys: list[bytes]
    columns: tuple[np.ndarray, ...]
    _dtype: np.dtype = field(repr=False)

    def ids(self, key: bytes) -> list[int]:
        return np.frombuffer(key, dtype=self._dtype).tolist()


def location_stacks(profile: Profile, sample_indexes: tuple[int, ...]) -> LocationStacks:
    """The profile's samples merged by identical location stacks (in key order), with values for ``sample_indexes``."""
    ids, bounds = sample_arrays(profile)
    keys = _slices(ids[_reversing(bounds)].tobytes(), bounds * ids.itemsize)
    columns = [value_column(profile, index) for index in sample_indexes]
    merged, merged_columns = _sorted_and_merged(keys, columns)
    return LocationStacks(merged, merged_columns, ids.dtype)


def _sorted_and_merged(
    keys: list[bytes], columns: list[np.ndarray]
) -> tuple[list[bytes], tuple[np.ndarray, ...]]:
    """The distinct keys in sorted order, and the columns summed per distinct key. Keys are ranked by their first
    8 bytes as numbers in numpy (zero padding sorts a key before the longer keys it starts); whole keys are
    compared only within runs of equal prefixes, which is also the only place equal keys can meet."""
    prefixes = np.array(keys, dtype="S8").view(">u8") if keys else np.zeros(0, ">u8")
    order = np.argsort(prefixes, kind="stable")
    ranked = prefixes[order]
    ties = np.flatnonzero(ranked[1:] == ranked[:-1])
    positions: list[int] = order.tolist()
    repeats: list[int] = []  # sorted positions holding the same key as the one before
    if len(ties):
        # Runs of equal prefixes: each starts where a tie follows a non-tie.
        starts = ties[np.diff(ties, prepend=-2) != 1]
        ends = np.append(ties[np.flatnonzero(np.diff(ties) != 1)], ties[-1]) + 2
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            run = positions[start:end] = sorted(positions[start:end], key=keys.__getitem__)
            repeats += [start + at for at in range(1, len(run)) if keys[run[at]] == keys[run[at - 1]]]
    picked = np.array(positions, dtype=np.int64)
    sorted_keys = list(operator.itemgetter(*positions)(keys)) if len(positions) > 1 else [keys[at] for at in positions]
    if not repeats:
        return sorted_keys, tuple(column[picked] for column in columns)
    firsts = np.ones(len(positions), np.bool_)
    firsts[repeats] = False
    starts = np.flatnonzero(firsts)
    merged_keys = [sorted_keys[at] for at in starts.tolist()]
    return merged_keys, tuple(np.add.reduceat(column[picked], starts) for column in columns)


def _slices(blob: bytes, bounds: np.ndarray) -> list[bytes]:
    edges = bounds.tolist()
    return list(map(blob.__getitem__, map(slice, edges, edges[1:])))


@dataclass(frozen=True)
class StackTable:
    """Distinct stacks of frames and their summed values, one column per requested sample type (aligned with the
    stacks). How a stack is stored is this class's own business; renderers ask it for the stacks in sorted order
    (``sorted``: the tree as runs of stacks sharing a prefix), for their frames in bulk (``frame_runs``) or, for
    small profiles and tests, for tuples of frame indexes (``stacks``)."""

    frames: tuple[Frame, ...]
    columns: tuple[np.ndarray, ...]
    sample_indexes: tuple[int, ...]
    # Each stack is one key: its frame indexes root first, each stored as index + 1 in ``_dtype`` (big-endian
    # unsigned), so sorting keys sorts stacks frame by frame (a stack before those it is a prefix of), and a zero
    # code is never a frame.
    _keys: list[bytes] = field(repr=False)
    _dtype: np.dtype = field(repr=False)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def stacks(self) -> tuple[tuple[int, ...], ...]:
        """Frame indexes of every stack, root first (a tuple per stack: for small profiles and tests)."""
        return tuple(tuple((np.frombuffer(key, self._dtype).astype(np.int64) - 1).tolist()) for key in self._keys)

    @property
    def values(self) -> tuple[tuple[int, ...], ...]:
        if not self.columns:
            return ((),) * len(self._keys)
        return tuple(zip(*(column.tolist() for column in self.columns), strict=True))

    def sorted_order(self, *, skip_empty: bool = False) -> list[int]:
        """The stacks' positions sorted frame by frame (by frame index; a stack before those it is a prefix of),
        without the empty stack (samples without locations) when ``skip_empty``. The table is kept in that
        order."""
        keys = self._keys
        return list(range(1 if skip_empty and keys and not keys[0] else 0, len(keys)))

    def sorted(self) -> SortedStacks:
        """The stacks sorted frame by frame (by frame index), with their columns in that order."""
        return SortedStacks(self._keys, self._dtype.itemsize, self.columns, range(len(self._keys)))

    def frame_runs(self, order: Sequence[int], *, batch: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The frames of the stacks at positions ``order``, in that order and in batches: per batch, the frame
        indexes back to back (root first per stack) and each stack's frame count."""
        keys, size = self._keys, self._dtype.itemsize
        for start in range(0, len(order), batch):
            picked = order[start : start + batch]
            chosen = (keys[picked[0]],) if len(picked) == 1 else operator.itemgetter(*picked)(keys)
            frames = np.frombuffer(b"".join(chosen), self._dtype).astype(np.int32) - 1
            yield frames, np.fromiter(map(len, chosen), np.int64, len(chosen)) // size


@dataclass(frozen=True)
class SortedStacks:
    """A StackTable's stacks in sorted order: the stacks below any tree node are one contiguous run, found by
    ``runs``; ``columns`` are in this order too, and ``order`` maps each position to the table's."""

    _keys: list[bytes] = field(repr=False)
    _width: int
    columns: tuple[np.ndarray, ...]
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
            yield int.from_bytes(code, "big") - 1, low, after
            low = after

    def node_count(self) -> int:
        """How many tree nodes the stacks make (the root not counted): each stack adds the frames it does not
        share with the one before. Neighbours are compared as zero-padded byte rows, a chunk at a time; padding
        never matches a real frame, whose code is never zero, so the first differing byte lies within the first
        frame they do not share."""
        keys, width = self._keys, self._width
        shared = 0
        step = 8192
        for start in range(0, len(keys), step):
            chunk = keys[max(start - 1, 0) : start + step]
            longest = max(map(len, chunk))
            if len(chunk) < 2 or not longest:
                continue
            rows = np.array(chunk, dtype=f"S{longest}").view(np.uint8).reshape(len(chunk), longest)
            differ = rows[1:] != rows[:-1]
            first_difference = np.where(differ.any(axis=1), differ.argmax(axis=1), longest)
            shared += int((first_difference // width).sum())
        return sum(map(len, keys)) // width - shared


def location_names(profile: Profile, *, root_first: bool = True) -> tuple[list[str], LocationTable]:
    """``location_keys`` by function name (an unsymbolized location: its address), as ``top`` and folded name
    frames."""
    return location_keys(profile, function_name, address_name, root_first=root_first)


def function_name(function: Function) -> str:
    return function.name


def address_name(address: int) -> str:
    return f"0x{address:x}"


def _frame_key(function: Function) -> tuple[str, str, int]:
    return function.name, function.filename, function.start_line  # pprof's function granularity


def _address_frame(address: int) -> tuple[str, str, int]:
    return f"0x{address:x}", "", 0


def stack_table(
    profile: Profile, sample_indexes: tuple[int, ...] | None = None, *, by_name: bool = False
) -> StackTable:
    """Fold the profile's samples into distinct root-first frame stacks with values for ``sample_indexes``
    (all sample types when None). Inlined calls become frames of their own. ``by_name``: frames are function names
    only (file and line dropped), numbered in name order, so sorted stacks are sorted by their names."""
    if sample_indexes is None:
        sample_indexes = tuple(range(len(profile.sample_types)))
    if by_name:
        names, table = location_names(profile)
        in_name_order = sorted(range(len(names)), key=names.__getitem__)
        ranks = np.zeros(len(names), np.int64)
        ranks[in_name_order] = np.arange(len(names))
        frames = tuple(Frame(names[number]) for number in in_name_order)
        table = replace(table, codes=ranks[table.codes])
    else:
        frame_keys, table = location_keys(profile, _frame_key, _address_frame)
        frames = tuple(map(Frame._make, frame_keys))
    dtype = np.dtype(">u2" if len(frames) < 0xFFFF else ">u4")
    table = replace(table, codes=(table.codes + 1).astype(dtype.newbyteorder("=")))
    keys: list[bytes] = []
    for _, codes, bounds in sample_codes(profile, table):
        keys += _slices(codes.astype(dtype).tobytes(), bounds * dtype.itemsize)
    columns = [value_column(profile, index) for index in sample_indexes]
    merged_keys, merged_columns = _sorted_and_merged(keys, columns)
    return StackTable(frames, merged_columns, sample_indexes, merged_keys, dtype)


@dataclass(frozen=True)
class KeyTotals:
    """Flat and cumulative values per key (``location_keys``' numbering: ``keys[i]`` is key number i), and the
    value of the samples with a marked key anywhere on their stack."""

    keys: list
    flat: np.ndarray
    cum: np.ndarray
    is_leaf: np.ndarray  # the key is the innermost frame of some sample with a value
    seen: np.ndarray  # the key is on the stack of some sample with a value
    marked: int


def key_totals(
    profile: Profile,
    sample_index: int,
    function_key: Callable[[Function], _Key],
    address_key: Callable[[int], _Key],
    *,
    marked: Callable[[_Key], bool] | None = None,
) -> KeyTotals:
    """Flat (the sample's innermost frame) and cumulative (anywhere on the stack, once per sample however often it
    recurs) value per key of ``location_keys``, for one sample type; ``marked`` picks keys whose samples are
    summed apart as well."""
    # Keys innermost first per location (as the file lists inlined lines): a sample's first key is its leaf.
    keys, table = location_keys(profile, function_key, address_key, root_first=False)
    column = value_column(profile, sample_index)
    count = len(keys)
    flat = np.zeros(count, np.int64)
    cum = np.zeros(count, np.int64)
    is_leaf = np.zeros(count, np.bool_)
    seen = np.zeros(count, np.bool_)
    is_marked = np.array([marked(key) for key in keys], np.bool_) if marked else None
    marked_total = 0
    # cum counts each key once per sample: per chunk of samples, (sample, key) pairs are sorted so repeats are
    # neighbours.
    for samples, codes, bounds in sample_codes(profile, table, root_first=False):
        values = column[samples]
        counts = np.diff(bounds)
        counted = (counts > 0) & (values != 0)
        leaves = codes[bounds[:-1][counted]]
        np.add.at(flat, leaves, values[counted])
        is_leaf[leaves] = True
        owner = np.repeat(np.arange(len(counts)), counts)
        pairs = np.sort(owner * count + codes)
        once = np.ones(len(pairs), np.bool_)
        once[1:] = pairs[1:] != pairs[:-1]
        owners, unique_codes = np.divmod(pairs[once], count)
        weights = values[owners]
        live = weights != 0
        np.add.at(cum, unique_codes[live], weights[live])
        seen[unique_codes[live]] = True
        if is_marked is not None and is_marked.any():
            hits = np.unique(owners[is_marked[unique_codes]])
            marked_total += int(values[hits].sum())
    return KeyTotals(keys, flat, cum, is_leaf, seen, marked_total)
