"""Decoder tests: real profiles from the Go target, the parse -> encode -> parse round trip, every failure stage,
the decompression cap, and fuzzing (any bytes give a Profile or a ProfileError)."""

from __future__ import annotations

import gzip
import subprocess
from array import array

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.pprof.decode import _ids_within, decode_profile
from kubectl_rollouts_profile.pprof.encode import encode_profile
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.schema import message_classes
from kubectl_rollouts_profile.pprof.wire import read_samples


@pytest.fixture(scope="module")
def real_profiles(go_new) -> dict[str, bytes]:
    profiles = {}
    for name, path in (("heap", "/debug/pprof/heap"), ("goroutine", "/debug/pprof/goroutine"),
                       ("cpu", "/debug/pprof/profile/?seconds=1")):  # fmt: skip
        response = requests.get(go_new.base_url + path, timeout=30)
        response.raise_for_status()
        profiles[name] = response.content
    return profiles


def test_real_heap_profile_has_the_go_heap_sample_types(real_profiles):
    profile = decode_profile(real_profiles["heap"])
    assert [vt.type for vt in profile.sample_types] == ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
    assert [vt.unit for vt in profile.sample_types] == ["count", "bytes", "count", "bytes"]
    assert profile.sample_count > 0
    assert profile.sample_types[profile.sample_index()].type == "inuse_space"  # pprof's default: the last type
    names = {function.name for function in profile.functions.values()}
    assert "main.retainMemory" in names


def test_real_cpu_profile_has_period_duration_and_the_burner(real_profiles):
    profile = decode_profile(real_profiles["cpu"])
    assert [vt.type for vt in profile.sample_types] == ["samples", "cpu"]
    assert profile.period_type is not None and profile.period_type.unit == "nanoseconds"
    assert profile.period > 0 and profile.duration_nanos > 0 and profile.time_nanos > 0
    assert profile.total("cpu") == profile.total("samples") * profile.period
    assert any(name.startswith("crypto/sha256") for name in (f.name for f in profile.functions.values()))


def test_goroutine_profile_counts_every_goroutine(real_profiles):
    profile = decode_profile(real_profiles["goroutine"])
    # gotarget runs at least the burner, the churner and four contenders besides main and the server.
    assert profile.total() >= 6


def test_raw_and_gzip_input_give_the_same_profile(real_profiles):
    raw = gzip.decompress(real_profiles["heap"])
    assert decode_profile(raw) == decode_profile(real_profiles["heap"])


@pytest.mark.parametrize("kind", ["heap", "cpu", "goroutine"])
def test_round_trip_parse_encode_parse(real_profiles, kind):
    profile = decode_profile(real_profiles[kind])
    again = decode_profile(encode_profile(profile))
    assert again == profile


def test_encoded_profile_is_read_by_go_tool_pprof(real_profiles, tmp_path):
    path = tmp_path / "heap.pb.gz"
    path.write_bytes(encode_profile(decode_profile(real_profiles["heap"])))
    report = subprocess.run(["go", "tool", "pprof", "-raw", str(path)], capture_output=True, text=True, check=True)
    assert "main.retainMemory" in report.stdout


def test_empty_input_is_an_empty_profile():
    profile = decode_profile(b"")
    assert profile == Profile()
    assert profile.sample_count == 0


def _message(**fields):
    return message_classes()["Profile"](**fields)


def test_corrupt_gzip_names_the_decompressing_stage():
    data = gzip.compress(b"\x0a\x00" * 100)
    corrupt = data[:12] + bytes(b ^ 0xFF for b in data[12:20]) + data[20:]
    with pytest.raises(ProfileError, match=r"^decompressing profile: "):
        decode_profile(corrupt)


def test_truncated_gzip_names_the_decompressing_stage(real_profiles):
    with pytest.raises(ProfileError, match=r"^decompressing profile: "):
        decode_profile(real_profiles["heap"][:-20])


def test_garbage_protobuf_names_the_parsing_stage():
    with pytest.raises(ProfileError, match=r"^parsing profile: "):
        decode_profile(b"\x0a\xff\xff\xff\xff\x0f")  # a length far beyond the data


def test_dangling_location_names_the_malformed_stage():
    message = _message(string_table=["", "samples", "count"])
    message.sample_type.add(type=1, unit=2)
    message.sample.add(location_id=[7], value=[1])
    with pytest.raises(ProfileError, match=r"^malformed profile: .*location 7"):
        decode_profile(message.SerializeToString())


@pytest.mark.parametrize("bad_id", [0, 301, 512, 1 << 16, (1 << 32) - 1])
def test_sample_naming_a_location_outside_a_dense_table_is_malformed(bad_id):
    message = _message(string_table=["", "samples", "count"])
    message.sample_type.add(type=1, unit=2)
    for location_id in range(1, 301):
        message.location.add(id=location_id, address=location_id)
    message.sample.add(location_id=[1, 300, 256, 255], value=[1])
    message.sample.add(location_id=[44, bad_id, 2], value=[1])
    with pytest.raises(ProfileError, match=rf"^malformed profile: samples name location {bad_id},"):
        decode_profile(message.SerializeToString())
    del message.sample[-1]
    assert decode_profile(message.SerializeToString()).total() == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, (1 << 32) - 1) | st.integers(0, 800), min_size=1, max_size=40),
       st.integers(0, (1 << 16) + 5) | st.integers(0, 800))  # fmt: skip
def test_ids_within_agrees_with_min_and_max(ids, high):
    expected = min(ids) >= 1 and max(ids) <= high
    assert _ids_within(array("I", ids), high) == expected
    assert _ids_within(array("I", ids), high, chunk=3) == expected  # several chunks


def test_string_index_out_of_range_is_malformed():
    message = _message(string_table=["", "samples"])
    message.sample_type.add(type=1, unit=9)
    with pytest.raises(ProfileError, match=r"^malformed profile: "):
        decode_profile(message.SerializeToString())


def test_value_count_must_match_sample_types():
    message = _message(string_table=["", "samples", "count"])
    message.sample_type.add(type=1, unit=2)
    message.sample.add(value=[1, 2])
    with pytest.raises(ProfileError, match=r"^malformed profile: a sample has 2 values for 1 sample types"):
        decode_profile(message.SerializeToString())


def test_gzip_bomb_ten_times_the_cap_is_refused():
    cap = 1 << 20
    bomb = gzip.compress(b"\x00" * (10 * cap))
    assert len(bomb) < cap // 10
    with pytest.raises(ProfileError, match=r"^decompressing profile: more than 1048576 bytes"):
        decode_profile(bomb, max_decompressed=cap)


def test_a_profile_just_under_the_cap_is_read(real_profiles):
    raw_size = len(gzip.decompress(real_profiles["heap"]))
    assert decode_profile(real_profiles["heap"], max_decompressed=raw_size).sample_count > 0
    with pytest.raises(ProfileError, match=r"^decompressing profile: "):
        decode_profile(real_profiles["heap"], max_decompressed=raw_size - 1)


def _decodes_or_refuses(data: bytes) -> None:
    try:
        result = decode_profile(data, max_decompressed=1 << 20)
    except ProfileError as error:
        assert str(error).split(":")[0] in ("decompressing profile", "parsing profile", "malformed profile")
    else:
        assert isinstance(result, Profile)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_any_bytes(data):
    _decodes_or_refuses(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_any_gzip_payload(data):
    _decodes_or_refuses(gzip.compress(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_mutated_real_profile(real_profiles, data):
    raw = bytearray(gzip.decompress(real_profiles["goroutine"]))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _decodes_or_refuses(bytes(raw[:cut]))


# --- The sample reader (pprof/wire.py) against the protobuf parser: the same bytes, decoded both ways. ---


def _varint(number: int) -> bytes:
    number &= (1 << 64) - 1  # negative int64 values: two's complement, ten bytes
    out = bytearray()
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    """One field: its tag, then the payload as given (a varint, 8 or 4 bytes, or length + bytes for type 2)."""
    if wire_type == 2:
        payload = _varint(len(payload)) + payload
    return _varint(number << 3 | wire_type) + payload


def _reference(data: bytes) -> tuple[list[int], list[int], list[int], tuple]:
    """What the samples hold according to the protobuf parser's full Profile parse: every sample's location ids
    (concatenated), the bounds, the values, and each sample's labels resolved through the string table."""
    message = message_classes()["Profile"].FromString(data)
    strings = list(message.string_table)
    ids: list[int] = []
    bounds = [0]
    values: list[int] = []
    labels = []
    for sample in message.sample:
        ids.extend(sample.location_id)
        bounds.append(len(ids))
        values.extend(sample.value)
        labels.append(tuple((strings[lb.key], strings[lb.str], lb.num, strings[lb.num_unit]) for lb in sample.label))
    return ids, bounds, values, tuple(labels)


def _assert_decodes_like_the_reference(data: bytes) -> None:
    profile = decode_profile(data)
    ids, bounds, values, labels = _reference(data)
    store = profile.locations_store
    assert store.ids.typecode == ("I" if max(ids, default=0) < 1 << 32 else "Q")
    assert store.ids.tolist() == ids
    assert store.bounds.typecode == "Q" and store.bounds.tolist() == bounds
    assert profile.values_store.flat.typecode == "q" and profile.values_store.flat.tolist() == values
    assert tuple(tuple(tuple(label) for label in sample) for sample in profile.sample_labels) == labels


_ids = st.integers(1, 300) | st.integers(1, (1 << 64) - 1)
_int64 = st.integers(-(1 << 63), (1 << 63) - 1)


@st.composite
def _profiles(draw) -> bytes:
    """A Profile built with the real message classes: random stacks (ids of any size), values, labels."""
    width = draw(st.integers(0, 4))
    strings = ["", *(f"s{i}" for i in range(2 * width + 6))]
    message = _message(string_table=strings)
    for i in range(width):
        message.sample_type.add(type=2 * i + 1, unit=2 * i + 2)
    used = set()
    for _ in range(draw(st.integers(0, 12))):
        stack = draw(st.lists(_ids, max_size=20))
        used.update(stack)
        sample = message.sample.add(location_id=stack, value=draw(st.lists(_int64, min_size=width, max_size=width)))
        for _ in range(draw(st.integers(0, 3))):
            sample.label.add(key=draw(st.integers(0, len(strings) - 1)), str=draw(st.integers(0, len(strings) - 1)),
                             num=draw(_int64), num_unit=draw(st.integers(0, len(strings) - 1)))  # fmt: skip
    for location_id in sorted(used):
        message.location.add(id=location_id)
    return message.SerializeToString()


@settings(max_examples=200, deadline=None)
@given(_profiles())
def test_samples_decode_like_the_protobuf_parser(data):
    _assert_decodes_like_the_reference(data)


def _unknown_field(draw, numbers) -> bytes:
    """A field the reader must skip: an unknown number, or a known one with a wire type it does not use."""
    number = draw(numbers)
    wire_type = draw(st.sampled_from([0, 1, 2, 5]))
    payload = {
        0: lambda: _varint(draw(_int64)),
        1: lambda: draw(st.binary(min_size=8, max_size=8)),
        2: lambda: draw(st.binary(max_size=12)),
        5: lambda: draw(st.binary(min_size=4, max_size=4)),
    }[wire_type]()
    return _field(number, wire_type, payload)


def _repeated(draw, number: int, items: list[int]) -> list[bytes]:
    """A repeated varint field as a list of fields: one varint per field, packed chunks, or a mix, as a writer may."""
    fields = []
    position = 0
    while position < len(items):
        size = draw(st.integers(1, len(items) - position))
        chunk = items[position : position + size]
        if size == 1 and draw(st.booleans()):
            fields.append(_field(number, 0, _varint(chunk[0])))
        elif draw(st.booleans()):
            fields.extend(_field(number, 0, _varint(item)) for item in chunk)
        else:
            fields.append(_field(number, 2, b"".join(map(_varint, chunk))))
        position += size
    if draw(st.booleans()):
        fields.append(_field(number, 2, b""))  # an empty packed chunk
    return fields


def _merge_in_order(draw, *field_lists: list[bytes]) -> bytes:
    """Interleave field lists, keeping each list's own order (a repeated field's items stay in order)."""
    queues = [list(fields) for fields in field_lists if fields]
    out = []
    while queues:
        queue = queues[draw(st.integers(0, len(queues) - 1))]
        out.append(queue.pop(0))
        queues = [q for q in queues if q]
    return b"".join(out)


@st.composite
def _wire_profiles(draw) -> bytes:
    """Sample bodies written by hand: unpacked and split packed fields, shuffled field order, unknown fields of
    every wire type (in samples and labels), negative values, ids needing 8 bytes, empty samples."""
    width = draw(st.integers(0, 3))
    strings = ["", *(f"s{i}" for i in range(2 * width + 6))]
    message = _message(string_table=strings)
    for i in range(width):
        message.sample_type.add(type=2 * i + 1, unit=2 * i + 2)
    string_index = st.integers(0, len(strings) - 1)
    used = set()
    bodies = []
    for _ in range(draw(st.integers(0, 10))):
        stack = draw(st.lists(_ids, max_size=16))
        used.update(stack)
        labels = []
        for _ in range(draw(st.integers(0, 2))):
            label_fields = [_field(n, 0, _varint(draw(string_index))) for n in draw(st.permutations([1, 2, 4]))]
            label_fields.append(_field(3, 0, _varint(draw(_int64))))
            label_fields += [_unknown_field(draw, st.integers(5, 40)) for _ in range(draw(st.integers(0, 2)))]
            labels.append(_field(3, 2, b"".join(draw(st.permutations(label_fields)))))
        unknown = [_unknown_field(draw, st.integers(4, 2000)) for _ in range(draw(st.integers(0, 3)))]
        # Known numbers with a wire type they do not use are unknown fields too.
        unknown += [_field(1, 5, b"\x01\x02\x03\x04")] if draw(st.booleans()) else []
        unknown += [_field(3, 0, _varint(7))] if draw(st.booleans()) else []
        bodies.append(_merge_in_order(
            draw,
            _repeated(draw, 1, stack),
            _repeated(draw, 2, draw(st.lists(_int64, min_size=width, max_size=width))),
            labels,
            unknown,
        ))  # fmt: skip
    for location_id in sorted(used):
        message.location.add(id=location_id)
    rest = message.SerializeToString()
    samples = [_field(2, 2, body) for body in bodies]
    # Samples may come before, between or after the other fields of the profile.
    cut = draw(st.integers(0, len(samples)))
    return b"".join(samples[:cut]) + rest + b"".join(samples[cut:])


@settings(max_examples=300, deadline=None)
@given(_wire_profiles())
def test_hand_written_sample_encodings_decode_like_the_protobuf_parser(data):
    _assert_decodes_like_the_reference(data)


def test_many_samples_span_several_chunks_of_the_reader():
    message = _message(string_table=["", "samples", "count", "k", "v"])
    message.sample_type.add(type=1, unit=2)
    for location_id in range(1, 2001):
        message.location.add(id=location_id)
    for i in range(60_000):
        sample = message.sample.add(location_id=[i % 2000 + 1] * (i % 7), value=[i - 30_000])
        if i % 1000 == 0:
            sample.label.add(key=3, str=4)
    data = message.SerializeToString()
    _assert_decodes_like_the_reference(data)  # 60k samples: the reader's first chunk holds 1024
    bodies = message_classes()["ProfileBodies"].FromString(data).sample
    assert read_samples(bodies, 1, chunk_bytes=5000) == read_samples(bodies, 1, chunk_bytes=1 << 30)
    few = bodies[:1500]
    for chunk_bytes in (1, 100):  # one sample per chunk, a few
        assert read_samples(few, 1, chunk_bytes=chunk_bytes) == read_samples(few, 1, chunk_bytes=1 << 30)


def _profile_with_sample(body: bytes) -> bytes:
    """A valid profile (one sample type, locations 1..3, strings 0..4) around one sample body written by hand."""
    message = _message(string_table=["", "samples", "count", "k", "v"])
    message.sample_type.add(type=1, unit=2)
    for location_id in (1, 2, 3):
        message.location.add(id=location_id)
    message.sample.add(location_id=[1, 2], value=[5])
    return message.SerializeToString() + _field(2, 2, body)


@pytest.mark.parametrize(
    "body",
    [
        b"\x08\x80",  # a varint cut short (location id)
        b"\x0a\x02\x01\x82",  # a packed run ending inside a varint
        b"\x10\x05\x0a",  # a tag cut short
        b"\x0a\x05\x01\x02",  # a length past the end of the sample
        b"\x10\x01\x1a\x03\x08",  # a label's length past the end
        b"\x10\x01\x1a\x02\x08\xff",  # a varint cut short inside a label
        b"\x10\x01\x21\x00\x00",  # a fixed64 field past the end
        b"\x10\x01\x25\x00",  # a fixed32 field past the end
        b"\x0b\x10\x01",  # wire type 3 (start group)
        b"\x0c\x10\x01",  # wire type 4 (end group)
        b"\x0e\x10\x01",  # wire type 6
        b"\x0f\x10\x01",  # wire type 7
        b"\x10\x01\x1a\x02\x0f\x00",  # a bad wire type inside a label
        b"\x08" + b"\xff" * 10 + b"\x01",  # an eleven-byte varint
        b"\x0a\x0b" + b"\xff" * 10 + b"\x01",  # an eleven-byte varint in a packed run
        b"\x10\x01\x1a\x0c\x08" + b"\xff" * 10 + b"\x01",  # an eleven-byte varint in a label
        b"\x00\x01\x10\x01",  # field number 0
    ],
)
def test_malformed_sample_wire_data_names_the_parsing_stage(body):
    with pytest.raises(ProfileError, match=r"^parsing profile: "):
        decode_profile(_profile_with_sample(body))
    with pytest.raises(ProfileError, match=r"^parsing profile: "):
        decode_profile(gzip.compress(_profile_with_sample(body)))


def test_label_string_index_outside_the_table_is_malformed():
    with pytest.raises(ProfileError, match=r"^malformed profile: label names string 5, the table has 5"):
        decode_profile(_profile_with_sample(b"\x08\x01\x10\x01\x1a\x04\x08\x03\x10\x05"))
    negative = _varint(-2)
    with pytest.raises(ProfileError, match=r"^malformed profile: label names string -2,"):
        decode_profile(_profile_with_sample(b"\x08\x01\x10\x01\x1a" + bytes([len(negative) + 1]) + b"\x20" + negative))
    assert decode_profile(_profile_with_sample(b"\x08\x01\x10\x01\x1a\x04\x08\x03\x10\x04")).sample_labels[1] == (
        ("k", "v", 0, ""),
    )


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_sample_bodies_decode_like_the_protobuf_parser_or_are_refused(body):
    data = _profile_with_sample(body)
    try:
        decode_profile(data)
    except ProfileError as error:
        assert str(error).split(":")[0] in ("parsing profile", "malformed profile")
    else:
        _assert_decodes_like_the_reference(data)


def test_gzip_members_and_padding_spanning_several_input_pieces():
    random = __import__("random").Random(7)
    strings = ["", "samples", "count", *(f"{random.getrandbits(4000):x}" for _ in range(3000))]  # ~3 MB
    message = _message(string_table=strings)
    message.sample_type.add(type=1, unit=2)
    message.location.add(id=1)
    message.sample.add(location_id=[1], value=[3])
    raw = message.SerializeToString()
    half = len(raw) // 2
    members = gzip.compress(raw[:half]) + gzip.compress(raw[half:])
    assert len(members) > 3 << 19  # the decompressor is fed 1 MiB at a time
    assert decode_profile(members + b"\x00" * 9) == decode_profile(raw)
    with pytest.raises(ProfileError, match=r"^decompressing profile: trailing data after the gzip stream"):
        decode_profile(members + b"\x00junk")
    with pytest.raises(ProfileError, match=r"^decompressing profile: unexpected end of gzip data"):
        decode_profile(members[: len(members) - 100])


# --- Locations are read from their raw bodies too. ---

_uint64 = st.integers(0, (1 << 64) - 1)


def _singular(draw, number: int, value: int) -> list[bytes]:
    """A singular varint field, sometimes written twice: the parser keeps the last occurrence."""
    fields = [_field(number, 0, _varint(value))]
    if draw(st.booleans()):
        fields.insert(0, _field(number, 0, _varint(draw(_uint64))))
    return fields


@st.composite
def _location_profiles(draw) -> bytes:
    """Location bodies written by hand: fields in any order, singular fields repeated, unknown fields, lines with
    negative numbers, booleans written as any varint."""
    message = _message(string_table=["", "main"])
    for function_id in (1, 2, 3):
        message.function.add(id=function_id, name=1)
    for mapping_id in (1, 2):
        message.mapping.add(id=mapping_id)
    bodies = []
    for location_id in draw(st.lists(st.integers(1, (1 << 64) - 1), unique=True, max_size=8)):
        lines = []
        for _ in range(draw(st.integers(0, 3))):
            line_fields = [
                _singular(draw, 1, draw(st.sampled_from([1, 2, 3]))),
                _singular(draw, 2, draw(_int64)) if draw(st.booleans()) else [],
                _singular(draw, 3, draw(_int64)) if draw(st.booleans()) else [],
                [_unknown_field(draw, st.integers(4, 50)) for _ in range(draw(st.integers(0, 2)))],
            ]
            lines.append(_field(4, 2, _merge_in_order(draw, *line_fields)))
        bodies.append(_merge_in_order(
            draw,
            _singular(draw, 1, location_id),
            _singular(draw, 2, draw(st.sampled_from([0, 1, 2]))) if draw(st.booleans()) else [],
            _singular(draw, 3, draw(_uint64)) if draw(st.booleans()) else [],
            _singular(draw, 5, draw(st.sampled_from([0, 1, 2, 300]))) if draw(st.booleans()) else [],
            lines,
            [_unknown_field(draw, st.integers(6, 3000)) for _ in range(draw(st.integers(0, 2)))],
        ))  # fmt: skip
    return message.SerializeToString() + b"".join(_field(4, 2, body) for body in bodies)


def _reference_locations(data: bytes) -> dict:
    message = message_classes()["Profile"].FromString(data)
    return {
        loc.id: (loc.id, loc.mapping_id, loc.address, tuple((ln.function_id, ln.line, ln.column) for ln in loc.line),
                 loc.is_folded)
        for loc in message.location
    }  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_location_profiles())
def test_hand_written_locations_decode_like_the_protobuf_parser(data):
    locations = decode_profile(data).locations
    assert {
        key: (loc.id, loc.mapping_id, loc.address, tuple(tuple(line) for line in loc.lines), loc.is_folded)
        for key, loc in locations.items()
    } == _reference_locations(data)
    assert all(type(loc.is_folded) is bool for loc in locations.values())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x10\x01", "location id 0 is zero or repeated"),
        (b"\x08\x07\x10\x05", "location 7 names mapping 5, which does not exist"),
        (b"\x08\x07\x22\x02\x08\x09", "location 7 names function 9, which does not exist"),
    ],
)
def test_invalid_location_is_malformed(body, message):
    with pytest.raises(ProfileError, match=rf"^malformed profile: {message}"):
        decode_profile(_message(string_table=[""]).SerializeToString() + _field(4, 2, body))


@pytest.mark.parametrize("body", [b"\x08\x80", b"\x08\x07\x22\x05\x08\x01", b"\x08\x07\x22\x02\x0b\x01", b"\x0f"])
def test_malformed_location_wire_data_names_the_parsing_stage(body):
    with pytest.raises(ProfileError, match=r"^parsing profile: "):
        decode_profile(_field(4, 2, body))
