"""The subsystem catalog and the rollup: matching rules, upstream notes, flat and cum by subsystem, package and
function, on synthetic profiles written with the project's model."""

from __future__ import annotations

import re

import pytest

from kubectl_rollouts_profile.analysis import catalog as cat
from kubectl_rollouts_profile.analysis.catalog import ENTRIES, default_catalog, package_of
from kubectl_rollouts_profile.analysis.rollup import render_rollup, rollup
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType

AR = "github.com/argoproj/argo-rollouts"


def make_profile(stacks: list[tuple[list[str], int]], sample_type: str = "cpu", unit: str = "nanoseconds") -> Profile:
    """A profile whose samples are the given stacks (function names innermost first) with their values."""
    function_ids: dict[str, int] = {}
    for names, _ in stacks:
        for name in names:
            function_ids.setdefault(name, len(function_ids) + 1)
    functions = {i: Function(i, name) for name, i in function_ids.items()}
    locations = {i: Location(i, lines=(Line(i, 1),)) for i in functions}
    return Profile(
        sample_types=(ValueType(sample_type, unit),),
        sample_locations=[tuple(function_ids[name] for name in names) for names, _ in stacks],
        sample_values=[(value,) for _, value in stacks],
        locations=locations, functions=functions,
    )  # fmt: skip


@pytest.mark.parametrize(("function", "subsystem"), [
    (f"{AR}/rollout.(*Controller).syncHandler", "rollout reconcile"),
    (f"{AR}/rollout/trafficrouting/istio.(*Reconciler).UpdateHash", "traffic router: istio"),
    (f"{AR}/rollout/trafficrouting/nginx.(*Reconciler).SetWeight", "traffic router: nginx"),
    (f"{AR}/rollout/trafficrouting.(*x).y", "traffic routing"),
    (f"{AR}/metricproviders/webmetric.(*Provider).Run", "metric provider: web"),
    (f"{AR}/metricproviders/prometheus.(*Provider).Run", "metric provider: prometheus"),
    (f"{AR}/analysis.(*Controller).runMeasurements.func1", "analysis runs"),
    (f"{AR}/experiments.(*Controller).syncHandler", "experiments"),
    (f"{AR}/controller/metrics.(*MetricsServer).ServeHTTP", "controller metrics server"),
    (f"{AR}/utils/record.(*EventRecorderAdapter).sendNotifications", "notifications"),
    ("k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch", cat.INFORMERS),
    ("k8s.io/client-go/tools/cache.(*DeltaFIFO).Pop", cat.INFORMERS),
    ("k8s.io/client-go/util/workqueue.(*Type).Get", cat.WORKQUEUE),
    ("k8s.io/client-go/rest.Result.Into", cat.REST),
    ("k8s.io/client-go/tools/leaderelection.(*LeaderElector).renew", "client-go leader election"),
    ("k8s.io/apimachinery/pkg/runtime/serializer/json.(*Serializer).Decode", cat.DECODING),
    ("encoding/json.(*decodeState).object", cat.JSON),
    ("net/http.(*persistConn).roundTrip", cat.NET_HTTP),
    ("runtime.gcBgMarkWorker", cat.GC_MARK),
    ("runtime.gcBgMarkWorker.func2", cat.GC_MARK),
    ("runtime.scanobject", cat.GC_MARK),
    ("runtime.bgsweep", cat.GC_SWEEP),
    ("runtime.mallocgc", cat.ALLOCATION),
    ("runtime.findRunnable", "Go scheduler"),
    ("runtime.memmove", "Go runtime (other)"),
    ("syscall.Syscall6", "syscalls"),
    ("main.burnCPU", "other (main)"),
    ("crypto/sha256.block", "other (crypto/sha256)"),
])  # fmt: skip
def test_functions_fall_in_their_subsystem(function: str, subsystem: str) -> None:
    assert default_catalog().match(function).subsystem == subsystem


def test_package_of_go_function_names() -> None:
    assert package_of("k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch") == "k8s.io/client-go/tools/cache"
    assert package_of("runtime.mallocgc") == "runtime"
    assert package_of("0x4a5b6c") == "0x4a5b6c"


def test_every_entry_names_its_layer_and_upstream_file() -> None:
    for subsystem, layer, pattern, upstream in ENTRIES:
        assert layer in cat.LAYERS, subsystem
        assert re.search(r"\w+/\S+: \S", upstream), f"{subsystem}: {upstream!r} names no upstream file"
        if pattern.startswith("~"):
            re.compile(pattern[1:])


def test_rollup_flat_and_cum_by_subsystem() -> None:
    profile = make_profile([
        (["encoding/json.checkValid", "k8s.io/client-go/rest.Result.Into", f"{AR}/rollout.(*Controller).sync"], 30),
        (["runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"], 50),
        (["main.burnCPU"], 20),
    ])  # fmt: skip
    table = rollup(profile, "subsystem")
    assert table.total == 100
    assert (table.row(cat.GC_MARK).flat, table.row(cat.GC_MARK).cum) == (50, 50)
    assert (table.row(cat.JSON).flat, table.row(cat.JSON).cum) == (30, 30)
    assert (table.row(cat.REST).flat, table.row(cat.REST).cum) == (0, 30)
    assert table.row("other (main)").flat == 20
    assert [row.key for row in table.rows[:2]] == [cat.GC_MARK, cat.JSON]
    assert table.share(cat.GC_MARK) == 0.5
    text = render_rollup(table, title="cpu")
    assert "by subsystem" in text and "Go GC (marking)" in text and "50.00%" in text


def test_rollup_by_package_and_function_and_recursion_counts_once() -> None:
    profile = make_profile([(["a/b.f", "a/b.f", "c.g"], 7), (["c.g"], 3)], "samples", "count")
    by_package = rollup(profile, "package")
    assert (by_package.row("a/b").flat, by_package.row("a/b").cum) == (7, 7)
    assert (by_package.row("c").flat, by_package.row("c").cum) == (3, 10)
    by_function = rollup(profile, "function")
    assert by_function.row("a/b.f").cum == 7  # twice on one stack, counted once


def test_unknown_grouping_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        rollup(make_profile([(["main.f"], 1)]), "file")


def test_empty_profile_rolls_up_to_nothing() -> None:
    table = rollup(make_profile([]), "subsystem")
    assert (table.total, table.rows) == (0, ())
    assert "total 0" in render_rollup(table, title="empty")
