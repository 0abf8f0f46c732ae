package api

// ShareAcknowledge, versions 0-2 (KIP-932; v2 IsRenewAck, KIP-1222).
//
// Acknowledges records acquired through ShareFetch outside a fetch: ACCEPT
// (1), RELEASE (2), REJECT (3), GAP (0, archived) and, with IsRenewAck,
// RENEW (4, a fresh acquisition lock). ShareSessionEpoch must be the
// session's next epoch (0 is INVALID_SHARE_SESSION_EPOCH: only ShareFetch
// opens sessions), or -1, which also closes the session and releases the
// member's other records in its partitions. A partition's batches apply
// all or nothing: records not acquired by the member are
// INVALID_RECORD_STATE, malformed batches INVALID_REQUEST. The response
// waits until the new state is durable. Deviation: no ACLs.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/share"
)

func init() { register(79, 0, 2, handleShareAcknowledge) }

func handleShareAcknowledge(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ShareAcknowledgeRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
		b.shareAcknowledge(ctx, r.Version, req, resp)
		return resp, nil
	}
}

func (b *Broker) shareAcknowledge(ctx context.Context, version int16, req *kmsg.ShareAcknowledgeRequest, resp *kmsg.ShareAcknowledgeResponse) {
	group, member, lockMs, code := b.shareIdentity(req.GroupID, req.MemberID)
	resp.AcquisitionLockTimeoutMillis = lockMs
	if code != 0 {
		resp.ErrorCode = code
		return
	}
	if !b.shares.HasGroup(group) {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return
	}
	var acks []shareAckPart
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			ap := shareAckPart{tp: share.TP{TopicID: rt.TopicID, Partition: rp.Partition}}
			for _, ab := range rp.AcknowledgementBatches {
				ap.batches = append(ap.batches, share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes})
			}
			acks = append(acks, ap)
		}
	}
	renew := version >= 2 && req.IsRenewAck
	if req.ShareSessionEpoch != -1 {
		if err := b.shares.AckSession(group, member, req.ShareSessionEpoch); err != nil {
			resp.ErrorCode = shareCode(err)
			return
		}
	}
	results := b.shareAcks(ctx, group, member, acks, renew)
	if req.ShareSessionEpoch == -1 {
		if err := b.shares.CloseSession(group, member); err != nil {
			resp.ErrorCode = shareCode(err)
			return
		}
	}
	idx := make(map[[16]byte]int)
	for _, res := range results {
		i, ok := idx[res.tp.TopicID]
		if !ok {
			i = len(resp.Topics)
			idx[res.tp.TopicID] = i
			t := kmsg.NewShareAcknowledgeResponseTopic()
			t.TopicID = res.tp.TopicID
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewShareAcknowledgeResponseTopicPartition()
		p.Partition, p.ErrorCode = res.tp.Partition, res.code
		p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
}
