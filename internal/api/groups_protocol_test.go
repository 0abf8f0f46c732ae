package api_test

// The group coordinator APIs on the raw socket, at every advertised
// version: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups,
// OffsetDelete; and __consumer_offsets as clients see it.

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/node/nodetest"
)

func TestGroupProtocolFindCoordinator(t *testing.T) {
	t.Parallel()
	n, addr := grBroker(t)
	c := ptDial(t, addr)
	host, portStr, _ := splitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	node := n.Engine().NodeID()
	for v := int16(0); v <= 6; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "g"
		req.CoordinatorKeys = []string{"g", "h", ""}
		resp := ptDo[*kmsg.FindCoordinatorResponse](t, c, req, v)
		if v < 4 {
			ptCode(t, fmt.Sprintf("v%d", v), resp.ErrorCode, nil)
			if resp.NodeID != node || resp.Host != host || resp.Port != int32(port) {
				t.Fatalf("v%d: coordinator %d %s:%d, want %d %s", v, resp.NodeID, resp.Host, resp.Port, node, addr)
			}
			continue
		}
		if len(resp.Coordinators) != 3 {
			t.Fatalf("v%d: %d coordinators for 3 keys", v, len(resp.Coordinators))
		}
		for i, rc := range resp.Coordinators {
			ptCode(t, fmt.Sprintf("v%d key %q", v, rc.Key), rc.ErrorCode, nil)
			if rc.Key != req.CoordinatorKeys[i] || rc.NodeID != node || rc.Host != host || rc.Port != int32(port) {
				t.Fatalf("v%d: coordinator %+v", v, rc)
			}
		}
	}
	// Transactions (type 1) are coordinated by this broker too; share
	// groups (type 2) and unknown types: INVALID_REQUEST.
	for _, tc := range []struct {
		v    int16
		typ  int8
		want *kerr.Error
	}{{1, 1, nil}, {3, 1, nil}, {6, 1, nil}, {6, 2, kerr.InvalidRequest}, {3, 9, kerr.InvalidRequest}} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType = tc.typ
		req.CoordinatorKey = "txn"
		req.CoordinatorKeys = []string{"txn"}
		resp := ptDo[*kmsg.FindCoordinatorResponse](t, c, req, tc.v)
		code := resp.ErrorCode
		if tc.v >= 4 {
			code = resp.Coordinators[0].ErrorCode
		}
		ptCode(t, fmt.Sprintf("v%d type %d", tc.v, tc.typ), code, tc.want)
	}
}

func splitHostPort(addr string) (string, string, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], nil
		}
	}
	return addr, "", fmt.Errorf("no port in %q", addr)
}

// TestGroupProtocolMembership walks one member through a group at every
// version of JoinGroup (with the matching SyncGroup, Heartbeat and
// LeaveGroup versions).
func TestGroupProtocolMembership(t *testing.T) {
	t.Parallel()
	_, addr := grBroker(t)
	c := ptDial(t, addr)
	for v := int16(0); v <= 9; v++ {
		group := fmt.Sprintf("members-v%d", v)
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = group, 10000, 10000
		join.ProtocolType = "consumer"
		join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("sub")}}
		jr := ptDo[*kmsg.JoinGroupResponse](t, c, join, v)
		if v >= 4 {
			// KIP-394: a member ID first.
			ptCode(t, fmt.Sprintf("join v%d", v), jr.ErrorCode, kerr.MemberIDRequired)
			if jr.MemberID == "" {
				t.Fatalf("join v%d: MEMBER_ID_REQUIRED without a member ID", v)
			}
			join.MemberID = jr.MemberID
			jr = ptDo[*kmsg.JoinGroupResponse](t, c, join, v)
		}
		ptCode(t, fmt.Sprintf("join v%d", v), jr.ErrorCode, nil)
		if jr.Generation != 1 || jr.LeaderID != jr.MemberID || len(jr.Members) != 1 || string(jr.Members[0].ProtocolMetadata) != "sub" ||
			jr.Protocol == nil || *jr.Protocol != "range" {
			t.Fatalf("join v%d: %+v", v, jr)
		}
		if v >= 7 && (jr.ProtocolType == nil || *jr.ProtocolType != "consumer") {
			t.Fatalf("join v%d: protocol type %v", v, jr.ProtocolType)
		}
		member := jr.MemberID

		sv := min(v, 5)
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.MemberID, sync.Generation = group, member, jr.Generation
		sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: member, MemberAssignment: []byte("mine")}}
		if sv >= 5 {
			sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		}
		sr := ptDo[*kmsg.SyncGroupResponse](t, c, sync, sv)
		ptCode(t, fmt.Sprintf("sync v%d", sv), sr.ErrorCode, nil)
		if string(sr.MemberAssignment) != "mine" || (sv >= 5 && (sr.Protocol == nil || *sr.Protocol != "range")) {
			t.Fatalf("sync v%d: %+v", sv, sr)
		}

		hv := min(v, 4)
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID, hb.Generation = group, member, jr.Generation
		ptCode(t, fmt.Sprintf("heartbeat v%d", hv), ptDo[*kmsg.HeartbeatResponse](t, c, hb, hv).ErrorCode, nil)
		hb.Generation++
		ptCode(t, fmt.Sprintf("heartbeat v%d stale", hv), ptDo[*kmsg.HeartbeatResponse](t, c, hb, hv).ErrorCode, kerr.IllegalGeneration)

		lv := min(v, 5)
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group, leave.MemberID = group, member
		leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member}, {MemberID: "stranger"}}
		lr := ptDo[*kmsg.LeaveGroupResponse](t, c, leave, lv)
		ptCode(t, fmt.Sprintf("leave v%d", lv), lr.ErrorCode, nil)
		if lv >= 3 {
			if len(lr.Members) != 2 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
				t.Fatalf("leave v%d: %+v", lv, lr.Members)
			}
		}
		hb.Generation--
		ptCode(t, fmt.Sprintf("heartbeat v%d after leaving", hv), ptDo[*kmsg.HeartbeatResponse](t, c, hb, hv).ErrorCode, kerr.UnknownMemberID)
	}
	// Heartbeat, SyncGroup and LeaveGroup for a group that does not
	// exist: UNKNOWN_MEMBER_ID, as Kafka answers.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = "no-such-group", "m"
	ptCode(t, "heartbeat unknown group", ptDo[*kmsg.HeartbeatResponse](t, c, hb, 4).ErrorCode, kerr.UnknownMemberID)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "no-such-group", "m"
	ptCode(t, "leave v2 unknown group", ptDo[*kmsg.LeaveGroupResponse](t, c, leave, 2).ErrorCode, kerr.UnknownMemberID)
	// Session timeout bounds.
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis = "bounds", "consumer", 100
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	ptCode(t, "session below min", ptDo[*kmsg.JoinGroupResponse](t, c, join, 9).ErrorCode, kerr.InvalidSessionTimeout)
	join.SessionTimeoutMillis = 1800001
	ptCode(t, "session above max", ptDo[*kmsg.JoinGroupResponse](t, c, join, 9).ErrorCode, kerr.InvalidSessionTimeout)
}

// TestGroupProtocolOffsets commits and fetches at every version.
func TestGroupProtocolOffsets(t *testing.T) {
	t.Parallel()
	n, addr := grBroker(t)
	tp := ptTopic(t, n, "offs", 2, nil)
	c := ptDial(t, addr)
	commit := func(v int16, group string, gen int32, topic string, partition int32, offset int64) int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, gen
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = topic, tp.ID
		if topic != tp.Name {
			rt.TopicID = [16]byte{9}
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = partition, offset, 7, kmsg.StringPtr("md"+strconv.Itoa(int(v)))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := ptDo[*kmsg.OffsetCommitResponse](t, c, req, v)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("commit v%d: %+v", v, resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	type fetched struct {
		offset int64
		epoch  int32
		md     string
		code   int16
	}
	fetch := func(v int16, group string, partitions ...int32) (int16, []fetched) {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		var out []fetched
		if v < 8 {
			req.Group = group
			if partitions != nil {
				req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: tp.Name, Partitions: partitions}}
			}
			resp := ptDo[*kmsg.OffsetFetchResponse](t, c, req, v)
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					out = append(out, fetched{p.Offset, p.LeaderEpoch, *p.Metadata, p.ErrorCode})
				}
			}
			return resp.ErrorCode, out
		}
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		if partitions != nil {
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: tp.Name, TopicID: tp.ID, Partitions: partitions}}
		}
		req.Groups = append(req.Groups, rg)
		resp := ptDo[*kmsg.OffsetFetchResponse](t, c, req, v)
		for _, rt := range resp.Groups[0].Topics {
			if v >= 10 && rt.TopicID != tp.ID {
				t.Fatalf("fetch v%d: topic ID %x", v, rt.TopicID)
			}
			for _, p := range rt.Partitions {
				out = append(out, fetched{p.Offset, p.LeaderEpoch, *p.Metadata, p.ErrorCode})
			}
		}
		return resp.Groups[0].ErrorCode, out
	}

	for v := int16(0); v <= 10; v++ {
		group := fmt.Sprintf("offs-v%d", v)
		// Unknown group: -1 and no error (kfake answers otherwise).
		for _, fv := range []int16{1, 5, 8, 10} {
			code, got := fetch(fv, group, 0, 1)
			ptCode(t, fmt.Sprintf("fetch v%d unknown group", fv), code, nil)
			if len(got) != 2 || got[0].offset != -1 || got[0].code != 0 || got[1].offset != -1 {
				t.Fatalf("fetch v%d unknown group: %+v", fv, got)
			}
		}
		ptCode(t, fmt.Sprintf("commit v%d", v), commit(v, group, -1, tp.Name, 1, 100+int64(v)), nil)
		ptCode(t, fmt.Sprintf("commit v%d unknown partition", v), commit(v, group, -1, tp.Name, 2, 1), kerr.UnknownTopicOrPartition)
		missing := kerr.UnknownTopicOrPartition
		if v >= 10 {
			missing = kerr.UnknownTopicID
		}
		ptCode(t, fmt.Sprintf("commit v%d unknown topic", v), commit(v, group, -1, "nope", 0, 1), missing)
		if v >= 1 {
			want := kerr.IllegalGeneration
			if v >= 9 {
				want = kerr.GroupIDNotFound
			}
			ptCode(t, fmt.Sprintf("commit v%d with a generation to an unknown group", v), commit(v, "ghost", 3, tp.Name, 0, 1), want)
		}
		for fv := int16(1); fv <= 10; fv++ {
			code, got := fetch(fv, group, 0, 1)
			ptCode(t, fmt.Sprintf("fetch v%d after commit v%d", fv, v), code, nil)
			want := fetched{100 + int64(v), -1, "md" + strconv.Itoa(int(v)), 0}
			if v >= 6 && fv >= 5 {
				want.epoch = 7
			}
			if fv < 5 {
				got[1].epoch = -1
			}
			if len(got) != 2 || got[0] != (fetched{-1, -1, "", 0}) || got[1] != want {
				t.Fatalf("fetch v%d after commit v%d: %+v, want [-1, %+v]", fv, v, got, want)
			}
			if fv >= 2 {
				// Null topics: every committed offset.
				code, all := fetch(fv, group)
				ptCode(t, fmt.Sprintf("fetch all v%d", fv), code, nil)
				if len(all) != 1 || all[0].offset != 100+int64(v) {
					t.Fatalf("fetch all v%d: %+v", fv, all)
				}
			}
		}
	}

	// v8+: several groups in one request; v10: unknown topic IDs.
	req := kmsg.NewPtrOffsetFetchRequest()
	for _, g := range []string{"offs-v3", "offs-unknown"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{TopicID: tp.ID, Partitions: []int32{1}}, {TopicID: [16]byte{1, 2}, Partitions: []int32{0}}}
		req.Groups = append(req.Groups, rg)
	}
	resp := ptDo[*kmsg.OffsetFetchResponse](t, c, req, 10)
	if len(resp.Groups) != 2 || resp.Groups[0].Topics[0].Partitions[0].Offset != 103 ||
		resp.Groups[0].Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code ||
		resp.Groups[1].Topics[0].Partitions[0].Offset != -1 || resp.Groups[1].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("fetch v10 of two groups: %+v", resp.Groups)
	}
}

// TestGroupProtocolAdmin covers listing, describing and deleting groups
// and offsets, and __consumer_offsets as clients see it.
func TestGroupProtocolAdmin(t *testing.T) {
	t.Parallel()
	n, addr := grBroker(t)
	tp := ptTopic(t, n, "adm", 2, nil)
	c := ptDial(t, addr)
	ctx := grCtx(t)
	adm := nodetest.Admin(t, addr)

	// An offsets-only group and a consumer group with a member.
	if _, err := adm.CommitOffsets(ctx, "simple", offsetsFor(tp.Name, 0, 5)); err != nil {
		t.Fatal(err)
	}
	nodetest.Client(t, addr, kgo.ConsumerGroup("live"), kgo.ConsumeTopics(tp.Name))
	grWait(t, "the live group to be stable", func() bool {
		dg, err := adm.DescribeGroups(ctx, "live")
		return err == nil && dg["live"].State == "Stable"
	})

	list := func(v int16, states, types []string) map[string]kmsg.ListGroupsResponseGroup {
		t.Helper()
		req := kmsg.NewPtrListGroupsRequest()
		req.StatesFilter, req.TypesFilter = states, types
		resp := ptDo[*kmsg.ListGroupsResponse](t, c, req, v)
		ptCode(t, fmt.Sprintf("list v%d", v), resp.ErrorCode, nil)
		out := map[string]kmsg.ListGroupsResponseGroup{}
		for _, g := range resp.Groups {
			out[g.Group] = g
		}
		return out
	}
	for v := int16(0); v <= 5; v++ {
		all := list(v, nil, nil)
		if len(all) != 2 || all["live"].ProtocolType != "consumer" || all["simple"].ProtocolType != "" {
			t.Fatalf("list v%d: %+v", v, all)
		}
		if v >= 4 && (all["live"].GroupState != "Stable" || all["simple"].GroupState != "Empty") {
			t.Fatalf("list v%d states: %+v", v, all)
		}
		if v >= 5 && all["live"].GroupType != "classic" {
			t.Fatalf("list v%d type: %+v", v, all)
		}
	}
	if got := list(4, []string{"stable"}, nil); len(got) != 1 || got["live"].Group != "live" {
		t.Fatalf("list stable: %+v", got)
	}
	if got := list(5, nil, []string{"Classic"}); len(got) != 2 {
		t.Fatalf("list classic: %+v", got)
	}
	if got := list(5, nil, []string{"consumer"}); len(got) != 0 {
		t.Fatalf("list KIP-848 consumer groups: %+v", got)
	}

	for v := int16(0); v <= 6; v++ {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{"live", "simple", "ghost"}
		req.IncludeAuthorizedOperations = true
		resp := ptDo[*kmsg.DescribeGroupsResponse](t, c, req, v)
		live, simple, ghost := resp.Groups[0], resp.Groups[1], resp.Groups[2]
		if live.State != "Stable" || live.Protocol == "" || len(live.Members) != 1 || len(live.Members[0].MemberAssignment) == 0 ||
			live.Members[0].ClientHost != "/127.0.0.1" {
			t.Fatalf("describe v%d live: %+v", v, live)
		}
		if simple.State != "Empty" || simple.ErrorCode != 0 {
			t.Fatalf("describe v%d simple: %+v", v, simple)
		}
		want := (*kerr.Error)(nil)
		if v >= 6 {
			want = kerr.GroupIDNotFound
		}
		ptCode(t, fmt.Sprintf("describe v%d ghost", v), ghost.ErrorCode, want)
		if ghost.State != "Dead" {
			t.Fatalf("describe v%d ghost: %+v", v, ghost)
		}
		if v >= 3 && live.AuthorizedOperations <= 0 {
			t.Fatalf("describe v%d: authorized operations %d", v, live.AuthorizedOperations)
		}
	}

	// OffsetDelete: the live group keeps offsets of its subscribed topic.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "live"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: tp.Name, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "nope", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	odr := ptDo[*kmsg.OffsetDeleteResponse](t, c, od, 0)
	ptCode(t, "offset delete live", odr.ErrorCode, nil)
	ptCode(t, "offset delete subscribed", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	ptCode(t, "offset delete unknown topic", odr.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	od.Group = "ghost"
	ptCode(t, "offset delete ghost", ptDo[*kmsg.OffsetDeleteResponse](t, c, od, 0).ErrorCode, kerr.GroupIDNotFound)
	od.Group = "simple"
	od.Topics = od.Topics[:1]
	ptCode(t, "offset delete simple", ptDo[*kmsg.OffsetDeleteResponse](t, c, od, 0).Topics[0].Partitions[0].ErrorCode, nil)

	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{"live", "ghost"}
		resp := ptDo[*kmsg.DeleteGroupsResponse](t, c, req, v)
		ptCode(t, fmt.Sprintf("delete v%d live", v), resp.Groups[0].ErrorCode, kerr.NonEmptyGroup)
		ptCode(t, fmt.Sprintf("delete v%d ghost", v), resp.Groups[1].ErrorCode, kerr.GroupIDNotFound)
		if v >= 3 && resp.Groups[0].ErrorMessage == nil {
			t.Fatalf("delete v%d: no error message", v)
		}
	}
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{"simple"}
	ptCode(t, "delete simple", ptDo[*kmsg.DeleteGroupsResponse](t, c, req, 2).Groups[0].ErrorCode, nil)
	if got := list(0, nil, nil); len(got) != 1 {
		t.Fatalf("list after delete: %+v", got)
	}

	// __consumer_offsets: internal in Metadata; clients may not produce.
	md := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(12, false, "__consumer_offsets"), 12)
	if len(md.Topics) != 1 || !md.Topics[0].IsInternal || len(md.Topics[0].Partitions) != 50 {
		t.Fatalf("metadata of __consumer_offsets: internal %v, %d partitions", md.Topics[0].IsInternal, len(md.Topics[0].Partitions))
	}
	offsets := n.Engine().Topic("__consumer_offsets")
	sp := ptProduce(t, c, 9, offsets, 0, ptValues(0, "x"))
	ptCode(t, "produce to __consumer_offsets", sp.ErrorCode, kerr.InvalidTopicException)
}

func offsetsFor(topic string, partition int32, at int64) kadm.Offsets {
	o := kadm.Offsets{}
	o.AddOffset(topic, partition, at, -1)
	return o
}
