package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestGroupLibrdkafka runs balanced consumer groups of librdkafka
// consumers, two `kcat -G` and two confluent-kafka, over a six-partition
// topic while records are produced, with each assignor librdkafka has
// (eager range and roundrobin, incremental cooperative-sticky); a kcat and
// a confluent-kafka member are killed with SIGKILL half way. Every record
// must be consumed by some member (at least once), the partitions of the
// dead go on from their last commits, the group must settle without them,
// the others commit on their way out, and a consumer started afterwards
// reads only what was produced since.
func TestGroupLibrdkafka(t *testing.T) {
	kcat := kcatPath(t)
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	for _, strategy := range []string{"range", "roundrobin", "cooperative-sticky"} {
		t.Run(strategy, func(t *testing.T) {
			topic := "grp-rdkafka-" + strategy
			group := topic + "-g"
			const parts = 6
			createGroupTopic(t, b, topic, parts)
			log := newConsumedLog()
			set := "partition.assignment.strategy=" + strategy
			members := []*memberProc{
				kcatMember(t, kcat, b, log, "kcat-1", group, topic, false, set),
				kcatMember(t, kcat, b, log, "kcat-2", group, topic, false, set),
				pythonMember(t, py, b, log, "confluent-1", "confluent", "auto", group, topic, set),
				pythonMember(t, py, b, log, "confluent-2", "confluent", "auto", group, topic, set),
			}
			g := waitGroup(t, b, group, "Stable", len(members), 30*time.Second)
			checkAssignment(t, g, topic, parts)
			if g.Protocol != strategy {
				t.Errorf("group protocol %q, want %q", g.Protocol, strategy)
			}
			// The confluent victim auto-commits every 500ms and
			// reports the commits; kcat cannot be told to (its -X puts
			// auto.commit.interval.ms on the topic config, where
			// librdkafka ignores it), so it commits every 5s and
			// likely dies before its first commit.
			kcatVictim, victim := members[0], members[2]
			victimParts := memberPartitions(t, g, topic)[victim.name]
			if len(victimParts) == 0 {
				t.Fatalf("%s has no partition to lose: %v", victim.name, memberPartitions(t, g, topic))
			}

			acks := newAckLog()
			l := startLoad(t, b, topic, "rd", 1, 1000, acks)
			l.waitAcks(1500, 20*time.Second)
			// Kill the victim once it has committed on each of its
			// partitions: the others must go on from those commits.
			deadline := time.Now().Add(10 * time.Second)
			var victimCommits map[int32]int64
			for {
				c := log.committed()
				victimCommits = map[int32]int64{}
				for _, p := range victimParts {
					if c[p] > 0 {
						victimCommits[p] = c[p]
					}
				}
				if len(victimCommits) == len(victimParts) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s has not committed on each of %v within 10s: commits %v", victim.name, victimParts, c)
				}
				time.Sleep(20 * time.Millisecond)
			}
			for log.count(kcatVictim.name) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s consumed nothing within 10s", kcatVictim.name)
				}
				time.Sleep(20 * time.Millisecond)
			}
			kcatVictim.kill9(t)
			victim.kill9(t)
			// Everything the victim reported has been read now, and
			// no one else commits its partitions before its session
			// expires: these are the offsets its partitions resume at.
			for p, o := range log.committed() {
				if slices.Contains(victimParts, p) {
					victimCommits[p] = o
				}
			}
			t.Logf("killed %s after it consumed %d records, and %s after %d records and commits %v",
				kcatVictim.name, log.count(kcatVictim.name), victim.name, log.count(victim.name), victimCommits)
			l.waitAcks(1500, 20*time.Second)
			l.flush()
			var values []string
			for v := range acks.snapshot() {
				values = append(values, v)
			}
			// The dead member's partitions wait out its 6s session.
			log.waitConsumed(t, values, 40*time.Second)
			g = waitGroup(t, b, group, "Stable", 2, 20*time.Second)
			checkAssignment(t, g, topic, parts)
			// The group resumes at the victim's last commit. That may be
			// newer than the last one it reported: the broker can have
			// acknowledged a commit whose report the kill -9 cut off; but
			// never beyond what the victim consumed (at least once).
			victimNext := log.next(victim.name)
			for p, o := range log.firstAfter(victim.name, victimParts) {
				if o < victimCommits[p] || o > victimNext[p] {
					t.Errorf("partition %d: consumed again from offset %d after %s died, but it had committed %d and consumed up to %d", p, o, victim.name, victimCommits[p], victimNext[p]-1)
				}
			}
			for _, m := range []*memberProc{members[1], members[3]} {
				if log.count(m.name) == 0 {
					t.Errorf("%s consumed nothing", m.name)
				}
				m.stop(t, 20*time.Second)
			}
			waitGroup(t, b, group, "Empty", 0, 10*time.Second)
			checkCommittedAtEnd(t, b, group, topic)
			t.Logf("consumed %d records for %d produced", log.total(), len(values))

			// A consumer of the group started now resumes where the
			// group committed: it reads exactly what was produced since.
			more := produceValues(t, b, topic, "after", 300)
			resumed := newConsumedLog()
			kcatMember(t, kcat, b, resumed, "kcat-resumed", group, topic, true, set).waitExit(t, 40*time.Second)
			checkExactly(t, resumed, more)
			checkCommittedAtEnd(t, b, group, topic)
		})
	}
}

// TestGroupLibrdkafkaStatic runs confluent-kafka consumers with static
// membership (group.instance.id, KIP-345): each member in turn (so the
// leader too) is killed with SIGKILL and started again within its
// session, and takes its partitions back without a rebalance, resuming
// from its committed offsets; a third member joining then rebalances the
// group under the replaced leader; members that close without leaving
// stay in the group until their sessions expire.
func TestGroupLibrdkafkaStatic(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	const (
		topic = "grp-static"
		group = "grp-static-g"
		parts = 4
	)
	createGroupTopic(t, b, topic, parts)
	log := newConsumedLog()
	start := func(name string) *memberProc {
		return pythonMember(t, py, b, log, name, "confluent", "sync", group, topic, "group.instance.id="+name)
	}
	members := []*memberProc{start("static-a"), start("static-b")}
	g := waitGroup(t, b, group, "Stable", 2, 30*time.Second)
	checkAssignment(t, g, topic, parts)
	before := memberPartitions(t, g, topic)
	values := produceValues(t, b, topic, "first", 400)
	log.waitConsumed(t, values, 30*time.Second)
	waitCommitted(t, log, endOffsets(t, b.Admin(t), topic), 10*time.Second)

	for i := range members {
		victim, other := members[i], members[1-i]
		_, assigns := other.assignment()
		victim.kill9(t)
		more := produceValues(t, b, topic, "while-"+victim.name+"-restarts", 400)
		values = append(values, more...)
		victim = start(victim.name)
		members[i] = victim
		log.waitConsumed(t, more, 30*time.Second)
		g = waitGroup(t, b, group, "Stable", 2, 10*time.Second)
		if after := memberPartitions(t, g, topic); !maps.EqualFunc(before, after, slices.Equal) {
			t.Errorf("assignment changed across %s's restart: %v, then %v", victim.name, before, after)
		}
		if _, n := other.assignment(); n != assigns {
			t.Errorf("%s saw %d more assignments: restarting static member %s caused a rebalance", other.name, n-assigns, victim.name)
		}
		if p, n := victim.assignment(); n != 1 || !slices.Equal(p, before[victim.name]) {
			t.Errorf("restarted %s was assigned %v (%d times), want %v once", victim.name, p, n, before[victim.name])
		}
		waitCommitted(t, log, endOffsets(t, b.Admin(t), topic), 10*time.Second)
	}
	checkExactly(t, log, values)

	// Whichever was the leader has been replaced: a new member makes the
	// group rebalance under the new leader.
	members = append(members, start("static-c"))
	g = waitGroup(t, b, group, "Stable", 3, 30*time.Second)
	checkAssignment(t, g, topic, parts)
	more := produceValues(t, b, topic, "three-members", 400)
	values = append(values, more...)
	log.waitConsumed(t, more, 30*time.Second)
	waitCommitted(t, log, endOffsets(t, b.Admin(t), topic), 10*time.Second)

	// Static members do not leave on close: the group empties when
	// their sessions expire.
	for _, m := range members {
		m.stop(t, 20*time.Second)
	}
	if g := describeGroup(t, b, group); len(g.Members) != 3 {
		t.Errorf("closed static members left the group at once: %s with %d members", g.State, len(g.Members))
	}
	waitGroup(t, b, group, "Empty", 0, 15*time.Second)
	checkCommittedAtEnd(t, b, group, topic)
}

// checkExactly checks that log holds each of values once and nothing else.
func checkExactly(t testing.TB, log *consumedLog, values []string) {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	var missing, dup, extra []string
	for _, v := range values {
		switch log.seen[v] {
		case 0:
			missing = append(missing, v)
		case 1:
		default:
			dup = append(dup, v)
		}
	}
	for v := range log.seen {
		if !slices.Contains(values, v) {
			extra = append(extra, v)
		}
	}
	if len(missing)+len(dup)+len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(dup)
		slices.Sort(extra)
		t.Errorf("consumed %d distinct records, want the %d produced: %d missing %v, %d twice %v, %d not expected %v",
			len(log.seen), len(values), len(missing), missing[:min(5, len(missing))], len(dup), dup[:min(5, len(dup))], len(extra), extra[:min(5, len(extra))])
	}
}

// TestGroupKafkaPython runs kafka-python KafkaConsumers with a group_id:
// one joins, consumes and commits synchronously; a second joins and they
// split the partitions; both leave; a third, auto-committing, resumes from
// the committed offsets and commits on close.
func TestGroupKafkaPython(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	const (
		topic = "grp-kafka-python"
		group = "grp-kafka-python-g"
		parts = 3
	)
	createGroupTopic(t, b, topic, parts)
	first := produceValues(t, b, topic, "one", 300)
	log := newConsumedLog()
	a := pythonMember(t, py, b, log, "kafka-python-a", "kafka-python", "sync", group, topic)
	log.waitConsumed(t, first, 30*time.Second)
	waitCommitted(t, log, endOffsets(t, b.Admin(t), topic), 10*time.Second)
	checkCommittedAtEnd(t, b, group, topic)

	c := pythonMember(t, py, b, log, "kafka-python-b", "kafka-python", "sync", group, topic)
	g := waitGroup(t, b, group, "Stable", 2, 30*time.Second)
	checkAssignment(t, g, topic, parts)
	for _, m := range []*memberProc{a, c} {
		if ps := memberPartitions(t, g, topic)[m.name]; len(ps) == 0 {
			t.Errorf("%s has no partition: %v", m.name, memberPartitions(t, g, topic))
		}
	}
	second := produceValues(t, b, topic, "two", 300)
	log.waitConsumed(t, second, 30*time.Second)
	waitCommitted(t, log, endOffsets(t, b.Admin(t), topic), 10*time.Second)
	checkPythonAdmin(t, py, b, group, topic, "Stable", "range", memberPartitions(t, g, topic), false)
	a.stop(t, 20*time.Second)
	c.stop(t, 20*time.Second)
	waitGroup(t, b, group, "Empty", 0, 10*time.Second)
	checkCommittedAtEnd(t, b, group, topic)
	checkExactly(t, log, append(slices.Clone(first), second...))
	checkPythonAdmin(t, py, b, group, topic, "Empty", "", map[string][]int32{}, false)

	third := produceValues(t, b, topic, "three", 300)
	resumed := newConsumedLog()
	r := pythonMember(t, py, b, resumed, "kafka-python-resumed", "kafka-python", "auto", group, topic)
	resumed.waitConsumed(t, third, 30*time.Second)
	// Anything older would have come first.
	r.stop(t, 20*time.Second)
	checkExactly(t, resumed, third)
	checkCommittedAtEnd(t, b, group, topic)

	// DeleteGroups through kafka-python takes the group and its offsets.
	waitGroup(t, b, group, "Empty", 0, 10*time.Second)
	checkPythonAdmin(t, py, b, group, topic, "Empty", "", map[string][]int32{}, true)
	if got := fetchCommitted(t, b, group, topic); len(got) != 0 {
		t.Errorf("deleted group %s still has committed offsets %v", group, got)
	}
	if g := describeGroup(t, b, group); g.State != "Dead" {
		t.Errorf("deleted group %s is %s", group, g.State)
	}
}

// checkPythonAdmin checks what kafka-python's and confluent-kafka's admin
// clients see of group: its state, protocol, members (client ID ->
// partitions of topic) and committed offsets, which must be those
// OffsetFetch gives franz-go. With del, kafka-python then deletes the
// group.
func checkPythonAdmin(t *testing.T, py string, b *Broker, group, topic, state, protocol string, members map[string][]int32, del bool) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "python_groups.py")
	if err := os.WriteFile(script, pythonGroupsScript, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{script, "admin", b.Addr, group, topic}
	if del {
		args = append(args, "delete")
	}
	committed := fetchCommitted(t, b, group, topic)
	out := runCmd(t, 60*time.Second, nil, py, args...)
	type view struct {
		Listed       [][2]string      `json:"listed"`
		Error        any              `json:"error"`
		State        string           `json:"state"`
		ProtocolType string           `json:"protocol_type"`
		Protocol     string           `json:"protocol"`
		Members      any              `json:"members"`
		Offsets      map[string]int64 `json:"offsets"`
	}
	var res struct {
		KafkaPython view     `json:"kafka_python"`
		Confluent   view     `json:"confluent"`
		Deleted     []string `json:"deleted"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("admin script output: %v\n%s", err, out)
	}
	kp, ck := res.KafkaPython, res.Confluent
	if !slices.Contains(kp.Listed, [2]string{group, "consumer"}) {
		t.Errorf("kafka-python list_consumer_groups: %v, want %s among them", kp.Listed, group)
	}
	var names []string
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for who, v := range map[string]view{"kafka-python describe_consumer_groups": kp, "confluent-kafka list_groups": ck} {
		if v.Error != nil && v.Error != float64(0) || v.State != state || v.ProtocolType != "consumer" || v.Protocol != protocol {
			t.Errorf("%s: error %v, state %q, protocol type %q, protocol %q; want %s, consumer, %q", who, v.Error, v.State, v.ProtocolType, v.Protocol, state, protocol)
		}
	}
	if got := fmt.Sprint(ck.Members); got != fmt.Sprint(names) {
		t.Errorf("confluent-kafka list_groups members %s, want %v", got, names)
	}
	want := map[string]any{}
	for name, ps := range members {
		var l []any
		for _, p := range ps {
			l = append(l, float64(p))
		}
		want[name] = l
	}
	if got := fmt.Sprint(kp.Members); got != fmt.Sprint(want) {
		t.Errorf("kafka-python describe_consumer_groups members %s, want %v", got, want)
	}
	if len(kp.Offsets) != len(committed) {
		t.Errorf("kafka-python list_consumer_group_offsets %v, OffsetFetch %v", kp.Offsets, committed)
	}
	for p, o := range committed {
		if kp.Offsets[fmt.Sprint(p)] != o {
			t.Errorf("kafka-python list_consumer_group_offsets %v, OffsetFetch %v", kp.Offsets, committed)
			break
		}
	}
	if del && !slices.Equal(res.Deleted, []string{"NoError"}) {
		t.Errorf("kafka-python delete_consumer_groups: %v", res.Deleted)
	}
}

// waitCommitted waits until the commits the members saw acknowledged reach
// want.
func waitCommitted(t testing.TB, log *consumedLog, want map[int32]int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := log.committed()
		done := true
		for p, o := range want {
			if o > 0 && got[p] < o {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("acknowledged commits %v after %v, want %v", got, timeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGroupKill9Broker kills weir with SIGKILL three times while a group
// of confluent-kafka, kafka-python and franz-go consumers, committing
// synchronously, consumes a topic being produced to: once with the group
// Stable, once in the middle of a rebalance (a member joining), and once
// with a member dying while weir is down; then stops it with SIGTERM. After each restart on the same data directory
// every acknowledged commit is there, and the group re-forms (without the
// dead member, once its session expires) and consumes to the end: every
// acknowledged record is consumed, and the group ends committed at the
// end offsets.
func TestGroupKill9Broker(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	const (
		topic = "grp-kill9"
		group = "grp-kill9-g"
		parts = 4
	)
	createGroupTopic(t, b, topic, parts)
	log := newConsumedLog()
	members := []*memberProc{
		pythonMember(t, py, b, log, "confluent-1", "confluent", "sync", group, topic),
		pythonMember(t, py, b, log, "kafka-python", "kafka-python", "sync", group, topic),
	}
	gm := startGoMember(t, b, log, "franz-go", group, topic)
	g := waitGroup(t, b, group, "Stable", 3, 30*time.Second)
	checkAssignment(t, g, topic, parts)

	acks := newAckLog()
	cycles := []struct {
		name string
		// beforeKill runs with records flowing; it returns how many
		// members the group should have once it has re-formed.
		beforeKill func() int
		// whileDown runs with weir killed.
		whileDown func()
		// sigterm stops weir gracefully instead.
		sigterm bool
	}{
		{name: "stable", beforeKill: func() int { return 3 }},
		{
			name: "rebalancing",
			beforeKill: func() int {
				members = append(members, pythonMember(t, py, b, log, "confluent-2", "confluent", "sync", group, topic))
				deadline := time.Now().Add(20 * time.Second)
				adm := b.Admin(t)
				for describeGroupWith(t, adm, group).State == "Stable" {
					if time.Now().After(deadline) {
						t.Fatal("confluent-2 did not make the group rebalance within 20s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				return 4
			},
		},
		{
			name:       "member-dies-while-down",
			beforeKill: func() int { return 3 },
			whileDown:  func() { members[2].kill9(t) },
		},
		{name: "sigterm", beforeKill: func() int { return 3 }, sigterm: true},
	}
	for _, c := range cycles {
		l := startLoad(t, b, topic, "k9-"+c.name, 1, 1000, acks)
		l.waitAcks(1000, 20*time.Second)
		waitCommits(t, log, parts, 10*time.Second)
		want := c.beforeKill()
		state := describeGroup(t, b, group).State
		// OffsetFetch shows only durable commits: all must survive.
		fetched := fetchCommitted(t, b, group, topic)
		if c.sigterm {
			if code, took := b.Stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
				t.Fatalf("weir exited %d %v after SIGTERM", code, took)
			}
		} else {
			b.Kill9(t)
		}
		l.stop()
		acked := log.committed()
		t.Logf("%s: stopped weir with the group %s, %d records acknowledged, %d consumed, commits acknowledged %v",
			c.name, state, acks.n.Load(), log.total(), acked)
		if c.whileDown != nil {
			c.whileDown()
		}
		b.Restart(t)
		got := fetchCommitted(t, b, group, topic)
		for p, o := range acked {
			if got[p] < o {
				t.Errorf("%s: after the restart, partition %d is committed at %d, but a commit of %d was acknowledged (all: %v, acknowledged %v)",
					c.name, p, got[p], o, got, acked)
			}
		}
		for p, o := range fetched {
			if got[p] < o {
				t.Errorf("%s: after the restart, partition %d is committed at %d, but OffsetFetch gave %d before (all: %v, before %v)",
					c.name, p, got[p], o, got, fetched)
			}
		}
		// Sessions run out 6s after the restart at the latest.
		g := waitGroup(t, b, group, "Stable", want, 20*time.Second)
		checkAssignment(t, g, topic, parts)
	}

	l := startLoad(t, b, topic, "k9-end", 1, 1000, acks)
	l.waitAcks(1000, 20*time.Second)
	l.flush()
	var values []string
	for v := range acks.snapshot() {
		values = append(values, v)
	}
	log.waitConsumed(t, values, 40*time.Second)
	waitCommitted(t, log, endOffsets(t, b.Admin(t), topic), 20*time.Second)
	g = waitGroup(t, b, group, "Stable", 3, 20*time.Second)
	checkAssignment(t, g, topic, parts)
	checkCommittedAtEnd(t, b, group, topic)
	for _, m := range members {
		if !m.exited() {
			m.stop(t, 20*time.Second)
		}
	}
	gm.stop()
	waitGroup(t, b, group, "Empty", 0, 10*time.Second)
	checkCommittedAtEnd(t, b, group, topic)
	t.Logf("consumed %d records, %d acknowledged by weir", log.total(), len(values))
}

// waitCommits waits until commits of at least parts partitions were
// acknowledged.
func waitCommits(t testing.TB, log *consumedLog, parts int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(log.committed()) < parts {
		if time.Now().After(deadline) {
			t.Fatalf("commits acknowledged for %v after %v, want %d partitions", log.committed(), timeout, parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGroupLibrdkafkaRegex runs a kcat and a confluent-kafka consumer
// subscribed to a pattern (^grp-re-.*); a topic created later that matches
// it makes them rejoin, and the group spreads both topics' partitions and
// consumes and commits them all.
func TestGroupLibrdkafkaRegex(t *testing.T) {
	kcat := kcatPath(t)
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	const (
		pattern = "^grp-re-.*"
		group   = "grp-re-g"
		parts   = 3
	)
	// librdkafka finds new topics matching the pattern when it refreshes
	// its metadata.
	refresh := "topic.metadata.refresh.interval.ms=500"
	createGroupTopic(t, b, "grp-re-a", parts)
	log := newConsumedLog()
	members := []*memberProc{
		kcatMember(t, kcat, b, log, "kcat", group, pattern, false, refresh),
		pythonMember(t, py, b, log, "confluent", "confluent", "auto", group, pattern, refresh),
	}
	g := waitGroup(t, b, group, "Stable", 2, 30*time.Second)
	checkAssignment(t, g, "grp-re-a", parts)
	values := produceValues(t, b, "grp-re-a", "a", 200)
	log.waitConsumed(t, values, 30*time.Second)

	createGroupTopic(t, b, "grp-re-b", parts)
	values = append(values, produceValues(t, b, "grp-re-b", "b", 200)...)
	log.waitConsumed(t, values, 30*time.Second)
	g = waitGroup(t, b, group, "Stable", 2, 10*time.Second)
	checkAssignment(t, g, "grp-re-a", parts)
	checkAssignment(t, g, "grp-re-b", parts)
	for _, m := range members {
		m.stop(t, 20*time.Second)
	}
	waitGroup(t, b, group, "Empty", 0, 10*time.Second)
	checkCommittedAtEnd(t, b, group, "grp-re-a")
	checkCommittedAtEnd(t, b, group, "grp-re-b")
	checkExactly(t, log, values)
}

// TestGroupZombieMember freezes a slow confluent-kafka member (SIGSTOP)
// past its session: the group rebalances its partitions to the other
// member, which goes on from the frozen member's commits. Thawed
// (SIGCONT), the frozen member still holds fetched records of partitions
// it lost; its heartbeat is refused, it rejoins and the group spreads the
// partitions again. Committed offsets never go back meanwhile (librdkafka
// usually drops the stale commit itself, once its heartbeat tells it the
// assignment is lost; the broker refuses any that gets through), and every
// record is consumed.
func TestGroupZombieMember(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	const (
		topic = "grp-zombie"
		group = "grp-zombie-g"
		parts = 4
	)
	createGroupTopic(t, b, topic, parts)
	log := newConsumedLog()
	// The zombie is slow, so that it has fetched records waiting when it
	// freezes, which it consumes and commits when it thaws.
	zombie := pythonMember(t, py, b, log, "zombie", "confluent", "sync", group, topic, "e2e.delay.ms=4")
	live := pythonMember(t, py, b, log, "live", "confluent", "sync", group, topic)
	g := waitGroup(t, b, group, "Stable", 2, 30*time.Second)
	checkAssignment(t, g, topic, parts)

	acks := newAckLog()
	l := startLoad(t, b, topic, "z", 1, 1000, acks)
	l.waitAcks(1000, 20*time.Second)
	waitCommits(t, log, parts, 10*time.Second)
	if err := zombie.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Its 6s session runs out; the live member takes over.
	waitGroup(t, b, group, "Stable", 1, 20*time.Second)
	l.waitAcks(1000, 20*time.Second)

	// Watch the committed offsets from before the thaw until the group
	// has re-formed with both members.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := make(chan string, 1)
	adm := b.Admin(t)
	go func() {
		var regressions []string
		last := map[int32]int64{}
		for ctx.Err() == nil {
			for p, o := range fetchCommittedQuiet(ctx, adm, group, topic) {
				if o < last[p] {
					regressions = append(regressions, fmt.Sprintf("partition %d went from %d to %d", p, last[p], o))
				}
				last[p] = max(last[p], o)
			}
			time.Sleep(10 * time.Millisecond)
		}
		watched <- strings.Join(regressions, "; ")
	}()
	time.Sleep(300 * time.Millisecond)
	zombieBefore := log.count(zombie.name)
	if err := zombie.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	g = waitGroup(t, b, group, "Stable", 2, 30*time.Second)
	checkAssignment(t, g, topic, parts)
	l.waitAcks(1000, 20*time.Second)
	l.flush()
	var values []string
	for v := range acks.snapshot() {
		values = append(values, v)
	}
	log.waitConsumed(t, values, 30*time.Second)
	waitCommitted(t, log, endOffsets(t, b.Admin(t), topic), 20*time.Second)
	cancel()
	if r := <-watched; r != "" {
		t.Errorf("committed offsets went back after the frozen member thawed: %s", r)
	}
	t.Logf("the thawed member consumed %d records (%d before it froze); %d of its commits failed, the last with %v",
		log.count(zombie.name), zombieBefore, zombie.commitErrs.Load(), zombie.lastCommitErr.Load())
	zombie.stop(t, 20*time.Second)
	live.stop(t, 20*time.Second)
	waitGroup(t, b, group, "Empty", 0, 10*time.Second)
	checkCommittedAtEnd(t, b, group, topic)
}

// fetchCommittedQuiet is fetchCommitted for a goroutine other than the
// test's: it returns nothing on error.
func fetchCommittedQuiet(ctx context.Context, adm *kadm.Client, group, topic string) map[int32]int64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resps, err := adm.FetchOffsets(ctx, group)
	if err != nil || resps.Error() != nil {
		return nil
	}
	out := map[int32]int64{}
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Topic == topic {
			out[r.Partition] = r.At
		}
	})
	return out
}

// TestGroupTopicRecreated deletes a topic a group has committed offsets
// of and creates it again: as in Kafka, the deletion takes the group's
// offsets with it, so a kcat consumer of the group reads the new topic
// from the start instead of resuming at the old topic's offsets (which
// would skip records).
func TestGroupTopicRecreated(t *testing.T) {
	kcat := kcatPath(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	const (
		topic = "grp-recreated"
		group = "grp-recreated-g"
	)
	createGroupTopic(t, b, topic, 2)
	old := produceValues(t, b, topic, "old", 200)
	log := newConsumedLog()
	kcatMember(t, kcat, b, log, "kcat-old", group, topic, true).waitExit(t, 40*time.Second)
	checkExactly(t, log, old)
	checkCommittedAtEnd(t, b, group, topic)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm := b.Admin(t)
	if resp, err := adm.DeleteTopic(ctx, topic); err != nil || resp.Err != nil {
		t.Fatalf("delete topic %s: %v %v", topic, err, resp.Err)
	}
	// By name (v7): v10 names topics by ID, which a deleted topic has not.
	v := kversion.Stable()
	v.SetMaxKeyVersion(9, 7)
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0, 1}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, b.Client(t, kgo.MaxVersions(v)))
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if p.Offset != -1 || p.ErrorCode != 0 {
				t.Errorf("group %s, deleted topic %s partition %d: committed offset %d (error %d), want -1", group, rt.Topic, p.Partition, p.Offset, p.ErrorCode)
			}
		}
	}
	createGroupTopic(t, b, topic, 2)
	recreated := produceValues(t, b, topic, "new", 300)
	log = newConsumedLog()
	kcatMember(t, kcat, b, log, "kcat-new", group, topic, true).waitExit(t, 40*time.Second)
	checkExactly(t, log, recreated)
	checkCommittedAtEnd(t, b, group, topic)
}

// TestGroupChurn keeps a cooperative-sticky group of confluent-kafka
// consumers changing for 15s while records are produced: members join,
// leave and are killed with SIGKILL at random (seed logged), each change
// an incremental rebalance. Every record must be consumed, and the group
// must settle with its live members sharing every partition and, once
// they leave, committed at the end offsets.
func TestGroupChurn(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{Sets: groupSets})
	const (
		topic = "grp-churn"
		group = "grp-churn-g"
		parts = 12
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	createGroupTopic(t, b, topic, parts)
	log := newConsumedLog()
	var members []*memberProc
	live := func() []*memberProc {
		var l []*memberProc
		for _, m := range members {
			if !m.exited() {
				l = append(l, m)
			}
		}
		return l
	}
	start := func() {
		name := fmt.Sprintf("m%d", len(members)+1)
		members = append(members, pythonMember(t, py, b, log, name, "confluent", "auto", group, topic,
			"partition.assignment.strategy=cooperative-sticky"))
	}
	for range 3 {
		start()
	}
	acks := newAckLog()
	l := startLoad(t, b, topic, "churn", 1, 2000, acks)
	var changes []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		l := live()
		switch op := rng.IntN(3); {
		case op == 0 || len(l) <= 2:
			start()
			changes = append(changes, "+"+members[len(members)-1].name)
		case op == 1:
			m := l[rng.IntN(len(l))]
			// librdkafka 2.0 may abort in its sticky assignor when it
			// closes before its first assignment: not the broker's
			// doing, and at least once still holds.
			_ = m.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-m.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s still running 20s after SIGTERM", m.name)
			}
			changes = append(changes, "-"+m.name)
		default:
			m := l[rng.IntN(len(l))]
			m.kill9(t)
			changes = append(changes, "x"+m.name)
		}
	}
	l.flush()
	t.Logf("changes: %s", strings.Join(changes, " "))
	var values []string
	for v := range acks.snapshot() {
		values = append(values, v)
	}
	// Killed members' partitions wait out their 6s sessions.
	log.waitConsumed(t, values, 60*time.Second)
	survivors := live()
	g := waitGroup(t, b, group, "Stable", len(survivors), 30*time.Second)
	checkAssignment(t, g, topic, parts)
	for _, m := range survivors {
		m.stop(t, 20*time.Second)
	}
	waitGroup(t, b, group, "Empty", 0, 10*time.Second)
	checkCommittedAtEnd(t, b, group, topic)
	t.Logf("%d members in all, %d at the end; consumed %d records for %d produced", len(members), len(survivors), log.total(), len(values))
}
