package api

// Fetch, versions 4-18 (record batches only; v13+ address topics by ID).
//
// A fetch waits up to MaxWaitMs until MinBytes are available, woken by
// appends to any partition it reads. MaxBytes and each PartitionMaxBytes are
// honoured, except that the first batch of the first partition with data is
// returned whole even when larger, as Kafka does, so a consumer always
// makes progress. read_committed (IsolationLevel 1) reads only batches
// below the last stable offset, and lists the aborted transactions whose
// range overlaps the returned batches (from the fetch offset to the end
// of the last batch returned), as Kafka does, so the client can drop
// their records.
//
// Fetch sessions (KIP-227): Weir answers sessionless. A request that asks
// for a new session (SessionID 0, epoch 0) gets SessionID 0 back, which
// tells the client no session was created, so it keeps sending full
// requests; a full request (epoch 0 or -1) is answered whatever session ID
// it names, and an incremental one (any other epoch) gets
// FETCH_SESSION_ID_NOT_FOUND, as from Kafka.
// Follower fetches (ReplicaID >= 0) are not served: Weir has no replicas.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(1, 4, 18, handleFetch) }

func handleFetch(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if r.Version >= 7 {
		// Epochs 0 (new session) and -1 (no session) ask for a full
		// fetch whatever the session ID (Kafka closes a session so named;
		// kafka-go sends ID -1 with epoch -1); any other epoch is an
		// incremental fetch in a session we never created, which Kafka
		// answers with FETCH_SESSION_ID_NOT_FOUND.
		if req.SessionEpoch != 0 && req.SessionEpoch != -1 {
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return server.Done(resp)
		}
	}
	return func() (kmsg.Response, error) {
		b.fetch(ctx, r.Version, req, resp)
		return resp, nil
	}
}

type fetchTarget struct {
	p    *engine.Partition
	code int16
}

func (b *Broker) fetch(ctx context.Context, version int16, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	// Resolve every partition once; the wait loop re-reads them.
	targets := make([][]fetchTarget, len(req.Topics))
	var watched []*engine.Partition
	for ti, rt := range req.Topics {
		var t *engine.Topic
		missing := kerr.UnknownTopicOrPartition.Code
		if version >= 13 {
			t, missing = b.topicByID(rt.TopicID), kerr.UnknownTopicID.Code
		} else {
			t = b.eng.Topic(rt.Topic)
		}
		targets[ti] = make([]fetchTarget, len(rt.Partitions))
		for pi, rp := range rt.Partitions {
			p := partitionOf(t, rp.Partition)
			switch {
			case t == nil:
				targets[ti][pi].code = missing
			case p == nil:
				targets[ti][pi].code = kerr.UnknownTopicOrPartition.Code
			case req.ReplicaID >= 0:
				targets[ti][pi].code = kerr.NotLeaderForPartition.Code
			default:
				if err := p.CheckEpoch(rp.CurrentLeaderEpoch); err != nil {
					targets[ti][pi].code = errCode(err)
					continue
				}
				targets[ti][pi].p = p
				watched = append(watched, p)
			}
		}
	}

	var w *engine.Waiter
	if req.MaxWaitMillis > 0 && len(watched) > 0 {
		w = engine.NewWaiter()
		for _, p := range watched {
			p.Watch(w)
		}
		defer func() {
			for _, p := range watched {
				p.Unwatch(w)
			}
		}()
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	for {
		total, hasError := b.fetchOnce(ctx, version, req, resp, targets)
		if w == nil || hasError || total >= int(req.MinBytes) || total > 0 && req.MinBytes <= 0 {
			return
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-w.C():
			timer.Stop()
		case <-timer.C:
			b.fetchOnce(ctx, version, req, resp, targets)
			return
		case <-ctx.Done():
			timer.Stop()
			return
		}
	}
}

// fetchOnce fills resp from the current state of every partition and
// returns the record bytes gathered and whether any partition failed.
func (b *Broker) fetchOnce(ctx context.Context, version int16, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, targets [][]fetchTarget) (int, bool) {
	maxBytes := int(req.MaxBytes)
	if version < 3 || maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	total := 0
	hasError := false
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for ti, rt := range req.Topics {
		st := &resp.Topics[ti]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for pi, rp := range rt.Partitions {
			sp := &st.Partitions[pi]
			// Defaults first: zero DivergingEpoch, CurrentLeader and
			// SnapshotID would be sent (v12+) as tagged fields, and a
			// DivergingEpoch makes Java consumers drop the records
			// and truncate.
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			sp.RecordBatches = []byte{} // librdkafka rejects a null record set
			tg := targets[ti][pi]
			if tg.p == nil {
				sp.ErrorCode = tg.code
				hasError = true
				continue
			}
			limit := min(int(rp.PartitionMaxBytes), maxBytes-total)
			if limit <= 0 && total > 0 {
				logStart, hw, _, _ := tg.p.Offsets()
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, tg.p.LastStableOffset(), logStart
				continue
			}
			if total > 0 {
				// Only the first partition with data may exceed the limits.
				limit = max(limit, 0)
			}
			committed := req.IsolationLevel == 1
			read := tg.p.Read
			if committed {
				read = tg.p.ReadCommitted
			}
			res, err := read(ctx, rp.FetchOffset, limit)
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HW, res.LSO, res.LogStart
			if err != nil {
				sp.ErrorCode = errCode(err)
				hasError = true
				if !errors.Is(err, engine.ErrOffsetOutOfRange) {
					b.log.Warn("fetch read failed", "partition", tg.p.String(), "offset", rp.FetchOffset, "err", err)
				}
				continue
			}
			if total > 0 && len(res.Records) > limit {
				continue // over budget: leave it for the next fetch
			}
			if len(res.Records) > 0 {
				sp.RecordBatches = res.Records
			}
			if committed {
				sp.AbortedTransactions = abortedIn(tg.p, rp.FetchOffset, res.Records)
			}
			total += len(res.Records)
		}
	}
	return total, hasError
}

// abortedIn lists the aborted transactions a read_committed client needs
// for records, read from offset: those overlapping offset up to the end
// of the last batch (an empty, non-null list when there are none, as
// Kafka sends).
func abortedIn(p *engine.Partition, offset int64, records []byte) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	end := int64(-1)
	it := batch.NewIter(records)
	for {
		h, _, ok := it.Next()
		if !ok {
			break
		}
		end = h.LastOffset() + 1
	}
	if end <= offset {
		return out
	}
	for _, a := range p.AbortedTxns(offset, end) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}
