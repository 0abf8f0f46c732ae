package api

// Produce, versions 3-13 (record batch magic 2 only; v13 addresses topics
// by ID). ApiVersions advertises 0-13, as Kafka 4 does; see init.
//
// Each partition's data must be exactly one valid batch (INVALID_RECORD
// otherwise, as Kafka requires since v3); a CRC mismatch or bad framing is
// CORRUPT_MESSAGE; a batch over the topic's max.message.bytes is
// MESSAGE_TOO_LARGE; a zstd batch before v7 is UNSUPPORTED_COMPRESSION_TYPE;
// CreateTime timestamps outside message.timestamp.before/after.max.ms are
// INVALID_TIMESTAMP. acks=1 and
// acks=-1 are both answered once the batch is durable in the WAL; acks=0 is
// not answered, and as in Kafka an error closes the connection so the
// client notices.
//
// Deviations: batches are stored exactly as sent, so a topic
// compression.type other than "producer" is not applied (no recompression);
// timestamps are checked against the batch's first and max timestamps, not
// every record's.
//
// Idempotent batches (a producer id from InitProducerId) are checked
// against the partition's producer state as Kafka 3.x/4.x check them: a
// retry of one of the producer's last 5 batches is answered with the
// original's base offset and no error (log append time -1, as Kafka);
// OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH as Kafka (and,
// as Kafka 4.5 will, KAFKA-15591, OUT_OF_ORDER_SEQUENCE_NUMBER for an
// unknown producer not starting at sequence 0 in a partition that never
// held a record); a producer id with a negative base sequence is
// INVALID_RECORD.
//
// Transactional batches: as Kafka 3.6+ with
// transaction.partition.verification.enable (KIP-890 part 1), the first
// batch of a transaction in a partition is checked with the transaction
// coordinator: the partition must be in the producer's open transaction
// under the request's transactional id, else INVALID_TXN_STATE (and
// NOT_ENOUGH_REPLICAS, retriable, while the coordinator is loading,
// moving or completing the transaction, as Kafka maps those). A
// non-transactional batch from a producer with an open transaction in the
// partition is INVALID_TXN_STATE.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/txn"
)

func init() {
	register(0, 3, 13, handleProduce)
	// As Kafka 4 does (KAFKA-18659): ApiVersions reports Produce from v0,
	// because librdkafka before 2.8 sends gzip, snappy and lz4 batches
	// uncompressed to a broker whose Produce range does not start at 0.
	// Clients pick the highest common version, so v0-2 are never chosen;
	// a v0-2 request is refused like any unsupported version (the
	// connection is closed).
	e := apis[0]
	e.advertisedMin = 0
	apis[0] = e
}

type pendingProduce struct {
	t, p int // indexes into the response
	a    *engine.Appended
}

func handleProduce(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	validAcks := req.Acks == -1 || req.Acks == 0 || req.Acks == 1
	now := time.Now().UnixMilli()

	var pending []pendingProduce
	failed := false
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for ti, rt := range req.Topics {
		st := &resp.Topics[ti]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *engine.Topic
		missing := kerr.UnknownTopicOrPartition.Code
		if r.Version >= 13 {
			t, missing = b.topicByID(rt.TopicID), kerr.UnknownTopicID.Code
		} else {
			t = b.eng.Topic(rt.Topic)
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for pi, rp := range rt.Partitions {
			sp := &st.Partitions[pi]
			// Defaults first: a zero CurrentLeader would be sent (v10+)
			// as a tagged field naming leader 0 at epoch 0.
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = rp.Partition, -1, -1, -1
			fail := func(code int16, err error) {
				sp.ErrorCode, failed = code, true
				if err != nil && r.Version >= 8 {
					sp.ErrorMessage = errMessage(err)
				}
			}
			if !validAcks {
				fail(kerr.InvalidRequiredAcks.Code, nil)
				continue
			}
			p := partitionOf(t, rp.Partition)
			if p == nil {
				code := missing
				if t != nil {
					code = kerr.UnknownTopicOrPartition.Code
				}
				fail(code, nil)
				continue
			}
			if t.Internal {
				// As Kafka: clients may not write to internal topics.
				fail(kerr.InvalidTopicException.Code, fmt.Errorf("Cannot append to internal topic %s", t.Name))
				continue
			}
			if len(rp.Records) == 0 {
				// Kafka: "must have at least one record batch".
				fail(kerr.InvalidRecord.Code, errors.New("no record batch"))
				continue
			}
			h, err := batch.Validate(rp.Records)
			if err == nil && r.Version < 7 && h.Codec() == 4 {
				// As Kafka: zstd needs Produce v7+ (KIP-110).
				fail(kerr.UnsupportedCompressionType.Code, fmt.Errorf("produce v%d may not use zstd", r.Version))
				continue
			}
			if err != nil {
				code := kerr.CorruptMessage.Code
				if errors.Is(err, batch.ErrInvalid) {
					code = kerr.InvalidRecord.Code
				}
				b.log.Debug("produce rejected", "partition", p.String(), "err", err)
				fail(code, err)
				continue
			}
			if h.IsTransactional() && !h.IsControl() {
				if err := b.verifyTxn(wctx, req.TransactionID, p, &h); err != nil {
					fail(txnProduceCode(err), err)
					continue
				}
			}
			if h.ProducerID >= 0 && h.BaseSequence < 0 {
				// As Kafka's LogValidator.
				fail(kerr.InvalidRecord.Code, fmt.Errorf("invalid sequence number %d in record batch with producer id %d", h.BaseSequence, h.ProducerID))
				continue
			}
			if max, _ := strconv.Atoi(b.eng.Config(t, "max.message.bytes")); len(rp.Records) > max {
				fail(kerr.MessageTooLarge.Code, fmt.Errorf("batch of %d bytes is larger than max.message.bytes %d", len(rp.Records), max))
				continue
			}
			logAppendTime := b.eng.Config(t, "message.timestamp.type") == "LogAppendTime"
			if !logAppendTime {
				if err := checkTimestamps(b, t, h, now); err != nil {
					fail(kerr.InvalidTimestamp.Code, err)
					continue
				}
			}
			a, err := p.Append(wctx, rp.Records, h, logAppendTime)
			switch {
			case errors.Is(err, engine.ErrOutOfOrderSequence):
				fail(kerr.OutOfOrderSequenceNumber.Code, err)
				continue
			case errors.Is(err, engine.ErrInvalidProducerEpoch):
				fail(kerr.InvalidProducerEpoch.Code, err)
				continue
			case errors.Is(err, engine.ErrInvalidTxnState):
				fail(kerr.InvalidTxnState.Code, err)
				continue
			case err != nil:
				fail(errCode(err), nil)
				continue
			}
			pending = append(pending, pendingProduce{t: ti, p: pi, a: a})
		}
	}

	if req.Acks == 0 {
		cancel()
		if failed {
			return func() (kmsg.Response, error) {
				return nil, errors.New("acks=0 produce failed; closing the connection as Kafka does")
			}
		}
		return server.Done(nil)
	}
	return func() (kmsg.Response, error) {
		defer cancel()
		for _, pp := range pending {
			sp := &resp.Topics[pp.t].Partitions[pp.p]
			if err := pp.a.Wait(wctx); err != nil {
				sp.ErrorCode = errCode(err)
				continue
			}
			sp.BaseOffset = pp.a.BaseOffset
			sp.LogAppendTime = pp.a.LogAppendTime
			sp.LogStartOffset = pp.a.LogStart
		}
		return resp, nil
	}
}

// checkTimestamps applies message.timestamp.before.max.ms and
// message.timestamp.after.max.ms to a CreateTime batch.
func checkTimestamps(b *Broker, t *engine.Topic, h batch.Header, now int64) error {
	before, _ := strconv.ParseInt(b.eng.Config(t, "message.timestamp.before.max.ms"), 10, 64)
	after, _ := strconv.ParseInt(b.eng.Config(t, "message.timestamp.after.max.ms"), 10, 64)
	for _, ts := range []int64{h.BaseTimestamp, h.MaxTimestamp} {
		if ts < 0 {
			continue // no timestamp (-1): Kafka accepts it
		}
		if before >= 0 && before < now && ts < now-before {
			return fmt.Errorf("timestamp %d is more than message.timestamp.before.max.ms=%d before now", ts, before)
		}
		if after >= 0 && ts-now > after {
			return fmt.Errorf("timestamp %d is more than message.timestamp.after.max.ms=%d after now", ts, after)
		}
	}
	return nil
}

// verifyTxn checks, before the first batch of a transaction is appended
// to p, that p is in the producer's open transaction.
func (b *Broker) verifyTxn(ctx context.Context, id *string, p *engine.Partition, h *batch.Header) error {
	if p.HasOpenTxn(h.ProducerID, h.ProducerEpoch) {
		return nil
	}
	if id == nil || *id == "" {
		return kerr.InvalidTxnState
	}
	if b.txns == nil {
		return kerr.CoordinatorNotAvailable
	}
	tp := txn.TP{Topic: p.Topic(), Partition: p.Index()}
	return b.txns.AddPartitions(ctx, *id, h.ProducerID, h.ProducerEpoch, []txn.TP{tp}, true)[tp]
}

// txnProduceCode maps a failed verification as Kafka's ReplicaManager
// does: coordinator trouble is retriable NOT_ENOUGH_REPLICAS.
func txnProduceCode(err error) int16 {
	switch {
	case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.NotCoordinator),
		errors.Is(err, kerr.CoordinatorLoadInProgress), errors.Is(err, kerr.ConcurrentTransactions),
		errors.Is(err, kerr.RequestTimedOut):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, kerr.ProducerFenced):
		return kerr.InvalidProducerEpoch.Code
	}
	return kerr.InvalidTxnState.Code
}
