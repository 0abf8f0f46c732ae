package api

// ShareFetch, versions 0-2 (KIP-932; v1 adds BatchSize and ShareAcquireMode,
// KIP-1206; v2 IsRenewAck, KIP-1222).
//
// Share sessions: ShareSessionEpoch 0 opens a session with the request's
// partitions (piggybacked acknowledgements there are INVALID_REQUEST), a
// later epoch must be the one the session expects (else
// INVALID_SHARE_SESSION_EPOCH, SHARE_SESSION_NOT_FOUND without a session)
// and adds the request's partitions and drops ForgottenTopicsData; -1
// applies the request's acknowledgements, closes the session and releases
// the member's records in its partitions, fetching nothing.
//
// Records: for each session partition, whole batches are read through the
// engine from the first acquirable offset, and the Available records in
// them are acquired for the member (at most MaxRecords in all, strictly,
// whatever ShareAcquireMode) with the group's acquisition lock; the
// response carries the batches overlapping the acquired offsets and the
// acquired ranges with their delivery counts. MaxBytes is honoured except
// that the first partition with data may exceed it, as in Fetch. With
// nothing acquired the request waits up to MaxWaitMs for new data or
// released records. Piggybacked acknowledgements are applied before
// fetching; their result is AcknowledgeErrorCode, and the response waits
// until their state is durable. IsRenewAck (v2) renews locks (AckRenew)
// and fetches nothing; its fetch limits must be zero.
//
// Deviations: BatchSize does not split AcquiredRecords ranges (clients
// accept any range size); read_committed share groups are not supported
// (share.isolation.level must be read_uncommitted); no ACLs; a closed
// connection does not end its member's share session (Kafka releases the
// session's records then; here they are released when the member leaves,
// times out or their locks expire).

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/share"
)

func init() { register(78, 0, 2, handleShareFetch) }

// defaultShareMaxRecords is what a ShareFetch without MaxRecords acquires
// at most (Kafka's share.max.fetch.records default).
const defaultShareMaxRecords = 500

func handleShareFetch(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ShareFetchRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
		b.shareFetch(ctx, r.Version, req, resp)
		return resp, nil
	}
}

// sharePartResp collects a response's partitions by topic ID, in the
// order they were first named.
type sharePartResp struct {
	order []share.TP
	parts map[share.TP]*kmsg.ShareFetchResponseTopicPartition
}

func (s *sharePartResp) get(tp share.TP) *kmsg.ShareFetchResponseTopicPartition {
	if p := s.parts[tp]; p != nil {
		return p
	}
	if s.parts == nil {
		s.parts = make(map[share.TP]*kmsg.ShareFetchResponseTopicPartition)
	}
	p := kmsg.NewShareFetchResponseTopicPartition()
	p.Partition = tp.Partition
	p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
	s.parts[tp] = &p
	s.order = append(s.order, tp)
	return &p
}

func (s *sharePartResp) fill(resp *kmsg.ShareFetchResponse) {
	idx := make(map[[16]byte]int)
	for _, tp := range s.order {
		i, ok := idx[tp.TopicID]
		if !ok {
			i = len(resp.Topics)
			idx[tp.TopicID] = i
			t := kmsg.NewShareFetchResponseTopic()
			t.TopicID = tp.TopicID
			resp.Topics = append(resp.Topics, t)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, *s.parts[tp])
	}
}

func (b *Broker) shareFetch(ctx context.Context, version int16, req *kmsg.ShareFetchRequest, resp *kmsg.ShareFetchResponse) {
	group, member, lockMs, code := b.shareIdentity(req.GroupID, req.MemberID)
	resp.AcquisitionLockTimeoutMillis = lockMs
	if code != 0 {
		resp.ErrorCode = code
		return
	}
	var acks []shareAckPart
	var add []share.TP
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			tp := share.TP{TopicID: rt.TopicID, Partition: rp.Partition}
			add = append(add, tp)
			if len(rp.AcknowledgementBatches) > 0 {
				ap := shareAckPart{tp: tp}
				for _, ab := range rp.AcknowledgementBatches {
					ap.batches = append(ap.batches, share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes})
				}
				acks = append(acks, ap)
			}
		}
	}
	renew := version >= 2 && req.IsRenewAck
	if renew && (req.MaxBytes != 0 || req.MinBytes != 0 || req.MaxRecords != 0 || req.MaxWaitMillis != 0 || len(acks) != len(add)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return
	}
	var out sharePartResp
	ackResults := func(results []shareAckResult) {
		for _, res := range results {
			out.get(res.tp).AcknowledgeErrorCode = res.code
		}
	}
	defer out.fill(resp)

	switch req.ShareSessionEpoch {
	case -1:
		results := b.shareAcks(ctx, group, member, acks, renew)
		if err := b.shares.CloseSession(group, member); err != nil {
			resp.ErrorCode = shareCode(err)
			return
		}
		ackResults(results)
		return
	case 0:
		if len(acks) > 0 {
			resp.ErrorCode = kerr.InvalidRequest.Code
			resp.ErrorMessage = kmsg.StringPtr("acknowledgements are not allowed in a request opening a share session")
			return
		}
	}
	var forget []share.TP
	for _, ft := range req.ForgottenTopicsData {
		for _, p := range ft.Partitions {
			forget = append(forget, share.TP{TopicID: ft.TopicID, Partition: p})
		}
	}
	sess, err := b.shares.Session(group, member, req.ShareSessionEpoch, add, forget)
	if err != nil {
		resp.ErrorCode = shareCode(err)
		return
	}
	// Every partition the request names is answered, so the client
	// knows its acknowledgements were seen.
	for _, tp := range add {
		out.get(tp)
	}
	// Acknowledgements apply before the fetch (records they release may
	// be fetched again at once); their writes are waited for alongside
	// it, so the response waits for whichever takes longer.
	results, waits := b.applyShareAcks(group, member, acks, renew)
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		b.waitShareAcks(ctx, group, acks, results, waits)
	}()
	if !renew {
		b.shareAcquire(ctx, group, member, req, sess, &out)
	}
	<-ackDone
	ackResults(results)
}

type shareTarget struct {
	tp share.TP
	p  *engine.Partition
}

// shareAcquire fills out with records acquired from the session's
// partitions, waiting up to MaxWaitMs when there are none.
func (b *Broker) shareAcquire(ctx context.Context, group, member string, req *kmsg.ShareFetchRequest, sess []share.TP, out *sharePartResp) {
	slices.SortFunc(sess, func(x, y share.TP) int {
		if c := slices.Compare(x.TopicID[:], y.TopicID[:]); c != 0 {
			return c
		}
		return int(x.Partition - y.Partition)
	})
	var targets []shareTarget
	for _, tp := range sess {
		t := b.topicByID(tp.TopicID)
		p := partitionOf(t, tp.Partition)
		switch {
		case t == nil:
			out.get(tp).ErrorCode = kerr.UnknownTopicID.Code
		case p == nil:
			out.get(tp).ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			targets = append(targets, shareTarget{tp, p})
		}
	}
	if len(targets) == 0 {
		return
	}
	// Start at a different partition each time, so that one busy
	// partition does not starve the others of the record budget.
	start := int(time.Now().UnixNano() % int64(len(targets)))
	targets = slices.Concat(targets[start:], targets[:start])

	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = defaultShareMaxRecords
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	var w *engine.Waiter
	if req.MaxWaitMillis > 0 {
		w = engine.NewWaiter()
		for _, t := range targets {
			t.p.Watch(w)
		}
		defer func() {
			for _, t := range targets {
				t.p.Unwatch(w)
			}
		}()
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	for {
		changed := b.shares.Changed()
		if n := b.shareAcquireOnce(ctx, group, member, targets, maxRecords, maxBytes, out); n > 0 || w == nil {
			return
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-w.C():
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// shareAcquireOnce makes one pass over targets and returns the number of
// records acquired.
func (b *Broker) shareAcquireOnce(ctx context.Context, group, member string, targets []shareTarget, maxRecords, maxBytes int, out *sharePartResp) int {
	records, bytes := 0, 0
	for _, t := range targets {
		if records >= maxRecords || bytes >= maxBytes {
			break
		}
		from, ok := b.shares.NextOffset(group, t.tp)
		if !ok {
			continue
		}
		limit := maxBytes - bytes
		res, err := t.p.Read(ctx, from, limit)
		if err != nil {
			out.get(t.tp).ErrorCode = errCode(err)
			if !errorsIsOutOfRange(err) {
				b.log.Warn("share fetch read failed", "partition", t.p.String(), "offset", from, "err", err)
			}
			continue
		}
		if len(res.Records) == 0 || bytes > 0 && len(res.Records) > limit {
			continue
		}
		// Acquire only what the batches read hold: records released
		// below from in the meantime are for the next fetch.
		start, end := int64(-1), from
		it := batch.NewIter(res.Records)
		for {
			h, _, ok := it.Next()
			if !ok {
				break
			}
			if start < 0 {
				start = h.BaseOffset
			}
			end = h.LastOffset() + 1
		}
		ranges := b.shares.Acquire(group, member, t.tp, start, end, maxRecords-records)
		if len(ranges) == 0 {
			continue
		}
		data := overlapping(res.Records, ranges)
		if len(data) == 0 {
			// Cannot happen with batches from the log; give the
			// records back rather than deliver offsets without data.
			b.shares.Unacquire(group, member, t.tp, ranges)
			continue
		}
		p := out.get(t.tp)
		p.Records = data
		for _, rg := range ranges {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = rg.First, rg.Last, rg.Deliveries
			p.AcquiredRecords = append(p.AcquiredRecords, ar)
			records += int(rg.Last - rg.First + 1)
		}
		bytes += len(data)
	}
	return records
}

func errorsIsOutOfRange(err error) bool { return errCode(err) == kerr.OffsetOutOfRange.Code }

// overlapping returns the batches of records holding at least one offset
// of ranges (sorted), which are contiguous in records.
func overlapping(records []byte, ranges []share.Range) []byte {
	first, last := ranges[0].First, ranges[len(ranges)-1].Last
	startPos, endPos := -1, -1
	it := batch.NewIter(records)
	for {
		pos := it.Pos()
		h, _, ok := it.Next()
		if !ok {
			break
		}
		if h.LastOffset() < first {
			continue
		}
		if h.BaseOffset > last {
			break
		}
		if startPos < 0 {
			startPos = pos
		}
		endPos = it.Pos()
	}
	if startPos < 0 {
		return nil
	}
	return records[startPos:endPos]
}

// shareAckPart is one partition's acknowledgements in a request.
type shareAckPart struct {
	tp      share.TP
	batches []share.AckBatch
}

type shareAckResult struct {
	tp   share.TP
	code int16
}

// shareAcks applies acknowledgements and waits until their state is
// durable.
func (b *Broker) shareAcks(ctx context.Context, group, member string, parts []shareAckPart, renew bool) []shareAckResult {
	out, waits := b.applyShareAcks(group, member, parts, renew)
	b.waitShareAcks(ctx, group, parts, out, waits)
	return out
}

// applyShareAcks applies acknowledgements in memory and returns each
// partition's result and the wait for its state write.
func (b *Broker) applyShareAcks(group, member string, parts []shareAckPart, renew bool) ([]shareAckResult, []func(context.Context) error) {
	out := make([]shareAckResult, len(parts))
	waits := make([]func(context.Context) error, len(parts))
	for i, ap := range parts {
		out[i].tp = ap.tp
		if b.topicByID(ap.tp.TopicID) == nil {
			out[i].code = kerr.UnknownTopicID.Code
			continue
		}
		wait, err := b.shares.Acknowledge(group, member, ap.tp, ap.batches, renew)
		out[i].code, waits[i] = shareCode(err), wait
	}
	return out, waits
}

// waitShareAcks waits for the state writes of applied acknowledgements; a
// write that failed fails its partition's acknowledgement.
func (b *Broker) waitShareAcks(ctx context.Context, group string, parts []shareAckPart, out []shareAckResult, waits []func(context.Context) error) {
	for i, wait := range waits {
		if wait == nil {
			continue
		}
		if err := wait(ctx); err != nil {
			b.log.Warn("share acknowledgement not durable", "group", group, "topic", b.topicName(parts[i].tp.TopicID), "partition", parts[i].tp.Partition, "err", err)
			out[i].code = kerr.KafkaStorageError.Code
		}
	}
}
