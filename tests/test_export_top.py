"""The top table against the reference: totals and per-function flat/cum must equal ``go tool pprof -top`` on the
same real profiles from the Go target."""

from __future__ import annotations

import re
import subprocess

import pytest
import requests

from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.export import render
from kubectl_rollouts_profile.export.top import function_totals
from kubectl_rollouts_profile.export.units import percentage, scaled_label
from kubectl_rollouts_profile.pprof.decode import decode_profile
from kubectl_rollouts_profile.pprof.model import Profile

_GO_UNITS = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9,
             "hrs": 3.6e12, "": 1}  # fmt: skip
_LABEL = re.compile(r"^(-?[0-9.]+)([a-zA-Z]*)$")


def _go_value(label: str) -> float:
    number, unit = _LABEL.match(label).groups()
    return float(number) * _GO_UNITS[unit]


def _close(expected_exact: int, go_label: str) -> bool:
    # go prints two decimals of the scaled value; allow that rounding and nothing more.
    go_value = _go_value(go_label)
    return abs(expected_exact - go_value) <= max(abs(go_value) * 0.001, 0.006 * _GO_UNITS.get(
        _LABEL.match(go_label).group(2), 1))


def go_top(path, sample_index: str) -> tuple[str, dict[str, tuple[str, str]]]:
    """(total label, {function: (flat label, cum label)}) from go tool pprof -top with nothing trimmed."""
    report = subprocess.run(
        ["go", "tool", "pprof", "-top", f"-sample_index={sample_index}", "-nodecount=100000",
         "-nodefraction=0", "-edgefraction=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    total = re.search(r"of (\S+) total", report).group(1)
    rows = {}
    for line in report.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1].endswith("%") and fields[4].endswith("%"):
            name = " ".join(fields[5:]).removesuffix(" (inline)")
            rows[name] = (fields[0], fields[3])
    return total, rows


def _fetch(go_new, path: str, tmp_path_factory, name: str):
    response = requests.get(go_new.base_url + path, timeout=30)
    response.raise_for_status()
    file = tmp_path_factory.mktemp("top") / f"{name}.pb.gz"
    file.write_bytes(response.content)
    return file


@pytest.fixture(scope="module")
def cpu_file(go_new, tmp_path_factory):
    return _fetch(go_new, "/debug/pprof/profile/?seconds=1", tmp_path_factory, "cpu")


@pytest.fixture(scope="module")
def heap_file(go_new, tmp_path_factory):
    return _fetch(go_new, "/debug/pprof/heap", tmp_path_factory, "heap")


@pytest.mark.parametrize(
    ("which", "sample_index"),
    [("cpu_file", "cpu"), ("cpu_file", "samples"), ("heap_file", "inuse_space"), ("heap_file", "alloc_space"),
     ("heap_file", "alloc_objects")],
)  # fmt: skip
def test_totals_and_rows_equal_go_tool_pprof(request, which, sample_index):
    path = request.getfixturevalue(which)
    profile = decode_profile(path.read_bytes())
    go_total, go_rows = go_top(path, sample_index)
    index = profile.sample_index(sample_index)
    unit = profile.sample_types[index].unit
    assert profile.total(sample_index) > 0
    assert _close(profile.total(sample_index), go_total), (profile.total(sample_index), go_total)
    flat, cum = function_totals(profile, index)
    assert set(cum) == set(go_rows)
    for name, (go_flat, go_cum) in go_rows.items():
        assert _close(flat.get(name, 0), go_flat), (name, flat.get(name, 0), go_flat)
        assert _close(cum[name], go_cum), (name, cum[name], go_cum)
    ours = render(profile, "top", title="t", sample_index=sample_index).decode()
    assert f"of {scaled_label(profile.total(sample_index), unit)} total" in ours


def test_top_names_the_burner_first_in_cum_of_its_chain(cpu_file):
    text = render(decode_profile(cpu_file.read_bytes()), "top", title="cpu").decode()
    assert "Type: cpu (nanoseconds)" in text
    assert re.search(r"^\s+\S+\s+\S+%\s+\S+%\s+\S+\s+\S+%\s+main\.burnCPU$", text, re.M)


def test_nodes_limits_rows_and_says_so(heap_file):
    text = render(decode_profile(heap_file.read_bytes()), "top", title="heap", nodes=2).decode()
    table = text.split("cum   cum%\n", 1)[1]
    assert len(table.splitlines()) == 2
    assert re.search(r"Showing top 2 nodes out of \d+", text)


def test_sample_index_picks_the_column(heap_file):
    profile = decode_profile(heap_file.read_bytes())
    text = render(profile, "top", title="heap", sample_index="alloc_objects").decode()
    assert "Type: alloc_objects (count)" in text
    assert f"of {profile.total('alloc_objects')} total" in text


def test_unknown_sample_index_is_a_profile_error_listing_the_choices(heap_file):
    profile = decode_profile(heap_file.read_bytes())
    with pytest.raises(ProfileError) as caught:
        render(profile, "top", title="heap", sample_index="nope")
    assert "inuse_space" in caught.value.hint


def test_empty_profile_has_no_sample_types_to_show():
    with pytest.raises(ProfileError):
        render(Profile(), "top", title="empty")


@pytest.mark.parametrize(
    ("value", "unit", "label"),
    [(10_000_000, "nanoseconds", "10ms"), (1_500_000_000, "nanoseconds", "1.50s"), (0, "nanoseconds", "0"),
     (524_340, "bytes", "512.05kB"), (12 << 20, "bytes", "12MB"), (999, "bytes", "999B"), (42, "count", "42"),
     (-2048, "bytes", "-2kB"), (1500, "microseconds", "1.50ms")],
)  # fmt: skip
def test_scaled_labels_like_pprof(value, unit, label):
    assert scaled_label(value, unit) == label


@pytest.mark.parametrize(
    ("value", "total", "text"), [(1, 1, "  100%"), (1, 3, "33.33%"), (1, 1000, "  0.1%"), (0, 5, "    0%")]
)
def test_percentages_like_pprof(value, total, text):
    assert percentage(value, total) == text
