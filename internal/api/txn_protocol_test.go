package api_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
)

// txnInit runs InitProducerId for a transactional id.
func txnInit(t *testing.T, c *ptConn, id string) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr(id)
	req.TransactionTimeoutMillis = 60000
	resp := ptDo[*kmsg.InitProducerIDResponse](t, c, req, 4)
	ptCode(t, "init "+id, resp.ErrorCode, nil)
	return resp.ProducerID, resp.ProducerEpoch
}

func txnAdd(t *testing.T, c *ptConn, v int16, id string, pid int64, epoch int16, topics map[string][]int32) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	out := map[string]int16{}
	if v < 4 {
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
		for topic, ps := range topics {
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = topic, ps
			req.Topics = append(req.Topics, rt)
		}
		resp := ptDo[*kmsg.AddPartitionsToTxnResponse](t, c, req, v)
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp.ErrorCode
			}
		}
		return out
	}
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch = id, pid, epoch
	for topic, ps := range topics {
		rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		rt.Topic, rt.Partitions = topic, ps
		tx.Topics = append(tx.Topics, rt)
	}
	req.Transactions = append(req.Transactions, tx)
	resp := ptDo[*kmsg.AddPartitionsToTxnResponse](t, c, req, v)
	ptCode(t, "add partitions", resp.ErrorCode, nil)
	for _, rtx := range resp.Transactions {
		for _, rt := range rtx.Topics {
			for _, rp := range rt.Partitions {
				out[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp.ErrorCode
			}
		}
	}
	return out
}

// txnWaitState waits until DescribeTransactions reports state for id.
func txnWaitState(t *testing.T, c *ptConn, id, state string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{id}
		resp := ptDo[*kmsg.DescribeTransactionsResponse](t, c, req, 0)
		st := resp.TransactionStates[0]
		if st.State == state || time.Now().After(deadline) {
			if st.State != state {
				t.Fatalf("%s: state %s, want %s", id, st.State, state)
			}
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTxnProtocolVersions drives a transaction through every advertised
// version of the transaction APIs at the protocol level, checking the
// answers (and the fencing error each version expects), the transactional
// produce check, the markers' exact form and read_committed fetches.
func TestTxnProtocolVersions(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "txp", 2, nil)
	c := ptDial(t, addr)
	for v := int16(0); v <= 5; v++ {
		id := fmt.Sprintf("txp-%d", v)
		pid, epoch := txnInit(t, c, id)
		what := func(s string) string { return fmt.Sprintf("v%d %s", v, s) }

		// Unknown partitions: nothing added, the rest not attempted.
		got := txnAdd(t, c, v, id, pid, epoch, map[string][]int32{"txp": {0}, "nope": {0}})
		ptCode(t, what("unknown topic"), got["nope/0"], kerr.UnknownTopicOrPartition)
		ptCode(t, what("known beside unknown"), got["txp/0"], kerr.OperationNotAttempted)
		// A wrong epoch: PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before.
		got = txnAdd(t, c, v, id, pid, epoch+1, map[string][]int32{"txp": {0}})
		wantFenced := kerr.ProducerFenced
		if v < 2 {
			wantFenced = kerr.InvalidProducerEpoch
		}
		ptCode(t, what("wrong epoch"), got["txp/0"], wantFenced)
		got = txnAdd(t, c, v, id, pid+1000, epoch, map[string][]int32{"txp": {0}})
		ptCode(t, what("wrong producer"), got["txp/0"], kerr.InvalidProducerIDMapping)

		// A transactional batch to a partition not in the transaction is
		// INVALID_TXN_STATE (KIP-890 part 1 verification).
		seq := int32(0)
		preq := ptProduceReq(9, tp, "txp", 0, -1, idBatch(pid, epoch, seq, batch.TransactionalBit, "a"))
		preq.TransactionID = kmsg.StringPtr(id)
		presp := ptDo[*kmsg.ProduceResponse](t, c, preq, 9)
		ptCode(t, what("produce before add"), presp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidTxnState)

		got = txnAdd(t, c, v, id, pid, epoch, map[string][]int32{"txp": {0}})
		ptCode(t, what("add"), got["txp/0"], nil)
		if v >= 4 {
			// Verify-only: in the transaction, or not.
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, true
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic, rt.Partitions = "txp", []int32{0, 1}
			tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{rt}
			req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
			resp := ptDo[*kmsg.AddPartitionsToTxnResponse](t, c, req, v)
			parts := resp.Transactions[0].Topics[0].Partitions
			ptCode(t, what("verify added"), parts[0].ErrorCode, nil)
			ptCode(t, what("verify not added"), parts[1].ErrorCode, kerr.InvalidTxnState)
		}
		presp = ptDo[*kmsg.ProduceResponse](t, c, preq, 9)
		ptCode(t, what("produce"), presp.Topics[0].Partitions[0].ErrorCode, nil)
		first := presp.Topics[0].Partitions[0].BaseOffset

		// Offsets in the transaction.
		ao := kmsg.NewPtrAddOffsetsToTxnRequest()
		ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = id, pid, epoch, "txp-group"
		aov := min(v, 4)
		ptCode(t, what("add offsets"), ptDo[*kmsg.AddOffsetsToTxnResponse](t, c, ao, aov).ErrorCode, nil)
		ao.ProducerEpoch = epoch + 1
		wantAO := kerr.ProducerFenced
		if aov < 2 {
			wantAO = kerr.InvalidProducerEpoch
		}
		ptCode(t, what("add offsets, wrong epoch"), ptDo[*kmsg.AddOffsetsToTxnResponse](t, c, ao, aov).ErrorCode, wantAO)
		toc := kmsg.NewPtrTxnOffsetCommitRequest()
		toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch, toc.Generation = id, "txp-group", pid, epoch, -1
		tt := kmsg.NewTxnOffsetCommitRequestTopic()
		tt.Topic = "txp"
		tpp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		tpp.Partition, tpp.Offset = 0, int64(100+v)
		tt.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{tpp}
		toc.Topics = []kmsg.TxnOffsetCommitRequestTopic{tt}
		tocv := min(v, 4)
		tocResp := ptDo[*kmsg.TxnOffsetCommitResponse](t, c, toc, tocv)
		ptCode(t, what("txn offset commit"), tocResp.Topics[0].Partitions[0].ErrorCode, nil)
		// Not visible yet; require_stable says so.
		of := kmsg.NewPtrOffsetFetchRequest()
		of.Group, of.RequireStable = "txp-group", true
		oft := kmsg.NewOffsetFetchRequestTopic()
		oft.Topic, oft.Partitions = "txp", []int32{0}
		of.Topics = []kmsg.OffsetFetchRequestTopic{oft}
		ofResp := ptDo[*kmsg.OffsetFetchResponse](t, c, of, 7)
		ptCode(t, what("fetch unstable offset"), ofResp.Topics[0].Partitions[0].ErrorCode, kerr.UnstableOffsetCommit)

		// EndTxn, commit on even versions.
		commit := v%2 == 0
		endv := min(v, 4)
		end := kmsg.NewPtrEndTxnRequest()
		end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch+1, commit
		wantEnd := kerr.ProducerFenced
		if endv < 2 {
			wantEnd = kerr.InvalidProducerEpoch
		}
		ptCode(t, what("end, wrong epoch"), ptDo[*kmsg.EndTxnResponse](t, c, end, endv).ErrorCode, wantEnd)
		end.ProducerEpoch = epoch
		ptCode(t, what("end"), ptDo[*kmsg.EndTxnResponse](t, c, end, endv).ErrorCode, nil)
		state := "CompleteAbort"
		if commit {
			state = "CompleteCommit"
		}
		txnWaitState(t, c, id, state)

		// The marker follows the data: a control batch with the
		// transactional bit and one record, Kafka's EndTransactionMarker.
		fresp := dtFetch(t, c, ptFetchReq(11, tp, 0, first))
		it := batch.NewIter(dtPart(t, fresp).RecordBatches)
		it.Next() // the data
		h, raw, ok := it.Next()
		if !ok || !h.IsControl() || !h.IsTransactional() || h.ProducerID != pid || h.ProducerEpoch != epoch || h.NumRecords != 1 || h.BaseSequence != -1 {
			t.Fatalf("%s: marker batch %+v", what("marker"), h)
		}
		var rec batch.Record
		_ = batch.Records(raw, func(r batch.Record) bool { rec = r; return false })
		typ := uint16(0)
		if commit {
			typ = 1
		}
		if len(rec.Key) != 4 || binary.BigEndian.Uint16(rec.Key) != 0 || binary.BigEndian.Uint16(rec.Key[2:]) != typ || len(rec.Value) != 6 || binary.BigEndian.Uint16(rec.Value) != 0 {
			t.Fatalf("%s: marker record key %x value %x", what("marker"), rec.Key, rec.Value)
		}
		// read_committed: the aborted transaction is listed.
		freq := ptFetchReq(11, tp, 0, first)
		freq.IsolationLevel = 1
		sp := dtPart(t, dtFetch(t, c, freq))
		if commit && len(sp.AbortedTransactions) != 0 || !commit && (len(sp.AbortedTransactions) != 1 || sp.AbortedTransactions[0].ProducerID != pid || sp.AbortedTransactions[0].FirstOffset != first) {
			t.Fatalf("%s: aborted transactions %+v", what("read_committed"), sp.AbortedTransactions)
		}
		if sp.LastStableOffset != sp.HighWatermark {
			t.Fatalf("%s: LSO %d HW %d with no transaction open", what("read_committed"), sp.LastStableOffset, sp.HighWatermark)
		}
		// Committed offsets appear only when the transaction committed.
		ofResp = ptDo[*kmsg.OffsetFetchResponse](t, c, of, 7)
		op := ofResp.Topics[0].Partitions[0]
		ptCode(t, what("offset fetch after end"), op.ErrorCode, nil)
		if commit && op.Offset != int64(100+v) {
			t.Fatalf("%s: committed offset %d, want %d", what("offsets"), op.Offset, 100+v)
		}
		// The retried EndTxn succeeds; the opposite one does not.
		ptCode(t, what("end retried"), ptDo[*kmsg.EndTxnResponse](t, c, end, endv).ErrorCode, nil)
		end.Commit = !commit
		ptCode(t, what("end opposite"), ptDo[*kmsg.EndTxnResponse](t, c, end, endv).ErrorCode, kerr.InvalidTxnState)
	}

	// ListTransactions: states and producer filters.
	lt := kmsg.NewPtrListTransactionsRequest()
	lt.StateFilters = []string{"CompleteCommit", "Bogus"}
	for v := int16(0); v <= 1; v++ {
		resp := ptDo[*kmsg.ListTransactionsResponse](t, c, lt, v)
		ptCode(t, fmt.Sprintf("list v%d", v), resp.ErrorCode, nil)
		if len(resp.TransactionStates) != 3 || len(resp.UnknownStateFilters) != 1 {
			t.Fatalf("list v%d: %+v", v, resp)
		}
	}
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"never"}
	ptCode(t, "describe unknown", ptDo[*kmsg.DescribeTransactionsResponse](t, c, dt, 0).TransactionStates[0].ErrorCode, kerr.TransactionalIDNotFound)
}
