package api

// AddOffsetsToTxn, versions 0-4: adds the group's partition of
// __consumer_offsets to the producer's transaction, so that its
// TxnOffsetCommit offsets are committed or aborted with it. Errors as
// AddPartitionsToTxn (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/txn"
)

func init() { register(25, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if b.txns == nil || b.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	return func() (kmsg.Response, error) {
		tp := txn.TP{Topic: group.TopicName, Partition: group.PartitionFor(req.Group, b.groups.NumPartitions())}
		errs := b.txns.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TP{tp}, false)
		resp.ErrorCode = txnCode(errs[tp], r.Version, 2)
		return resp, nil
	}
}
