package group

import (
	"sync"
	"time"
)

// Clock is the coordinator's source of time and timers; tests substitute
// a manual one.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f on its own goroutine once d has passed, unless
	// stopped first.
	AfterFunc(d time.Duration, f func()) Stopper
}

// Stopper stops a timer made by Clock.AfterFunc.
type Stopper interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                              { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) }

// loopTimer is a timer whose function runs on a shard's loop goroutine.
// Stopping it from the loop guarantees the function does not run, even if
// the clock already fired and the call is queued.
type loopTimer struct {
	t    Stopper
	done bool // loop-owned: stopped or fired
}

func (t *loopTimer) stop() {
	if t != nil && !t.done {
		t.done = true
		t.t.Stop()
	}
}

// queue is an unbounded FIFO of functions for one loop goroutine. Push
// never blocks, so timers and storage completions can always hand work to
// the loop, whatever it is doing.
type queue struct {
	mu    sync.Mutex // guards the following
	items []func()

	ready chan struct{} // receives when items became non-empty
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(f func()) {
	q.mu.Lock()
	q.items = append(q.items, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes everything queued.
func (q *queue) pop() []func() {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	return items
}
