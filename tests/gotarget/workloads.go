package main

// The controller-like workloads that make each analysis finding show in real profiles, started by --workloads.
// Each is bounded (memory, goroutines, connections) and light on CPU: the test machine is shared.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"time"

	"github.com/argoproj/argo-rollouts/analysis"
	"github.com/argoproj/argo-rollouts/controller/metrics"
	"github.com/argoproj/argo-rollouts/metricproviders/webmetric"
	"github.com/argoproj/argo-rollouts/pkg/kubectl-argo-rollouts/viewcontroller"
	"github.com/argoproj/argo-rollouts/rollout"
	"github.com/argoproj/argo-rollouts/server"
	"github.com/argoproj/argo-rollouts/utils/tolerantinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

type workload func(ctx context.Context, controller *rollout.Controller) error

var workloads = map[string]workload{
	"informer-growth": informerGrowth,
	"stuck-http":      stuckHTTP,
	"json-decode":     jsonDecode,
	"slow-queue":      slowQueue,
	"gc-churn":        gcChurn,
	// Modes of real incidents (argoproj/argo-rollouts#4571: conversion on every scrape; a requeue loop).
	"conversion-churn":   conversionChurn,
	"reconcile-hot-loop": reconcileHotLoop,
	"series-growth":      seriesGrowth,
	"informer-leak":      informerLeak,
}

// ownWorkers are the workloads that start the controller's workers themselves.
var ownWorkers = map[string]bool{"slow-queue": true, "gc-churn": true, "reconcile-hot-loop": true}

func workloadNames() []string {
	names := make([]string, 0, len(workloads))
	for name := range workloads {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// rolloutJSON is a Rollout-like object of about size bytes once encoded.
func rolloutJSON(namespace, name string, size int) []byte {
	annotations := map[string]string{}
	for i := 0; len(annotations)*64 < size; i++ {
		annotations[fmt.Sprintf("example.com/note-%04d", i)] = strings.Repeat("x", 40)
	}
	object := map[string]interface{}{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]interface{}{"namespace": namespace, "name": name, "annotations": annotations},
		"spec":     map[string]interface{}{"replicas": 3, "strategy": map[string]interface{}{"canary": map[string]interface{}{}}},
	}
	body, _ := json.Marshal(object)
	return body
}

// informerGrowth: watch events for ever new objects land in the informer's store, which never shrinks
// (50 objects of 16 KB a second, at most 2000).
func informerGrowth(ctx context.Context, _ *rollout.Controller) error {
	store := cache.NewThreadSafeStore()
	queue := cache.NewDeltaFIFO(64)
	ticker := time.NewTicker(20 * time.Millisecond)
	number := 0
	next := func() (string, string, []byte, bool) {
		if number >= 2000 {
			return "", "", nil, false
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return "", "", nil, false
		}
		number++
		namespace, name := fmt.Sprintf("team-%d", number%20), fmt.Sprintf("rollout-%d", number)
		return namespace + "/" + name, namespace, rolloutJSON(namespace, name, 16<<10), true
	}
	reflector := cache.NewReflector(queue, next)
	go queue.Pop(store, ctx.Done())
	go func() { _ = reflector.ListAndWatch(ctx.Done()) }()
	return nil
}

// stuckHTTP: an analysis provider that accepts connections and never answers; the web provider's client has no
// timeout, so every measurement goroutine waits forever (one more every 100 ms, at most 300).
func stuckHTTP(ctx context.Context, _ *rollout.Controller) error {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		var held []net.Conn // never read, never answered, never closed
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()
	provider := &webmetric.Provider{URL: "http://" + listener.Addr().String() + "/api/v1/query",
		Client: &http.Client{Transport: &http.Transport{}}}
	controller := &analysis.Controller{Provider: provider}
	go func() {
		for started := 0; started < 300; started++ {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			controller.RunMeasurements(ctx, 1)
		}
	}()
	return nil
}

// jsonDecode: a large list decoded again and again through the REST client (a 1 MB list every 100 ms).
func jsonDecode(ctx context.Context, _ *rollout.Controller) error {
	items := make([]json.RawMessage, 0, 64)
	for i := 0; i < 64; i++ {
		items = append(items, rolloutJSON("team", fmt.Sprintf("rollout-%d", i), 16<<10))
	}
	body, err := json.Marshal(map[string]interface{}{"kind": "RolloutList", "items": items})
	if err != nil {
		return err
	}
	request := rest.NewRequest(body)
	go func() {
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return
			}
			var list map[string]interface{}
			_ = request.Do(ctx).Into(&list)
		}
	}()
	return nil
}

// slowQueue: rollouts are queued faster (20 a second) than the one worker reconciles them (300 ms each, waiting
// on something else), so the queue keeps growing and reconciles are slow.
func slowQueue(ctx context.Context, controller *rollout.Controller) error {
	controller.SyncDelay = 300 * time.Millisecond
	controller.Run(ctx, 1)
	go feedQueue(ctx, controller, 20, time.Second, 100000)
	return nil
}

// gcChurn: each reconcile allocates a long chain of short-lived objects while the controller holds a large
// pointer-rich state, so the garbage collector takes a large share of the CPU.
func gcChurn(ctx context.Context, controller *rollout.Controller) error {
	for i := 0; i < 300000; i++ {
		liveState = &liveNode{next: liveState, label: "state"}
	}
	controller.ChurnBursts = true
	controller.Run(ctx, 1)
	go feedQueue(ctx, controller, 12, time.Second, 12)
	return nil
}

type liveNode struct {
	next  *liveNode
	label string
}

// liveState is the pointer-rich state the gc-churn workload keeps (the garbage collector marks it every cycle).
var liveState *liveNode

// feedQueue adds perSecond keys every period, cycling through distinct keys.
func feedQueue(ctx context.Context, controller *rollout.Controller, perSecond int, period time.Duration, distinct int) {
	ticker := time.NewTicker(period / time.Duration(perSecond))
	defer ticker.Stop()
	for number := 0; ; number++ {
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return
		}
		controller.Queue.Add(fmt.Sprintf("default/rollout-%d", number%distinct))
	}
}

// analysisRunObject is an unstructured AnalysisRun as the dynamic informer keeps it: a finished run of three
// metrics with ten measurements each.
func analysisRunObject(namespace, name string) map[string]interface{} {
	metrics := []interface{}{}
	results := []interface{}{}
	for _, metric := range []string{"success-rate", "latency-p99", "error-rate"} {
		metrics = append(metrics, map[string]interface{}{"name": metric, "interval": "1m", "count": int64(10),
			"successCondition": "result[0] >= 0.95",
			"provider":         map[string]interface{}{"prometheus": "sum(rate(http_requests_total[5m]))"}})
		measurements := []interface{}{}
		for i := 0; i < 10; i++ {
			measurements = append(measurements, map[string]interface{}{"phase": "Successful", "value": "[0.99]",
				"startedAt": "2026-08-17T10:00:00Z", "finishedAt": "2026-08-17T10:00:01Z"})
		}
		results = append(results, map[string]interface{}{"name": metric, "phase": "Successful",
			"measurements": measurements})
	}
	return map[string]interface{}{
		"metadata": map[string]interface{}{"name": name, "namespace": namespace,
			"labels":      map[string]interface{}{"rollouts-pod-template-hash": "7d9f8b6c5"},
			"annotations": map[string]interface{}{"rollout.argoproj.io/revision": "3"}},
		"spec":   map[string]interface{}{"metrics": metrics, "args": []interface{}{map[string]interface{}{"name": "service", "value": name}}},
		"status": map[string]interface{}{"phase": "Successful", "metricResults": results},
	}
}

// conversionChurn: 600 finished AnalysisRuns kept unstructured, as v1.9's dynamic informer keeps them; the
// AnalysisRun collector converts every one to its typed form on every scrape, and a Prometheus scrapes every 50 ms.
func conversionChurn(ctx context.Context, controller *rollout.Controller) error {
	runs := make([]map[string]interface{}, 0, 600)
	for i := 0; i < 600; i++ {
		runs = append(runs, analysisRunObject("shop", fmt.Sprintf("checkout-7d9f8b6c5-%d", i)))
	}
	lister := tolerantinformer.NewTolerantAnalysisRunLister(func() []map[string]interface{} { return runs })
	controller.Metrics.RegisterCollector(metrics.NewAnalysisRunCollector(lister))
	go every(ctx, 50*time.Millisecond, -1, func(int) { scrapeMetrics(controller.Metrics) })
	return nil
}

// scrapeMetrics is one scrape of the controller's /metrics by a Prometheus.
func scrapeMetrics(server http.Handler) {
	server.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
}

// every calls do once a period, times times (forever when negative), until ctx ends.
func every(ctx context.Context, period time.Duration, times int, do func(int)) {
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for n := 0; times < 0 || n < times; n++ {
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return
		}
		do(n)
	}
}

// reconcileHotLoop: the rollout shop/checkout is queued again after each of its reconciles (each waits 2 ms on
// its API calls), while five others are reconciled a few times a second on events.
func reconcileHotLoop(ctx context.Context, controller *rollout.Controller) error {
	controller.HotLoop, controller.HotPause = "shop/checkout", 2*time.Millisecond
	controller.Run(ctx, 1)
	controller.Queue.Add(controller.HotLoop)
	go feedQueue(ctx, controller, 3, time.Second, 5)
	return nil
}

// seriesGrowth: every AnalysisRun the controller updates adds a series of controller_clientset_k8s_request_total
// (its name label), never deleted (argoproj/argo-rollouts#4571): 50 new runs a second, at most 20000.
func seriesGrowth(ctx context.Context, controller *rollout.Controller) error {
	go every(ctx, 20*time.Millisecond, 20000, func(run int) {
		controller.Metrics.IncK8sRequest("analysisruns", "shop", fmt.Sprintf("checkout-7d9f8b6c5-%d", run),
			"Update", 200)
	})
	return nil
}

// informerLeak: the dashboard before v1.8.0-rc1 (argoproj/argo-rollouts#2095): each GetRolloutInfo request
// starts a view controller whose informers list 20 objects and are never stopped; a request every 100 ms, at
// most 600.
func informerLeak(ctx context.Context, _ *rollout.Controller) error {
	objects := make([]viewcontroller.Object, 0, 20)
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("checkout-%d", i)
		objects = append(objects, viewcontroller.Object{Key: "shop/" + name, Namespace: "shop",
			Body: rolloutJSON("shop", name, 4<<10)})
	}
	dashboard := &server.ArgoRolloutsServer{List: func() []viewcontroller.Object { return objects }}
	go every(ctx, 100*time.Millisecond, 600, func(int) { dashboard.GetRolloutInfo() })
	return nil
}
