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
