package group

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/weirdb/weir/internal/batch"
)

// manualClock is a Clock that moves only when told to.
type manualClock struct {
	mu     sync.Mutex // guards the following
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c       *manualClock
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f, seq: len(c.timers)}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	return true
}

// next pops the earliest live timer due at or before until.
func (c *manualClock) next(until time.Time) *manualTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.timers[:0]
	for _, t := range c.timers {
		if !t.stopped {
			live = append(live, t)
		}
	}
	c.timers = live
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	if len(c.timers) == 0 || c.timers[0].at.After(until) {
		return nil
	}
	t := c.timers[0]
	t.stopped = true
	if t.at.After(c.now) {
		c.now = t.at
	}
	return t
}

// advance moves time forward by d, firing due timers one at a time in
// order, each followed by settle (so timers they set are seen).
func (c *manualClock) advance(d time.Duration, settle func()) {
	until := c.Now().Add(d)
	for {
		t := c.next(until)
		if t == nil {
			break
		}
		t.f()
		settle()
	}
	c.mu.Lock()
	c.now = until
	c.mu.Unlock()
}

// memStorage is a Storage in memory whose logs outlive coordinators, so
// a test can restart one on the same state.
type memStorage struct {
	logs []*memLog
}

func (s *memStorage) Open(_ context.Context, partitions int32) ([]Log, error) {
	if s.logs == nil {
		for range partitions {
			s.logs = append(s.logs, &memLog{})
		}
	}
	out := make([]Log, len(s.logs))
	for i, l := range s.logs {
		out[i] = l
	}
	return out, nil
}

// memLog is a Log in memory. hold makes appends wait for release before
// they are durable; fail makes them fail.
type memLog struct {
	mu      sync.Mutex // guards the following
	batches [][]byte
	next    int64
	hold    chan struct{}
	held    int // appends waiting for release
	fail    error
	gate    chan struct{} // when set, reads wait for it to close
}

func (l *memLog) Append(_ context.Context, raw []byte) (func(context.Context) error, error) {
	if _, err := batch.Validate(raw); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		err := l.fail
		return func(context.Context) error { return err }, nil
	}
	b := append([]byte(nil), raw...)
	h, _ := batch.ParseHeader(b)
	batch.SetBaseOffset(b, l.next)
	l.next += int64(h.LastOffsetDelta) + 1
	l.batches = append(l.batches, b)
	hold := l.hold
	if hold != nil {
		l.held++
	}
	return func(ctx context.Context) error {
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}, nil
}

func (l *memLog) Read(ctx context.Context, offset int64, maxBytes int) ([]byte, error) {
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		h, _ := batch.ParseHeader(b)
		if h.LastOffset() < offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b) > maxBytes {
			break
		}
		out = append(out, b...)
	}
	if out == nil && offset < l.next {
		return nil, errors.New("offset not found")
	}
	return out, nil
}

func (l *memLog) Bounds() (int64, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, l.next
}

func (l *memLog) setHold(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on && l.hold == nil {
		l.hold = make(chan struct{})
	}
	if !on && l.hold != nil {
		close(l.hold)
		l.hold = nil
		l.held = 0
	}
}

func (l *memLog) heldAppends() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// settle waits until every shard has run everything queued and has no
// append in flight but those the storage holds back.
func (c *Coordinator) settle(st *memStorage) {
	for {
		busy := false
		for i, s := range c.shards {
			if !s.loaded.Load() {
				continue // requests are refused without reaching the loop
			}
			ch := make(chan int, 1)
			s.q.push(func() { ch <- s.inflight })
			select {
			case n := <-ch:
				if n > st.logs[i].heldAppends() {
					busy = true
				}
			case <-s.done:
			}
		}
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// testLogger is quiet unless WEIR_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("WEIR_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
