"""The subsystem catalog and the rollup: matching rules, upstream notes, flat and cum by subsystem, package and
function, on synthetic profiles written with the project's model."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

from kubectl_rollouts_profile.analysis import catalog as cat
from kubectl_rollouts_profile.analysis.catalog import ENTRIES, default_catalog, object_type, package_of
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType

AR = "github.com/argoproj/argo-rollouts"
PROM = "github.com/prometheus/client_golang/prometheus"


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
    (f"{AR}/rollout.(*Controller).syncHandler", cat.ROLLOUT_RECONCILE),
    (f"{AR}/controller.(*Manager).Run", cat.CONTROLLER_MANAGER),
    (f"{AR}/rollout/trafficrouting/istio.(*Reconciler).UpdateHash", "traffic router: istio"),
    (f"{AR}/rollout/trafficrouting/nginx.(*Reconciler).SetWeight", "traffic router: nginx"),
    (f"{AR}/rollout/trafficrouting.(*x).y", "traffic routing"),
    (f"{AR}/metricproviders/webmetric.(*Provider).Run", "metric provider: web"),
    (f"{AR}/metricproviders/prometheus.(*Provider).Run", "metric provider: prometheus"),
    (f"{AR}/analysis.(*Controller).runMeasurements.func1", "analysis runs"),
    (f"{AR}/experiments.(*Controller).syncHandler", "experiments"),
    (f"{AR}/ingress.(*Controller).syncIngress", "ingress controller"),
    (f"{AR}/service.(*Controller).syncService", "service controller"),
    (f"{AR}/utils/record.(*EventRecorderAdapter).sendNotifications", "notifications"),
    (f"{AR}/utils/tolerantinformer.(*tolerantAnalysisRunLister).List", cat.INFORMERS),
    ("k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch", cat.INFORMERS),
    ("k8s.io/client-go/tools/cache.(*DeltaFIFO).Pop", cat.INFORMERS),
    ("k8s.io/client-go/tools/pager.(*ListPager).List", cat.INFORMERS),
    ("k8s.io/client-go/listers/apps/v1.(*replicaSetLister).List", cat.INFORMERS),
    ("k8s.io/client-go/dynamic/dynamicinformer.NewFilteredDynamicInformer.func1", cat.INFORMERS),
    ("k8s.io/client-go/util/workqueue.(*Type).Get", cat.WORKQUEUE),
    ("k8s.io/client-go/rest.Result.Into", cat.REST),
    ("k8s.io/client-go/gentype.(*ClientWithList[go.shape.*uint8,go.shape.*uint8]).List", cat.REST),
    ("k8s.io/client-go/tools/record.(*eventBroadcasterImpl).StartEventWatcher.func1", "events"),
    ("k8s.io/client-go/tools/leaderelection.(*LeaderElector).renew", "client-go leader election"),
    ("k8s.io/apimachinery/pkg/runtime/serializer/json.(*Serializer).Decode", cat.DECODING),
    ("k8s.io/apimachinery/pkg/runtime/serializer/protobuf.(*Serializer).Decode", cat.DECODING),
    ("k8s.io/apimachinery/pkg/watch.(*StreamWatcher).receive", cat.DECODING),
    ("k8s.io/client-go/rest/watch.(*Decoder).Decode", cat.DECODING),
    ("k8s.io/api/apps/v1.(*ReplicaSet).Unmarshal", cat.DECODING),
    ("k8s.io/apimachinery/pkg/apis/meta/v1.(*ObjectMeta).Unmarshal", cat.DECODING),
    ("k8s.io/apimachinery/pkg/apis/meta/v1/unstructured.unstructuredJSONScheme.Decode", cat.DECODING),
    ("k8s.io/apimachinery/pkg/runtime.(*unstructuredConverter).FromUnstructured", cat.CONVERSION),
    ("k8s.io/apimachinery/pkg/runtime.fromUnstructured", cat.CONVERSION),
    ("k8s.io/apimachinery/pkg/runtime.structToUnstructured", cat.CONVERSION),
    ("k8s.io/apimachinery/pkg/runtime.DeepCopyJSONValue", cat.CONVERSION),
    ("k8s.io/api/apps/v1.(*ReplicaSet).DeepCopy", cat.CONVERSION),
    ("k8s.io/api/core/v1.(*PodSpec).DeepCopyInto", cat.CONVERSION),
    ("k8s.io/apimachinery/pkg/api/resource.Quantity.DeepCopy", cat.CONVERSION),
    (f"{AR}/pkg/apis/rollouts/v1alpha1.(*AnalysisRun).DeepCopyObject", cat.CONVERSION),
    (f"{AR}/utils/tolerantinformer.coerceToTyped[go.shape.*uint8]", cat.CONVERSION),
    (f"{AR}/utils/unstructured.ObjectToAnalysisRun", cat.CONVERSION),
    ("k8s.io/apimachinery/pkg/apis/meta/v1/unstructured.NestedFieldCopy", cat.CONVERSION),
    ("github.com/sirupsen/logrus.(*Entry).Logf", cat.LOGGING),
    ("github.com/sirupsen/logrus.(*TextFormatter).Format", cat.LOGGING),
    ("k8s.io/klog/v2.(*loggingT).output", cat.LOGGING),
    (f"{AR}/utils/log.WithRollout", cat.LOGGING),
    (f"{AR}/controller/metrics.(*analysisRunCollector).Collect", cat.METRICS_SCRAPE),
    (f"{AR}/controller/metrics.(*rolloutCollector).Collect", cat.METRICS_SCRAPE),
    (f"{AR}/controller/metrics.collectAnalysisRuns", cat.METRICS_SCRAPE),
    (f"{AR}/controller/metrics.(*MetricsServer).ServeHTTP", cat.METRICS_SCRAPE),
    ("github.com/prometheus/client_golang/prometheus.(*Registry).Gather", cat.METRICS_SCRAPE),
    ("github.com/prometheus/client_golang/prometheus.(*Registry).Gather.func1", cat.METRICS_SCRAPE),
    ("github.com/prometheus/client_golang/prometheus/promhttp.HandlerForTransactional.func1", cat.METRICS_SCRAPE),
    ("github.com/prometheus/common/expfmt.MetricFamilyToText", cat.METRICS_SCRAPE),
    (f"{AR}/controller/metrics.(*MetricsServer).IncRolloutReconcile", cat.METRICS_RECORD),
    (f"{AR}/controller/metrics.(*K8sRequestsCountProvider).IncKubernetesRequest", cat.METRICS_RECORD),
    ("github.com/prometheus/client_golang/prometheus.(*MetricVec).GetMetricWithLabelValues", cat.METRICS_RECORD),
    (f"{PROM}.(*metricMap).getOrCreateMetricWithLabelValues", cat.METRICS_RECORD),
    ("github.com/prometheus/client_golang/prometheus.(*CounterVec).WithLabelValues", cat.METRICS_RECORD),
    ("github.com/prometheus/client_golang/prometheus.(*histogram).Observe", cat.METRICS_RECORD),
    ("github.com/prometheus/client_golang/prometheus.(*counter).Add", cat.METRICS_RECORD),
    ("github.com/argoproj/pkg/kubeclientmetrics.(*metricsRoundTripper).RoundTrip", cat.METRICS_RECORD),
    (f"{AR}/pkg/kubectl-argo-rollouts/cmd/get.(*GetOptions).PrintRollout", cat.CLI_DASHBOARD),
    (f"{AR}/server.(*ArgoRolloutsServer).WatchRolloutInfos", cat.CLI_DASHBOARD),
    ("encoding/json.(*decodeState).object", cat.JSON),
    ("net/http.(*persistConn).roundTrip", cat.NET_HTTP),
    ("runtime.gcBgMarkWorker", cat.GC_MARK),
    ("runtime.gcBgMarkWorker.func2", cat.GC_MARK),
    ("runtime.scanobject", cat.GC_MARK),
    ("runtime.bgsweep", cat.GC_SWEEP),
    ("runtime.mallocgc", cat.ALLOCATION),
    ("runtime.findRunnable", cat.SCHEDULER),
    ("runtime.memmove", cat.RUNTIME_OTHER),
    ("runtime.goexit", cat.ROOT),
    ("runtime.main", cat.ROOT),
    ("main.main", cat.ROOT),
    ("syscall.Syscall6", cat.SYSCALLS),
    ("main.burnCPU", "other (main)"),
    ("crypto/sha256.block", "other (crypto/sha256)"),
])  # fmt: skip
def test_functions_fall_in_their_subsystem(function: str, subsystem: str) -> None:
    assert default_catalog().match(function).subsystem == subsystem


def test_package_of_go_function_names() -> None:
    assert package_of("k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch") == "k8s.io/client-go/tools/cache"
    assert package_of("runtime.mallocgc") == "runtime"
    assert package_of("0x4a5b6c") == "0x4a5b6c"
    generic = "k8s.io/client-go/gentype.(*ClientWithList[go.shape.*k8s.io/api/apps/v1.ReplicaSet]).List"
    assert package_of(generic) == "k8s.io/client-go/gentype"


def test_every_entry_names_its_layer_and_upstream_file() -> None:
    for subsystem, layer, pattern, upstream in ENTRIES:
        assert layer in cat.LAYERS, subsystem
        assert re.search(r"\w+/\S+: \S", upstream), f"{subsystem}: {upstream!r} names no upstream file"
        if pattern.startswith("~"):
            re.compile(pattern[1:])


@pytest.mark.parametrize(("function", "kind"), [
    ("k8s.io/client-go/informers/apps/v1.(*replicaSetInformer).Informer", "ReplicaSet"),
    ("k8s.io/client-go/informers/apps/v1.NewFilteredReplicaSetInformer.func1", "ReplicaSet"),
    ("k8s.io/client-go/listers/core/v1.(*podNamespaceLister).List", "Pod"),
    ("k8s.io/client-go/listers/networking/v1.(*ingressLister).List", "Ingress"),
    ("k8s.io/client-go/kubernetes/typed/core/v1.(*services).Get", "Service"),
    ("k8s.io/client-go/kubernetes/typed/networking/v1.(*ingresses).List", "Ingress"),
    ("k8s.io/api/apps/v1.(*ReplicaSetList).Unmarshal", "ReplicaSet"),
    ("k8s.io/api/core/v1.(*PodSpec).DeepCopyInto", "Pod"),
    (f"{AR}/pkg/apis/rollouts/v1alpha1.(*AnalysisRun).DeepCopy", "AnalysisRun"),
    (f"{AR}/pkg/client/informers/externalversions/rollouts/v1alpha1.(*rolloutInformer).Lister", "Rollout"),
    (f"{AR}/pkg/client/listers/rollouts/v1alpha1.(*analysisRunNamespaceLister).Get", "AnalysisRun"),
    (f"{AR}/pkg/client/clientset/versioned/typed/rollouts/v1alpha1.(*experiments).UpdateStatus", "Experiment"),
    (f"{AR}/utils/tolerantinformer.(*tolerantAnalysisRunLister).List", "AnalysisRun"),
    (f"{AR}/utils/tolerantinformer.NewTolerantRolloutInformer.func1", "Rollout"),
    (f"{AR}/controller/metrics.(*analysisRunCollector).Collect", "AnalysisRun"),
    (f"{AR}/controller/metrics.collectRollouts", "Rollout"),
    ("k8s.io/api/core/v1.(*Container).Unmarshal", None),
    ("k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch", None),
    ("k8s.io/client-go/informers.NewSharedInformerFactory", None),
    ("k8s.io/client-go/dynamic/dynamicinformer.NewFilteredDynamicInformer.func1", None),
])  # fmt: skip
def test_object_type_of_a_frame(function: str, kind: str | None) -> None:
    assert object_type(function) == kind


def test_object_type_of_a_stack_is_its_outermost_typed_frame() -> None:
    decode = ["runtime.mallocgc", "k8s.io/api/core/v1.(*Container).Unmarshal",
              "k8s.io/api/core/v1.(*PodSpec).Unmarshal", "k8s.io/api/core/v1.(*PodTemplateSpec).Unmarshal",
              "k8s.io/api/apps/v1.(*ReplicaSetSpec).Unmarshal", "k8s.io/api/apps/v1.(*ReplicaSet).Unmarshal",
              "k8s.io/api/apps/v1.(*ReplicaSetList).Unmarshal",
              "k8s.io/apimachinery/pkg/runtime/serializer/protobuf.(*Serializer).Decode",
              "k8s.io/client-go/rest.Result.Into",
              "k8s.io/client-go/informers/apps/v1.NewFilteredReplicaSetInformer.func1",
              "k8s.io/client-go/tools/cache.(*Reflector).list", "runtime.goexit"]  # fmt: skip
    assert object_type(decode) == "ReplicaSet"
    assert object_type(decode[:3]) == "Pod"
    assert object_type(["runtime.mallocgc", "k8s.io/client-go/tools/cache.(*Reflector).watch"]) is None


# ---- the catalog checked against the upstream sources (tests/data/upstream, scripts/upstream-packages.py and
# scripts/go-runtime-names.py regenerate them) ----

UPSTREAM = Path(__file__).parent / "data" / "upstream"
# Modules and standard-library packages with no list kept here: their entries are checked by hand.
UNLISTED = ("k8s.io/api", "k8s.io/klog", "sigs.k8s.io/", "google.golang.org/protobuf", "github.com/gogo/protobuf",
            "github.com/sirupsen/logrus", "github.com/go-logr", "github.com/prometheus/common",
            "github.com/prometheus/client_model", "encoding/json", "net/http", "net", "internal/poll", "crypto/tls",
            "syscall", "internal/syscall/unix")  # fmt: skip
# Function patterns that span packages (generated methods of every API type), checked by their own tests.
CROSS_PACKAGE = (cat._DEEPCOPY, cat._GENERATED_DECODE)
# argo-rollouts directories that are no controller code: tests, mocks, tools, docs, and package main (cmd/, whose
# frames are named main.*).
NOT_CONTROLLER = re.compile(r"^(test|hack|docs|examples|cmd)(/|$)|(^|/)(mocks|fake|testdata|testutil)(/|$)")
CLI_PACKAGES = re.compile(r"^(pkg/kubectl-argo-rollouts|server|pkg/apiclient)(/|$)")


def _read_list(path: Path) -> tuple[dict[str, str], list[str]]:
    header: dict[str, str] = {}
    lines: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("# ") and ": " in line and not lines:
            key, _, value = line[2:].partition(": ")
            header[key] = value
        elif line and not line.startswith("#"):
            lines.append(line)
    return header, lines


@lru_cache(maxsize=1)
def upstream_packages() -> dict[str, tuple[dict[str, str], set[str]]]:
    """Each list's file name -> (its header, the import paths of its packages)."""
    found = {}
    for path in sorted((UPSTREAM / "packages").glob("*.txt")):
        header, directories = _read_list(path)
        module = header["module"]
        found[path.name] = (header, {module if d == "." else f"{module}/{d}" for d in directories})
    return found


@lru_cache(maxsize=1)
def go_runtime_names() -> dict[str, dict[str, list[str]]]:
    """Go version -> source file -> the runtime function names defined there."""
    versions: dict[str, dict[str, list[str]]] = {}
    for path in sorted((UPSTREAM / "go-runtime").glob("go*.txt")):
        files: dict[str, list[str]] = {}
        current: list[str] = []
        for line in path.read_text().splitlines():
            if line.startswith("## "):
                current = files.setdefault(line[3:], [])
            elif line and not line.startswith("#"):
                current.append(line)
        versions[path.stem.removeprefix("go")] = files
    return versions


@lru_cache(maxsize=1)
def all_runtime_names() -> frozenset[str]:
    return frozenset(name for files in go_runtime_names().values() for names in files.values() for name in names)


def test_upstream_lists_are_stamped_with_their_tag_and_commit() -> None:
    lists = upstream_packages()
    for name, (header, packages) in lists.items():
        assert re.fullmatch(r"[0-9a-f]{40}", header["commit"]), name
        assert name == f"{header['repo'].split('/')[1]}@{header['ref']}.txt" and packages, name
    refs = {name.removesuffix(".txt") for name in lists}
    assert {"argo-rollouts@master", "client-go@v0.29.15", "apimachinery@v0.34.10"} <= refs
    assert {ref.split("@")[1].rsplit(".", 1)[0] for ref in refs if ref.startswith("argo-rollouts@v")} == {
        "v1.8", "v1.9", "v1.10.0-rc1".rsplit(".", 1)[0]}
    assert {ref.split("@")[1].rsplit(".", 1)[0] for ref in refs if ref.startswith("client-go@")} == {
        f"v0.{minor}" for minor in range(29, 35)}
    assert sorted(go_runtime_names()) == sorted(go_runtime_names(), key=lambda v: tuple(map(int, v.split("."))))
    assert {version.rsplit(".", 1)[0] for version in go_runtime_names()} == {f"1.{m}" for m in range(22, 27)}


def _literal_package(pattern: str) -> str:
    """The package a function pattern is about: its literal text up to the first escaped dot."""
    found = re.match(r"~([\w./-]+?)\\\.", pattern)
    return found.group(1) if found else pattern


def test_every_package_entry_matches_an_upstream_package() -> None:
    listed = {name for _, packages in upstream_packages().values() for name in packages}
    runtime_packages = {package_of(name) for name in all_runtime_names()}
    unmatched = []
    for subsystem, layer, pattern, _ in ENTRIES:
        if pattern in CROSS_PACKAGE or (pattern.startswith("~") and layer in ("runtime", "root")):
            continue  # runtime names are checked against the Go sources' names
        package = _literal_package(pattern) if pattern.startswith("~") else pattern
        if package.startswith(UNLISTED):
            continue
        known = listed | runtime_packages
        if not any(name == package or name.startswith(package + "/") for name in known):
            unmatched.append(f"{subsystem}: {pattern[:80]}")
    assert not unmatched, "catalog entries that match no upstream package:\n" + "\n".join(unmatched)


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a pattern ``~runtime\\.(a|b|\\(\\*c\\)\\.d)$``, each a pattern of its own;
    a pattern of another shape is its own one alternative."""
    body = pattern[1:].removesuffix("$")
    prefix, _, rest = body.partition("(")
    if "(" in prefix or not prefix or not rest.endswith(")"):
        return [body]
    inner = rest[:-1]
    parts, depth, start, escaped = [], 0, 0, False
    for i, char in enumerate(inner):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [prefix + "(?:" + part + ")" for part in parts]


def test_every_runtime_name_pattern_matches_a_function_of_some_go_version() -> None:
    names = sorted(all_runtime_names())
    missing = []
    for subsystem, layer, pattern, _ in ENTRIES:
        if not pattern.startswith("~") or layer not in ("runtime", "root"):
            continue
        for alternative in _alternatives(pattern):
            compiled = re.compile(alternative + "$")
            if not any(compiled.match(name) for name in names) and alternative != r"main\.main":
                missing.append(f"{subsystem}: {alternative}")
    assert not missing, "runtime names no Go 1.22-1.26 defines:\n" + "\n".join(missing)


@pytest.mark.parametrize(("subsystem", "names"), [
    (cat.ALLOCATION, ["runtime.mallocgc", "runtime.mallocgcTiny", "runtime.mallocgcSmallNoscan",
                      "runtime.mallocgcSmallScanNoHeader", "runtime.mallocgcSmallScanHeader", "runtime.mallocgcLarge",
                      "runtime.mallocgcSmallScanNoHeaderSC3", "runtime.newobject", "runtime.growslice",
                      "runtime.(*mcache).refill", "runtime.(*mcentral).cacheSpan", "runtime.(*mheap).alloc",
                      "runtime.heapSetTypeNoHeader"]),
    (cat.GC_MARK, ["runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.scanobject", "runtime.greyobject",
                   "runtime.markroot", "runtime.scanstack", "runtime.gcAssistAlloc", "runtime.scanSpan",
                   "runtime.tryDeferToSpanScan", "runtime.typePointers.next", "runtime.(*mspan).typePointersOf",
                   "runtime.(*gcWork).tryGetSpan", "runtime.(*spanQueue).drain", "runtime.gcWriteBarrier2",
                   "runtime.wbBufFlush1"]),
    (cat.GC_SWEEP, ["runtime.bgsweep", "runtime.sweepone", "runtime.(*sweepLocked).sweep", "runtime.bgscavenge",
                    "runtime.(*mheap).freeSpan"]),
    (cat.MAPS, ["runtime.mapaccess2_faststr", "runtime.mapassign_faststr", "runtime.mapaccess1",
                "internal/runtime/maps.(*Map).putSlotSmall", "internal/runtime/maps.(*table).grow",
                "runtime.memhash", "runtime.makemap_small"]),
    (cat.SCHEDULER, ["runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.gopark",
                     "runtime.netpoll", "runtime.selectgo", "runtime.chanrecv", "runtime.futexsleep",
                     "runtime.stealWork", "runtime.notesleep", "sync.runtime_SemacquireMutex"]),
    (cat.SYSCALLS, ["internal/runtime/syscall.Syscall6", "runtime.write1"]),
    (cat.ROOT, ["runtime.goexit", "runtime.main", "runtime.mstart", "runtime.systemstack", "runtime.morestack"]),
])  # fmt: skip
def test_important_runtime_names_are_real_and_in_their_subsystem(subsystem: str, names: list[str]) -> None:
    defined = all_runtime_names()
    for name in names:
        assert name in defined, f"{name} is defined by no Go 1.22-1.26"
        assert default_catalog().match(name).subsystem == subsystem, name


def test_the_allocation_and_gc_files_land_in_their_subsystems() -> None:
    """Every mallocgc* variant of every version is allocation; every scan function of the GC's mark files is
    marking (Green Tea's span scanning included), whatever the version."""
    catalog = default_catalog()
    for version, files in go_runtime_names().items():
        for file, names in files.items():
            for name in names:
                short = name.removeprefix("runtime.")
                if short.startswith("mallocgc"):
                    assert catalog.match(name).subsystem == cat.ALLOCATION, (version, name)
                if file.startswith("runtime/mgcmark") and re.match(r"(scan|gcDrain|markroot)", short):
                    assert catalog.match(name).subsystem == cat.GC_MARK, (version, name)
                if file.startswith("internal/runtime/maps/"):
                    assert catalog.match(name).subsystem == cat.MAPS, (version, name)


def test_every_controller_package_maps_to_a_named_subsystem() -> None:
    catalog = default_catalog()
    unnamed = []
    for name, (header, packages) in upstream_packages().items():
        module = header["module"]
        for package in sorted(packages):
            directory = package.removeprefix(module).lstrip("/")
            if header["repo"] == "argoproj/argo-rollouts":
                if NOT_CONTROLLER.search(directory):
                    continue
                match = catalog.match_package(package)
                if CLI_PACKAGES.match(directory):
                    if (match.subsystem, match.layer) != (cat.CLI_DASHBOARD, "cli"):
                        unnamed.append(f"{name}: {directory} (CLI / dashboard) -> {match.subsystem}")
                elif match.layer not in ("controller", "client-go") or match.subsystem == cat.CLI_DASHBOARD:
                    unnamed.append(f"{name}: {directory} -> {match.subsystem}")
            elif catalog.match_package(package).subsystem.startswith("other ("):
                unnamed.append(f"{name}: {directory or '.'}")
    assert not unnamed, "upstream packages no subsystem names:\n" + "\n".join(unnamed)
