"""Samples folded into call stacks: the shared first step of every renderer (top, folded, speedscope, flame graph).

The per-id work runs as array operations (numpy) over the profile's flat arrays, never as Python work per location
id: a location is expanded to its (inlined) frames once per distinct location, and every sample's stack is then
gathered from that table in bulk. A stack is kept as one bytes key (``StackKey``: the one place that says how),
so hashing, comparing and sorting stacks runs in C too.
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
# A location id -> row lookup array is used while the largest id is at most this many slots per location (plus a
# floor for small profiles): the array then costs at most a few times the table itself; sparser ids (ids are
# arbitrary 64-bit numbers in the format) are found by binary search instead.
_DENSE_SLOTS_PER_LOCATION = 4
_DENSE_MINIMUM_SLOTS = 1024
# Keys are ranked by their first bytes read as one big-endian integer (numpy sorts those as numbers, in C); only
# keys that tie on these bytes are compared whole, in Python.
_RANK_BYTES = 8
# Stacks per step when keys are turned back into frames (bounds the joined bytes and arrays).
_DECODE_BATCH = 8192


@dataclass(frozen=True)
class StackKey:
    """The one encoding of a stack as a bytes key, like pprof's sample key in ``profile/merge.go``: the stack's
    codes (frame or location indexes), root first, each stored as ``code + 1`` in ``dtype`` (unsigned,
    big-endian, 2, 4 or 8 bytes as the largest code needs).

    - ``+ 1``: no stored code is zero, so the zero padding numpy adds when it compares keys of different lengths as
      fixed-width rows never equals a code: a stack sorts right before the stacks it is a prefix of, and the
      empty stack (a sample without locations) is the empty key, which sorts first.
    - big-endian: comparing keys byte by byte (how Python orders bytes, and how ``_RANK_BYTES`` rank them) is
      comparing their codes one by one as numbers.
    """

    dtype: np.dtype

    EMPTY = b""  # the stack of a sample without locations

    @classmethod
    def for_largest(cls, largest_code: int) -> StackKey:
        """The narrowest width that holds ``largest_code + 1``."""
        for name in (">u2", ">u4", ">u8"):
            if largest_code + 1 <= np.iinfo(name).max:
                return cls(np.dtype(name))
        raise ProfileError(f"a stack code too large to key: {largest_code}")

    @property
    def width(self) -> int:
        """Bytes per code."""
        return self.dtype.itemsize

    def stored(self, codes: np.ndarray) -> np.ndarray:
        """``codes`` as they are stored (shifted by one), still in native byte order: shifted once per location,
        then ``encode`` only reorders bytes per sample."""
        return (codes + 1).astype(self.dtype.newbyteorder("="))

    def encode(self, stored: np.ndarray, bounds: np.ndarray) -> list[bytes]:
        """One key per run ``stored[bounds[i]:bounds[i + 1]]`` (``stored``: from ``stored``)."""
        return _slices(stored.astype(self.dtype).tobytes(), bounds * self.width)

    def decode(self, key: bytes) -> np.ndarray:
        """A key's codes, root first (int64)."""
        return np.frombuffer(key, self.dtype).astype(np.int64) - 1

    def decode_joined(self, keys: Sequence[bytes], dtype: type = np.int32) -> tuple[np.ndarray, np.ndarray]:
        """The codes of ``keys`` back to back (as ``dtype``: int32 holds any frame index, location ids want int64)
        and how many each key holds."""
        codes: np.ndarray = np.frombuffer(b"".join(keys), self.dtype).astype(dtype) - 1
        return codes, np.fromiter(map(len, keys), np.int64, len(keys)) // self.width

    def code_bytes(self, key: bytes, depth: int) -> bytes:
        """The stored bytes of the code ``depth`` frames deep (empty past the key's end)."""
        return key[depth * self.width : (depth + 1) * self.width]

    def code_of(self, code_bytes: bytes) -> int:
        """The code that ``code_bytes`` (from ``code_bytes``) stores."""
        return int.from_bytes(code_bytes, "big") - 1


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
        if len(id_array) and int(id_array.max()) <= _DENSE_SLOTS_PER_LOCATION * len(id_array) + _DENSE_MINIMUM_SLOTS:
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
    _key: StackKey = field(repr=False)

    def ids(self, key: bytes) -> list[int]:
        return self._key.decode(key).tolist()

    def ids_joined(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """The root-first location ids of ``keys`` back to back (int64), and how many each key holds."""
        return self._key.decode_joined(keys, np.int64)


def location_stacks(profile: Profile, sample_indexes: tuple[int, ...]) -> LocationStacks:
    """The profile's samples merged by identical location stacks (in key order), with values for ``sample_indexes``."""
    ids, bounds = sample_arrays(profile)
    codec = StackKey.for_largest(int(ids.max()) if len(ids) else 0)
    keys = codec.encode(codec.stored(ids[_reversing(bounds)]), bounds)
    columns = [value_column(profile, index) for index in sample_indexes]
    merged, merged_columns = _sorted_and_merged(keys, columns)
    return LocationStacks(merged, merged_columns, codec)


def _sorted_and_merged(
    keys: list[bytes], columns: list[np.ndarray]
) -> tuple[list[bytes], tuple[np.ndarray, ...]]:
    """The distinct keys (``StackKey``) in sorted order, and the columns summed per distinct key. Keys are ranked by
    their first ``_RANK_BYTES`` as numbers in numpy (zero padding sorts a key before the longer keys it starts);
    whole keys are compared only within runs of equal prefixes, which is also the only place equal keys can meet."""
    rank_type = f">u{_RANK_BYTES}"
    prefixes = np.array(keys, dtype=f"S{_RANK_BYTES}").view(rank_type) if keys else np.zeros(0, rank_type)
    order = np.argsort(prefixes, kind="stable")
    positions: list[int] = order.tolist()
    repeats: list[int] = []  # sorted positions holding the same key as the one before
    for start, end in _runs_of_equals(prefixes[order]):
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


def _runs_of_equals(ranked: np.ndarray) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` of every run of two or more equal values in the sorted array ``ranked``."""
    equal_to_next = np.flatnonzero(ranked[1:] == ranked[:-1])  # i: ranked[i] == ranked[i + 1]
    if not len(equal_to_next):
        return
    # Consecutive i's make one run: it starts at its first i, and its last i equals the value after it (i + 1), so
    # the run ends one past that: at last i + 2.
    gap_after = np.diff(equal_to_next) != 1
    firsts = np.ones(len(equal_to_next), np.bool_)
    firsts[1:] = gap_after
    lasts = np.ones(len(equal_to_next), np.bool_)
    lasts[:-1] = gap_after
    yield from zip(equal_to_next[firsts].tolist(), (equal_to_next[lasts] + 2).tolist(), strict=True)


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
    # Each stack is one key of its frame indexes (``StackKey``), kept in sorted order: frame by frame, a stack
    # before those it is a prefix of.
    _keys: list[bytes] = field(repr=False)
    _key: StackKey = field(repr=False)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def stacks(self) -> tuple[tuple[int, ...], ...]:
        """Frame indexes of every stack, root first (a tuple per stack: for small profiles and tests)."""
        return tuple(tuple(self._key.decode(key).tolist()) for key in self._keys)

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
        # The empty stack, when there is one, is the empty key: it sorts first.
        return list(range(1 if skip_empty and keys and keys[0] == StackKey.EMPTY else 0, len(keys)))

    def sorted(self) -> SortedStacks:
        """The stacks sorted frame by frame (by frame index), with their columns in that order."""
        return SortedStacks(self._keys, self._key, self.columns, range(len(self._keys)))

    def frame_runs(self, order: Sequence[int], *,
                   batch: int = _DECODE_BATCH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The frames of the stacks at positions ``order``, in that order and in batches: per batch, the frame
        indexes back to back (root first per stack) and each stack's frame count."""
        keys = self._keys
        for start in range(0, len(order), batch):
            picked = order[start : start + batch]
            chosen = (keys[picked[0]],) if len(picked) == 1 else operator.itemgetter(*picked)(keys)
            yield self._key.decode_joined(chosen)


@dataclass(frozen=True)
class SortedStacks:
    """A StackTable's stacks in sorted order: the stacks below any tree node are one contiguous run, found by
    ``runs``; ``columns`` are in this order too, and ``order`` maps each position to the table's."""

    _keys: list[bytes] = field(repr=False)
    _key: StackKey
    columns: tuple[np.ndarray, ...]
    order: Sequence[int]

    def __len__(self) -> int:
        return len(self._keys)

    def runs(self, low: int, high: int, depth: int) -> Iterator[tuple[int, int, int]]:
        """The children of the tree node whose stacks are ``low..high`` and which sits ``depth`` frames deep, as
        (frame index, start, end) runs of stacks in the order they sort; stacks ending at the node are skipped.
        Found by binary search: the work follows the children, not the stacks."""
        keys, codec = self._keys, self._key
        at_depth = operator.itemgetter(slice(depth * codec.width, (depth + 1) * codec.width))
        while low < high and not at_depth(keys[low]):
            low += 1  # stacks ending at this node sort first
        while low < high:
            code = at_depth(keys[low])
            after = bisect_right(keys, code, low, high, key=at_depth)
            yield codec.code_of(code), low, after
            low = after

    def node_count(self) -> int:
        """How many tree nodes the stacks make (the root not counted): each stack adds the frames it does not
        share with the one before. Neighbours are compared as zero-padded byte rows, a chunk at a time; padding
        never matches a stored code (``StackKey``: never zero), so the first differing byte lies within the first
        frame they do not share."""
        keys, width = self._keys, self._key.width
        shared = 0
        for start in range(0, len(keys), _DECODE_BATCH):
            chunk = keys[max(start - 1, 0) : start + _DECODE_BATCH]
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
    codec = StackKey.for_largest(len(frames) - 1)
    table = replace(table, codes=codec.stored(table.codes))
    keys: list[bytes] = []
    for _, codes, bounds in sample_codes(profile, table):
        keys += codec.encode(codes, bounds)
    columns = [value_column(profile, index) for index in sample_indexes]
    merged_keys, merged_columns = _sorted_and_merged(keys, columns)
    return StackTable(frames, merged_columns, sample_indexes, merged_keys, codec)


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
