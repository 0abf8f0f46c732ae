package api_test

// Share groups (KIP-932) end to end with franz-go's share consumer, and
// their state surviving a broker restart.

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/node/nodetest"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

func shareSetEarliest(t *testing.T, cl *kgo.Client, group string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("alter group config: %v", err)
	}
}

func shareSPSO(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0].Topics[0].Partitions[0].StartOffset
}

// shareConsume polls a share consumer until n records arrived or quiet
// passed without any, accepting each, and returns the keys seen.
func shareConsume(t *testing.T, addr, group, topic string, n int, quiet time.Duration) map[string]int {
	t.Helper()
	cl := nodetest.Client(t, addr, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
	seen := map[string]int{}
	total := 0
	deadline := time.Now().Add(30 * time.Second)
	last := time.Now()
	for total < n && time.Now().Before(deadline) && time.Since(last) < quiet {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded {
				t.Errorf("fetch: %v", e.Err)
			}
		}
		for _, r := range fs.Records() {
			seen[string(r.Key)]++
			total++
			r.Ack(kgo.AckAccept)
			last = time.Now()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.FlushAcks(ctx); err != nil {
		t.Fatalf("flush acks: %v", err)
	}
	cl.Close()
	return seen
}

func TestShareGroupRestart(t *testing.T) {
	t.Parallel()
	w, store, kv := wal.NewMemory(), objstore.NewMemory(), meta.NewMemory()
	opts := nodetest.Options{WAL: w, Store: store, Meta: kv}
	n := nodetest.Start(t, opts)
	addr := n.Addr()
	const topic, group, total = "share-restart", "share-restart-g", 100
	adm := nodetest.Admin(t, addr)
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := nodetest.Client(t, addr, kgo.DefaultProduceTopic(topic))
	shareSetEarliest(t, cl, group)
	for i := range total {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	seen := shareConsume(t, addr, group, topic, total, 10*time.Second)
	if len(seen) != total {
		t.Fatalf("got %d distinct records, want %d", len(seen), total)
	}
	if got := shareSPSO(t, cl, group, topic); got != total {
		t.Fatalf("SPSO %d after accepting everything, want %d", got, total)
	}

	// Restart on the same storage: accepted records stay accepted.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	opts.WAL = w.Reopen()
	n = nodetest.Start(t, opts)
	cl = nodetest.Client(t, n.Addr())
	if got := shareSPSO(t, cl, group, topic); got != total {
		t.Fatalf("SPSO %d after a restart, want %d", got, total)
	}
	if again := shareConsume(t, n.Addr(), group, topic, 1, 2*time.Second); len(again) != 0 {
		t.Fatalf("%d accepted records delivered again after a restart", len(again))
	}

	// ListGroups and DeleteGroups know share groups, with Kafka's filters.
	adm = nodetest.Admin(t, n.Addr())
	listed := func(types ...string) kadm.ListedGroups {
		t.Helper()
		ls, err := adm.ListGroupsByType(context.Background(), types)
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	if lg, ok := listed("share")[group]; !ok || lg.ProtocolType != "share" || lg.State != "Empty" {
		t.Fatalf("ListGroups(share): %+v, ok=%v; want the empty share group", lg, ok)
	}
	if _, ok := listed("classic", "consumer")[group]; ok {
		t.Fatal("share group listed under types classic/consumer")
	}
	dr, err := adm.DeleteGroup(context.Background(), group)
	if err != nil || dr.Err != nil {
		t.Fatalf("delete share group: %v %v", err, dr.Err)
	}
	if _, ok := listed()[group]; ok {
		t.Fatal("share group listed after DeleteGroups")
	}
	if got := shareSPSO(t, cl, group, topic); got != -1 {
		t.Fatalf("SPSO %d after the group was deleted, want -1 (no state)", got)
	}
}

// TestShareGroupConfigsAndDescribe: group configs through the GROUP config
// resource, and the share group admin APIs on unknown and empty groups.
func TestShareGroupConfigsAndDescribe(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	cl := nodetest.Client(t, n.Addr())
	ctx := context.Background()
	const group = "share-cfg"

	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "share.no.such.config", kmsg.StringPtr("1")
	res.Configs = append(res.Configs, c)
	alter.Resources = append(alter.Resources, res)
	aresp, err := alter.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := aresp.Resources[0].ErrorCode; code != kerr.InvalidConfig.Code || aresp.Resources[0].ErrorMessage == nil {
		t.Fatalf("unknown group config: code %d message %v, want INVALID_CONFIG with a message", code, aresp.Resources[0].ErrorMessage)
	}
	shareSetEarliest(t, cl, group)

	desc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	dr.ConfigNames = []string{"share.auto.offset.reset", "share.record.lock.duration.ms"}
	desc.Resources = append(desc.Resources, dr)
	dresp, err := desc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		got[c.Name] = *c.Value + "/" + c.Source.String()
	}
	if got["share.auto.offset.reset"] != "earliest/GROUP_CONFIG" || got["share.record.lock.duration.ms"] != "30000/DEFAULT_CONFIG" {
		t.Fatalf("described %v", got)
	}

	sgd := kmsg.NewPtrShareGroupDescribeRequest()
	sgd.GroupIDs = []string{group}
	sresp, err := sgd.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := sresp.Groups[0].ErrorCode; code != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe of a group with configs only: code %d, want GROUP_ID_NOT_FOUND", code)
	}
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = group
	delResp, err := del.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if delResp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete offsets of no group: code %d", delResp.ErrorCode)
	}
}
