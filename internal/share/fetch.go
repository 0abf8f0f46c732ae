package share

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Session opens or continues member's share session (ShareFetch): epoch 0
// starts a new one with the partitions of add, a later epoch must be the
// one the session expects and adds add and drops forget. The session's
// partitions are returned; the next request must carry the next epoch.
// Epoch -1 closes the session: see CloseSession.
func (c *Coordinator) Session(group, member string, epoch int32, add, forget []TP) ([]TP, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := sessionKey{group, member}
	s := c.sessions[k]
	switch {
	case epoch == 0:
		s = &session{parts: make(map[TP]struct{})}
		c.sessions[k] = s
	case s == nil:
		return nil, kerr.ShareSessionNotFound
	case epoch != s.epoch:
		return nil, kerr.InvalidShareSessionEpoch
	}
	for _, tp := range add {
		s.parts[tp] = struct{}{}
	}
	for _, tp := range forget {
		delete(s.parts, tp)
	}
	s.epoch = nextEpoch(epoch)
	out := make([]TP, 0, len(s.parts))
	for tp := range s.parts {
		out = append(out, tp)
	}
	return out, nil
}

// nextEpoch follows epoch, wrapping to 1 as Kafka does.
func nextEpoch(epoch int32) int32 {
	if epoch >= 1<<31-1 {
		return 1
	}
	return epoch + 1
}

// AckSession checks a ShareAcknowledge's session epoch (not 0, which only
// a ShareFetch may use to open a session) and moves the session on.
func (c *Coordinator) AckSession(group, member string, epoch int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch == 0 {
		return kerr.InvalidShareSessionEpoch
	}
	s := c.sessions[sessionKey{group, member}]
	switch {
	case s == nil:
		return kerr.ShareSessionNotFound
	case epoch != s.epoch:
		return kerr.InvalidShareSessionEpoch
	}
	s.epoch = nextEpoch(epoch)
	return nil
}

// CloseSession ends member's share session (epoch -1) and releases the
// records it holds in the session's partitions. Acknowledgements in the
// closing request must be applied first.
func (c *Coordinator) CloseSession(group, member string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := sessionKey{group, member}
	s := c.sessions[k]
	if s == nil {
		return kerr.ShareSessionNotFound
	}
	delete(c.sessions, k)
	g := c.groups[group]
	if g == nil {
		return nil
	}
	st := c.settingsLocked(group)
	freed := false
	var recs []kv
	for tp := range s.parts {
		if p := g.parts[tp]; p != nil {
			freed = p.releaseMember(member, st.deliveryLimit) || freed
			recs = append(recs, partitionRec(group, tp, p))
		}
	}
	c.writeLocked(group, recs...)
	if freed {
		c.wakeLocked()
	}
	return nil
}

// HasGroup reports whether group exists; ShareAcknowledge needs one.
func (c *Coordinator) HasGroup(group string) bool { return c.IsShareGroup(group) }

// partitionLocked returns the group's share-partition of tp, initialized
// on first use at the high watermark, or at the log start offset when the
// group's share.auto.offset.reset is earliest. The initial SPSO is written
// to the log so a restart does not move it. ok is false when tp does not
// exist.
func (c *Coordinator) partitionLocked(g *group, tp TP) (p *partition, logStart, hw int64, ok bool) {
	logStart, hw, ok = c.cfg.Topics.Bounds(tp)
	if !ok {
		return nil, 0, 0, false
	}
	p = g.parts[tp]
	if p == nil {
		start := hw
		if c.settingsLocked(g.name).earliest {
			start = logStart
		}
		p = newPartition(start)
		g.parts[tp] = p
		c.writeLocked(g.name, partitionRec(g.name, tp, p))
	}
	p.trimTo(logStart)
	return p, logStart, hw, true
}

// NextOffset is where a ShareFetch for tp should start reading: the first
// offset that may be acquired. ok is false when nothing can be acquired
// now (no data, or every in-flight record is taken and the window is
// full).
func (c *Coordinator) NextOffset(group string, tp TP) (offset int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.getGroupLocked(group)
	p, _, hw, ok := c.partitionLocked(g, tp)
	if !ok {
		return 0, false
	}
	for i, r := range p.recs {
		if r.state == Available {
			o := p.spso + int64(i)
			return o, o < hw
		}
	}
	if int64(len(p.recs)) >= int64(c.cfg.MaxRecordLocks) {
		return 0, false
	}
	return p.end(), p.end() < hw
}

// Acquire acquires up to max Available records of tp in [from, limit) (and
// below the high watermark) for member, with the group's acquisition
// lock: from and limit bound the batches the caller read.
func (c *Coordinator) Acquire(group, member string, tp TP, from, limit int64, max int) []Range {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.getGroupLocked(group)
	p, _, hw, ok := c.partitionLocked(g, tp)
	if !ok || max <= 0 {
		return nil
	}
	st := c.settingsLocked(group)
	deadline := c.cfg.Now().Add(st.lock).UnixNano()
	return p.acquire(member, from, min(limit, hw), max, int64(c.cfg.MaxRecordLocks), st.deliveryLimit, deadline)
}

// Unacquire gives back records acquired but not delivered (the read
// failed): they are Available again and the delivery does not count.
func (c *Coordinator) Unacquire(group, member string, tp TP, rs []Range) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[group]; g != nil {
		if p := g.parts[tp]; p != nil {
			p.unacquire(member, rs)
			c.wakeLocked()
		}
	}
}

// Acknowledge applies member's acknowledgements of tp, all or nothing,
// writes the new state and returns a wait for it to be durable, which the
// response must wait for. allowRenew permits AckRenew (v2 IsRenewAck).
func (c *Coordinator) Acknowledge(group, member string, tp TP, batches []AckBatch, allowRenew bool) (func(context.Context) error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[group]
	if g == nil {
		return nil, kerr.GroupIDNotFound
	}
	if _, _, ok := c.cfg.Topics.Bounds(tp); !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	p := g.parts[tp]
	if p == nil {
		return nil, kerr.InvalidRecordState
	}
	st := c.settingsLocked(group)
	_, err := p.acknowledge(member, batches, allowRenew, st.deliveryLimit, c.cfg.Now().Add(st.lock).UnixNano())
	if err != nil {
		return nil, err
	}
	renewOnly := true
	for _, b := range batches {
		for _, t := range b.Types {
			renewOnly = renewOnly && t == AckRenew
		}
	}
	if renewOnly {
		return func(context.Context) error { return nil }, nil // nothing persisted changed
	}
	// Released records can be fetched again, and finished ones may have
	// moved the SPSO and so made room in a full in-flight window.
	c.wakeLocked()
	return c.writeLocked(group, partitionRec(group, tp, p)), nil
}
