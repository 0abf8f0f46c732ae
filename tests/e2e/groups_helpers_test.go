package e2e

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed python_groups.py
var pythonGroupsScript []byte

// groupSets are the broker settings of the group tests: a new group's
// first rebalance does not wait 3s for more members.
var groupSets = []string{"group.initial.rebalance.delay.ms=0"}

// consumedLog gathers what the members of one group consumed and the
// commits the broker acknowledged to them.
type consumedLog struct {
	mu      sync.Mutex
	seen    map[string]int   // value -> times consumed
	commits map[int32]int64  // partition -> highest acknowledged commit
	by      map[string][]loc // member -> records consumed, in order
}

func newConsumedLog() *consumedLog {
	return &consumedLog{seen: map[string]int{}, commits: map[int32]int64{}, by: map[string][]loc{}}
}

func (c *consumedLog) record(member string, p int32, o int64, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[value]++
	c.by[member] = append(c.by[member], loc{p, o})
}

func (c *consumedLog) commit(p int32, o int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits[p] = max(c.commits[p], o)
}

func (c *consumedLog) committed() map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[int32]int64, len(c.commits))
	for p, o := range c.commits {
		m[p] = o
	}
	return m
}

// total returns how many records were consumed, repeats included.
func (c *consumedLog) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.seen {
		n += k
	}
	return n
}

func (c *consumedLog) count(member string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.by[member])
}

// firstAfter returns, for each of partitions, the lowest offset of it
// that members other than member consumed.
func (c *consumedLog) firstAfter(member string, partitions []int32) map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int32]int64{}
	for m, locs := range c.by {
		if m == member {
			continue
		}
		for _, l := range locs {
			if !slices.Contains(partitions, l.Partition) {
				continue
			}
			if o, ok := out[l.Partition]; !ok || l.Offset < o {
				out[l.Partition] = l.Offset
			}
		}
	}
	return out
}

// next returns, for each partition member consumed from, the offset after
// the highest it consumed: the most it may have committed.
func (c *consumedLog) next(member string) map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int32]int64{}
	for _, l := range c.by[member] {
		out[l.Partition] = max(out[l.Partition], l.Offset+1)
	}
	return out
}

// ranges describes the offsets each member consumed, by partition, as
// runs of consecutive offsets.
func (c *consumedLog) ranges() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lines []string
	for m, locs := range c.by {
		byPart := map[int32][]int64{}
		for _, l := range locs {
			byPart[l.Partition] = append(byPart[l.Partition], l.Offset)
		}
		var parts []string
		for p, offs := range byPart {
			var runs []string
			start := offs[0]
			for i := 1; i <= len(offs); i++ {
				if i == len(offs) || offs[i] != offs[i-1]+1 {
					runs = append(runs, fmt.Sprintf("%d-%d", start, offs[i-1]))
					if i < len(offs) {
						start = offs[i]
					}
				}
			}
			parts = append(parts, fmt.Sprintf("p%d:%s", p, strings.Join(runs, ",")))
		}
		sort.Strings(parts)
		lines = append(lines, fmt.Sprintf("  %s: %s", m, strings.Join(parts, " ")))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// missing returns how many of values were never consumed, and a few of
// them.
func (c *consumedLog) missing(values []string) (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int
	var some []string
	for _, v := range values {
		if c.seen[v] == 0 {
			n++
			if len(some) < 5 {
				some = append(some, v)
			}
		}
	}
	return n, some
}

// waitConsumed waits until every value has been consumed by some member.
func (c *consumedLog) waitConsumed(t testing.TB, values []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, some := c.missing(values)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records never consumed after %v, e.g. %v; consumed offsets by member:\n%s", n, len(values), timeout, some, c.ranges())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memberProc is a consumer group member running as a child process (kcat
// -G or python_groups.py) whose stdout lines are "rec P O VALUE",
// "commit P O", "commit-error MSG", "assigned P,..." and "closed".
type memberProc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	stderr lockedBuffer
	// commitErrs counts failed commits, with the last error.
	commitErrs    atomic.Int64
	lastCommitErr atomic.Value

	mu       sync.Mutex
	assigned []int32 // the last assignment reported
	assigns  int     // how many assignments were reported
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startMember runs argv as member name, feeding what it reports into log.
// It is killed when the test ends.
func startMember(t testing.TB, log *consumedLog, name string, argv ...string) *memberProc {
	t.Helper()
	m := &memberProc{name: name, done: make(chan struct{})}
	m.cmd = exec.Command(argv[0], argv[1:]...)
	m.cmd.Stderr = &m.stderr
	m.cmd.SysProcAttr = childProcAttr()
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", shellJoin(argv), err)
	}
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		// Only whole lines count. A member's stdout to a pipe is block
		// buffered, so a kill -9 can cut its output mid-line (a CI run
		// got "rec 4 "); the unterminated rest is what the kill cut
		// off, not something the member reported.
		br := bufio.NewReader(stdout)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				if line != "" {
					t.Logf("%s: dropped the unterminated last output %q", name, line)
				}
				return
			}
			m.parse(t, log, strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
		}
	}()
	go func() {
		<-parsed // Wait closes stdout: read it all first
		m.err = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.kill()
		if t.Failed() {
			if s := m.stderr.String(); s != "" {
				t.Logf("%s stderr (last 3000 bytes):\n%s", name, s[max(0, len(s)-3000):])
			}
		}
	})
	return m
}

func (m *memberProc) parse(t testing.TB, log *consumedLog, line string) {
	kind, rest, _ := strings.Cut(line, " ")
	switch kind {
	case "rec":
		f := strings.SplitN(rest, " ", 3)
		if len(f) == 3 {
			p, err1 := strconv.ParseInt(f[0], 10, 32)
			o, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				log.record(m.name, int32(p), o, f[2])
				return
			}
		}
	case "commit":
		f := strings.Fields(rest)
		if len(f) == 2 {
			p, err1 := strconv.ParseInt(f[0], 10, 32)
			o, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				log.commit(int32(p), o)
				return
			}
		}
	case "assigned":
		var ps []int32
		for _, s := range strings.Split(rest, ",") {
			if p, err := strconv.ParseInt(s, 10, 32); err == nil {
				ps = append(ps, int32(p))
			}
		}
		m.mu.Lock()
		m.assigned, m.assigns = ps, m.assigns+1
		m.mu.Unlock()
		return
	case "closed":
		return
	case "commit-error":
		// Expected around rebalances and broker restarts; the next
		// commit covers it.
		m.commitErrs.Add(1)
		m.lastCommitErr.Store(rest)
		return
	}
	t.Errorf("%s: unexpected output line %q", m.name, line)
}

func (m *memberProc) assignment() (partitions []int32, assigns int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assigned), m.assigns
}

func (m *memberProc) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

func (m *memberProc) kill() {
	if !m.exited() {
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// kill9 kills the member with SIGKILL: it leaves the group only when its
// session expires, and commits nothing more.
func (m *memberProc) kill9(t testing.TB) {
	t.Helper()
	if m.exited() {
		t.Fatalf("%s exited before it was killed: %v\nstderr:\n%s", m.name, m.err, m.stderr.String())
	}
	m.kill()
}

// stop sends SIGTERM and waits for a clean exit: the member commits (when
// it auto-commits) and leaves the group.
func (m *memberProc) stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	if m.exited() {
		t.Fatalf("%s exited before it was stopped: %v\nstderr:\n%s", m.name, m.err, m.stderr.String())
	}
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal %s: %v", m.name, err)
	}
	select {
	case <-m.done:
	case <-time.After(timeout):
		m.kill()
		t.Fatalf("%s still running %v after SIGTERM\nstderr:\n%s", m.name, timeout, m.stderr.String())
	}
	if m.err != nil {
		t.Fatalf("%s exited with %v after SIGTERM\nstderr:\n%s", m.name, m.err, m.stderr.String())
	}
}

// waitExit waits for a member that exits by itself (kcat -e).
func (m *memberProc) waitExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-m.done:
	case <-time.After(timeout):
		m.kill()
		t.Fatalf("%s did not exit within %v\nstderr:\n%s", m.name, timeout, m.stderr.String())
	}
	if m.err != nil {
		t.Fatalf("%s exited with %v\nstderr:\n%s", m.name, m.err, m.stderr.String())
	}
}

// kcatMember starts `kcat -G group topic`: a librdkafka balanced consumer
// that auto-commits every 500ms and on exit. With exitAtEnd it exits once
// every assigned partition is at its end (-e). settings are more
// librdkafka NAME=VALUE settings.
func kcatMember(t testing.TB, kcat string, b *Broker, log *consumedLog, name, group, topic string, exitAtEnd bool, settings ...string) *memberProc {
	args := []string{kcat, "-b", b.Addr, "-q", "-u",
		"-f", `rec %p %o %s\n`,
		"-X", "client.id=" + name,
		"-X", "auto.offset.reset=earliest",
		"-X", "session.timeout.ms=6000",
		"-X", "heartbeat.interval.ms=500",
		"-X", "auto.commit.interval.ms=500",
		"-X", "fetch.wait.max.ms=100",
	}
	for _, kv := range settings {
		args = append(args, "-X", kv)
	}
	if exitAtEnd {
		args = append(args, "-e")
	}
	args = append(args, "-G", group, topic)
	return startMember(t, log, name, args...)
}

// pythonMember starts python_groups.py with client "confluent" or
// "kafka-python" and commit "auto" or "sync"; name is its client ID, and
// settings more librdkafka NAME=VALUE settings (confluent only).
func pythonMember(t testing.TB, py string, b *Broker, log *consumedLog, name, client, commit, group, topic string, settings ...string) *memberProc {
	t.Helper()
	script := filepath.Join(t.TempDir(), "python_groups.py")
	if err := os.WriteFile(script, pythonGroupsScript, 0o644); err != nil {
		t.Fatal(err)
	}
	return startMember(t, log, name, append([]string{py, script, client, b.Addr, group, topic, commit, name}, settings...)...)
}

// goMember is a franz-go group member in this process that commits
// synchronously what every poll returned.
type goMember struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startGoMember(t testing.TB, b *Broker, log *consumedLog, name, group, topic string) *goMember {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addr),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// The eager range assignor, which librdkafka members also
		// speak, so that franz-go and librdkafka can share a group.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.RetryTimeout(time.Minute),
	)
	if err != nil {
		cancel()
		t.Fatalf("franz-go member: %v", err)
	}
	m := &goMember{name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			recs := fs.Records()
			for _, r := range recs {
				log.record(name, r.Partition, r.Offset, string(r.Value))
			}
			if len(recs) == 0 {
				continue
			}
			next := map[int32]int64{}
			for _, r := range recs {
				next[r.Partition] = r.Offset + 1
			}
			err := cl.CommitRecords(ctx, recs...)
			if err == nil {
				for p, o := range next {
					log.commit(p, o)
				}
			}
		}
	}()
	t.Cleanup(func() { m.stop() })
	return m
}

// stop leaves the group and closes the client.
func (m *goMember) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

// produceValues writes n records with values prefix-000000.. round-robin
// over the partitions of topic and returns the values.
func produceValues(t testing.TB, b *Broker, topic, prefix string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := b.Client(t,
		kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		// Not franz-go's default snappy: Debian's kafka-python has no
		// snappy codec.
		kgo.ProducerBatchCompression(kgo.GzipCompression()),
	)
	defer cl.Close()
	var values []string
	var recs []*kgo.Record
	for i := range n {
		v := fmt.Sprintf("%s-%06d", prefix, i)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return values
}

func createGroupTopic(t testing.TB, b *Broker, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := b.Admin(t).CreateTopic(ctx, partitions, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// describeGroup returns the group as DescribeGroups shows it; a group
// that does not exist (yet) is Dead.
func describeGroup(t testing.TB, b *Broker, group string) kadm.DescribedGroup {
	t.Helper()
	return describeGroupWith(t, b.Admin(t), group)
}

func describeGroupWith(t testing.TB, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	g, ok := gs[group]
	if !ok {
		t.Fatalf("describe group %s: not in the answer", group)
	}
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return kadm.DescribedGroup{Group: group, State: "Dead"}
	}
	if g.Err != nil {
		t.Fatalf("describe group %s: %v", group, g.Err)
	}
	return g
}

// waitGroup waits until group is in state with members members.
func waitGroup(t testing.TB, b *Broker, group, state string, members int, timeout time.Duration) kadm.DescribedGroup {
	t.Helper()
	deadline := time.Now().Add(timeout)
	adm := b.Admin(t)
	for {
		g := describeGroupWith(t, adm, group)
		if g.State == state && len(g.Members) == members {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s is %s with %d members after %v, want %s with %d", group, g.State, len(g.Members), timeout, state, members)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// memberPartitions returns the partitions of topic assigned to each member
// of a Stable consumer group, by client ID.
func memberPartitions(t testing.TB, g kadm.DescribedGroup, topic string) map[string][]int32 {
	t.Helper()
	out := map[string][]int32{}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			t.Fatalf("group %s member %s: assignment is not a consumer assignment", g.Group, m.MemberID)
		}
		for _, tp := range ca.Topics {
			if tp.Topic == topic {
				out[m.ClientID] = append(out[m.ClientID], tp.Partitions...)
			}
		}
		sort.Slice(out[m.ClientID], func(i, j int) bool { return out[m.ClientID][i] < out[m.ClientID][j] })
	}
	return out
}

// checkAssignment checks that the group's members share every partition
// of topic, each partition assigned once.
func checkAssignment(t testing.TB, g kadm.DescribedGroup, topic string, partitions int32) {
	t.Helper()
	owner := map[int32]string{}
	for id, ps := range memberPartitions(t, g, topic) {
		for _, p := range ps {
			if prev, ok := owner[p]; ok {
				t.Errorf("group %s: partition %d assigned to %s and %s", g.Group, p, prev, id)
			}
			owner[p] = id
		}
	}
	if len(owner) != int(partitions) {
		t.Errorf("group %s: %d of %d partitions assigned: %v", g.Group, len(owner), partitions, owner)
	}
}

// fetchCommitted returns the group's committed offsets of topic, through
// OffsetFetch.
func fetchCommitted(t testing.TB, b *Broker, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps, err := b.Admin(t).FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Topic == topic {
			out[r.Partition] = r.At
		}
	})
	return out
}

// checkCommittedAtEnd checks that the group committed every partition of
// topic up to its end offset.
func checkCommittedAtEnd(t testing.TB, b *Broker, group, topic string) {
	t.Helper()
	ends := endOffsets(t, b.Admin(t), topic)
	got := fetchCommitted(t, b, group, topic)
	for p, end := range ends {
		if got[p] != end {
			t.Errorf("group %s: committed offsets %v, want the end offsets %v", group, got, ends)
			return
		}
	}
}
