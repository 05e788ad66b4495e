"""The subsystem catalog, kept as data: which Go packages and functions belong to which part of the Argo Rollouts
controller, client-go, the libraries it uses, or the Go runtime. Each entry names the upstream file it was taken
from; ``tests/test_analysis_catalog.py`` checks every entry against the lists in ``tests/data/upstream/`` (Argo
Rollouts v1.8.x, v1.9.x, v1.10.x and master, the notifications-engine and argoproj/pkg they pin, client-go and
apimachinery v0.29-v0.34) and the runtime names of Go 1.22-1.26, and every controller package against the table.

An entry is ``(subsystem, layer, pattern, upstream)``. A pattern is either a package path (it matches that package
and every package below it; the longest matching path wins) or, starting with ``~``, a regular expression matched
against the whole function name (checked first, in table order, for functions told apart by name within a
package; closures of a matched function match too). ``layer`` says whose code it is: ``controller``
(argo-rollouts), ``cli`` (the kubectl plugin and its dashboard, not the controller), ``client-go``, ``library``,
``runtime``, or ``root`` (frames at the bottom of every stack, or trampolines: they belong to no subsystem, so
the rollup gives them no cum).

Subsystem names the findings rules use (constants of this module):

- ``CONVERSION`` "object conversion": unstructured <-> typed (apimachinery's ``unstructuredConverter``,
  ``FromUnstructured``/``ToUnstructured``, ``DeepCopyJSON``), generated ``DeepCopy``/``DeepCopyInto``/
  ``DeepCopyObject`` of any API type, scheme conversion, the controller's own JSON re-marshalling
  (``utils/json``, ``utils/unstructured``, ``utils/diff``, the tolerant informers' ``coerceToTyped``).
- ``DECODING`` "API decoding (JSON / protobuf)": REST results and watch streams: serializers, streaming and
  watch decoders, protobuf, generated ``Unmarshal`` of API types. Kept apart from conversion.
- ``LOGGING`` "logging": logrus, klog, logr and the controller's ``utils/log``. ``fmt`` work done for a log line
  is counted in logging's cum through its logrus/klog caller (the leaf frame stays ``fmt``: the catalog is
  per function, not per caller).
- ``METRICS_SCRAPE`` "metrics collectors (on scrape)": what runs on every ``/metrics`` request: the controller's
  collectors (``(*rolloutCollector).Collect``, ``(*analysisRunCollector).Collect``,
  ``(*experimentCollector).Collect``), client_golang's ``(*Registry).Gather``, promhttp, expfmt.
- ``METRICS_RECORD`` "metrics recording": client_golang's vectors and values (``(*MetricVec)``, ``metricMap``,
  ``WithLabelValues``, ``(*histogram).Observe``, ``(*counter).Add``), the controller's ``Inc*Reconcile``,
  client-go's request metrics hooks.
- ``INFORMERS``, ``WORKQUEUE``, ``REST``, ``JSON``, ``NET_HTTP``, ``GC_MARK``, ``GC_SWEEP``, ``ALLOCATION``,
  ``MAPS``, ``SCHEDULER``, ``SYSCALLS``, ``RUNTIME_OTHER``.
- ``CLI_DASHBOARD`` "kubectl-argo-rollouts CLI / dashboard" (layer ``cli``): ``pkg/kubectl-argo-rollouts``,
  ``server/``, ``pkg/apiclient``. A profile made mostly of it is not the controller's
  (``rollup.Rollup.not_controller_share``).
- ``ROOT`` "(root frames)" (layer ``root``): ``runtime.goexit``, ``runtime.main``, ``main.main``, thread starts and
  stack-switch trampolines.

``object_type(stack_or_function)`` names the API object type (``"ReplicaSet"``, ``"AnalysisRun"``...) a stack is
about, read from typed informer, lister, clientset, collector and generated-method frames; None when the frames
do not say (unstructured objects, generic code).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# ruff: noqa: E501  (a data table: one catalog entry per line reads best)

AR = "github.com/argoproj/argo-rollouts"
ARS = "argoproj/argo-rollouts"
CG = "k8s.io/client-go"
AM = "k8s.io/apimachinery"
PROM = "github.com/prometheus/client_golang/prometheus"
GO = "golang/go"

# Subsystem names used by the findings rules.
GC_MARK = "Go GC (marking)"
GC_SWEEP = "Go GC (sweeping)"
ALLOCATION = "Go allocation"
MAPS = "Go maps"
SCHEDULER = "Go scheduler"
SYSCALLS = "syscalls"
RUNTIME_OTHER = "Go runtime (other)"
ROOT = "(root frames)"
INFORMERS = "client-go informers"
WORKQUEUE = "client-go workqueue"
REST = "client-go REST client"
DECODING = "API decoding (JSON / protobuf)"
CONVERSION = "object conversion"
LOGGING = "logging"
METRICS_SCRAPE = "metrics collectors (on scrape)"
METRICS_RECORD = "metrics recording"
CLI_DASHBOARD = "kubectl-argo-rollouts CLI / dashboard"
JSON = "encoding/json"
NET_HTTP = "net/http"
CONTROLLER_MANAGER = "controller manager"
ROLLOUT_RECONCILE = "rollout reconcile"

# Generated methods of API types: copies are conversion, wire decoding is decoding.
_DEEPCOPY = r"~.*\.\(?\*?\w+\)?\.DeepCopy(Into|Object)?$"
_GENERATED_DECODE = r"~(k8s\.io/api|k8s\.io/apimachinery/pkg/apis|github\.com/argoproj/argo-rollouts/pkg/apis)/.*\.\(\*\w+\)\.(Unmarshal|XXX_Unmarshal|unmarshal\w*)$"

ENTRIES: tuple[tuple[str, str, str, str], ...] = (
    # --- root frames and trampolines: no subsystem's cum ---
    (ROOT, "root", r"~runtime\.(goexit|main|mstart[01]?|rt0_go|systemstack|systemstack_switch|morestack|morestack_noctxt|asmcgocall)$", f"{GO}: src/runtime/proc.go (main, goexit, mstart), asm_amd64.s (rt0_go, systemstack, morestack)"),
    (ROOT, "root", r"~main\.main$", f"{GO}: src/runtime/proc.go (runtime.main calls main.main)"),
    # --- generated methods of every API type (functions first: they win over their package) ---
    (CONVERSION, "library", _DEEPCOPY, "kubernetes/api: */zz_generated.deepcopy.go; argoproj/argo-rollouts: pkg/apis/rollouts/v1alpha1/zz_generated.deepcopy.go"),
    (DECODING, "library", _GENERATED_DECODE, "kubernetes/api: */generated.pb.go; argoproj/argo-rollouts: pkg/apis/rollouts/v1alpha1/generated.pb.go"),
    # --- the Argo Rollouts controller (argoproj/argo-rollouts) ---
    (CONTROLLER_MANAGER, "controller", f"{AR}/controller", f"{ARS}: controller/controller.go (starts and runs every controller)"),
    (METRICS_SCRAPE, "controller", f"{AR}/controller/metrics", f"{ARS}: controller/metrics/metrics.go, rollouts.go, analysis.go, experiments.go (collectors run on scrape)"),
    (METRICS_RECORD, "controller", rf"~{AR}/controller/metrics\.\(\*(MetricsServer|K8sRequestsCountProvider)\)\.(Inc\w+|EmitRolloutDuration|Remove)$", f"{ARS}: controller/metrics/metrics.go, client.go (IncRolloutReconcile, IncKubernetesRequest)"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/rollout", f"{ARS}: rollout/controller.go, sync.go, canary.go, bluegreen.go"),
    ("rollout step plugins", "controller", f"{AR}/rollout/steps", f"{ARS}: rollout/steps/plugin/plugin.go"),
    ("analysis runs", "controller", f"{AR}/analysis", f"{ARS}: analysis/controller.go, analysis.go"),
    ("analysis runs", "controller", f"{AR}/metric", f"{ARS}: metric/provider.go"),
    ("analysis runs", "controller", f"{AR}/utils/analysis", f"{ARS}: utils/analysis/helpers.go"),
    ("analysis runs", "controller", f"{AR}/utils/evaluate", f"{ARS}: utils/evaluate/evaluate.go"),
    ("analysis runs", "controller", f"{AR}/utils/metric", f"{ARS}: utils/metric/metrics.go"),
    ("analysis runs", "controller", f"{AR}/utils/template", f"{ARS}: utils/template/template.go"),
    ("metric providers", "controller", f"{AR}/metricproviders", f"{ARS}: metricproviders/provider.go"),
    ("metric provider: prometheus", "controller", f"{AR}/metricproviders/prometheus", f"{ARS}: metricproviders/prometheus/prometheus.go"),
    ("metric provider: datadog", "controller", f"{AR}/metricproviders/datadog", f"{ARS}: metricproviders/datadog/datadog.go"),
    ("metric provider: web", "controller", f"{AR}/metricproviders/webmetric", f"{ARS}: metricproviders/webmetric/webmetric.go"),
    ("metric provider: job", "controller", f"{AR}/metricproviders/job", f"{ARS}: metricproviders/job/job.go"),
    ("metric provider: newrelic", "controller", f"{AR}/metricproviders/newrelic", f"{ARS}: metricproviders/newrelic/newrelic.go"),
    ("metric provider: wavefront", "controller", f"{AR}/metricproviders/wavefront", f"{ARS}: metricproviders/wavefront/wavefront.go"),
    ("metric provider: kayenta", "controller", f"{AR}/metricproviders/kayenta", f"{ARS}: metricproviders/kayenta/kayenta.go"),
    ("metric provider: cloudwatch", "controller", f"{AR}/metricproviders/cloudwatch", f"{ARS}: metricproviders/cloudwatch/cloudwatch.go"),
    ("metric provider: graphite", "controller", f"{AR}/metricproviders/graphite", f"{ARS}: metricproviders/graphite/graphite.go"),
    ("metric provider: influxdb", "controller", f"{AR}/metricproviders/influxdb", f"{ARS}: metricproviders/influxdb/influxdb.go"),
    ("metric provider: skywalking", "controller", f"{AR}/metricproviders/skywalking", f"{ARS}: metricproviders/skywalking/skywalking.go"),
    ("metric provider: plugin", "controller", f"{AR}/metricproviders/plugin", f"{ARS}: metricproviders/plugin/plugin.go, rpc/rpc.go"),
    ("experiments", "controller", f"{AR}/experiments", f"{ARS}: experiments/controller.go, experiment.go"),
    ("experiments", "controller", f"{AR}/utils/experiment", f"{ARS}: utils/experiment/experiment.go"),
    ("ingress controller", "controller", f"{AR}/ingress", f"{ARS}: ingress/ingress.go (keeps canary ingresses in step)"),
    ("ingress controller", "controller", f"{AR}/utils/ingress", f"{ARS}: utils/ingress/ingress.go, wrapper.go"),
    ("service controller", "controller", f"{AR}/service", f"{ARS}: service/service.go"),
    ("service controller", "controller", f"{AR}/utils/service", f"{ARS}: utils/service/service.go"),
    ("traffic routing", "controller", f"{AR}/rollout/trafficrouting", f"{ARS}: rollout/trafficrouting.go, rollout/trafficrouting/service_helper.go"),
    ("traffic routing", "controller", f"{AR}/utils/weightutil", f"{ARS}: utils/weightutil/weight.go"),
    ("traffic router: istio", "controller", f"{AR}/rollout/trafficrouting/istio", f"{ARS}: rollout/trafficrouting/istio/istio.go"),
    ("traffic router: istio", "controller", f"{AR}/utils/istio", f"{ARS}: utils/istio/istio.go"),
    ("traffic router: nginx", "controller", f"{AR}/rollout/trafficrouting/nginx", f"{ARS}: rollout/trafficrouting/nginx/nginx.go"),
    ("traffic router: alb", "controller", f"{AR}/rollout/trafficrouting/alb", f"{ARS}: rollout/trafficrouting/alb/alb.go"),
    ("traffic router: alb", "controller", f"{AR}/utils/aws", f"{ARS}: utils/aws/aws.go (ELBv2 target groups)"),
    ("traffic router: smi", "controller", f"{AR}/rollout/trafficrouting/smi", f"{ARS}: rollout/trafficrouting/smi/smi.go"),
    ("traffic router: smi", "controller", f"{AR}/utils/smi", f"{ARS}: utils/smi/smi.go"),
    ("traffic router: ambassador", "controller", f"{AR}/rollout/trafficrouting/ambassador", f"{ARS}: rollout/trafficrouting/ambassador/ambassador.go"),
    ("traffic router: apisix", "controller", f"{AR}/rollout/trafficrouting/apisix", f"{ARS}: rollout/trafficrouting/apisix/apisix.go"),
    ("traffic router: apisix", "controller", f"{AR}/utils/apisix", f"{ARS}: utils/apisix/apisix.go"),
    ("traffic router: appmesh", "controller", f"{AR}/rollout/trafficrouting/appmesh", f"{ARS}: rollout/trafficrouting/appmesh/appmesh.go"),
    ("traffic router: appmesh", "controller", f"{AR}/utils/appmesh", f"{ARS}: utils/appmesh/appmesh.go"),
    ("traffic router: traefik", "controller", f"{AR}/rollout/trafficrouting/traefik", f"{ARS}: rollout/trafficrouting/traefik/traefik.go"),
    ("traffic router: plugin", "controller", f"{AR}/rollout/trafficrouting/plugin", f"{ARS}: rollout/trafficrouting/plugin/plugin.go, rpc/rpc.go"),
    ("plugins", "controller", f"{AR}/utils/plugin", f"{ARS}: utils/plugin/downloader.go, plugin.go"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/utils/rollout", f"{ARS}: utils/rollout/rolloututil.go"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/utils/replicaset", f"{ARS}: utils/replicaset/replicaset.go, canary.go"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/utils/annotations", f"{ARS}: utils/annotations/annotations.go"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/utils/conditions", f"{ARS}: utils/conditions/conditions.go"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/utils/defaults", f"{ARS}: utils/defaults/defaults.go"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/utils/hash", f"{ARS}: utils/hash/hash.go (pod template hash)"),
    (ROLLOUT_RECONCILE, "controller", f"{AR}/pkg/apis/rollouts/validation", f"{ARS}: pkg/apis/rollouts/validation/validation.go"),
    ("controller work loop", "controller", f"{AR}/utils/controller", f"{ARS}: utils/controller/controller.go (processNextWorkItem, enqueue)"),
    ("controller work loop", "controller", f"{AR}/utils/queue", f"{ARS}: utils/queue/queue.go"),
    ("controller work loop", "controller", f"{AR}/utils/resourceversion", f"{ARS}: utils/resourceversion/tracker.go"),
    ("controller configuration", "controller", f"{AR}/utils/config", f"{ARS}: utils/config/config.go (argo-rollouts-config ConfigMap)"),
    ("controller start-up", "controller", f"{AR}/pkg/signals", f"{ARS}: pkg/signals/signal.go"),
    ("controller utilities", "controller", f"{AR}/utils/errors", f"{ARS}: utils/errors/errors.go"),
    ("controller utilities", "controller", f"{AR}/utils/time", f"{ARS}: utils/time/now.go"),
    ("controller utilities", "controller", f"{AR}/utils/version", f"{ARS}: utils/version/version.go"),
    ("notifications", "controller", f"{AR}/utils/record", f"{ARS}: utils/record/record.go (events and notifications)"),
    (LOGGING, "controller", f"{AR}/utils/log", f"{ARS}: utils/log/log.go, redactor_formatter.go"),
    (CONVERSION, "controller", f"{AR}/utils/unstructured", f"{ARS}: utils/unstructured/unstructured.go (ObjectToRollout, ObjectToAnalysisRun)"),
    (CONVERSION, "controller", f"{AR}/utils/json", f"{ARS}: utils/json/json.go (MustMarshal)"),
    (CONVERSION, "controller", f"{AR}/utils/diff", f"{ARS}: utils/diff/diff.go (CreateTwoWayMergePatch)"),
    (INFORMERS, "controller", f"{AR}/utils/tolerantinformer", f"{ARS}: utils/tolerantinformer/tollerantinformer.go (CRD informers over dynamicinformer)"),
    (CONVERSION, "controller", rf"~{AR}/utils/tolerantinformer\.(coerceToTyped\w*|fromUnstructured\w*|convert\w*|makeTransform\w*)$", f"{ARS}: utils/tolerantinformer/tollerantinformer.go (coerceToTyped, fromUnstructuredViaJSON)"),
    ("argo-rollouts API types", "controller", f"{AR}/pkg/apis/rollouts", f"{ARS}: pkg/apis/rollouts/v1alpha1/types.go, register.go"),
    (REST, "client-go", f"{AR}/pkg/client/clientset", f"{ARS}: pkg/client/clientset/versioned/clientset.go (generated)"),
    (INFORMERS, "client-go", f"{AR}/pkg/client/informers", f"{ARS}: pkg/client/informers/externalversions/factory.go (generated)"),
    (INFORMERS, "client-go", f"{AR}/pkg/client/listers", f"{ARS}: pkg/client/listers/rollouts/v1alpha1/rollout.go (generated)"),
    # --- the kubectl plugin and its dashboard: argo-rollouts code, not the controller's ---
    (CLI_DASHBOARD, "cli", f"{AR}/pkg/kubectl-argo-rollouts", f"{ARS}: pkg/kubectl-argo-rollouts/cmd/cmd.go"),
    (CLI_DASHBOARD, "cli", f"{AR}/server", f"{ARS}: server/server.go (the dashboard's API server)"),
    (CLI_DASHBOARD, "cli", f"{AR}/pkg/apiclient", f"{ARS}: pkg/apiclient/rollout/rollout.pb.go (the dashboard's API)"),
    # --- the libraries the controller pins ---
    ("notifications", "library", "github.com/argoproj/notifications-engine", f"{ARS}: utils/record/record.go (imports argoproj/notifications-engine pkg/api, pkg/services)"),
    (METRICS_RECORD, "library", "github.com/argoproj/pkg/kubeclientmetrics", "argoproj/pkg: kubeclientmetrics/metric.go (counts every K8s request)"),
    (CONVERSION, "library", "github.com/argoproj/pkg/kube/unstructured", "argoproj/pkg: kube/unstructured/unstructured.go"),
    (CONVERSION, "library", "github.com/argoproj/pkg/json", "argoproj/pkg: json/json.go"),
    ("controller utilities", "library", "github.com/argoproj/pkg", "argoproj/pkg: errors/errors.go, kube/cli/clientcmd.go"),
    (LOGGING, "library", "github.com/sirupsen/logrus", "sirupsen/logrus: entry.go, text_formatter.go, json_formatter.go"),
    (LOGGING, "library", "k8s.io/klog", "kubernetes/klog: klog.go (v1 and v2)"),
    (LOGGING, "library", "github.com/go-logr", "go-logr/logr: logr.go"),
    # client_golang: everything runs on scrape except recording into vectors and values.
    (METRICS_SCRAPE, "library", "github.com/prometheus/client_golang", "prometheus/client_golang: prometheus/registry.go (Gather), promhttp/http.go"),
    (METRICS_SCRAPE, "library", "github.com/prometheus/common/expfmt", "prometheus/common: expfmt/encode.go, text_create.go"),
    (METRICS_SCRAPE, "library", "github.com/prometheus/client_model", "prometheus/client_model: go/metrics.pb.go"),
    (METRICS_RECORD, "library", rf"~{PROM}\.(\(\*(MetricVec|metricMap|CounterVec|GaugeVec|HistogramVec|SummaryVec)\)\.(?!Collect$|Describe$)\w+|\(\*?(counter|gauge|histogram|histogramCounts|summary|noObjectivesSummary)\)\.(Add|Inc|Dec|Set|Sub|SetToCurrentTime|Observe|observe\w*|AddWithExemplar|ObserveWithExemplar|updateExemplar|findBucket)|hash(New|Add|AddByte)|validateLabelValues|validateValuesInLabels|new(Counter|Gauge|Histogram|Summary)\w*|New(Counter|Gauge|Histogram|Summary)\w*)$", "prometheus/client_golang: prometheus/vec.go (MetricVec, metricMap), counter.go, histogram.go, gauge.go"),
    (METRICS_RECORD, "client-go", f"{CG}/tools/metrics", "kubernetes/client-go: tools/metrics/metrics.go (request latency and result hooks)"),
    # --- client-go (kubernetes/client-go) and apimachinery ---
    (INFORMERS, "client-go", f"{CG}/tools/cache", "kubernetes/client-go: tools/cache/reflector.go, delta_fifo.go, shared_informer.go, thread_safe_store.go"),
    (INFORMERS, "client-go", f"{CG}/tools/pager", "kubernetes/client-go: tools/pager/pager.go (the reflector's paginated lists)"),
    (INFORMERS, "client-go", f"{CG}/informers", "kubernetes/client-go: informers/factory.go, informers/apps/v1/replicaset.go"),
    (INFORMERS, "client-go", f"{CG}/listers", "kubernetes/client-go: listers/generic_helpers.go, listers/apps/v1/replicaset.go"),
    (INFORMERS, "client-go", f"{CG}/dynamic/dynamicinformer", "kubernetes/client-go: dynamic/dynamicinformer/informer.go"),
    (INFORMERS, "client-go", f"{CG}/dynamic/dynamiclister", "kubernetes/client-go: dynamic/dynamiclister/lister.go"),
    (INFORMERS, "client-go", f"{CG}/metadata/metadatainformer", "kubernetes/client-go: metadata/metadatainformer/informer.go"),
    (INFORMERS, "client-go", f"{CG}/metadata/metadatalister", "kubernetes/client-go: metadata/metadatalister/lister.go"),
    (INFORMERS, "client-go", f"{CG}/tools/watch", "kubernetes/client-go: tools/watch/retrywatcher.go, informerwatcher.go"),
    (INFORMERS, "client-go", f"{CG}/util/watchlist", "kubernetes/client-go: util/watchlist/watch_list.go"),
    (INFORMERS, "client-go", f"{CG}/util/consistencydetector", "kubernetes/client-go: util/consistencydetector/data_consistency_detector.go"),
    (WORKQUEUE, "client-go", f"{CG}/util/workqueue", "kubernetes/client-go: util/workqueue/queue.go, delaying_queue.go, rate_limiting_queue.go"),
    (WORKQUEUE, "client-go", f"{CG}/util/flowcontrol", "kubernetes/client-go: util/flowcontrol/throttle.go (client-side rate limiter)"),
    (REST, "client-go", f"{CG}/rest", "kubernetes/client-go: rest/request.go, rest/client.go"),
    (REST, "client-go", f"{CG}/kubernetes", "kubernetes/client-go: kubernetes/clientset.go, kubernetes/typed/apps/v1/replicaset.go"),
    (REST, "client-go", f"{CG}/gentype", "kubernetes/client-go: gentype/type.go (generic typed clients, v0.31+)"),
    (REST, "client-go", f"{CG}/dynamic", "kubernetes/client-go: dynamic/simple.go"),
    (REST, "client-go", f"{CG}/metadata", "kubernetes/client-go: metadata/metadata.go"),
    (REST, "client-go", f"{CG}/discovery", "kubernetes/client-go: discovery/discovery_client.go"),
    (REST, "client-go", f"{CG}/restmapper", "kubernetes/client-go: restmapper/discovery.go"),
    (REST, "client-go", f"{CG}/transport", "kubernetes/client-go: transport/round_trippers.go"),
    (REST, "client-go", f"{CG}/plugin/pkg/client/auth", "kubernetes/client-go: plugin/pkg/client/auth/exec/exec.go"),
    (REST, "client-go", f"{CG}/util/retry", "kubernetes/client-go: util/retry/util.go"),
    (REST, "client-go", f"{CG}/util/connrotation", "kubernetes/client-go: util/connrotation/connrotation.go"),
    (DECODING, "client-go", f"{CG}/rest/watch", "kubernetes/client-go: rest/watch/decoder.go (watch event decoder)"),
    ("events", "client-go", f"{CG}/tools/record", "kubernetes/client-go: tools/record/event.go, events_cache.go"),
    ("events", "client-go", f"{CG}/tools/events", "kubernetes/client-go: tools/events/event_broadcaster.go"),
    ("events", "client-go", f"{CG}/tools/reference", "kubernetes/client-go: tools/reference/ref.go"),
    ("client-go leader election", "client-go", f"{CG}/tools/leaderelection", "kubernetes/client-go: tools/leaderelection/leaderelection.go, resourcelock/leaselock.go"),
    ("client-go configuration", "client-go", f"{CG}/tools/clientcmd", "kubernetes/client-go: tools/clientcmd/client_config.go"),
    ("client-go (other)", "client-go", CG, "kubernetes/client-go: (packages not named above)"),
    (DECODING, "library", f"{AM}/pkg/runtime", "kubernetes/apimachinery: pkg/runtime/codec.go, serializer/json/json.go, serializer/protobuf/protobuf.go"),
    (DECODING, "library", f"{AM}/pkg/watch", "kubernetes/apimachinery: pkg/watch/streamwatcher.go (decodes watch events)"),
    (DECODING, "library", f"{AM}/pkg/util/framer", "kubernetes/apimachinery: pkg/util/framer/framer.go (watch stream framing)"),
    (DECODING, "library", f"{AM}/pkg/util/json", "kubernetes/apimachinery: pkg/util/json/json.go"),
    (CONVERSION, "library", rf"~{AM}/pkg/runtime\.(\(\*unstructuredConverter\)\.\w+|\(\*fromUnstructuredContext\)\.\w+|\w*[Ff]romUnstructured\w*|\w*[Tt]oUnstructured\w*|DeepCopyJSON\w*|fieldInfoFromField|\(\*fieldsCache\)\.\w+|unwrapInterface|\(\*Scheme\)\.(Convert\w*|UnsafeConvertToVersion))$", "kubernetes/apimachinery: pkg/runtime/converter.go (DefaultUnstructuredConverter), scheme.go (Convert)"),
    (CONVERSION, "library", f"{AM}/pkg/conversion", "kubernetes/apimachinery: pkg/conversion/converter.go"),
    (CONVERSION, "library", f"{AM}/pkg/apis/meta/v1/unstructured", "kubernetes/apimachinery: pkg/apis/meta/v1/unstructured/helpers.go, unstructured.go (nested field copies)"),
    (DECODING, "library", rf"~{AM}/pkg/apis/meta/v1/unstructured\.((\(\*unstructuredJSONScheme\)|unstructuredJSONScheme)\.\w+|\(\*Unstructured(List)?\)\.UnmarshalJSON)$", "kubernetes/apimachinery: pkg/apis/meta/v1/unstructured/helpers.go (unstructuredJSONScheme decodes dynamic results)"),
    ("apimachinery (API types)", "library", f"{AM}/pkg/apis", "kubernetes/apimachinery: pkg/apis/meta/v1/types.go"),
    ("apimachinery (labels, fields)", "library", f"{AM}/pkg/labels", "kubernetes/apimachinery: pkg/labels/selector.go"),
    ("apimachinery (labels, fields)", "library", f"{AM}/pkg/fields", "kubernetes/apimachinery: pkg/fields/selector.go"),
    ("apimachinery (other)", "library", AM, "kubernetes/apimachinery: (packages not named above)"),
    (DECODING, "library", "sigs.k8s.io/json", "kubernetes-sigs/json: json.go (apimachinery's JSON decoder)"),
    (DECODING, "library", "sigs.k8s.io/structured-merge-diff", "kubernetes-sigs/structured-merge-diff: value/reflectcache.go"),
    (DECODING, "library", "google.golang.org/protobuf", "protocolbuffers/protobuf-go: proto/decode.go"),
    (DECODING, "library", "github.com/gogo/protobuf", "gogo/protobuf: proto/decode.go (generated.pb.go of k8s.io/api)"),
    (DECODING, "library", "k8s.io/api", "kubernetes/api: */generated.pb.go (Unmarshal of API types)"),
    # --- the Go standard library ---
    (JSON, "library", "encoding/json", f"{GO}: src/encoding/json/decode.go, encode.go"),
    (NET_HTTP, "library", "net/http", f"{GO}: src/net/http/transport.go, server.go"),
    ("network I/O", "library", "net", f"{GO}: src/net/fd_posix.go"),
    ("network I/O", "library", "internal/poll", f"{GO}: src/internal/poll/fd_poll_runtime.go"),
    ("TLS", "library", "crypto/tls", f"{GO}: src/crypto/tls/conn.go"),
    (SYSCALLS, "runtime", "syscall", f"{GO}: src/syscall/syscall_linux.go"),
    (SYSCALLS, "runtime", "internal/runtime/syscall", f"{GO}: src/internal/runtime/syscall/syscall_linux.go (Go 1.23+)"),
    (SYSCALLS, "runtime", "internal/syscall/unix", f"{GO}: src/internal/syscall/unix/at.go"),
    (MAPS, "runtime", "internal/runtime/maps", f"{GO}: src/internal/runtime/maps/map.go, table.go, runtime_faststr.go (Swiss tables, Go 1.24+)"),
    # --- the Go runtime (functions of one package, told apart by name; tests/data/upstream/go-runtime/) ---
    (GC_MARK, "runtime", r"~runtime\.(gcBgMarkWorker|gcDrain\w*|scanobject|scanblock|scanstack|scanframeworker|scanConservative|scanSpan|scanObject\w*|tryDeferToSpanScan|spanSetScans|spanInlineMarkBitsFromBase|markroot\w*|greyobject|gcmarknewobject|findObject|gcAssistAlloc\w*|gcParkAssist|gcMarkDone|gcMarkTermination|gcMarkRootPrepare|gcMarkTinyAllocs|gcResetMarkState|gcFlushBgCredit|shade|wbBufFlush\w*|gcWriteBarrier\w*|spanOf\w*|heapBitsForAddr|typePointers\.\w+|\(\*mspan\)\.(typePointersOf\w*|markBitsForIndex|objIndex|heapBitsSmallForAddr|scanSpan\w*)|\(\*gcWork\)\.\w+|\(\*gcControllerState\)\.\w+|\(\*spanQueue\)\.\w+|\(\*spanSPMC\)\.\w+|\(\*spanInlineMarkBits\)\.\w+|\(\*stackScanState\)\.\w+|gcStart|gcBgMarkStartWorkers|gcBgMarkPrepare|markBits\w*|\(\*markBits\)\.\w+|gcenable)$", f"{GO}: src/runtime/mgc.go, mgcmark.go, mgcmark_greenteagc.go, mgcwork.go, mbitmap.go (typePointers), mwbbuf.go"),
    (GC_SWEEP, "runtime", r"~runtime\.(bgsweep|sweepone|\(\*sweepLocked\)\.\w+|\(\*mspan\)\.(sweep|ensureSwept)|\(\*sweepLocker\)\.\w+|\(\*activeSweep\)\.\w+|bgscavenge|\(\*pageAlloc\)\.scavenge\w*|\(\*scavengerState\)\.\w+|\(\*scavChunkData\)\.\w+|deductSweepCredit|\(\*mheap\)\.(freeSpan\w*|nextSpanForSweep|reclaim\w*)|gcSweep|finishsweep_m|freeSomeWbufs|sysUnused\w*)$", f"{GO}: src/runtime/mgcsweep.go, mgcscavenge.go"),
    (MAPS, "runtime", r"~runtime\.(map\w+|makemap\w*|evacuate\w*|growWork\w*|hashGrow|\(\*hmap\)\.\w+|\(\*bmap\)\.\w+|memhash\w*|strhash\w*|typehash|f32hash|f64hash|c64hash|c128hash|interhash|nilinterhash)$", f"{GO}: src/runtime/map.go, map_faststr.go (Go 1.22-1.23), map_swiss.go (1.24-1.25), alg.go"),
    (ALLOCATION, "runtime", r"~runtime\.(mallocgc\w*|newobject|newarray|makeslice\w*|growslice|makechan|rawstring\w*|rawbyteslice|rawruneslice|concatstring\w*|slicebytetostring|stringtoslicebyte|intstring|convT\w*|heapBitsSetType|heapSetType\w*|memclrNoHeapPointers\w*|nextFreeFast|deductAssistCredit|publicationBarrier|\(\*mcache\)\.\w+|\(\*mcentral\)\.\w+|\(\*mheap\)\.\w+|\(\*mspan\)\.\w+|\(\*pageAlloc\)\.\w+|\(\*pageCache\)\.\w+|\(\*fixalloc\)\.\w+|persistentalloc\w*|profilealloc|mProf_Malloc|sysAlloc\w*|sysMap\w*|sysUsed\w*|sysReserve\w*|nextSample)$", f"{GO}: src/runtime/malloc.go, malloc_generated.go (Go 1.26), mbitmap.go, mcache.go, mcentral.go, mheap.go"),
    (SCHEDULER, "runtime", r"~runtime\.(schedule|findRunnable\w*|execute|park_m|mcall|gopark|goparkunlock|goready|ready|stealWork|runq\w+|globrunq\w+|netpoll\w*|notesleep|notetsleep\w*|notewakeup|futex\w*|usleep\w*|osyield\w*|sysmon|retake|wakep|startm|stopm|mPark|handoffp|acquirep|releasep\w*|pidle\w+|goexit0|goexit1|gdestroy|gfput|gfget|gosched_m|goschedImpl|goyield\w*|Gosched|newproc\w*|selectgo|block|chanrecv\w*|chansend\w*|closechan|semacquire\w*|semrelease\w*|lock2|unlock2|lockWithRank|unlockWithRank|resetForSleep|exitsyscall\w*|entersyscall\w*|reentersyscall|casgstatus|injectglist|resetspinning|checkTimers|runtimer|runOneTimer|\(\*timers?\)\.\w+|modtimer|addtimer|deltimer|stopTheWorld\w*|startTheWorld\w*|preemptone|preemptall|suspendG|resumeG|gcstopm|wakeNetPoller)$", f"{GO}: src/runtime/proc.go, chan.go, select.go, sema.go, lock_futex.go, time.go, netpoll_epoll.go"),
    (MAPS, "runtime", r"~reflect\.(map\w+|makemap)$", f"{GO}: src/runtime/map.go, map_swiss.go (reflect.mapassign0 ... linknamed into reflect)"),
    (ALLOCATION, "runtime", r"~reflect\.(unsafe_New\w*|growslice|makechan)$", f"{GO}: src/runtime/malloc.go (reflect.unsafe_New linknamed into reflect)"),
    (SCHEDULER, "runtime", r"~(sync|internal/sync)\.runtime_(Semacquire\w*|Semrelease|notifyList\w+|canSpin|doSpin)$", f"{GO}: src/runtime/sema.go (sync.runtime_SemacquireMutex linknamed into sync, internal/sync from Go 1.24)"),
    (SYSCALLS, "runtime", r"~runtime\.(read|write1|write|open|closefd)$", f"{GO}: src/runtime/sys_linux_amd64.s, syscall_linux.go"),
    (RUNTIME_OTHER, "runtime", "runtime", f"{GO}: src/runtime"),
)  # fmt: skip

LAYERS = ("controller", "cli", "client-go", "library", "runtime", "root")


@dataclass(frozen=True)
class Match:
    """Where a function belongs: its subsystem, whose code it is, and the catalog entry's upstream file."""

    subsystem: str
    layer: str
    upstream: str


def without_type_arguments(function_name: str) -> str:
    """A generic function's name without its type arguments: ``gentype.(*Client[...]).Get`` and
    ``gentype.(*Client[go.shape.*k8s.io/api/core/v1.Pod]).Get`` -> ``gentype.(*Client).Get``."""
    if "[" not in function_name:
        return function_name
    kept: list[str] = []
    depth = 0
    for char in function_name:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif not depth:
            kept.append(char)
    return "".join(kept)


def package_of(function_name: str) -> str:
    """The Go package path of a function name: ``k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch`` ->
    ``k8s.io/client-go/tools/cache``. Names without a package (addresses, C symbols) are their own package."""
    function_name = without_type_arguments(function_name)
    slash = function_name.rfind("/")
    dot = function_name.find(".", slash + 1)
    return function_name[:dot] if dot > 0 else function_name


class _Memo(dict):
    """A dictionary that computes a missing value once: look-ups of known keys stay in C."""

    def __init__(self, compute: Callable[[str], Any]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> Any:
        value = self[key] = self._compute(key)
        return value


class Catalog:
    """The entries, compiled once; ``match`` is cached per function name (a profile has a few thousand)."""

    def __init__(self, entries: tuple[tuple[str, str, str, str], ...] = ENTRIES) -> None:
        self.entries = entries
        # A closure (``runtime.gcBgMarkWorker.func2``) belongs where its enclosing function does.
        self._functions = [(re.compile(pattern[1:].removesuffix("$") + r"(\.func\d+)*$"), Match(subsystem, layer, upstream))
                           for subsystem, layer, pattern, upstream in entries if pattern.startswith("~")]
        self._packages = {pattern: Match(subsystem, layer, upstream)
                          for subsystem, layer, pattern, upstream in entries if not pattern.startswith("~")}
        self.match = lru_cache(maxsize=65536)(self._match)
        self._subsystem_of = _Memo(lambda name: self.match(name).subsystem)
        self._layer_of = _Memo(lambda name: self.match(name).layer)

    def subsystems_of(self, function_names: Iterable[str]) -> list[str]:
        """The subsystem of each function name, in bulk (a dictionary look-up per name once it is known)."""
        return list(map(self._subsystem_of.__getitem__, function_names))

    def layer_of(self, function_name: str) -> str:
        return self._layer_of[function_name]

    def _match(self, function_name: str) -> Match:
        function_name = without_type_arguments(function_name)
        for pattern, match in self._functions:
            if pattern.match(function_name):
                return match
        return self.match_package(package_of(function_name))

    def match_package(self, package: str) -> Match:
        """The entry of a package path (the longest catalog path it is in), as for a function of that package
        whose name no function pattern matches."""
        candidate = package
        while candidate:
            found = self._packages.get(candidate)
            if found is not None:
                return found
            cut = candidate.rfind("/")
            candidate = candidate[:cut] if cut > 0 else ""
        return Match(f"other ({package})", "other", "")

    def subsystems(self) -> list[str]:
        return sorted({entry[0] for entry in self.entries})


def default_catalog() -> Catalog:
    return _DEFAULT


_DEFAULT = Catalog()


# ---- object types ---------------------------------------------------------------------------------------------

# The API kinds whose informers, listers and clients the controller uses (k8s.io/api and argo-rollouts'
# v1alpha1), with their lower-case plural as the typed clientsets name them.
OBJECT_KINDS: dict[str, str] = {
    "Pod": "pods", "ReplicaSet": "replicasets", "Deployment": "deployments", "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets", "Service": "services", "Endpoints": "endpoints", "EndpointSlice": "endpointslices",
    "Ingress": "ingresses", "IngressClass": "ingressclasses", "ConfigMap": "configmaps", "Secret": "secrets",
    "Namespace": "namespaces", "Node": "nodes", "Event": "events", "Lease": "leases", "Job": "jobs",
    "CronJob": "cronjobs", "ServiceAccount": "serviceaccounts", "PersistentVolumeClaim": "persistentvolumeclaims",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers", "PodDisruptionBudget": "poddisruptionbudgets",
    "CustomResourceDefinition": "customresourcedefinitions", "PodTemplate": "podtemplates",
    "Rollout": "rollouts", "AnalysisRun": "analysisruns", "AnalysisTemplate": "analysistemplates",
    "ClusterAnalysisTemplate": "clusteranalysistemplates", "Experiment": "experiments",
}  # fmt: skip

_KIND_BY_WORD = {word: kind for kind, plural in OBJECT_KINDS.items() for word in (kind.lower(), plural)}

# Frames that say which type they work on: a word of the name, resolved through OBJECT_KINDS.
_TYPED_FRAMES = tuple(re.compile(pattern) for pattern in (
    # generated informers and listers: informers/apps/v1.(*replicaSetInformer), listers/apps/v1.(*replicaSetNamespaceLister)
    r"/(?:informers|listers)/.*\.\(\*(\w+?)(?:Namespace)?(?:Informer|Lister)\)\.",
    r"/(?:informers|listers)/.*\.New(?:Filtered)?(\w+?)(?:Informer|Lister)\b",
    # argo-rollouts' tolerant informers over the dynamic informer (v1.9+)
    r"/utils/tolerantinformer\.\(\*tolerant(\w+?)(?:Namespace)?(?:Informer|Lister)\)\.",
    r"/utils/tolerantinformer\.NewTolerant(\w+?)Informer\b",
    # typed clients: kubernetes/typed/apps/v1.(*replicaSets).List, clientset/.../v1alpha1.(*analysisRuns).Get
    r"/typed/[^.]+\.\(\*(\w+)\)\.",
    # the controller's metrics collectors
    r"/controller/metrics\.\(\*(\w+?)Collector\)\.",
    r"/controller/metrics\.collect(\w+?)s?\b",
    # generated methods of API types: k8s.io/api/apps/v1.(*ReplicaSet).Unmarshal, v1alpha1.(*AnalysisRun).DeepCopy
    r"^(?:k8s\.io/api/|github\.com/argoproj/argo-rollouts/pkg/apis/)[^.]+\.\(\*(\w+?)(?:List|Spec|Status)?\)\.",
))  # fmt: skip


def _frame_type(function_name: str) -> str | None:
    function_name = without_type_arguments(function_name)
    for pattern in _TYPED_FRAMES:
        found = pattern.search(function_name)
        if found:
            kind = _KIND_BY_WORD.get(found.group(1).lower())
            if kind is not None:
                return kind
    return None


_FRAME_TYPES = _Memo(_frame_type)


def object_type(stack_or_function: str | Iterable[str]) -> str | None:
    """The API object type (``"ReplicaSet"``, ``"AnalysisRun"``...) a function or a stack (function names,
    innermost first) works on, as its frames say; None when they do not. For a stack the outermost typed frame
    wins: the ``ReplicaSet`` being decoded, not the ``Pod`` template inside it."""
    if isinstance(stack_or_function, str):
        return _FRAME_TYPES[stack_or_function]
    outermost_first = reversed(stack_or_function if isinstance(stack_or_function, Sequence) else list(stack_or_function))
    return next(filter(None, map(_FRAME_TYPES.__getitem__, outermost_first)), None)
