package api

// InitProducerId, versions 0-5 (as franz-go's kfake; v5 only adds the
// TRANSACTION_ABORTABLE error code, which idempotent producers never get).
//
// Without a transactional id (an idempotent producer) the answer is a
// producer id never handed out before, at epoch 0, whatever producer id
// and epoch the request carries: Kafka's coordinator does exactly this
// for idempotent producers. KIP-360's epoch bump of an idempotent producer
// happens in the client, which raises its own epoch and restarts its
// sequences at 0; partitions accept the new epoch at sequence 0 and fence
// the old one (see 00_produce.go).
//
// Deviations: there is no transaction coordinator yet. A transactional id
// is answered COORDINATOR_NOT_AVAILABLE, as FindCoordinator answers for
// transactions and as Kafka answers while its transaction state topic is
// unavailable, so transactional clients fail at their init timeout and
// idempotent ones are unaffected; an empty transactional id is
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
	case req.TransactionalID != nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
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
