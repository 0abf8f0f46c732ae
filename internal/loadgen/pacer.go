package loadgen

import (
	"context"
	"time"
)

// Pacer spaces records evenly at a target rate. Record i is due at
// start + i/rate; Wait sleeps until the next record is due and returns that
// intended time. A sender that fell behind (blocked on a full client buffer,
// or an oversleeping timer) is not made to skip records: it sends the late
// ones at once, and latency is measured from the intended time, so a stall
// shows up in the percentiles instead of being hidden by sending less
// (coordinated omission).
type Pacer struct {
	start    time.Time
	interval float64 // nanoseconds between records; 0 means unpaced
	n        int64

	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// NewPacer paces at rate records per second from start; rate <= 0 means as
// fast as possible.
func NewPacer(rate float64, start time.Time) *Pacer {
	p := &Pacer{start: start, now: time.Now, sleep: sleepCtx}
	if rate > 0 {
		p.interval = float64(time.Second) / rate
	}
	return p
}

// Due is the intended send time of record i.
func (p *Pacer) Due(i int64) time.Time {
	return p.start.Add(time.Duration(float64(i) * p.interval))
}

// Wait blocks until the next record is due and returns its intended send
// time (for an unpaced Pacer: now).
func (p *Pacer) Wait(ctx context.Context) (time.Time, error) {
	if p.interval == 0 {
		return p.now(), ctx.Err()
	}
	due := p.Due(p.n)
	p.n++
	// Timers wake late by tens of microseconds or more; sleeping only when
	// ahead keeps the average rate exact and lets the late records catch up.
	if d := due.Sub(p.now()); d > 0 {
		if err := p.sleep(ctx, d); err != nil {
			return due, err
		}
	}
	return due, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
