package api

// DescribeTransactions, version 0: each transactional id's state, as
// Kafka's TransactionCoordinator describes it (state name, timeout, start
// time of the open transaction or -1, producer id and epoch, partitions).
// An unknown id is TRANSACTIONAL_ID_NOT_FOUND; COORDINATOR_LOAD_IN_PROGRESS
// while its partition of __transaction_state loads.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	return func() (kmsg.Response, error) {
		for _, id := range req.TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
			if b.txns == nil {
				st.ErrorCode = kerr.CoordinatorNotAvailable.Code
				resp.TransactionStates = append(resp.TransactionStates, st)
				continue
			}
			d, err := b.txns.Describe(ctx, id)
			if err != nil {
				st.ErrorCode = txnCode(err, 0, 0)
				resp.TransactionStates = append(resp.TransactionStates, st)
				continue
			}
			st.State, st.TimeoutMillis, st.StartTimestamp = d.State.String(), d.TimeoutMs, d.StartMs
			st.ProducerID, st.ProducerEpoch = d.ProducerID, d.Epoch
			for _, tp := range d.Partitions {
				n := len(st.Topics)
				if n == 0 || st.Topics[n-1].Topic != tp.Topic {
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic = tp.Topic
					st.Topics = append(st.Topics, t)
					n++
				}
				st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
			}
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		return resp, nil
	}
}
