"""Profiles and metrics of real Argo Rollouts incidents, modelled on the upstream code at a real tag: each stack is
the real call path (function names innermost first) with the file:line@tag it was read from, and each metrics text
uses the controller's real metric names and labels (controller/metrics/prommetrics.go@v1.9.1). The profiles are
written with the project's own encoder, so the tests read them as users' files are read."""

from __future__ import annotations

from pathlib import Path

from kubectl_rollouts_profile.pprof.encode import encode_profile
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType

AR = "github.com/argoproj/argo-rollouts"
RT = "k8s.io/apimachinery/pkg/runtime"
CACHE = "k8s.io/client-go/tools/cache"
PROM = "github.com/prometheus/client_golang/prometheus"
MS = 10_000_000  # one CPU sample at Go's 100 Hz, in nanoseconds
MB = 1 << 20

# A stack is (frames innermost first, value); a frame's citation is kept next to it in the comments.

# The metrics scrape: promhttp -> Registry.Gather's collect worker -> a collector's Collect
# (client_golang v1.22.0 prometheus/registry.go, pinned by argo-rollouts v1.9.1 go.mod).
SCRAPE = [f"{PROM}.(*Registry).Gather.func1", "runtime.goexit"]

# utils/tolerantinformer@v1.9.1: every List converts every object from unstructured.
CONVERT = [
    f"{RT}.structFromUnstructured",                       # apimachinery pkg/runtime/converter.go:519@v0.34.1
    f"{RT}.fromUnstructured",                             # converter.go:287@v0.34.1
    f"{RT}.(*unstructuredConverter).FromUnstructuredWithValidation",  # converter.go:239@v0.34.1
    f"{RT}.(*unstructuredConverter).FromUnstructured",    # converter.go:275@v0.34.1
    f"{AR}/utils/tolerantinformer.convertObject",          # utils/tolerantinformer/tollerantinformer.go:22@v1.9.1
]
ANALYSIS_RUN_COLLECT = [
    f"{AR}/utils/tolerantinformer.convertObjectsToAnalysisRuns",       # utils/tolerantinformer/analysisrun.go:80@v1.9.1
    f"{AR}/utils/tolerantinformer.(*tolerantAnalysisRunLister).List",  # analysisrun.go:44@v1.9.1
    f"{AR}/controller/metrics.(*analysisRunCollector).Collect",        # controller/metrics/analysis.go:42@v1.9.1
    *SCRAPE,
]
ROLLOUT_COLLECT = [
    f"{AR}/utils/tolerantinformer.convertObjectsToRollouts",           # utils/tolerantinformer/rollout.go:75@v1.9.1
    f"{AR}/utils/tolerantinformer.(*tolerantRolloutLister).List",      # rollout.go:39@v1.9.1
    f"{AR}/controller/metrics.(*rolloutCollector).Collect",            # controller/metrics/rollouts.go:52@v1.9.1
    *SCRAPE,
]
# The fallback when FromUnstructured fails: JSON re-marshalling (tollerantinformer.go:38@v1.9.1).
CONVERT_VIA_JSON = ["encoding/json.(*decodeState).object", "encoding/json.Unmarshal",
                    f"{AR}/utils/tolerantinformer.fromUnstructuredViaJSON",
                    f"{AR}/utils/tolerantinformer.convertObject"]

# The rollout work loop (utils/controller/controller.go:112@v1.9.1 processNextWorkItem -> the syncHandler).
ROLLOUT_WORKER = [
    f"{AR}/rollout.(*Controller).syncHandler",            # rollout/controller.go:392@v1.9.1
    f"{AR}/utils/controller.processNextWorkItem.func1",   # utils/controller/controller.go:112@v1.9.1
    f"{AR}/utils/controller.processNextWorkItem",
    f"{AR}/utils/controller.RunWorker",                   # utils/controller/controller.go:105@v1.9.1
    "k8s.io/apimachinery/pkg/util/wait.JitterUntil.func1", "runtime.goexit",
]
RECONCILE = [f"{AR}/rollout.(*rolloutContext).reconcile", *ROLLOUT_WORKER]  # rollout/context.go:52@v1.9.1
# "Started syncing rollout" (rollout/controller.go:412@v1.9.1), logged through logrus v1.9.3's text formatter.
LOG_LINE = ["github.com/sirupsen/logrus.(*TextFormatter).Format", "github.com/sirupsen/logrus.(*Entry).write",
            "github.com/sirupsen/logrus.(*Entry).log", "github.com/sirupsen/logrus.(*Entry).Info", *ROLLOUT_WORKER]
# The controller's own JSON round trip of every rollout it syncs (remarshalRollout, rollout/controller.go:999).
REMARSHAL = ["encoding/json.Marshal", f"{AR}/rollout.remarshalRollout", *ROLLOUT_WORKER]

# Informers (client-go v0.34.1, pinned by v1.9.1): the initial list of the typed ReplicaSet informer
# (informers/apps/v1/replicaset.go NewFilteredReplicaSetInformer's ListFunc), and watch events decoded by the
# StreamWatcher (apimachinery pkg/watch/streamwatcher.go receive) into the reflector's store.
REPLICASET_LIST = [
    "sigs.k8s.io/json/internal/golang/encoding/json.(*decodeState).object",
    "k8s.io/apimachinery/pkg/runtime/serializer/json.(*Serializer).Decode",
    "k8s.io/client-go/rest.Result.Into",
    "k8s.io/client-go/informers/apps/v1.NewFilteredReplicaSetInformer.func1",
    f"{CACHE}.(*ListWatch).ListWithContext",
    "k8s.io/client-go/tools/pager.SimplePageFunc.func1",
    f"{CACHE}.(*Reflector).list.func1",
    f"{CACHE}.(*Reflector).list",
    f"{CACHE}.(*Reflector).ListAndWatchWithContext",
    f"{CACHE}.(*Reflector).RunWithContext.func1",
    "runtime.goexit",
]
# The CRDs at v1.8/v1.9: the dynamic informer lists unstructured objects (client-go dynamic/dynamicinformer/
# informer.go NewFilteredDynamicInformer's ListFunc -> dynamic/simple.go List -> unstructuredJSONScheme), so no
# frame names the type (cmd/rollouts-controller/main.go:241@v1.9.1 wires the tolerant informers over it).
DYNAMIC_LIST = [
    "encoding/json.(*decodeState).objectInterface",
    "k8s.io/apimachinery/pkg/util/json.Unmarshal",
    "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured.unstructuredJSONScheme.decode",
    "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured.unstructuredJSONScheme.Decode",
    "k8s.io/client-go/dynamic.(*dynamicResourceClient).List",
    "k8s.io/client-go/dynamic/dynamicinformer.NewFilteredDynamicInformer.func1",
    f"{CACHE}.(*ListWatch).ListWithContext",
    f"{CACHE}.(*Reflector).list",
    f"{CACHE}.(*Reflector).ListAndWatchWithContext",
    "runtime.goexit",
]
WATCH_EVENTS = [
    "sigs.k8s.io/json/internal/golang/encoding/json.(*decodeState).object",
    "k8s.io/apimachinery/pkg/runtime/serializer/json.(*Serializer).Decode",
    "k8s.io/apimachinery/pkg/watch.(*StreamWatcher).receive",
    "runtime.goexit",
]
# The goroutines a running informer keeps (client-go tools/cache reflector.go, shared_informer.go).
REFLECTOR_WAIT = ["runtime.gopark", "runtime.selectgo", f"{CACHE}.(*Reflector).watch",
                  f"{CACHE}.(*Reflector).watchWithResync", f"{CACHE}.(*Reflector).ListAndWatchWithContext",
                  f"{CACHE}.(*Reflector).RunWithContext.func1", "k8s.io/apimachinery/pkg/util/wait.BackoffUntil",
                  "runtime.goexit"]
LISTENER_WAIT = ["runtime.gopark", "runtime.chanrecv2", f"{CACHE}.(*processorListener).run.func1",
                 "k8s.io/apimachinery/pkg/util/wait.BackoffUntil", f"{CACHE}.(*processorListener).run",
                 "runtime.goexit"]
# The dashboard before v1.8.0-rc1 (server/server.go:175-183@v1.7.2): every GetRolloutInfo builds a view
# controller whose informer factories are started with context.Background() and never stopped
# (pkg/kubectl-argo-rollouts/viewcontroller/viewcontroller.go:93,140@v1.7.2).
VIEW_CONTROLLER_INFORMERS = [
    f"{CACHE}.NewSharedIndexInformerWithOptions",
    "k8s.io/client-go/informers.(*sharedInformerFactory).InformerFor",
    "k8s.io/client-go/informers/apps/v1.(*replicaSetInformer).Informer",
    f"{AR}/pkg/kubectl-argo-rollouts/viewcontroller.newViewController",
    f"{AR}/pkg/kubectl-argo-rollouts/viewcontroller.NewRolloutViewController",
    f"{AR}/server.(*ArgoRolloutsServer).initRolloutViewController",
    f"{AR}/server.(*ArgoRolloutsServer).getRolloutInfo",
    f"{AR}/server.(*ArgoRolloutsServer).GetRolloutInfo",
    "runtime.goexit",
]
# A new metric series per label set: CounterVec.WithLabelValues from IncKubernetesRequest
# (controller/metrics/client.go:25,38@v1.9.1), called by argoproj/pkg kubeclientmetrics' round tripper on every
# API request (kubeclientmetrics/metric.go metricsRoundTripper.RoundTrip).
NEW_SERIES = [
    f"{PROM}.(*metricMap).getOrCreateMetricWithLabelValues",
    f"{PROM}.(*MetricVec).GetMetricWithLabelValues",
    f"{PROM}.(*CounterVec).GetMetricWithLabelValues",
    f"{PROM}.(*CounterVec).WithLabelValues",
    f"{AR}/controller/metrics.(*K8sRequestsCountProvider).IncKubernetesRequest",
    "github.com/argoproj/pkg/kubeclientmetrics.(*metricsRoundTripper).RoundTrip",
    "k8s.io/client-go/rest.(*Request).request",
    "runtime.goexit",
]
IDLE = ["runtime.gopark", "runtime.selectgo", "main.main"]


def _profile(stacks: list[tuple[list[str], tuple[int, ...]]], types: tuple[tuple[str, str], ...], *,
             default: str = "", period: tuple[str, str, int] | None = None) -> Profile:
    ids: dict[str, int] = {}
    for names, _ in stacks:
        for name in names:
            ids.setdefault(name, len(ids) + 1)
    return Profile(
        sample_types=tuple(ValueType(t, u) for t, u in types),
        sample_locations=[tuple(ids[name] for name in names) for names, _ in stacks],
        sample_values=[values for _, values in stacks],
        sample_labels=[() for _ in stacks],
        locations={i: Location(i, lines=(Line(i, 1),)) for i in ids.values()},
        functions={i: Function(i, name) for name, i in ids.items()},
        default_sample_type=default,
        period_type=ValueType(period[0], period[1]) if period else None, period=period[2] if period else 0,
    )  # fmt: skip


def cpu(stacks: list[tuple[list[str], int]]) -> Profile:
    """A CPU profile as Go writes it: samples/count and cpu/nanoseconds, the value given in samples."""
    return _profile([(names, (count, count * MS)) for names, count in stacks],
                    (("samples", "count"), ("cpu", "nanoseconds")), period=("cpu", "nanoseconds", MS))


def heap(stacks: list[tuple[list[str], int]], *, allocs: bool = False) -> Profile:
    """A heap (or allocs) profile: the value given is in-use bytes (and, 4x, the bytes allocated)."""
    return _profile([(names, (value // 512, value * 4, value // 2048, value)) for names, value in stacks],
                    (("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"),
                     ("inuse_space", "bytes")), default="alloc_space" if allocs else "",
                    period=("space", "bytes", 512 * 1024))


def goroutines(stacks: list[tuple[list[str], int]]) -> Profile:
    return _profile([(names, (count,)) for names, count in stacks], (("goroutine", "count"),),
                    period=("goroutine", "count", 1))


def write(path: Path, profile: Profile) -> Path:
    path.write_bytes(encode_profile(profile))
    return path


def reconcile_metrics(counts: dict[tuple[str, str], int], *, metric: str = "rollout_reconcile",
                      version: str = "v1.9.1", extra: str = "", start: float | None = None) -> str:
    """The controller's metrics text with one reconcile histogram per object (prommetrics.go:17@v1.9.1, buckets
    0.01, 0.15, 0.25, 0.5, 1), every reconcile fast."""
    lines = ["# HELP argo_rollouts_controller_info Running Argo-rollouts version",
             "# TYPE argo_rollouts_controller_info gauge", f'argo_rollouts_controller_info{{version="{version}"}} 1',
             f"# HELP {metric} Reconciliation performance.", f"# TYPE {metric} histogram"]
    for (namespace, name), count in sorted(counts.items()):
        labels = f'name="{name}",namespace="{namespace}"'
        lines += [f'{metric}_bucket{{{labels},le="{le}"}} {count}' for le in ("0.01", "0.15", "0.25", "0.5", "1")]
        lines += [f'{metric}_bucket{{{labels},le="+Inf"}} {count}', f"{metric}_sum{{{labels}}} {count * 0.004:g}",
                  f"{metric}_count{{{labels}}} {count}"]
    if start is not None:
        lines += ["# TYPE process_start_time_seconds gauge", f"process_start_time_seconds {start}"]
    return "\n".join(lines) + "\n" + extra


def request_counts(rows: list[tuple[str, str, str, str, str, int]]) -> str:
    """controller_clientset_k8s_request_total (prommetrics.go:217@v1.9.1): (kind, namespace, name, verb, code,
    count) rows."""
    lines = ["# HELP controller_clientset_k8s_request_total Number of kubernetes requests executed during "
             "application reconciliation.", "# TYPE controller_clientset_k8s_request_total counter"]
    lines += [f'controller_clientset_k8s_request_total{{kind="{kind}",name="{name}",namespace="{namespace}",'
              f'status_code="{code}",verb="{verb}"}} {count}' for kind, namespace, name, verb, code, count in rows]
    return "\n".join(lines) + "\n"


def analysis_run_info(names: list[str], namespace: str = "shop") -> str:
    """analysis_run_info, one series per AnalysisRun (prommetrics.go:104@v1.9.1, written by analysis.go:68)."""
    lines = ["# HELP analysis_run_info Information about analysis run.", "# TYPE analysis_run_info gauge"]
    lines += [f'analysis_run_info{{name="{name}",namespace="{namespace}",phase="Successful"}} 1' for name in names]
    return "\n".join(lines) + "\n"
