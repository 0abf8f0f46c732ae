package api

// InitProducerId, versions 0-5 (as franz-go's kfake; v5 only adds the
// TRANSACTION_ABORTABLE error code, which Weir never sends: it belongs to
// transaction version 2).
//
// Without a transactional id (an idempotent producer) the answer is a
// producer id never handed out before, at epoch 0, whatever producer id
// and epoch the request carries: Kafka's coordinator does exactly this
// for idempotent producers. KIP-360's epoch bump of an idempotent producer
// happens in the client, which raises its own epoch and restarts its
// sequences at 0; partitions accept the new epoch at sequence 0 and fence
// the old one (see 00_produce.go).
//
// With a transactional id, the transaction coordinator answers (package
// txn): a new id gets a new producer id at epoch 0; an existing one the
// next epoch (fencing older producers of the id), after aborting its open
// transaction, answering CONCURRENT_TRANSACTIONS meanwhile, as Kafka.
// A ProducerId/ProducerEpoch in the request (v3+, KIP-360) must be the
// id's current ones (PRODUCER_FENCED otherwise, INVALID_PRODUCER_EPOCH
// before v4). A timeout above transaction.max.timeout.ms is
// INVALID_TRANSACTION_TIMEOUT. An empty transactional id is
// INVALID_REQUEST, as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.TransactionalID != nil && b.txns == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case req.TransactionalID != nil:
		return func() (kmsg.Response, error) {
			res := b.txns.InitProducerID(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch)
			resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.Epoch
			resp.ErrorCode = txnCode(res.Err, r.Version, 4)
			return resp, nil
		}
	default:
		id, err := b.eng.NewProducerID(ctx)
		if err != nil {
			// Retriable: the metadata store may be back soon.
			b.log.Warn("init producer id failed", "err", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			break
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
	}
	return server.Done(resp)
}
