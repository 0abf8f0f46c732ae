package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objstore"
)

// retentionLoop owns time and size retention.
func (e *Engine) retentionLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.ApplyRetention(context.Background())
			e.expireProducers()
		}
	}
}

// ApplyRetention deletes whole uploaded ranges that retention.ms or
// retention.bytes put out of the log, as Kafka deletes whole segments. Data
// not yet uploaded is the newest and is never deleted by retention.
func (e *Engine) ApplyRetention(ctx context.Context) {
	now := e.cfg.Now().UnixMilli()
	for _, t := range e.Topics() {
		// Compacted topics keep their data (key compaction does not
		// exist yet), but ranges already below the log start offset are
		// dropped whatever the policy.
		deletePolicy := strings.Contains(e.Config(t, "cleanup.policy"), "delete")
		retMs, err := strconv.ParseInt(e.Config(t, "retention.ms"), 10, 64)
		if err != nil {
			retMs = -1 // unset or unparsable: no time limit, not 0 ms
		}
		retBytes, err := strconv.ParseInt(e.Config(t, "retention.bytes"), 10, 64)
		if err != nil {
			retBytes = -1
		}
		for _, p := range t.Partitions {
			p.mu.Lock()
			total := int64(0)
			for _, r := range p.ranges {
				total += r.Len
			}
			for _, b := range p.tail {
				if !b.uploaded {
					total += int64(len(b.data))
				}
			}
			oldStart := p.state.LogStart
			newStart := oldStart
			stale := false
			for _, r := range p.ranges {
				if r.Last < p.state.LogStart {
					stale = true
					total -= r.Len
					continue
				}
				expired := retMs >= 0 && r.MaxTs < now-retMs
				oversize := retBytes >= 0 && total-r.Len >= retBytes
				if !deletePolicy || !expired && !oversize {
					break
				}
				total -= r.Len
				newStart = r.Last + 1
			}
			p.mu.Unlock()
			if newStart > oldStart || stale {
				if _, err := e.advanceLogStart(ctx, p, newStart); err != nil {
					e.log.Warn("retention failed", "partition", p.String(), "err", err)
				}
			}
		}
	}
}

// DeleteRecords moves the log start offset of p to offset (-1: the high
// watermark) and returns the new low watermark.
func (e *Engine) DeleteRecords(ctx context.Context, p *Partition, offset int64) (int64, error) {
	_, hw, _, _ := p.Offsets()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return 0, ErrOffsetOutOfRange
	}
	return e.advanceLogStart(ctx, p, offset)
}

// advanceLogStart persists a new log start offset and forgets the ranges
// below it; their objects become garbage once nothing else refers to them.
func (e *Engine) advanceLogStart(ctx context.Context, p *Partition, newStart int64) (int64, error) {
	e.metaMu.Lock()
	defer e.metaMu.Unlock()
	ls, err := e.advanceLogStartLocked(ctx, p, newStart)
	if errors.Is(err, ErrConcurrentMetadata) {
		// Our cached state revision may be stale (say, an upload commit
		// landed but its reply was lost): re-read the state, adopting
		// what was committed, and try once more if we still own p.
		epoch := p.Epoch()
		if rerr := e.reloadStatesLocked(ctx, []*uploadItem{{p: p}}); rerr != nil {
			return 0, err
		}
		p.mu.Lock()
		owned := p.state.Owner == e.cfg.NodeID && p.state.Epoch == epoch
		p.mu.Unlock()
		if owned {
			ls, err = e.advanceLogStartLocked(ctx, p, newStart)
		}
	}
	return ls, err
}

func (e *Engine) advanceLogStartLocked(ctx context.Context, p *Partition, newStart int64) (int64, error) {
	p.mu.Lock()
	if p.deleted {
		p.mu.Unlock()
		return 0, ErrPartitionDeleted
	}
	st := p.state
	st.LogStart = max(st.LogStart, newStart)
	var dropped []rangeRecord
	keep := 0
	for _, r := range p.ranges {
		if r.Last < st.LogStart {
			dropped = append(dropped, r)
		} else {
			break
		}
		keep++
	}
	rev := p.stateRev
	p.mu.Unlock()
	if st.LogStart == p.state.LogStart && len(dropped) == 0 {
		return st.LogStart, nil
	}
	const maxOps = 400
	var extra []rangeRecord
	if len(dropped) > maxOps {
		dropped, extra = dropped[:maxOps], dropped[maxOps:]
	}
	ops := []meta.Op{{Key: partKey(p.id, p.index), Value: mustJSON(st)}}
	garbage := map[string]bool{}
	for _, r := range dropped {
		ops = append(ops, meta.Op{Key: objKey(p.id, p.index, r.First), Delete: true})
		garbage[r.Key] = true
	}
	for k := range garbage {
		ops = append(ops, meta.Op{Key: prefixGC + k, Value: []byte{}})
	}
	newRev, ok, err := e.cfg.Meta.Txn(ctx, []meta.Cond{{Key: partKey(p.id, p.index), ModRev: rev}}, ops)
	if err != nil {
		return 0, fmt.Errorf("advance log start of %s: %w", p, err)
	}
	if !ok {
		return 0, fmt.Errorf("advance log start of %s: %w", p, ErrConcurrentMetadata)
	}
	p.mu.Lock()
	p.state = st
	p.stateRev = newRev
	p.ranges = append([]rangeRecord(nil), p.ranges[len(dropped):]...)
	i := 0
	for ; i < len(p.tail) && p.tail[i].uploaded && p.tail[i].last < st.LogStart; i++ {
		e.cachedBytes.Add(-int64(len(p.tail[i].data)))
	}
	if i > 0 {
		p.tail = append([]*cachedBatch(nil), p.tail[i:]...)
	}
	p.mu.Unlock()
	_ = extra // left for the next retention pass, which sees them as stale
	e.kick(e.gcKick)
	return st.LogStart, nil
}

// gcLoop owns deletion of objects: garbage recorded by retention and topic
// deletion, and orphans left by crashes between PUT and commit.
func (e *Engine) gcLoop() {
	defer e.wg.Done()
	gc := time.NewTicker(e.cfg.GCInterval)
	defer gc.Stop()
	sweep := time.NewTicker(e.cfg.OrphanSweepInterval)
	defer sweep.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-e.stop
		cancel()
	}()
	for {
		select {
		case <-e.stop:
			return
		case <-gc.C:
		case <-e.gcKick:
		case <-sweep.C:
			if err := e.SweepOrphans(ctx); err != nil && !e.stopped() {
				e.log.Warn("orphan sweep failed", "err", err)
			}
			continue
		}
		if err := e.CollectGarbage(ctx); err != nil && !e.stopped() {
			e.log.Warn("garbage collection failed", "err", err)
		}
	}
}

// referencedObjects returns every object a committed range or partition
// state (its producer snapshot) names.
func (e *Engine) referencedObjects(ctx context.Context) (map[string]bool, error) {
	refs := make(map[string]bool)
	// A snapshot committed after this list is missed, harmlessly: it is
	// never a gc/ entry and younger than the orphan grace period.
	states, err := e.cfg.Meta.List(ctx, prefixParts)
	if err != nil {
		return nil, fmt.Errorf("list partition states: %w", err)
	}
	for _, kv := range states {
		var st partState
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			return nil, fmt.Errorf("decode state %s: %w", kv.Key, err)
		}
		if st.ProdSnap != "" {
			refs[st.ProdSnap] = true
		}
	}
	kvs, err := e.cfg.Meta.List(ctx, prefixObjs)
	if err != nil {
		return nil, fmt.Errorf("list object ranges: %w", err)
	}
	for _, kv := range kvs {
		var r rangeRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode range %s: %w", kv.Key, err)
		}
		refs[r.Key] = true
	}
	return refs, nil
}

// CollectGarbage deletes recorded garbage objects that no range refers to.
func (e *Engine) CollectGarbage(ctx context.Context) error {
	cands, err := e.cfg.Meta.List(ctx, prefixGC)
	if err != nil || len(cands) == 0 {
		return err
	}
	refs, err := e.referencedObjects(ctx)
	if err != nil {
		return err
	}
	deleted := 0
	for _, c := range cands {
		key := strings.TrimPrefix(c.Key, prefixGC)
		if !refs[key] {
			if err := e.cfg.Store.Delete(ctx, key); err != nil {
				return fmt.Errorf("delete object %s: %w", key, err)
			}
			deleted++
		}
		// Only the record listed above: a partition that dropped its
		// last range in the object since then has recorded it again
		// (a new revision), and forgetting that record would leak the
		// object until the orphan sweep. A record left here is decided
		// by the next collection, which that drop has kicked.
		if _, _, err := e.cfg.Meta.Txn(ctx, []meta.Cond{{Key: c.Key, ModRev: c.ModRev}}, []meta.Op{{Key: c.Key, Delete: true}}); err != nil {
			return fmt.Errorf("forget garbage %s: %w", key, err)
		}
	}
	if deleted > 0 {
		e.log.Info("garbage objects deleted", "objects", deleted)
	}
	return nil
}

// SweepOrphans deletes objects that no range refers to and that are older
// than OrphanGrace: the leftovers of a crash between PUT and commit. The
// grace period keeps it away from an upload whose commit is in flight.
func (e *Engine) SweepOrphans(ctx context.Context) error {
	refs, err := e.referencedObjects(ctx)
	if err != nil {
		return err
	}
	cutoff := e.cfg.Now().Add(-e.cfg.OrphanGrace)
	var orphans []string
	for _, prefix := range []string{"data/", prefixSnaps} {
		err = e.cfg.Store.List(ctx, prefix, func(o objstore.ObjectInfo) error {
			if !refs[o.Key] && o.ModTime.Before(cutoff) {
				orphans = append(orphans, o.Key)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
	}
	for _, k := range orphans {
		if err := e.cfg.Store.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete orphan %s: %w", k, err)
		}
		e.log.Info("orphan object deleted", "object", k)
	}
	return nil
}
