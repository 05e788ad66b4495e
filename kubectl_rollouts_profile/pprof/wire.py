"""Profile samples read from their raw protobuf bodies with array operations: the location ids, values and label
string indexes of many samples at once, one vectorized step per field position, instead of a Python object per
sample or per id. The rest of the profile (strings, locations, functions...) is left to the protobuf parser."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Samples per step: their joined bodies (a few MB) and the temporaries made from them stay small.
SAMPLES_PER_CHUNK = 1 << 14
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


def read_samples(bodies: Sequence[bytes], width: int, chunk: int = SAMPLES_PER_CHUNK) -> SampleColumns:
    """Read Sample message bodies (``width`` is the expected number of values per sample). Raises WireError
    when a body is not valid wire format."""
    import numpy as np

    ids = array("I")
    values = array("q")
    bounds = array("Q", [0])
    wrong: int | None = None
    has_labels = False
    label_low, label_high = 0, 0
    for first in range(0, len(bodies), chunk):
        parts = bodies[first : first + chunk]
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        buffer = np.frombuffer(b"".join(parts), dtype=np.uint8)
        del parts
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        del lengths
        regions = _walk(buffer, offsets[:-1], offsets[1:], _SAMPLE_FIELDS)

        chunk_ids, id_counts = _region_varints(buffer, *regions[_IDS], offsets)
        if chunk_ids.size and ids.typecode == "I" and int(chunk_ids.max()) >= 1 << 32:
            ids = array("Q", np.frombuffer(ids, dtype=np.uint32).astype(np.uint64).tobytes())
        ids.frombytes(_octets(chunk_ids.astype(np.uint32 if ids.typecode == "I" else np.uint64)))
        del chunk_ids
        bounds.frombytes(_octets(np.cumsum(id_counts, dtype=np.uint64) + np.uint64(bounds[-1])))
        del id_counts

        chunk_values, value_counts = _region_varints(buffer, *regions[_VALUES], offsets)
        values.frombytes(_octets(chunk_values))
        del chunk_values
        off = value_counts[value_counts != width]
        if off.size:
            smallest = int(off.min())
            wrong = smallest if wrong is None else min(wrong, smallest)

        label_starts, label_ends = regions[_LABELS]
        if label_starts.size:
            has_labels = True
            strings = _walk(buffer, label_starts, label_ends, _LABEL_FIELDS)[_LABEL_STRINGS]
            indexes = _region_varints(buffer, *strings, None)[0].view(np.int64)
            if indexes.size:
                low, high = int(indexes.min()), int(indexes.max())
                label_low, label_high = min(label_low, low), max(label_high, high)
    return SampleColumns(ids, bounds, values, wrong, has_labels, (label_low, label_high))


def _octets(numbers: Any) -> memoryview:
    """A numpy array's memory as bytes, for array.frombytes (one copy, in C)."""
    return memoryview(numbers).cast("B")


def _varints_at(buffer: Any, positions: Any, limits: Any) -> tuple[Any, Any]:
    """The varint starting at each of ``positions`` (each ending before its limit): their values (uint64) and the
    positions just after them."""
    import numpy as np

    values = np.zeros(positions.size, dtype=np.uint64)
    after = np.empty(positions.size, dtype=np.int64)
    live = np.arange(positions.size)
    at = positions.astype(np.int64, copy=True)
    for group in range(_MAX_VARINT):
        if np.any(at >= limits[live]):
            raise WireError("truncated varint")
        byte = buffer[at]
        values[live] |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * group)
        more = byte >= 0x80
        done = ~more
        after[live[done]] = at[done] + 1
        live, at = live[more], at[more] + 1
        if not live.size:
            return values, after
    raise WireError(f"varint longer than {_MAX_VARINT} bytes")


def _walk(buffer: Any, starts: Any, ends: Any, wanted: dict[tuple[int, int], str]) -> dict[str, tuple[Any, Any]]:
    """Walk the fields of every message ``buffer[starts[i]:ends[i]]`` together, one field of each per step, and
    return the byte ranges of the wanted (field number, wire type) payloads, per bucket name: a varint's own bytes
    for wire type 0, the length-delimited payload for wire type 2."""
    import numpy as np

    found: dict[str, tuple[list[Any], list[Any]]] = {name: ([], []) for name in wanted.values()}
    positions = starts.astype(np.int64, copy=True)
    limits = ends.astype(np.int64, copy=False)
    active = np.flatnonzero(positions < limits)
    while active.size:
        limit = limits[active]
        tags, at = _varints_at(buffer, positions[active], limit)
        if np.any(tags >= 1 << 32) or np.any(tags < 8):
            raise WireError("invalid field number")
        wire_types = (tags & np.uint64(7)).astype(np.int8)
        numbers = tags >> np.uint64(3)
        del tags
        begin = at.copy()
        bad = ~np.isin(wire_types, (0, 1, 2, 5))
        if np.any(bad):
            raise WireError(f"unsupported wire type {int(wire_types[bad][0])}")
        varint = np.flatnonzero(wire_types == 0)
        if varint.size:
            at[varint] = _varints_at(buffer, at[varint], limit[varint])[1]
        at[wire_types == 1] += 8
        at[wire_types == 5] += 4
        delimited = np.flatnonzero(wire_types == 2)
        if delimited.size:
            lengths, payload = _varints_at(buffer, at[delimited], limit[delimited])
            if np.any(lengths > (limit[delimited] - payload).astype(np.uint64)):
                raise WireError("a length runs past the end of its message")
            begin[delimited] = payload
            at[delimited] = payload + lengths.astype(np.int64)
        if np.any(at > limit):
            raise WireError("a fixed-size field runs past the end of its message")
        for (number, wire_type), name in wanted.items():
            chosen = (numbers == number) & (wire_types == wire_type)
            if np.any(chosen):
                found[name][0].append(begin[chosen])
                found[name][1].append(at[chosen])
        positions[active] = at
        active = active[at < limit]
    empty = np.zeros(0, dtype=np.int64)
    return {
        name: (np.concatenate(begins) if begins else empty, np.concatenate(ends_) if ends_ else empty)
        for name, (begins, ends_) in found.items()
    }


def _region_varints(buffer: Any, starts: Any, ends: Any, offsets: Any | None) -> tuple[Any, Any]:
    """Every varint in the byte ranges ``starts[i]:ends[i]`` (which do not overlap), in buffer order, as uint64;
    with ``offsets`` (message i spans offsets[i]:offsets[i + 1]), also how many fall in each message."""
    import numpy as np

    keep = ends > starts
    order = np.argsort(starts[keep], kind="stable")
    starts, ends = starts[keep][order], ends[keep][order]
    del keep, order
    if starts.size and np.any(buffer[ends - 1] >= 0x80):
        raise WireError("truncated varint in a packed field")
    # The bytes inside the ranges, in order: a mask of alternating runs (gap, range, gap, range, ..., gap).
    runs = np.empty(2 * starts.size + 1, dtype=np.int64)
    runs[0:-1:2] = starts
    runs[1:-1:2] = ends
    runs[-1] = buffer.size
    runs[1:] -= runs[:-1].copy()
    pattern = np.zeros(runs.size, dtype=np.bool_)
    pattern[1::2] = True
    stream = buffer[np.repeat(pattern, runs)]
    del runs, pattern
    lasts = np.flatnonzero(stream < 0x80)
    counts = None
    if offsets is not None:
        # Varints per range (each range ends with one), then per message (ranges are in buffer order).
        range_ends = np.cumsum(ends - starts)
        per_range = np.zeros(starts.size + 1, dtype=np.int64)
        per_range[1:] = np.searchsorted(lasts, range_ends)
        counts = np.diff(per_range[np.searchsorted(starts, offsets)])
    if not lasts.size:
        return np.zeros(0, dtype=np.uint64), counts
    firsts = np.empty(lasts.size, dtype=np.int64)
    firsts[0] = 0
    firsts[1:] = lasts[:-1] + 1
    sizes = lasts - firsts + 1
    if int(sizes.max()) > _MAX_VARINT:
        raise WireError(f"varint longer than {_MAX_VARINT} bytes")
    # Each byte's 7 bits, shifted by its group's place in its varint, ORed together per varint.
    groups = np.arange(stream.size, dtype=np.int64)
    groups -= np.repeat(firsts, sizes)
    groups *= 7
    del lasts, sizes
    payload = (stream & 0x7F).astype(np.uint64)
    del stream
    payload <<= groups.view(np.uint64)
    del groups
    return np.bitwise_or.reduceat(payload, firsts), counts
