// Package cache imitates client-go's informer machinery (tools/cache/reflector.go ListAndWatch and watchHandler,
// delta_fifo.go, thread_safe_store.go): watch events are decoded and kept in an indexed store that only grows.
package cache

import (
	"encoding/json"
	"sync"
)

// ThreadSafeStore keeps every object by key, like the informer's indexer.
type ThreadSafeStore struct {
	lock  sync.RWMutex
	items map[string]interface{}
	index map[string][]string
}

// NewThreadSafeStore returns an empty store.
func NewThreadSafeStore() *ThreadSafeStore {
	return &ThreadSafeStore{items: map[string]interface{}{}, index: map[string][]string{}}
}

// Add stores obj under key and indexes it by namespace.
func (s *ThreadSafeStore) Add(key, namespace string, obj interface{}) {
	s.lock.Lock()
	defer s.lock.Unlock()
	s.items[key] = obj
	s.index[namespace] = append(s.index[namespace], key)
}

// Len is the number of objects held.
func (s *ThreadSafeStore) Len() int {
	s.lock.RLock()
	defer s.lock.RUnlock()
	return len(s.items)
}

// DeltaFIFO queues decoded objects between the reflector and the store.
type DeltaFIFO struct {
	items chan delta
}

type delta struct {
	key, namespace string
	obj            interface{}
}

// NewDeltaFIFO returns a queue of the given capacity.
func NewDeltaFIFO(capacity int) *DeltaFIFO { return &DeltaFIFO{items: make(chan delta, capacity)} }

// Pop moves every queued object into the store until stop is closed.
func (f *DeltaFIFO) Pop(store *ThreadSafeStore, stop <-chan struct{}) {
	for {
		select {
		case d := <-f.items:
			store.Add(d.key, d.namespace, d.obj)
		case <-stop:
			return
		}
	}
}

// Reflector decodes watch events from a source into a DeltaFIFO.
type Reflector struct {
	queue *DeltaFIFO
	next  func() (key, namespace string, body []byte, ok bool)
}

// NewReflector watches next until it reports no more events.
func NewReflector(queue *DeltaFIFO, next func() (string, string, []byte, bool)) *Reflector {
	return &Reflector{queue: queue, next: next}
}

// ListAndWatch runs the watch loop until the source ends or stop is closed.
func (r *Reflector) ListAndWatch(stop <-chan struct{}) error {
	return r.watchHandler(stop)
}

func (r *Reflector) watchHandler(stop <-chan struct{}) error {
	for {
		key, namespace, body, ok := r.next()
		if !ok {
			return nil
		}
		var obj map[string]interface{}
		if err := json.Unmarshal(body, &obj); err != nil {
			return err
		}
		select {
		case r.queue.items <- delta{key: key, namespace: namespace, obj: obj}:
		case <-stop:
			return nil
		}
	}
}
