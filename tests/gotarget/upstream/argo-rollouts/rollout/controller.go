// Package rollout imitates the rollout controller's work loop (rollout/controller.go: processNextWorkItem,
// syncHandler, which logs "Started syncing rollout" for every reconcile; rollout/context.go: the per-reconcile
// rolloutContext): workers take keys from a work queue and reconcile them, optionally slowly (a reconcile waiting
// on something else), with heavy allocation churn, or with one rollout requeued after every reconcile.
package rollout

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/argo-rollouts/controller/metrics"
	"github.com/sirupsen/logrus"
	"k8s.io/client-go/util/workqueue"
)

// The controller logs every reconcile; the test target throws the lines away.
var log = logrus.New(io.Discard)

// Controller reconciles rollouts from its queue.
type Controller struct {
	Queue       *workqueue.Type
	Metrics     *metrics.MetricsServer
	SyncDelay   time.Duration // a reconcile waits this long on something else (slow-queue workload)
	ChurnBursts bool          // each reconcile builds and drops many small objects (gc-churn workload)
	HotLoop     string        // this key is queued again after each of its reconciles (reconcile-hot-loop workload)
	HotPause    time.Duration // what each of the hot key's reconciles waits (its API calls)

	lock    sync.Mutex
	running map[string]time.Time
}

// NewController returns a controller over a fresh queue.
func NewController(m *metrics.MetricsServer) *Controller {
	c := &Controller{Queue: workqueue.New(), Metrics: m, running: map[string]time.Time{}}
	m.RegisterQueue("rollouts", c.queueStats)
	return c
}

func (c *Controller) queueStats() metrics.QueueStats {
	c.lock.Lock()
	defer c.lock.Unlock()
	stats := metrics.QueueStats{Depth: c.Queue.Len(), Adds: c.Queue.Adds()}
	for _, started := range c.running {
		took := time.Since(started)
		stats.UnfinishedWork += took
		if took > stats.LongestRunning {
			stats.LongestRunning = took
		}
	}
	return stats
}

// Run starts the workers.
func (c *Controller) Run(ctx context.Context, workers int) {
	for i := 0; i < workers; i++ {
		go c.runWorker(ctx)
	}
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextWorkItem(ctx) {
	}
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key := c.Queue.Get()
	defer c.Queue.Done(key)
	started := time.Now()
	c.lock.Lock()
	c.running[key] = started
	c.lock.Unlock()
	err := c.syncHandler(ctx, key)
	c.lock.Lock()
	delete(c.running, key)
	c.lock.Unlock()
	namespace, name, _ := strings.Cut(key, "/")
	c.Metrics.ObserveRolloutReconcile(namespace, name, time.Since(started))
	code := 200
	if err != nil {
		code = 500
	}
	c.Metrics.IncK8sRequest("rollouts", namespace, name, "Update", code)
	if key == c.HotLoop {
		c.Queue.Add(key)
	}
	return ctx.Err() == nil
}

func (c *Controller) syncHandler(ctx context.Context, key string) error {
	namespace, name, _ := strings.Cut(key, "/")
	log.WithFields(logrus.Fields{"namespace": namespace, "rollout": name, "generation": 7,
		"resourceVersion": "123456"}).Info("Started syncing rollout")
	if key == c.HotLoop {
		roCtx := newRolloutContext(key)
		roCtx.reconcileHot()
		time.Sleep(c.HotPause)
	}
	if c.SyncDelay > 0 {
		select {
		case <-time.After(c.SyncDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if c.ChurnBursts {
		roCtx := newRolloutContext(key)
		return roCtx.reconcile()
	}
	return nil
}

type condition struct {
	kind, status, reason, message string
	next                          *condition
}

type rolloutContext struct {
	key        string
	conditions *condition
}

func newRolloutContext(key string) *rolloutContext { return &rolloutContext{key: key} }

// reconcile builds a long chain of short-lived objects with pointers in them: the garbage collector has to
// mark and sweep it all, which is what a reconcile that copies whole objects costs the controller.
func (c *rolloutContext) reconcile() error {
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) {
		c.conditions = nil
		for i := 0; i < 2000; i++ {
			c.conditions = &condition{kind: "Progressing", status: "True", reason: fmt.Sprintf("step-%d", i),
				message: c.key, next: c.conditions}
		}
	}
	return nil
}

// podTemplate is the part of a rollout whose hash names its ReplicaSets.
type podTemplate struct {
	Labels     map[string]string
	Containers []container
}

type container struct {
	Name, Image string
	Args        []string
	Env         map[string]string
}

var hotTemplate = func() podTemplate {
	template := podTemplate{Labels: map[string]string{"app": "checkout", "tier": "web"}}
	for i := 0; i < 4; i++ {
		env := map[string]string{}
		for j := 0; j < 12; j++ {
			env[fmt.Sprintf("SETTING_%02d", j)] = strings.Repeat("v", 24)
		}
		template.Containers = append(template.Containers, container{Name: fmt.Sprintf("c%d", i),
			Image: "registry.example.com/checkout:1.2.3", Args: []string{"--port", "8080", "--verbose"}, Env: env})
	}
	return template
}()

// reconcileHot is what each reconcile of the requeued rollout does: it hashes the pod template (as the
// controller does to name ReplicaSets, printing the object deeply into the hash) and logs its steps.
func (c *rolloutContext) reconcileHot() {
	hash := computePodTemplateHash(hotTemplate)
	namespace, name, _ := strings.Cut(c.key, "/")
	fields := logrus.Fields{"namespace": namespace, "rollout": name, "podTemplateHash": hash}
	log.WithFields(fields).Info("Reconciling canary stable ReplicaSet")
	log.WithFields(fields).Info("Reconciliation completed")
}

func computePodTemplateHash(template podTemplate) string {
	hasher := fnv.New32a()
	for i := 0; i < 16; i++ {
		fmt.Fprintf(hasher, "%#v", template)
	}
	return fmt.Sprintf("%x", hasher.Sum32())
}
