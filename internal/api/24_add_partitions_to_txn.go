package api

// AddPartitionsToTxn, versions 0-5.
//
// v0-3 add partitions to the producer's transaction, as Kafka's
// TransactionCoordinator: INVALID_PRODUCER_ID_MAPPING for an unknown
// transactional id or another producer id, PRODUCER_FENCED
// (INVALID_PRODUCER_EPOCH before v2) for another epoch,
// CONCURRENT_TRANSACTIONS while the transaction is being completed. A
// partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION and then,
// as Kafka, nothing is added and the others are OPERATION_NOT_ATTEMPTED.
// v4+ (KIP-890 part 1) carry several transactions, each added, or with
// VerifyOnly checked: a partition not in the producer's open transaction
// is INVALID_TXN_STATE. v5 only adds an error code Weir never sends
// (TRANSACTION_ABORTABLE, for transaction version 2).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/txn"
)

func init() { register(24, 0, 5, handleAddPartitionsToTxn) }

// addTxnPartitions runs one transaction of the request and returns each
// partition's error code.
func (b *Broker) addTxnPartitions(ctx context.Context, version int16, id string, pid int64, epoch int16, verify bool, topics map[string][]int32) map[txn.TP]int16 {
	out := make(map[txn.TP]int16)
	var tps []txn.TP
	for topic, parts := range topics {
		for _, p := range parts {
			tps = append(tps, txn.TP{Topic: topic, Partition: p})
		}
	}
	all := func(code int16) map[txn.TP]int16 {
		for _, tp := range tps {
			out[tp] = code
		}
		return out
	}
	if b.txns == nil {
		return all(kerr.CoordinatorNotAvailable.Code)
	}
	if unknown, any := b.txnPartitions(topics); any {
		for _, tp := range tps {
			out[tp] = kerr.OperationNotAttempted.Code
			if unknown[tp] {
				out[tp] = kerr.UnknownTopicOrPartition.Code
			}
		}
		return out
	}
	for tp, err := range b.txns.AddPartitions(ctx, id, pid, epoch, tps, verify) {
		out[tp] = txnCode(err, version, 2)
	}
	return out
}

func handleAddPartitionsToTxn(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	return func() (kmsg.Response, error) {
		if r.Version < 4 {
			topics := make(map[string][]int32)
			for _, t := range req.Topics {
				topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
			}
			codes := b.addTxnPartitions(ctx, r.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, topics)
			for _, t := range req.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, codes[txn.TP{Topic: t.Topic, Partition: p}]
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		for _, rtx := range req.Transactions {
			topics := make(map[string][]int32)
			for _, t := range rtx.Topics {
				topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
			}
			codes := b.addTxnPartitions(ctx, r.Version, rtx.TransactionalID, rtx.ProducerID, rtx.ProducerEpoch, rtx.VerifyOnly, topics)
			tx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			tx.TransactionalID = rtx.TransactionalID
			for _, t := range rtx.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					rp.Partition, rp.ErrorCode = p, codes[txn.TP{Topic: t.Topic, Partition: p}]
					rt.Partitions = append(rt.Partitions, rp)
				}
				tx.Topics = append(tx.Topics, rt)
			}
			resp.Transactions = append(resp.Transactions, tx)
		}
		return resp, nil
	}
}
