// Package viewcontroller imitates the kubectl plugin's view controller before v1.8.0-rc1
// (pkg/kubectl-argo-rollouts/viewcontroller/viewcontroller.go: newViewController builds informers for one
// rollout's objects; Start starts them with the caller's context).
package viewcontroller

import (
	"context"

	"k8s.io/client-go/tools/cache"
)

// Object is one listed object: its key, namespace and JSON body.
type Object struct {
	Key, Namespace string
	Body           []byte
}

type viewController struct {
	store     *cache.ThreadSafeStore
	queue     *cache.DeltaFIFO
	reflector *cache.Reflector
	done      <-chan struct{}
}

// RolloutViewController shows one rollout.
type RolloutViewController struct {
	*viewController
}

// NewRolloutViewController builds the informers of one rollout's view over list.
func NewRolloutViewController(list []Object) *RolloutViewController {
	return &RolloutViewController{newViewController(list)}
}

func newViewController(list []Object) *viewController {
	// Each informer buffers notifications for its listeners (client-go shared_informer.go: a ring buffer of
	// 1024 to start with).
	c := &viewController{store: cache.NewThreadSafeStore(), queue: cache.NewDeltaFIFO(1024)}
	next := 0
	c.reflector = cache.NewReflector(c.queue, func() (string, string, []byte, bool) {
		if next < len(list) {
			next++
			return list[next-1].Key, list[next-1].Namespace, list[next-1].Body, true
		}
		<-c.done // the list is done: wait for watch events until the context ends
		return "", "", nil, false
	})
	return c
}

// Start runs the informers until ctx ends.
func (c *viewController) Start(ctx context.Context) {
	c.done = ctx.Done()
	go func() { _ = c.reflector.ListAndWatch(ctx.Done()) }()
	go c.queue.Pop(c.store, ctx.Done())
}

// GetRolloutInfo is the number of objects the view holds.
func (c *RolloutViewController) GetRolloutInfo() int { return c.store.Len() }
