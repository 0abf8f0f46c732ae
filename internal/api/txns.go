package api

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/txn"
)

// SetTxns gives the API layer its transaction coordinator. Call it before
// serving.
func (b *Broker) SetTxns(c *txn.Coordinator) { b.txns = c }

// txnCode is the error code of a transaction coordinator answer. Before
// KIP-588 (fencedBefore: the first request version that knows it),
// PRODUCER_FENCED was sent as INVALID_PRODUCER_EPOCH, as Kafka does.
func txnCode(err error, version, fencedBefore int16) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.UnknownServerError.Code
	}
	if ke == kerr.ProducerFenced && version < fencedBefore {
		return kerr.InvalidProducerEpoch.Code
	}
	return ke.Code
}

// txnPartitions resolves the partitions of an AddPartitionsToTxn
// request: per partition UNKNOWN_TOPIC_OR_PARTITION for those that do not
// exist, and whether any does not.
func (b *Broker) txnPartitions(topics map[string][]int32) (unknown map[txn.TP]bool, any bool) {
	unknown = make(map[txn.TP]bool)
	for topic, parts := range topics {
		t := b.eng.Topic(topic)
		for _, p := range parts {
			if partitionOf(t, p) == nil {
				unknown[txn.TP{Topic: topic, Partition: p}] = true
				any = true
			}
		}
	}
	return unknown, any
}
