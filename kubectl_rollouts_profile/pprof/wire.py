"""Profile samples and locations read from their raw protobuf bodies with array operations: the location ids,
values and label string indexes of many samples (and the fields of many locations) at once, one vectorized step per
field position, instead of a Python object per sample or per id. The rest of the profile (strings, functions,
mappings...) is left to the protobuf parser."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# Sample bytes per step: their joined bodies and the temporaries made from them (about 15 bytes per byte) stay small.
CHUNK_BYTES = 1 << 19
_MAX_VARINT = 10

# Fields read from a Sample, by (field number, wire type): location_id (1) and value (2) packed or one varint per
# occurrence, label (3) a message. Everything else is skipped by its wire type, as protobuf parsers do.
_IDS, _VALUES, _LABELS, _LABEL_STRINGS = "ids", "values", "labels", "label strings"
_SAMPLE_FIELDS = {(1, 0): _IDS, (1, 2): _IDS, (2, 0): _VALUES, (2, 2): _VALUES, (3, 2): _LABELS}
# A Label's key (1), str (2) and num_unit (4) are string indexes; num (3) is not checked.
_LABEL_FIELDS = {(1, 0): _LABEL_STRINGS, (2, 0): _LABEL_STRINGS, (4, 0): _LABEL_STRINGS}


class WireError(Exception):
    """The bytes are not valid protobuf wire format."""


@dataclass(frozen=True)
class SampleColumns:
    """Every sample's location ids and values, concatenated in file order (sample ``i``'s ids at
    ``ids[bounds[i]:bounds[i + 1]]``), the smallest per-sample value count that is not ``width`` (None if every
    sample has ``width`` values), whether any sample has a label, and the lowest and highest string index its
    labels name ((0, 0) without labels)."""

    ids: array
    bounds: array
    values: array
    wrong_value_count: int | None
    has_labels: bool
    label_strings: tuple[int, int]


def read_samples(bodies: Sequence[bytes], width: int, chunk_bytes: int = CHUNK_BYTES) -> SampleColumns:
    """Read Sample message bodies (``width`` is the expected number of values per sample), a few MB of them at a
    time. Raises WireError when a body is not valid wire format."""
    ids = array("I")
    values = array("q")
    bounds = array("Q", [0])
    wrong: int | None = None
    has_labels = False
    label_low, label_high = 0, 0
    first, count = 0, 1024
    while first < len(bodies):
        parts = bodies[first : first + count]
        first += len(parts)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        buffer = np.frombuffer(b"".join(parts), dtype=np.uint8)
        del parts
        # The next chunk holds about chunk_bytes, judged by this one's sample sizes.
        count = max(1, min(1 << 20, len(lengths) * chunk_bytes // max(1, buffer.size)))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        del lengths
        regions = _walk(buffer, offsets[:-1], offsets[1:], _SAMPLE_FIELDS)
        label_starts, label_ends, _ = regions[_LABELS]
        strings = _walk(buffer, label_starts, label_ends, _LABEL_FIELDS)[_LABEL_STRINGS]
        varints = _Varints(buffer, (regions[_IDS], regions[_VALUES], strings))
        del regions

        chunk_ids, id_counts = varints.read(0, offsets)
        if chunk_ids.size and ids.typecode == "I" and int(chunk_ids.max()) >= 1 << 32:
            ids = array("Q", np.frombuffer(ids, dtype=np.uint32).astype(np.uint64).tobytes())
        ids.frombytes(_octets(chunk_ids.astype(np.uint32 if ids.typecode == "I" else np.uint64, copy=False)))
        del chunk_ids
        bounds.frombytes(_octets(np.cumsum(id_counts, dtype=np.uint64) + np.uint64(bounds[-1])))
        del id_counts

        chunk_values, value_counts = varints.read(1, offsets)
        values.frombytes(_octets(chunk_values.astype(np.uint64, copy=False)))
        del chunk_values
        off = value_counts[value_counts != width]
        if off.size:
            smallest = int(off.min())
            wrong = smallest if wrong is None else min(wrong, smallest)

        if label_starts.size:
            has_labels = True
            indexes = varints.read(2, None)[0].astype(np.uint64, copy=False).view(np.int64)
            if indexes.size:
                label_low, label_high = min(label_low, int(indexes.min())), max(label_high, int(indexes.max()))
        del varints
    return SampleColumns(ids, bounds, values, wrong, has_labels, (label_low, label_high))


_LOCATION_ID, _MAPPING_ID, _ADDRESS, _FOLDED, _LINES = "id", "mapping id", "address", "folded", "lines"
_LOCATION_FIELDS = {(1, 0): _LOCATION_ID, (2, 0): _MAPPING_ID, (3, 0): _ADDRESS, (5, 0): _FOLDED, (4, 2): _LINES}
_FUNCTION_ID, _LINE, _COLUMN = "function id", "line", "column"
_LINE_FIELDS = {(1, 0): _FUNCTION_ID, (2, 0): _LINE, (3, 0): _COLUMN}


@dataclass(frozen=True)
class LocationColumns:
    """Every Location message's fields as numpy arrays (the last occurrence of a field wins, as protobuf parsers
    do; absent fields are 0); location i's lines are lines ``line_bounds[i]:line_bounds[i + 1]`` of the line
    columns. ``lines`` and ``columns`` are int64, ``folded`` bool, the rest uint64."""

    ids: Any
    mapping_ids: Any
    addresses: Any
    folded: Any
    line_bounds: Any
    function_ids: Any
    lines: Any
    columns: Any


def read_locations(bodies: Sequence[bytes]) -> LocationColumns:
    """Read Location message bodies (all at once: a location table is small next to the samples). Raises
    WireError when a body is not valid wire format."""
    parts = list(bodies)
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    buffer = np.frombuffer(b"".join(parts), dtype=np.uint8)
    del parts
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    fields = _walk(buffer, offsets[:-1], offsets[1:], _LOCATION_FIELDS)
    line_ranges = fields[_LINES]
    order = np.argsort(line_ranges.starts, kind="stable")  # lines in file order: by location, then as written
    line_starts, line_ends, line_owners = (column[order] for column in line_ranges)
    line_fields = _walk(buffer, line_starts, line_ends, _LINE_FIELDS)
    singles = (fields[_LOCATION_ID], fields[_MAPPING_ID], fields[_ADDRESS], fields[_FOLDED])
    line_singles = (line_fields[_FUNCTION_ID], line_fields[_LINE], line_fields[_COLUMN])
    varints = _Varints(buffer, singles + line_singles)
    count, line_count = len(lengths), len(line_owners)
    ids, mapping_ids, addresses, folded = (_last_of_each(varints, k, field, count) for k, field in enumerate(singles))
    function_ids, lines, columns = (
        _last_of_each(varints, k + len(singles), field, line_count) for k, field in enumerate(line_singles)
    )
    line_bounds = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(line_owners, minlength=count), out=line_bounds[1:])
    lines, columns = lines.view(np.int64), columns.view(np.int64)
    return LocationColumns(ids, mapping_ids, addresses, folded != 0, line_bounds, function_ids, lines, columns)


def _last_of_each(varints: _Varints, index: int, field: _Ranges, count: int) -> Any:
    """A singular varint field of ``count`` messages (uint64, 0 where absent): the last occurrence of each wins."""
    values = varints.read(index, None)[0].astype(np.uint64, copy=False)
    owners = field.owners[np.argsort(field.starts, kind="stable")]  # the varints come in buffer order
    last = np.ones(owners.size, dtype=np.bool_)
    last[:-1] = owners[1:] != owners[:-1]
    out = np.zeros(count, dtype=np.uint64)
    out[owners[last]] = values[last]
    return out


def _octets(numbers: Any) -> memoryview:
    """A numpy array's memory as bytes, for array.frombytes (one copy, in C)."""
    return memoryview(numbers).cast("B")


def _varints_at(buffer: Any, positions: Any, limits: Any) -> tuple[Any, Any]:
    """The varint starting at each of ``positions`` (each ending before its limit): their values (uint64) and the
    positions just after them."""
    if np.any(positions >= limits):
        raise WireError("truncated varint")
    # The first byte of all of them at once (most varints here are one byte: tags, lengths, small values).
    byte = buffer[positions]
    values = (byte & 0x7F).astype(np.uint64)
    after = positions + 1
    live = np.flatnonzero(byte >= 0x80)
    at = after[live]
    for group in range(1, _MAX_VARINT):
        if not live.size:
            return values, after
        if np.any(at >= limits[live]):
            raise WireError("truncated varint")
        byte = buffer[at]
        values[live] |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * group)
        at += 1
        more = byte >= 0x80
        after[live[~more]] = at[~more]
        live, at = live[more], at[more]
    if live.size:
        raise WireError(f"varint longer than {_MAX_VARINT} bytes")
    return values, after


class _Ranges(NamedTuple):
    """Byte ranges of a buffer (in the order the walk met them) and the message each belongs to."""

    starts: Any
    ends: Any
    owners: Any


def _walk(buffer: Any, starts: Any, ends: Any, wanted: dict[tuple[int, int], str]) -> dict[str, _Ranges]:
    """Walk the fields of every message ``buffer[starts[i]:ends[i]]`` together, one field of each per step, and
    return the byte ranges of the wanted (field number, wire type) payloads, per bucket name: a varint's own bytes
    for wire type 0, the length-delimited payload for wire type 2."""
    found: dict[str, tuple[list[Any], list[Any], list[Any]]] = {name: ([], [], []) for name in wanted.values()}
    positions = starts.astype(np.int64, copy=True)
    limits = ends.astype(np.int64, copy=False)
    active = np.flatnonzero(positions < limits)
    while active.size:
        limit = limits[active]
        tags, at = _varints_at(buffer, positions[active], limit)
        if np.any(tags - np.uint64(8) >= np.uint64((1 << 32) - 8)):  # field number 0, or a tag beyond 32 bits
            raise WireError("invalid field number")
        wire_types = (tags & np.uint64(7)).astype(np.intp)
        kinds = np.bincount(wire_types, minlength=8)
        unsupported = [wire_type for wire_type in (3, 4, 6, 7) if kinds[wire_type]]
        if unsupported:
            raise WireError(f"unsupported wire type {unsupported[0]}")
        begin = at.copy()
        if kinds[0]:
            varint = np.flatnonzero(wire_types == 0)
            at[varint] = _varints_at(buffer, at[varint], limit[varint])[1]
        if kinds[1]:
            at[wire_types == 1] += 8
        if kinds[5]:
            at[wire_types == 5] += 4
        if kinds[2]:
            delimited = np.flatnonzero(wire_types == 2)
            lengths, payload = _varints_at(buffer, at[delimited], limit[delimited])
            if np.any(lengths > (limit[delimited] - payload).astype(np.uint64)):
                raise WireError("a length runs past the end of its message")
            begin[delimited] = payload
            at[delimited] = payload + lengths.astype(np.int64)
        if np.any(at > limit):
            raise WireError("a fixed-size field runs past the end of its message")
        for (number, wire_type), name in wanted.items():
            chosen = np.flatnonzero(tags == np.uint64(number << 3 | wire_type))
            if chosen.size:
                found[name][0].append(begin[chosen])
                found[name][1].append(at[chosen])
                found[name][2].append(active[chosen])
        positions[active] = at
        active = active[at < limit]
    empty = np.zeros(0, dtype=np.int64)
    return {
        name: _Ranges(*(np.concatenate(parts) if parts else empty for parts in lists)) for name, lists in found.items()
    }


class _Varints:
    """The varints in some byte ranges of a buffer, by field: ``ranges[k]`` are field k's (starts, ends), ranges
    that hold nothing but whole varints (packed payloads, or single varints) and never overlap."""

    def __init__(self, buffer: Any, ranges: Sequence[_Ranges]) -> None:
        starts = np.concatenate([field.starts for field in ranges])
        ends = np.concatenate([field.ends for field in ranges])
        fields = np.repeat(np.arange(1, len(ranges) + 1, dtype=np.uint8), [field.starts.size for field in ranges])
        keep = ends > starts
        order = np.argsort(starts[keep], kind="stable")
        starts, ends, fields = starts[keep][order], ends[keep][order], fields[keep][order]
        del keep, order
        if starts.size and np.any(buffer[ends - 1] >= 0x80):
            raise WireError("truncated varint in a packed field")
        # Each byte's field (0 outside every range): runs of (gap, range, gap, range, ..., gap).
        runs = np.empty(2 * starts.size + 1, dtype=np.int64)
        runs[0:-1:2] = starts
        runs[1:-1:2] = ends
        runs[-1] = buffer.size
        runs[1:] -= runs[:-1].copy()
        codes = np.zeros(runs.size, dtype=np.uint8)
        codes[1::2] = fields
        self.fields: Any = np.repeat(codes, runs)
        del runs, codes, ends, fields
        # Each byte's place in its varint: how many continuation bytes (high bit set) come right before it. A range
        # always follows the end of a varint (a tag or a length), so places never run across a range's start.
        terminal = buffer < 0x80
        places = np.zeros(buffer.size, dtype=np.uint8)
        chain = np.zeros(buffer.size, dtype=np.bool_)
        chain[1:] = ~terminal[:-1]
        self.places = None  # kept only when some byte follows ten continuation bytes (a varint may be too long)
        deepest = 0
        for place in range(1, _MAX_VARINT + 1):
            if not chain.any():
                break
            places += chain
            deepest = place
            chain[place + 1 :] &= ~terminal[: -(place + 1)]
            chain[: place + 1] = False
        else:
            self.places = places
        del chain
        # Each byte's 7 bits shifted to their place, summed along the buffer: a varint's value is the difference of
        # the running sums at its last byte and just before its first (its bits never overlap, so sum = OR). Just
        # before a varint's first byte is the previous varint's last one, except for the first varint of a range.
        # Varints of at most four bytes hold 28 bits: 32-bit sums give them exactly (differences modulo 2**32).
        sums = (buffer & 0x7F).astype(np.uint32 if deepest < 4 else np.uint64)
        sums <<= places * np.uint8(7)
        del places
        np.cumsum(sums, out=sums)
        self.lasts = np.flatnonzero(terminal & (self.fields != 0))
        self.last_fields = self.fields[self.lasts]
        del self.fields, terminal
        self.values = sums[self.lasts]
        if self.values.size:
            self.values[1:] -= self.values[:-1].copy()
            range_firsts = np.searchsorted(self.lasts, starts)
            self.values[range_firsts] = sums[self.lasts[range_firsts]] - sums[starts - 1]

    def read(self, field: int, offsets: Any | None) -> tuple[Any, Any]:
        """Field ``field``'s varints in buffer order (uint32 when every varint of the chunk is short, else uint64)
        and, with ``offsets`` (message i spans offsets[i]:offsets[i + 1]), how many each message holds."""
        chosen = self.last_fields == field + 1
        lasts = self.lasts[chosen]
        if self.places is not None and lasts.size and int(self.places[lasts].max()) >= _MAX_VARINT:
            raise WireError(f"varint longer than {_MAX_VARINT} bytes")
        counts = np.diff(np.searchsorted(lasts, offsets)) if offsets is not None else None
        return self.values[chosen], counts
