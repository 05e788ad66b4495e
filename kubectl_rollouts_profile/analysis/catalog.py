"""The subsystem catalog, kept as data: which Go packages and functions belong to which part of the Argo Rollouts
controller, client-go, the libraries it decodes with, or the Go runtime. Each entry names the upstream file it was
taken from, so the table can be checked against the sources when they move.

An entry is ``(subsystem, layer, pattern, upstream)``. A pattern is either a package path (it matches that package
and every package below it; the longest matching path wins) or, starting with ``~``, a regular expression matched
against the whole function name (checked first, for runtime functions that share one package; closures of a
matched function match too). ``layer`` says whose
code it is: ``controller`` (argo-rollouts), ``client-go``, ``library`` or ``runtime``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# ruff: noqa: E501  (a data table: one catalog entry per line reads best)

AR = "github.com/argoproj/argo-rollouts"
GO = "golang/go"

# Subsystem names used by the findings rules.
GC_MARK = "Go GC (marking)"
GC_SWEEP = "Go GC (sweeping)"
ALLOCATION = "Go allocation"
INFORMERS = "client-go informers"
WORKQUEUE = "client-go workqueue"
REST = "client-go REST client"
DECODING = "API decoding (JSON / protobuf)"
JSON = "encoding/json"
NET_HTTP = "net/http"

ENTRIES: tuple[tuple[str, str, str, str], ...] = (
    # --- the Argo Rollouts controller (argoproj/argo-rollouts) ---
    ("rollout reconcile", "controller", f"{AR}/rollout", "argoproj/argo-rollouts: rollout/controller.go"),
    ("rollout reconcile", "controller", f"{AR}/controller", "argoproj/argo-rollouts: controller/controller.go"),
    ("controller work loop", "controller", f"{AR}/utils/controller", "argoproj/argo-rollouts: utils/controller/controller.go"),
    ("analysis runs", "controller", f"{AR}/analysis", "argoproj/argo-rollouts: analysis/analysis.go"),
    ("metric providers", "controller", f"{AR}/metricproviders", "argoproj/argo-rollouts: metricproviders/metricproviders.go"),
    ("metric provider: prometheus", "controller", f"{AR}/metricproviders/prometheus", "argoproj/argo-rollouts: metricproviders/prometheus/prometheus.go"),
    ("metric provider: datadog", "controller", f"{AR}/metricproviders/datadog", "argoproj/argo-rollouts: metricproviders/datadog/datadog.go"),
    ("metric provider: web", "controller", f"{AR}/metricproviders/webmetric", "argoproj/argo-rollouts: metricproviders/webmetric/webmetric.go"),
    ("metric provider: job", "controller", f"{AR}/metricproviders/job", "argoproj/argo-rollouts: metricproviders/job/job.go"),
    ("metric provider: newrelic", "controller", f"{AR}/metricproviders/newrelic", "argoproj/argo-rollouts: metricproviders/newrelic/newrelic.go"),
    ("metric provider: wavefront", "controller", f"{AR}/metricproviders/wavefront", "argoproj/argo-rollouts: metricproviders/wavefront/wavefront.go"),
    ("metric provider: kayenta", "controller", f"{AR}/metricproviders/kayenta", "argoproj/argo-rollouts: metricproviders/kayenta/kayenta.go"),
    ("metric provider: cloudwatch", "controller", f"{AR}/metricproviders/cloudwatch", "argoproj/argo-rollouts: metricproviders/cloudwatch/cloudwatch.go"),
    ("metric provider: graphite", "controller", f"{AR}/metricproviders/graphite", "argoproj/argo-rollouts: metricproviders/graphite/graphite.go"),
    ("metric provider: influxdb", "controller", f"{AR}/metricproviders/influxdb", "argoproj/argo-rollouts: metricproviders/influxdb/influxdb.go"),
    ("metric provider: skywalking", "controller", f"{AR}/metricproviders/skywalking", "argoproj/argo-rollouts: metricproviders/skywalking/skywalking.go"),
    ("metric provider: appinsights", "controller", f"{AR}/metricproviders/appinsights", "argoproj/argo-rollouts: metricproviders/appinsights/appinsights.go"),
    ("metric provider: plugin", "controller", f"{AR}/metricproviders/plugin", "argoproj/argo-rollouts: metricproviders/plugin/plugin.go"),
    ("experiments", "controller", f"{AR}/experiments", "argoproj/argo-rollouts: experiments/controller.go"),
    ("traffic routing", "controller", f"{AR}/rollout/trafficrouting", "argoproj/argo-rollouts: rollout/trafficrouting/trafficroutingutil.go"),
    ("traffic router: istio", "controller", f"{AR}/rollout/trafficrouting/istio", "argoproj/argo-rollouts: rollout/trafficrouting/istio/istio.go"),
    ("traffic router: nginx", "controller", f"{AR}/rollout/trafficrouting/nginx", "argoproj/argo-rollouts: rollout/trafficrouting/nginx/nginx.go"),
    ("traffic router: alb", "controller", f"{AR}/rollout/trafficrouting/alb", "argoproj/argo-rollouts: rollout/trafficrouting/alb/alb.go"),
    ("traffic router: smi", "controller", f"{AR}/rollout/trafficrouting/smi", "argoproj/argo-rollouts: rollout/trafficrouting/smi/smi.go"),
    ("traffic router: ambassador", "controller", f"{AR}/rollout/trafficrouting/ambassador", "argoproj/argo-rollouts: rollout/trafficrouting/ambassador/ambassador.go"),
    ("traffic router: apisix", "controller", f"{AR}/rollout/trafficrouting/apisix", "argoproj/argo-rollouts: rollout/trafficrouting/apisix/apisix.go"),
    ("traffic router: appmesh", "controller", f"{AR}/rollout/trafficrouting/appmesh", "argoproj/argo-rollouts: rollout/trafficrouting/appmesh/appmesh.go"),
    ("traffic router: traefik", "controller", f"{AR}/rollout/trafficrouting/traefik", "argoproj/argo-rollouts: rollout/trafficrouting/traefik/traefik.go"),
    ("traffic router: openshift", "controller", f"{AR}/rollout/trafficrouting/openshift", "argoproj/argo-rollouts: rollout/trafficrouting/openshift/openshift.go"),
    ("traffic router: plugin", "controller", f"{AR}/rollout/trafficrouting/plugin", "argoproj/argo-rollouts: rollout/trafficrouting/plugin/plugin.go"),
    ("notifications", "controller", f"{AR}/utils/record", "argoproj/argo-rollouts: utils/record/record.go"),
    ("notifications", "library", "github.com/argoproj/notifications-engine", "argoproj/argo-rollouts: utils/record/record.go (imports notifications-engine)"),
    ("controller metrics server", "controller", f"{AR}/controller/metrics", "argoproj/argo-rollouts: controller/metrics/metrics.go"),
    ("controller metrics server", "library", "github.com/prometheus/client_golang", "argoproj/argo-rollouts: controller/metrics/prommetrics.go (client_golang)"),
    ("argo-rollouts clientset", "controller", f"{AR}/pkg/client", "argoproj/argo-rollouts: pkg/client (generated clientset, informers, listers)"),
    # --- client-go (kubernetes/client-go) and apimachinery ---
    (INFORMERS, "client-go", "k8s.io/client-go/tools/cache", "kubernetes/client-go: tools/cache/reflector.go, delta_fifo.go, shared_informer.go, thread_safe_store.go"),
    (INFORMERS, "client-go", "k8s.io/client-go/informers", "kubernetes/client-go: informers/factory.go"),
    (INFORMERS, "client-go", f"{AR}/pkg/client/informers", "argoproj/argo-rollouts: pkg/client/informers/externalversions/factory.go"),
    (WORKQUEUE, "client-go", "k8s.io/client-go/util/workqueue", "kubernetes/client-go: util/workqueue/queue.go, delaying_queue.go, rate_limiting_queue.go"),
    (REST, "client-go", "k8s.io/client-go/rest", "kubernetes/client-go: rest/request.go"),
    (REST, "client-go", "k8s.io/client-go/kubernetes", "kubernetes/client-go: kubernetes/clientset.go"),
    (REST, "client-go", "k8s.io/client-go/dynamic", "kubernetes/client-go: dynamic/simple.go"),
    (REST, "client-go", "k8s.io/client-go/transport", "kubernetes/client-go: transport/round_trippers.go"),
    (REST, "client-go", "k8s.io/apimachinery/pkg/watch", "kubernetes/apimachinery: pkg/watch/streamwatcher.go"),
    ("client-go leader election", "client-go", "k8s.io/client-go/tools/leaderelection", "kubernetes/client-go: tools/leaderelection/leaderelection.go"),
    (DECODING, "library", "k8s.io/apimachinery/pkg/runtime", "kubernetes/apimachinery: pkg/runtime/serializer/json/json.go, protobuf/protobuf.go"),
    (DECODING, "library", "sigs.k8s.io/json", "kubernetes-sigs/json: json.go (apimachinery's JSON decoder)"),
    (DECODING, "library", "google.golang.org/protobuf", "protocolbuffers/protobuf-go: proto/decode.go"),
    (DECODING, "library", "github.com/gogo/protobuf", "gogo/protobuf: proto/decode.go (generated.pb.go of k8s.io/api)"),
    (DECODING, "library", "k8s.io/api", "kubernetes/api: */generated.pb.go (Unmarshal of API types)"),
    ("Kubernetes object copies", "library", "k8s.io/apimachinery/pkg/apis", "kubernetes/apimachinery: pkg/apis/meta/v1/zz_generated.deepcopy.go"),
    # --- the Go standard library ---
    (JSON, "library", "encoding/json", f"{GO}: src/encoding/json/decode.go, encode.go"),
    (NET_HTTP, "library", "net/http", f"{GO}: src/net/http/transport.go, server.go"),
    ("network I/O", "library", "net", f"{GO}: src/net/fd_posix.go"),
    ("network I/O", "library", "internal/poll", f"{GO}: src/internal/poll/fd_poll_runtime.go"),
    ("TLS", "library", "crypto/tls", f"{GO}: src/crypto/tls/conn.go"),
    ("syscalls", "runtime", "syscall", f"{GO}: src/syscall/syscall_linux.go"),
    # --- the Go runtime (functions of one package, told apart by name) ---
    (GC_MARK, "runtime", r"~runtime\.(gcBgMarkWorker|gcDrain\w*|scanobject|scanblock|scanstack|scanframeworker|markroot\w*|greyobject|findObject|gcAssistAlloc\w*|gcMarkDone|gcMarkTermination|gcFlushBgCredit|shade|wbBufFlush\w*|gcWriteBarrier\w*|spanOf\w*|heapBitsForAddr|\(\*gcWork\)\.\w+|\(\*gcControllerState\)\.\w+|gcStart|gcBgMarkStartWorkers|markBits\w*|\(\*mspan\)\.(markBitsForIndex|objIndex))$", f"{GO}: src/runtime/mgc.go, mgcmark.go"),
    (GC_SWEEP, "runtime", r"~runtime\.(bgsweep|sweepone|\(\*sweepLocked\)\.\w+|\(\*mspan\)\.sweep|\(\*sweepLocker\)\.\w+|bgscavenge|\(\*pageAlloc\)\.scavenge\w*|\(\*scavengerState\)\.\w+|deductSweepCredit)$", f"{GO}: src/runtime/mgcsweep.go, mgcscavenge.go"),
    (ALLOCATION, "runtime", r"~runtime\.(mallocgc|newobject|newarray|makeslice\w*|growslice|makemap\w*|mapassign\w*|rawstring\w*|rawbyteslice|concatstring\w*|slicebytetostring|convT\w*|heapBitsSetType|memclrNoHeapPointers|nextFreeFast|\(\*mcache\)\.\w+|\(\*mcentral\)\.\w+|\(\*mheap\)\.\w+|\(\*mspan\)\.\w+|largeAlloc|persistentalloc\w*|profilealloc|mProf_Malloc)$", f"{GO}: src/runtime/malloc.go, mcache.go, mcentral.go, mheap.go"),
    ("Go scheduler", "runtime", r"~runtime\.(schedule|findRunnable|findrunnable|park_m|mcall|gopark|goparkunlock|goready|ready|stealWork|runqgrab|runqsteal|netpoll|notesleep|notetsleep\w*|notewakeup|futex\w*|usleep|osyield|mstart\w*|sysmon|wakep|startm|stopm|handoffp|goexit\w*|gosched_m|goschedImpl|newproc\w*|selectgo|chanrecv\w*|chansend\w*|semacquire\w*|semrelease\w*|epollwait|checkTimers|runtimer|lock2|unlock2|timeSleep|exitsyscall\w*|entersyscall\w*|reentersyscall)$", f"{GO}: src/runtime/proc.go, chan.go, select.go, netpoll_epoll.go"),
    ("Go runtime (other)", "runtime", "runtime", f"{GO}: src/runtime"),
)  # fmt: skip

LAYERS = ("controller", "client-go", "library", "runtime")


@dataclass(frozen=True)
class Match:
    """Where a function belongs: its subsystem, whose code it is, and the catalog entry's upstream file."""

    subsystem: str
    layer: str
    upstream: str


def package_of(function_name: str) -> str:
    """The Go package path of a function name: ``k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch`` ->
    ``k8s.io/client-go/tools/cache``. Names without a package (addresses, C symbols) are their own package."""
    slash = function_name.rfind("/")
    dot = function_name.find(".", slash + 1)
    return function_name[:dot] if dot > 0 else function_name


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

    def _match(self, function_name: str) -> Match:
        for pattern, match in self._functions:
            if pattern.match(function_name):
                return match
        package = package_of(function_name)
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
