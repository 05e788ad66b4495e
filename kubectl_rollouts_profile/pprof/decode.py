"""gzip'd or raw profile.proto bytes -> Profile. Every failure is one ProfileError whose message names the stage:
"decompressing profile: ...", "parsing profile: ..." or "malformed profile: ..."."""

from __future__ import annotations

import zlib
from array import array
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.pprof.model import (
    Function,
    Label,
    LazyLabels,
    Line,
    Location,
    Mapping,
    Profile,
    SampleLocations,
    SampleValues,
    ValueType,
)
from kubectl_rollouts_profile.pprof.wire import LocationColumns, SampleColumns, WireError, read_locations, read_samples

# 256 MiB: five times a 500k-sample synthetic profile (50 MB decompressed), far above a real controller's, and a
# bound on the memory a gzip bomb can make us take.
DEFAULT_MAX_DECOMPRESSED = 256 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 4 << 20  # decompressed bytes per step: the output grows by small pieces, never by doubling
_INPUT_STEP = 1 << 20  # compressed bytes fed per step


def decode_profile(data: bytes, *, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> Profile:
    """Decode a pprof file (gzip'd or not) into a Profile, validating every reference it holds. No more than
    ``max_decompressed`` bytes are ever inflated; running out of memory is a ProfileError too, not a crash."""
    try:
        return _decode(data, max_decompressed)
    except MemoryError:
        raise ProfileError(
            "decoding profile: out of memory",
            "the profile is too big for the memory this process may use; convert it on a larger machine",
        ) from None


def _decode(data: bytes, max_decompressed: int) -> Profile:
    gzipped = data[:2] == _GZIP_MAGIC
    source = bytes(data)
    raw: bytes | bytearray = _decompress(source, max_decompressed) if gzipped else source
    if len(raw) > max_decompressed:
        raise ProfileError(f"parsing profile: {len(raw)} bytes exceed the limit of {max_decompressed}")
    # One parse: everything but the samples and locations becomes messages; those stay raw bodies, read by wire.py.
    message = _parse(raw, "ProfileBodies")
    del raw
    try:
        location_columns = read_locations(message.location)
        columns = read_samples(message.sample, len(message.sample_type))
    except WireError as error:
        raise ProfileError(f"parsing profile: {error}") from None

    def read_labels() -> Any:
        # Labels are read again from the file when first asked for: most renderers never need them.
        raw = _decompress(source, max_decompressed) if gzipped else source
        return _labels(_parse(raw, "Profile"))

    try:
        tables = _tables(message)
        del message  # the parsed message (a copy of most of the file) goes before the profile's objects are made
        return _build(tables, columns, location_columns, read_labels)
    except _Malformed as error:
        raise ProfileError(f"malformed profile: {error}") from None


def _decompress(data: bytes, max_decompressed: int) -> bytearray:
    """gunzip every member into one growing buffer, a few MB at a time, refusing output beyond
    ``max_decompressed`` before it is produced: the memory taken is bounded by the cap, whatever the input. The
    input is fed by pieces too, so the inflater never holds a copy of the whole rest of the file."""
    inflated = bytearray()
    source = memoryview(data)
    position = 0  # input not fed to an inflater yet starts here
    try:
        while position < len(source):
            inflater = zlib.decompressobj(wbits=31)
            while not inflater.eof:
                chunk: bytes | memoryview = inflater.unconsumed_tail
                if not chunk and position < len(source):
                    chunk = source[position : position + _INPUT_STEP]
                    position += len(chunk)
                room = max_decompressed - len(inflated) + 1
                out = inflater.decompress(chunk, min(room, _INFLATE_STEP))
                inflated += out
                if len(inflated) > max_decompressed:
                    raise ProfileError(
                        f"decompressing profile: more than {max_decompressed} bytes "
                        f"({max_decompressed >> 20} MiB) once decompressed",
                        "the file is not a profile or was built to exhaust memory; it was not read further",
                    )
                # Input all taken: calls with none flush what the inflater still holds, until it has nothing to
                # give (the input was cut short).
                if not chunk and not out:
                    break
            if not inflater.eof:
                raise ProfileError("decompressing profile: unexpected end of gzip data")
            # What followed the member in the last piece fed is not consumed: the next member starts there.
            position -= len(inflater.unused_data)
            # Trailing zero padding after the last member is tolerated, like gzip(1) does.
            remaining = source[position:]
            if len(remaining) and remaining[:2] != _GZIP_MAGIC:
                if bytes(remaining).strip(b"\x00"):
                    raise ProfileError("decompressing profile: trailing data after the gzip stream")
                break
    except zlib.error as error:
        raise ProfileError(f"decompressing profile: {error}") from error
    return inflated


def _parse(raw: bytes | bytearray, schema: str) -> Any:
    from google.protobuf.message import DecodeError

    from kubectl_rollouts_profile.pprof.schema import message_classes

    try:
        return message_classes()[schema].FromString(raw)
    except (DecodeError, RecursionError, ValueError) as error:
        raise ProfileError(f"parsing profile: {error or 'not a profile.proto message'}") from error


class _Malformed(Exception):
    pass


def _ids_within(ids: array, high: int, chunk: int = 1 << 22) -> bool:
    """Whether every id is in 1..high, in numpy passes over the array's memory (min() and max() over millions of
    array items would make a Python int of each)."""
    view = np.frombuffer(ids, dtype=np.uint32 if ids.typecode == "I" else np.uint64)
    for start in range(0, view.size, chunk):
        part = view[start : start + chunk]
        if int(part.min()) < 1 or int(part.max()) > high:
            return False
    return True


def _text_of(strings: tuple[str, ...]) -> Any:
    string_count = len(strings)

    def text(index: int, what: str) -> str:
        if not 0 <= index < string_count:
            if index == 0:
                return ""  # an empty profile may omit the string table entirely
            raise _Malformed(f"{what} names string {index}, the table has {string_count}")
        return strings[index]

    return text


def _labels(message: Any) -> tuple[tuple[Label, ...], ...]:
    """Each sample's labels; identical label sets are one shared tuple."""
    text = _text_of(tuple(message.string_table))
    no_labels: tuple[Label, ...] = ()
    label_sets: dict[tuple, tuple[Label, ...]] = {}
    sample_labels = []
    for sample in message.sample:
        if not sample.label:
            sample_labels.append(no_labels)
            continue
        raw_key = tuple((lb.key, lb.str, lb.num, lb.num_unit) for lb in sample.label)
        labels = label_sets.get(raw_key)
        if labels is None:
            labels = label_sets[raw_key] = tuple(
                Label(text(k, "label key"), text(s, "label value"), n, text(u, "label unit")) for k, s, n, u in raw_key
            )
        sample_labels.append(labels)
    return tuple(sample_labels)


class _Tables(NamedTuple):
    """What the parsed message holds besides samples and locations: strings, sample types, mappings and functions
    checked and built, the other fields as their raw string indexes and numbers."""

    strings: tuple[str, ...]
    sample_types: tuple[ValueType, ...]
    mappings: dict[int, Mapping]
    functions: dict[int, Function]
    drop_frames: int
    keep_frames: int
    time_nanos: int
    duration_nanos: int
    period_type: tuple[int, int] | None
    period: int
    comments: tuple[int, ...]
    default_sample_type: int


def _tables(message: Any) -> _Tables:
    strings = tuple(message.string_table)
    if strings and strings[0] != "":
        raise _Malformed("the string table must start with the empty string")
    text = _text_of(strings)

    sample_types = tuple(
        ValueType(text(vt.type, "sample type"), text(vt.unit, "sample unit")) for vt in message.sample_type
    )
    mappings: dict[int, Mapping] = {}
    for m in message.mapping:
        if m.id == 0 or m.id in mappings:
            raise _Malformed(f"mapping id {m.id} is zero or repeated")
        mappings[m.id] = Mapping(
            m.id, m.memory_start, m.memory_limit, m.file_offset, text(m.filename, "mapping file"),
            text(m.build_id, "mapping build id"), m.has_functions, m.has_filenames, m.has_line_numbers,
            m.has_inline_frames,
        )  # fmt: skip
    functions: dict[int, Function] = {}
    for f in message.function:
        if f.id == 0 or f.id in functions:
            raise _Malformed(f"function id {f.id} is zero or repeated")
        functions[f.id] = Function(
            f.id, text(f.name, "function name"), text(f.system_name, "function system name"),
            text(f.filename, "function file"), f.start_line,
        )  # fmt: skip
    period = message.period_type
    return _Tables(
        strings, sample_types, mappings, functions, message.drop_frames, message.keep_frames, message.time_nanos,
        message.duration_nanos, (period.type, period.unit) if message.HasField("period_type") else None,
        message.period, tuple(message.comment), message.default_sample_type,
    )  # fmt: skip


def _build(tables: _Tables, columns: SampleColumns, location_columns: LocationColumns, read_labels: Any) -> Profile:
    strings, sample_types, mappings, functions = tables.strings, tables.sample_types, tables.mappings, tables.functions
    text = _text_of(strings)
    locations: dict[int, Location] = {}
    loc = location_columns
    line_values = list(map(Line, loc.function_ids.tolist(), loc.lines.tolist(), loc.columns.tolist()))
    bounds = loc.line_bounds.tolist()
    no_lines: tuple[Line, ...] = ()
    for location_id, mapping_id, address, folded, start, end in zip(
        loc.ids.tolist(), loc.mapping_ids.tolist(), loc.addresses.tolist(), loc.folded.tolist(), bounds[:-1],
        bounds[1:], strict=True,
    ):  # fmt: skip
        if location_id == 0 or location_id in locations:
            raise _Malformed(f"location id {location_id} is zero or repeated")
        if mapping_id and mapping_id not in mappings:
            raise _Malformed(f"location {location_id} names mapping {mapping_id}, which does not exist")
        lines = tuple(line_values[start:end]) if end > start else no_lines
        for line in lines:
            if line.function_id not in functions:
                raise _Malformed(f"location {location_id} names function {line.function_id}, which does not exist")
        locations[location_id] = Location(location_id, mapping_id, address, lines, folded)

    type_count = len(sample_types)
    sample_count = len(columns.bounds) - 1
    if columns.wrong_value_count is not None:
        raise _Malformed(f"a sample has {columns.wrong_value_count} values for {type_count} sample types")
    ids = columns.ids
    if ids:
        count = len(locations)
        dense = bool(locations) and min(locations) == 1 and max(locations) == count
        if not (dense and _ids_within(ids, count)):
            missing = set(ids).difference(locations)
            if missing:
                raise _Malformed(f"samples name location {min(missing)}, which does not exist")
    if columns.has_labels:
        low, high = columns.label_strings
        if low < 0 or high >= max(len(strings), 1):
            text(low if low < 0 else high, "label")
    labels = LazyLabels(sample_count, read_labels if columns.has_labels else None)

    period_type = None
    if tables.period_type is not None:
        period_type = ValueType(text(tables.period_type[0], "period type"), text(tables.period_type[1], "period unit"))
    return Profile(
        sample_types=sample_types,
        sample_locations=SampleLocations(ids, columns.bounds),
        sample_values=SampleValues(columns.values, type_count, sample_count),
        sample_labels=labels,
        locations=MappingProxyType(locations),
        functions=MappingProxyType(functions),
        mappings=MappingProxyType(mappings),
        drop_frames=text(tables.drop_frames, "drop frames"),
        keep_frames=text(tables.keep_frames, "keep frames"),
        time_nanos=tables.time_nanos,
        duration_nanos=tables.duration_nanos,
        period_type=period_type,
        period=tables.period,
        comments=tuple(text(index, "comment") for index in tables.comments),
        default_sample_type=text(tables.default_sample_type, "default sample type"),
    )
