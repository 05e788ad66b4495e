// Package metrics imitates the controller's metrics server (controller/metrics/metrics.go, prommetrics.go): the
// Prometheus text exposition of rollout_reconcile, controller_clientset_k8s_request_total, the workqueue gauges and
// the Go and process collectors' metrics, under the controller's metric names.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// reconcileBuckets are the controller's rollout_reconcile buckets (prommetrics.go).
var reconcileBuckets = []float64{0.01, 0.15, 0.25, 0.5, 1}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

// QueueStats reports one work queue's state.
type QueueStats struct {
	Depth          int
	Adds           int64
	LongestRunning time.Duration
	UnfinishedWork time.Duration
}

// Collector writes series when the metrics are scraped (the role of a prometheus.Collector).
type Collector interface {
	Collect(w io.Writer)
}

// MetricsServer collects the controller's metrics and serves them.
type MetricsServer struct {
	lock       sync.Mutex
	reconcile  map[[2]string]*histogram
	requests   map[[5]string]uint64
	queues     map[string]func() QueueStats
	collectors []Collector
	version    string
}

// RegisterCollector runs c on every scrape.
func (m *MetricsServer) RegisterCollector(c Collector) {
	m.lock.Lock()
	defer m.lock.Unlock()
	m.collectors = append(m.collectors, c)
}

// NewMetricsServer returns an empty collector.
func NewMetricsServer(version string) *MetricsServer {
	return &MetricsServer{reconcile: map[[2]string]*histogram{}, requests: map[[5]string]uint64{},
		queues: map[string]func() QueueStats{}, version: version}
}

// ObserveRolloutReconcile records one reconcile's duration.
func (m *MetricsServer) ObserveRolloutReconcile(namespace, name string, took time.Duration) {
	m.lock.Lock()
	defer m.lock.Unlock()
	key := [2]string{namespace, name}
	h := m.reconcile[key]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(reconcileBuckets))}
		m.reconcile[key] = h
	}
	seconds := took.Seconds()
	for i, bound := range reconcileBuckets {
		if seconds <= bound {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += seconds
}

// IncK8sRequest counts one API request.
func (m *MetricsServer) IncK8sRequest(kind, namespace, name, verb string, code int) {
	m.lock.Lock()
	defer m.lock.Unlock()
	m.requests[[5]string{kind, namespace, name, verb, strconv.Itoa(code)}]++
}

// RegisterQueue exposes a work queue's stats under its name.
func (m *MetricsServer) RegisterQueue(name string, stats func() QueueStats) {
	m.lock.Lock()
	defer m.lock.Unlock()
	m.queues[name] = stats
}

func (m *MetricsServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.write(w)
}

func (m *MetricsServer) write(w io.Writer) {
	m.lock.Lock()
	defer m.lock.Unlock()
	fmt.Fprintf(w, "# HELP argo_rollouts_controller_info Running Argo-rollouts version\n# TYPE argo_rollouts_controller_info gauge\nargo_rollouts_controller_info{version=%q} 1\n", m.version)
	fmt.Fprintf(w, "# HELP controller_info Target information.\n# TYPE controller_info gauge\ncontroller_info{version=\"gotarget\"} 1\n")

	for _, collector := range m.collectors {
		collector.Collect(w)
	}

	fmt.Fprint(w, "# HELP rollout_reconcile Rollout reconciliation performance.\n# TYPE rollout_reconcile histogram\n")
	keys := make([][2]string, 0, len(m.reconcile))
	for key := range m.reconcile {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"/"+keys[i][1] < keys[j][0]+"/"+keys[j][1] })
	for _, key := range keys {
		h := m.reconcile[key]
		labels := fmt.Sprintf("name=%q,namespace=%q", key[1], key[0])
		var cumulative uint64
		for i, bound := range reconcileBuckets {
			cumulative += h.counts[i]
			fmt.Fprintf(w, "rollout_reconcile_bucket{%s,le=\"%s\"} %d\n", labels, strconv.FormatFloat(bound, 'g', -1, 64), cumulative)
		}
		fmt.Fprintf(w, "rollout_reconcile_bucket{%s,le=\"+Inf\"} %d\n", labels, h.count)
		fmt.Fprintf(w, "rollout_reconcile_sum{%s} %g\nrollout_reconcile_count{%s} %d\n", labels, h.sum, labels, h.count)
	}

	fmt.Fprint(w, "# HELP controller_clientset_k8s_request_total Number of kubernetes requests executed during application reconciliation.\n# TYPE controller_clientset_k8s_request_total counter\n")
	requestKeys := make([][5]string, 0, len(m.requests))
	for key := range m.requests {
		requestKeys = append(requestKeys, key)
	}
	sort.Slice(requestKeys, func(i, j int) bool {
		return strings.Join(requestKeys[i][:], "/") < strings.Join(requestKeys[j][:], "/")
	})
	for _, key := range requestKeys {
		fmt.Fprintf(w, "controller_clientset_k8s_request_total{kind=%q,name=%q,namespace=%q,status_code=%q,verb=%q} %d\n",
			key[0], key[2], key[1], key[4], key[3], m.requests[key])
	}

	names := make([]string, 0, len(m.queues))
	for name := range m.queues {
		names = append(names, name)
	}
	sort.Strings(names)
	stats := map[string]QueueStats{}
	for _, name := range names {
		stats[name] = m.queues[name]()
	}
	gauge := func(metric, help string, value func(QueueStats) string) {
		kind := "gauge"
		if strings.HasSuffix(metric, "_total") {
			kind = "counter"
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, kind)
		for _, name := range names {
			fmt.Fprintf(w, "%s{name=%q} %s\n", metric, name, value(stats[name]))
		}
	}
	gauge("workqueue_depth", "Current depth of workqueue", func(s QueueStats) string { return strconv.Itoa(s.Depth) })
	gauge("workqueue_adds_total", "Total number of adds handled by workqueue", func(s QueueStats) string { return strconv.FormatInt(s.Adds, 10) })
	gauge("workqueue_longest_running_processor_seconds", "How many seconds has the longest running processor for workqueue been running.",
		func(s QueueStats) string { return strconv.FormatFloat(s.LongestRunning.Seconds(), 'g', -1, 64) })
	gauge("workqueue_unfinished_work_seconds", "How many seconds of work has been done that is in progress and hasn't been observed by work_duration.",
		func(s QueueStats) string { return strconv.FormatFloat(s.UnfinishedWork.Seconds(), 'g', -1, 64) })

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(w, "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.\n# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	fmt.Fprintf(w, "# HELP go_memstats_heap_alloc_bytes Number of heap bytes allocated and still in use.\n# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n", ms.HeapAlloc)
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) == nil {
		cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", cpu)
	}
	if statm, err := os.ReadFile("/proc/self/statm"); err == nil {
		fields := strings.Fields(string(statm))
		if len(fields) > 1 {
			if pages, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				fmt.Fprintf(w, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", pages*int64(os.Getpagesize()))
			}
		}
	}
}
