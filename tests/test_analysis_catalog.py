"""The subsystem catalog and the rollup: matching rules, upstream notes, flat and cum by subsystem, package and
function, on synthetic profiles written with the project's model."""

from __future__ import annotations

import re

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
