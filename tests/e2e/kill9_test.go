package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKill9UnderLoad kills weir with SIGKILL while producers are writing
// with acks=all, restarts it on the same data directory and checks that
// every acknowledged record is at exactly the partition and offset it was
// acknowledged at, three times over; and that topics and their configs
// survive.
func TestKill9UnderLoad(t *testing.T) {
	const (
		topic     = "kill9"
		parts     = 4
		producers = 4
		rate      = 12000 // records/s per producer: ~150k records per cycle
	)
	cycles := 3
	if s := os.Getenv("WEIR_E2E_KILL9_CYCLES"); s != "" { // longer soak runs
		var err error
		if cycles, err = strconv.Atoi(s); err != nil {
			t.Fatalf("WEIR_E2E_KILL9_CYCLES=%q: %v", s, err)
		}
	}
	// Frequent, small uploads and small WAL segments, so that kills land
	// in every phase: WAL append, upload, metadata commit, WAL trim.
	b := StartBroker(t, BrokerOptions{Sets: []string{
		"weir.upload.interval.ms=250",
		"weir.upload.bytes=1048576",
		"weir.wal.segment.bytes=262144",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles+1)*time.Minute)
	defer cancel()

	// Topics and configs whose survival is checked after every restart:
	// name -> partitions, and name -> config -> value.
	wantParts := map[string]int32{}
	wantConfigs := map[string]map[string]string{}
	createTopic := func(name string, n int32, configs map[string]*string) {
		t.Helper()
		adm := b.Admin(t)
		resp, err := adm.CreateTopic(ctx, n, 1, configs, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", name, err)
		}
		wantParts[name] = n
		wantConfigs[name] = map[string]string{}
		for k, v := range configs {
			wantConfigs[name][k] = *v
		}
	}
	alterConfigs := func(name string, kv ...string) {
		t.Helper()
		var alters []kadm.AlterConfig
		for i := 0; i < len(kv); i += 2 {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[i], Value: ptr(kv[i+1])})
			wantConfigs[name][kv[i]] = kv[i+1]
		}
		resps, err := b.Admin(t).AlterTopicConfigs(ctx, alters, name)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = fmt.Errorf("%v: %s", r.Err, r.ErrMessage)
				}
			}
		}
		if err != nil {
			t.Fatalf("alter configs of %s: %v", name, err)
		}
	}
	checkTopics := func(when string) {
		t.Helper()
		adm := b.Admin(t)
		td, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("%s: list topics: %v", when, err)
		}
		for name, n := range wantParts {
			d, ok := td[name]
			switch {
			case !ok:
				t.Errorf("%s: topic %s is gone; topics: %v", when, name, td.Names())
			case d.Err != nil:
				t.Errorf("%s: topic %s: %v", when, name, d.Err)
			case int32(len(d.Partitions)) != n:
				t.Errorf("%s: topic %s has %d partitions, want %d", when, name, len(d.Partitions), n)
			}
		}
		for name, want := range wantConfigs {
			rcs, err := adm.DescribeTopicConfigs(ctx, name)
			if err != nil {
				t.Fatalf("%s: describe configs of %s: %v", when, name, err)
			}
			rc, err := rcs.On(name, nil)
			if err == nil {
				err = rc.Err
			}
			if err != nil {
				t.Errorf("%s: describe configs of %s: %v", when, name, err)
				continue
			}
			got := map[string]kadm.Config{}
			for _, c := range rc.Configs {
				got[c.Key] = c
			}
			for k, v := range want {
				c, ok := got[k]
				switch {
				case !ok:
					t.Errorf("%s: topic %s: config %s not described", when, name, k)
				case c.MaybeValue() != v:
					t.Errorf("%s: topic %s: %s=%q, want %q", when, name, k, c.MaybeValue(), v)
				case c.Source != kmsg.ConfigSourceDynamicTopicConfig:
					t.Errorf("%s: topic %s: %s has source %v, want DYNAMIC_TOPIC_CONFIG", when, name, k, c.Source)
				}
			}
		}
	}

	createTopic(topic, parts, nil)
	alterConfigs(topic, "retention.ms", "123456789", "max.message.bytes", "2000000")
	createTopic("kill9-configured", 2, map[string]*string{"cleanup.policy": ptr("compact"), "segment.ms": ptr("3600000")})
	checkTopics("before any kill")

	valid := regexp.MustCompile(`^c[0-9]+-w[0-9]+-[0-9]{9}-x{48}$`).MatchString
	acks := newAckLog()
	for cycle := 1; cycle <= cycles; cycle++ {
		if cycle == 2 {
			// A topic created, and a config altered, between crashes.
			createTopic("kill9-late", 3, map[string]*string{"retention.bytes": ptr("1073741824")})
			alterConfigs("kill9-configured", "min.compaction.lag.ms", "60000")
		}
		if cycle == 3 {
			// A topic deleted and recreated under the same name just
			// before a crash: its old records are still in the WAL.
			recreateBeforeCrash(t, b, "kill9-doomed")
			wantParts["kill9-doomed"] = 1
		}
		before, failsBefore := acks.n.Load(), acks.fails.Load()
		l := startLoad(t, b, topic, fmt.Sprintf("c%d", cycle), producers, rate, acks)
		// At least two seconds of load, killed at a varying point,
		// while records are still being acknowledged.
		l.waitAcks(500, 30*time.Second)
		time.Sleep(2*time.Second + rand.N(time.Second))
		l.waitAcks(200, 10*time.Second)
		b.Kill9(t)
		l.stop()
		t.Logf("cycle %d: %d records acknowledged before kill -9 (%d failed or aborted)",
			cycle, acks.n.Load()-before, acks.fails.Load()-failsBefore)

		if cycle%2 == 0 {
			// Crash again while weir is starting up (replaying the WAL,
			// claiming partitions), before it serves anything.
			delay := rand.N(300 * time.Millisecond)
			b.KillDuringStartup(t, delay)
			t.Logf("cycle %d: killed -9 again %v into start-up", cycle, delay)
		}
		start := time.Now()
		b.Restart(t)
		t.Logf("cycle %d: restarted in %v", cycle, time.Since(start).Round(time.Millisecond))
		checkTopics(fmt.Sprintf("after kill -9 #%d", cycle))
		if cycle >= 3 {
			checkRecreated(t, b, "kill9-doomed")
		}
		read, unacked := verifyAcked(t, b, topic, acks.snapshot(), valid)
		t.Logf("cycle %d: read %d records, %d of them never acknowledged; end offsets %v",
			cycle, read, unacked, endOffsets(t, b.Admin(t), topic))
		if t.Failed() {
			t.FailNow()
		}
	}

	// The broker still takes writes at the right offsets after the last
	// restart.
	l := startLoad(t, b, topic, "final", 1, rate, acks)
	l.waitAcks(100, 30*time.Second)
	l.flush()
	verifyAcked(t, b, topic, acks.snapshot(), regexp.MustCompile(`^(c[0-9]+|final)-w[0-9]+-[0-9]{9}-x{48}$`).MatchString)
}

// recreateBeforeCrash creates topic with 2 partitions and 100 records,
// deletes it and creates it again with 1 partition and 5 records.
func recreateBeforeCrash(t *testing.T, b *Broker, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.Admin(t)
	produce := func(prefix string, n int) {
		// A new client each time: franz-go does not adopt the new topic
		// ID of a recreated topic it already knows.
		cl := b.Client(t, kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()))
		defer cl.Close()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	if resp, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	produce("old", 100)
	if resp, err := adm.DeleteTopic(ctx, topic); err != nil || resp.Err != nil {
		t.Fatalf("delete %s: %v %v", topic, err, resp.Err)
	}
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("recreate %s: %v %v", topic, err, resp.Err)
	}
	produce("new", 5)
}

// checkRecreated checks that topic holds exactly the 5 records written
// after it was recreated.
func checkRecreated(t *testing.T, b *Broker, topic string) {
	t.Helper()
	parts := readAll(t, b, topic)
	var got []string
	for p, recs := range parts {
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d@%d:%s", p, r.Offset, r.Value))
		}
	}
	want := []string{"0@0:new-0", "0@1:new-1", "0@2:new-2", "0@3:new-3", "0@4:new-4"}
	if !slices.Equal(got, want) {
		t.Errorf("recreated topic %s holds %v, want %v", topic, got, want)
	}
}
