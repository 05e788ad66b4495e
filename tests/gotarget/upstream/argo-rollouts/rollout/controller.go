// Package rollout imitates the rollout controller's work loop (rollout/controller.go: processNextWorkItem,
// syncHandler; rollout/context.go: the per-reconcile rolloutContext): workers take keys from a work queue and
// reconcile them, optionally slowly (a reconcile waiting on something else) or with heavy allocation churn.
package rollout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/argo-rollouts/controller/metrics"
	"k8s.io/client-go/util/workqueue"
)

// Controller reconciles rollouts from its queue.
type Controller struct {
	Queue       *workqueue.Type
	Metrics     *metrics.MetricsServer
	SyncDelay   time.Duration // a reconcile waits this long on something else (slow-queue workload)
	ChurnBursts bool          // each reconcile builds and drops many small objects (gc-churn workload)

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
	c.Metrics.IncK8sRequest("Rollout", namespace, name, "Update", code)
	return ctx.Err() == nil
}

func (c *Controller) syncHandler(ctx context.Context, key string) error {
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
