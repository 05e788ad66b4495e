"""Too little to conclude anything: a mostly idle CPU profile, a heap with almost nothing in use, and a diff of two
identical snapshots are flagged (synthetic profiles at the thresholds, then the real Go target through the CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.pprof.evidence import (
    MIN_CPU_SAMPLES,
    MIN_HEAP_INUSE_BYTES,
    thin_profile_warnings,
    unchanged,
)
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType
from kubectl_rollouts_profile.pprof.transform import diff
from tests.clitools import invoke

FUNCTIONS = {1: Function(1, "main.work"), 2: Function(2, "main.main")}
LOCATIONS = {1: Location(1, lines=(Line(1, 10),)), 2: Location(2, lines=(Line(2, 20),))}


def cpu_profile(samples: int) -> Profile:
    """``samples`` CPU samples at Go's 100 Hz (10 ms each), spread over two stacks."""
    half = samples // 2
    return Profile(sample_types=(ValueType("samples", "count"), ValueType("cpu", "nanoseconds")),
                   sample_locations=((1, 2), (2,)),
                   sample_values=((half, half * 10_000_000), (samples - half, (samples - half) * 10_000_000)),
                   locations=LOCATIONS, functions=FUNCTIONS)


def heap_profile(inuse_bytes: int, *, extra: int = 0) -> Profile:
    types = tuple(ValueType(name, unit) for name, unit in (("alloc_objects", "count"), ("alloc_space", "bytes"),
                                                            ("inuse_objects", "count"), ("inuse_space", "bytes")))
    return Profile(sample_types=types, sample_locations=((1, 2), (2,)),
                   sample_values=((10, 4096, 1, inuse_bytes), (0, 0, 0, extra)),
                   sample_labels=((), ()), locations=LOCATIONS, functions=FUNCTIONS,
                   default_sample_type="inuse_space")


def test_idle_cpu_profile_warns() -> None:
    (warning,) = thin_profile_warnings("cpu", cpu_profile(12))
    assert "only 0.12s of CPU in 12 samples" in warning and "mostly idle" in warning and "--seconds" in warning


def test_busy_cpu_profile_does_not_warn() -> None:
    assert thin_profile_warnings("cpu", cpu_profile(MIN_CPU_SAMPLES)) == ()
    assert thin_profile_warnings("cpu", cpu_profile(MIN_CPU_SAMPLES - 1)) != ()


def test_heap_with_almost_nothing_in_use_warns() -> None:
    (warning,) = thin_profile_warnings("heap", heap_profile(200 * 1024))
    assert "only 200 KiB in use" in warning and "memory is high" in warning
    assert thin_profile_warnings("heap", heap_profile(MIN_HEAP_INUSE_BYTES)) == ()


def test_other_kinds_are_not_judged() -> None:
    assert thin_profile_warnings("goroutine", cpu_profile(1)) == ()
    assert thin_profile_warnings("allocs", heap_profile(1)) == ()


def test_unchanged_diff() -> None:
    assert unchanged(diff(heap_profile(5 << 20), heap_profile(5 << 20)))
    assert not unchanged(diff(heap_profile(5 << 20), heap_profile(6 << 20)))
    # Same total, moved to another stack: something changed.
    assert not unchanged(diff(heap_profile(5 << 20), heap_profile(4 << 20, extra=1 << 20)))


# ----- through the CLI, on the real Go target ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def idle_target() -> Any:
    """A Go target that does almost nothing: no CPU burners or contenders, nothing retained."""
    from tests.goproc import start_gotarget

    target = start_gotarget("--cpu-burners", "0", "--contenders", "0", "--retain-mb", "0")
    yield target
    target.stop()


def test_idle_cpu_capture_carries_the_warning(idle_target: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("cpu", "--url", idle_target.base_url, "--seconds", "1", "--json", "--format",
                                  "none", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert any("mostly idle" in warning for warning in result["warnings"]), result
    code, _, stderr = invoke("cpu", "--url", idle_target.base_url, "--seconds", "1", "--format", "none",
                             "--output-dir", str(tmp_path))
    assert code == 0 and "warning: the cpu profile holds only" in stderr


def test_nearly_empty_heap_capture_carries_the_warning(go_factory: Any, tmp_path: Path) -> None:
    # A fresh target that keeps nothing: only the runtime's start-up allocations are in use (no profile taken yet).
    empty = go_factory("--cpu-burners", "0", "--contenders", "0", "--retain-mb", "0")
    code, stdout, stderr = invoke("heap", "--url", empty.base_url, "--json", "--format", "none",
                                  "--output-dir", str(tmp_path))
    assert code == 0, stderr
    assert any("B in use (under 4 MiB)" in warning for warning in json.loads(stdout)["warnings"]), stdout


def test_diff_of_identical_snapshots_warns(go_new: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("heap", "--url", go_new.base_url, "--json", "--format", "none",
                                  "--output-dir", str(tmp_path))
    assert code == 0, stderr
    first = Path(json.loads(stdout)["files"]["pprof"])
    copy = tmp_path / "copy.pb.gz"
    shutil.copy(first, copy)
    code, stdout, stderr = invoke("diff", str(first), str(copy))
    assert code == 0, stderr
    assert "warning: the two snapshots are identical" in stderr
    grown = tmp_path / "grown.pb.gz"
    heap = heap_profile(5 << 20)
    from kubectl_rollouts_profile.pprof.encode import encode_profile

    (tmp_path / "small.pb.gz").write_bytes(encode_profile(heap))
    grown.write_bytes(encode_profile(heap_profile(9 << 20)))
    code, _, stderr = invoke("diff", str(tmp_path / "small.pb.gz"), str(grown))
    assert code == 0, stderr
    assert "identical" not in stderr
