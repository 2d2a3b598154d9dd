package k8senrichprocessor // import "github.com/vigilsec/vigil/processor/k8senrichprocessor"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// held is one resource waiting for its pod to appear in the cache, with the payload (a
// plog.Logs or pmetric.Metrics holding just that resource) it is sent in.
type held[T any] struct {
	deadline time.Time
	key      string
	res      pcommon.Resource
	payload  T
}

// pendingQueue holds resources whose container or pod is not known yet. It is bounded: when
// full, callers send the resource on unenriched. Items are released, enriched or not, by the
// worker goroutine: when the cache reports a pod change, and when their deadline passes.
type pendingQueue[T any] struct {
	wait   time.Duration
	max    int
	now    func() time.Time
	lookup func(pcommon.Resource) outcome
	// release sends a batch of resources on; missed says how many of them were not enriched.
	release func(ctx context.Context, items []T, enriched, missed int)

	mu    sync.Mutex
	items []held[T] // FIFO; deadlines are non-decreasing
	// recentMisses remembers ids that just expired unenriched, so that the next resources of
	// a container the cache will never know (not a pod of this node) are not held again.
	recentMisses map[string]time.Time
	wake         chan struct{}
	done         chan struct{}
	wg           sync.WaitGroup
}

// recentMissTTL is how long an id that expired unenriched is not held again.
const recentMissTTL = 30 * time.Second

func newPendingQueue[T any](wait time.Duration, maxItems int, lookup func(pcommon.Resource) outcome,
	release func(context.Context, []T, int, int),
) *pendingQueue[T] {
	return &pendingQueue[T]{
		wait:         wait,
		max:          maxItems,
		now:          time.Now,
		lookup:       lookup,
		release:      release,
		recentMisses: make(map[string]time.Time),
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
}

// tryHold reports whether the resource should wait (and takes it), or why not.
type holdResult int

const (
	heldOK holdResult = iota
	holdRecentMiss
	holdQueueFull
)

// take is called, with the queue locked, only when the resource is held: it moves the
// resource into its own payload.
func (q *pendingQueue[T]) tryHold(key string, take func() (T, pcommon.Resource)) holdResult {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if t, ok := q.recentMisses[key]; ok {
		if now.Sub(t) < recentMissTTL {
			return holdRecentMiss
		}
		delete(q.recentMisses, key)
	}
	if len(q.items) >= q.max {
		return holdQueueFull
	}
	p, r := take()
	q.items = append(q.items, held[T]{deadline: now.Add(q.wait), key: key, res: r, payload: p})
	if len(q.items) == 1 {
		q.notify() // the worker re-arms its timer for the new head
	}
	return heldOK
}

func (q *pendingQueue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// notify wakes the worker without blocking.
func (q *pendingQueue[T]) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *pendingQueue[T]) start() {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		q.run()
	}()
}

// stop releases everything still held (unenriched unless its pod just appeared) and waits
// for the worker.
func (q *pendingQueue[T]) stop(ctx context.Context) {
	select {
	case <-q.done:
	default:
		close(q.done)
	}
	q.wg.Wait()
	q.flush(ctx, true)
}

func (q *pendingQueue[T]) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := q.flush(context.Background(), false)
		if next > 0 {
			timer.Reset(next)
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-q.done:
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// flush releases resolved and expired items (all items when final) and returns the time
// until the next deadline (0 when nothing is held).
func (q *pendingQueue[T]) flush(ctx context.Context, final bool) time.Duration {
	now := q.now()
	var out []T
	enriched, missed := 0, 0

	q.mu.Lock()
	kept := q.items[:0]
	for _, it := range q.items {
		switch {
		case q.lookup(it.res) == outcomeEnriched:
			enriched++
			out = append(out, it.payload)
		case final || !now.Before(it.deadline):
			missed++
			out = append(out, it.payload)
			q.rememberMissLocked(it.key, now)
		default:
			kept = append(kept, it)
		}
	}
	var zero held[T]
	for i := len(kept); i < len(q.items); i++ {
		q.items[i] = zero // let released payloads be collected
	}
	q.items = kept
	var next time.Duration
	if len(kept) > 0 {
		next = max(kept[0].deadline.Sub(now), time.Millisecond)
	}
	q.mu.Unlock()

	if len(out) > 0 {
		q.release(ctx, out, enriched, missed)
	}
	return next
}

func (q *pendingQueue[T]) rememberMissLocked(key string, now time.Time) {
	if len(q.recentMisses) >= q.max {
		for k, t := range q.recentMisses {
			if now.Sub(t) >= recentMissTTL {
				delete(q.recentMisses, k)
			}
		}
		if len(q.recentMisses) >= q.max {
			clear(q.recentMisses)
		}
	}
	q.recentMisses[key] = now
}
