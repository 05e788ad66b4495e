// Package workqueue imitates client-go's work queue (util/workqueue/queue.go: Add, Get, Done, Len): a FIFO of
// de-duplicated keys that workers take one at a time.
package workqueue

import "sync"

// Type is a work queue.
type Type struct {
	cond    *sync.Cond
	queue   []string
	dirty   map[string]bool
	adds    int64
	started map[string]bool
}

// New returns an empty queue.
func New() *Type {
	return &Type{cond: sync.NewCond(&sync.Mutex{}), dirty: map[string]bool{}, started: map[string]bool{}}
}

// Add queues key unless it is already waiting.
func (q *Type) Add(key string) {
	q.cond.L.Lock()
	defer q.cond.L.Unlock()
	q.adds++
	if q.dirty[key] {
		return
	}
	q.dirty[key] = true
	q.queue = append(q.queue, key)
	q.cond.Signal()
}

// Get blocks until a key is available.
func (q *Type) Get() string {
	q.cond.L.Lock()
	defer q.cond.L.Unlock()
	for len(q.queue) == 0 {
		q.cond.Wait()
	}
	key := q.queue[0]
	q.queue = q.queue[1:]
	delete(q.dirty, key)
	q.started[key] = true
	return key
}

// Done marks key as processed.
func (q *Type) Done(key string) {
	q.cond.L.Lock()
	defer q.cond.L.Unlock()
	delete(q.started, key)
}

// Len is the number of waiting keys.
func (q *Type) Len() int {
	q.cond.L.Lock()
	defer q.cond.L.Unlock()
	return len(q.queue)
}

// Adds is the number of Add calls so far.
func (q *Type) Adds() int64 {
	q.cond.L.Lock()
	defer q.cond.L.Unlock()
	return q.adds
}
