package api

// ListTransactions, versions 0-1: every transactional id this coordinator
// knows, filtered by state names (unknown names are echoed in
// UnknownStateFilters and match nothing), producer ids and, v1+
// (KIP-994), DurationFilterMillis: only transactions open for longer than
// that. COORDINATOR_LOAD_IN_PROGRESS while part of __transaction_state
// loads. v2 (transactional id pattern, KIP-1152) is not supported.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/txn"
)

func init() { register(66, 0, 1, handleListTransactions) }

func handleListTransactions(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	if b.txns == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	return func() (kmsg.Response, error) {
		states := map[txn.State]bool{}
		for _, name := range req.StateFilters {
			if st, ok := txn.StateByName(name); ok {
				states[st] = true
			} else {
				resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			}
		}
		pids := map[int64]bool{}
		for _, id := range req.ProducerIDFilters {
			pids[id] = true
		}
		ds, loading := b.txns.List(ctx)
		if loading {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp, nil
		}
		now := time.Now().UnixMilli()
		resp.TransactionStates = []kmsg.ListTransactionsResponseTransactionState{}
		for _, d := range ds {
			if len(req.StateFilters) > 0 && !states[d.State] {
				continue
			}
			if len(pids) > 0 && !pids[d.ProducerID] {
				continue
			}
			if r.Version >= 1 && req.DurationFilterMillis >= 0 && (d.StartMs < 0 || now-d.StartMs <= req.DurationFilterMillis) {
				continue
			}
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = d.ID, d.ProducerID, d.State.String()
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		return resp, nil
	}
}
