package api

// EndTxn, versions 0-4: commits or aborts the producer's transaction. The
// answer comes once the decision (PrepareCommit or PrepareAbort) is
// durable; the coordinator then writes the markers. As Kafka's
// TransactionCoordinator (transaction version 1): a retry after the
// transaction completed the same way succeeds, the other way is
// INVALID_TXN_STATE; CONCURRENT_TRANSACTIONS while completing;
// PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2) for another epoch.
// v5 (epoch bump on every transaction, KIP-890 part 2) is not supported.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(26, 0, 4, handleEndTxn) }

func handleEndTxn(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if b.txns == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	return func() (kmsg.Response, error) {
		err := b.txns.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		resp.ErrorCode = txnCode(err, r.Version, 2)
		return resp, nil
	}
}
