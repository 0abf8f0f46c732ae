package group

// Data-driven tests of the coordinator's state machine. Each file in
// testdata/ is a sequence of blocks:
//
//	command args...
//	----
//	expected output
//
// separated by blank lines; lines starting with # are comments. Requests
// are named (the first argument) and run concurrently; after each command
// the coordinator is left to settle and every request answered since is
// printed, sorted by name. Time only moves with "advance". Run with
// -rewrite to regenerate the expected output.
//
// Commands:
//
//	config key=value...   before start: partitions, min-session, max-session,
//	                      initial-delay, retention, retention-check, max-metadata
//	start | restart [nowait]  start the coordinator and wait for it to load;
//	                      restart stops it and starts a new one on the same storage
//	block-load | unblock-load  reads of the log wait (loading stalls) or resume
//	join NAME group= [member=] [client=] [instance=] [session=10s] [rebalance=]
//	     [protocols=range,roundrobin:meta|-] [type=consumer|-] [topics=a+b] [v=9]
//	sync NAME group= member= gen= [instance=] [assign=m:a,m:a] [ptype=] [proto=]
//	heartbeat NAME group= member= gen= [instance=]
//	leave NAME group= [members=m,m] [instances=i,-]
//	commit NAME group= [member=] [gen=-1] [instance=] offsets=t/0=5,t/1=7 [metadata=] [v=9]
//	fetch NAME group= [partitions=t/0,t/1] [stable] [member= epoch=]
//	describe NAME group...
//	list NAME [states=a,b] [types=a,b]
//	delete NAME group...
//	delete-offsets NAME group= partitions=t/0,...
//	delete-topics NAME topics=t,u   offsets of deleted topics go from every group
//	topics t=3 u=2        the broker's topics for consumer groups (name=partitions; 0 deletes)
//	cghb NAME group= member= epoch= [instance=] [topics=a+b] [regex=] [assignor=]
//	     [owned=t:0+1,u:2|none] [rebalance=] [v=0]
//	                      ConsumerGroupHeartbeat; owned absent is a keepalive (nil)
//	                      except on joins, where it is an empty list
//	cgdescribe NAME group...
//	advance DURATION      move the clock, firing timers in order
//	hold | release        appends wait to become durable until release
//	fail | unfail         appends fail
//	dump                  decode every record written so far

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scripts")

func TestGroupScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScript(t, f)
		})
	}
}

type block struct {
	cmd  string
	want string
	got  string
}

func parseScript(t *testing.T, path string) (blocks []*block, comments map[int][]string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	comments = map[int][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	var cur *block
	inWant := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inWant && line == "":
			inWant, cur = false, nil
		case inWant:
			cur.want += line + "\n"
		case strings.HasPrefix(line, "#") || (line == "" && cur == nil):
			comments[len(blocks)] = append(comments[len(blocks)], line)
		case line == "----":
			if cur == nil {
				t.Fatalf("%s: ---- without a command", path)
			}
			inWant = true
		case cur == nil:
			cur = &block{cmd: line}
			blocks = append(blocks, cur)
		default:
			t.Fatalf("%s: two commands in one block: %q", path, line)
		}
	}
	return blocks, comments
}

func runScript(t *testing.T, path string) {
	blocks, comments := parseScript(t, path)
	r := newRunner(t)
	defer r.stop()
	for _, b := range blocks {
		b.got = r.exec(b.cmd)
		if !*rewrite && b.got != b.want {
			t.Errorf("%s: %s\ngot:\n%swant:\n%s", path, b.cmd, b.got, b.want)
		}
	}
	if *rewrite {
		var sb strings.Builder
		for i, b := range blocks {
			for _, c := range comments[i] {
				sb.WriteString(c + "\n")
			}
			fmt.Fprintf(&sb, "%s\n----\n%s\n", b.cmd, b.got)
		}
		for _, c := range comments[len(blocks)] {
			sb.WriteString(c + "\n")
		}
		if err := os.WriteFile(path, []byte(strings.TrimRight(sb.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type runner struct {
	t     *testing.T
	st    *memStorage
	clock *manualClock
	cfg   Config
	c     *Coordinator
	ids   atomic.Int64

	started  int
	finished atomic.Int64
	mu       sync.Mutex        // guards the following
	results  map[string]string // answered, not yet printed
	topics   map[string]int32  // the broker's topics, for consumer groups
}

func newRunner(t *testing.T) *runner {
	r := &runner{t: t, st: &memStorage{}, clock: newManualClock(), results: map[string]string{}, topics: map[string]int32{}}
	r.cfg = Config{
		Topics:                r.topicInfos,
		Storage:               r.st,
		Partitions:            1,
		MinSessionTimeout:     time.Second,
		MaxSessionTimeout:     time.Minute,
		InitialRebalanceDelay: 0,
		Clock:                 r.clock,
		Logger:                testLogger(),
		NewMemberID: func(clientID string, instanceID *string) string {
			p := clientID
			if instanceID != nil {
				p = *instanceID
			}
			return fmt.Sprintf("%s-%d", p, r.ids.Add(1))
		},
	}
	return r
}

func (r *runner) stop() {
	if r.c != nil {
		r.c.Stop()
	}
}

func (r *runner) start(wait bool) {
	c, err := Start(context.Background(), r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.c = c
	if !wait {
		return
	}
	if err := c.WaitLoaded(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// async runs a request; its answer is printed once it arrives.
func (r *runner) async(name string, fn func(context.Context) string) {
	r.started++
	go func() {
		out := fn(context.Background())
		r.mu.Lock()
		r.results[name] = out
		r.mu.Unlock()
		r.finished.Add(1)
	}()
}

// settle waits until the coordinator is idle and every request is either
// answered or parked in it.
func (r *runner) settle() {
	if r.c == nil {
		return
	}
	for i := 0; ; i++ {
		r.c.settle(r.st)
		p, f := r.c.parked.Load(), r.finished.Load()
		if int64(r.started) == f+p {
			r.c.settle(r.st)
			if r.c.parked.Load() == p && r.finished.Load() == f {
				return
			}
		}
		if i > 20000 {
			r.t.Fatalf("coordinator does not settle: started %d finished %d parked %d", r.started, f, p)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (r *runner) exec(line string) string {
	fields := strings.Fields(line)
	cmd, args := fields[0], fields[1:]
	name := ""
	kv := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	if len(pos) > 0 {
		name = pos[0]
	}
	switch cmd {
	case "config":
		r.config(kv)
		return ""
	case "start":
		r.start(!slices.Contains(pos, "nowait"))
	case "block-load", "unblock-load":
		for _, l := range r.st.logs {
			l.mu.Lock()
			if cmd == "block-load" {
				l.gate = make(chan struct{})
			} else if l.gate != nil {
				close(l.gate)
				l.gate = nil
			}
			l.mu.Unlock()
		}
		if cmd == "unblock-load" && r.c != nil {
			if err := r.c.WaitLoaded(context.Background()); err != nil {
				r.t.Fatal(err)
			}
		}
	case "restart":
		r.c.Stop()
		r.settleAfterStop()
		r.start(!slices.Contains(pos, "nowait"))
	case "advance":
		d, err := time.ParseDuration(name)
		if err != nil {
			r.t.Fatal(err)
		}
		r.settle()
		r.clock.advance(d, r.settle)
	case "hold", "release":
		for _, l := range r.st.logs {
			l.setHold(cmd == "hold")
		}
	case "fail", "unfail":
		for _, l := range r.st.logs {
			l.mu.Lock()
			l.fail = nil
			if cmd == "fail" {
				l.fail = fmt.Errorf("injected failure")
			}
			l.mu.Unlock()
		}
	case "dump":
		r.settle()
		return r.dump()
	case "topics":
		r.mu.Lock()
		for t, n := range kv {
			if n == "0" {
				delete(r.topics, t)
			} else {
				r.topics[t] = int32(atoi(n))
			}
		}
		r.mu.Unlock()
		return ""
	case "cghb":
		r.cghb(name, kv)
	case "cgdescribe":
		groups := pos[1:]
		r.async(name, func(ctx context.Context) string {
			var out []string
			for _, d := range r.c.ConsumerDescribe(ctx, groups) {
				out = append(out, r.formatConsumerDescribed(d))
			}
			return strings.Join(out, "\n   ")
		})
	case "join":
		r.join(name, kv)
	case "sync":
		r.sync(name, kv)
	case "heartbeat":
		req := HeartbeatRequest{Group: kv["group"], MemberID: kv["member"], InstanceID: optStr(kv, "instance"), Generation: int32(atoi(kv["gen"]))}
		r.async(name, func(ctx context.Context) string { return errName(r.c.Heartbeat(ctx, req)) })
	case "leave":
		var ms []LeaveMember
		ids := splitList(kv["members"])
		insts := splitList(kv["instances"])
		for i := range max(len(ids), len(insts)) {
			var lm LeaveMember
			if i < len(ids) && ids[i] != "-" {
				lm.MemberID = ids[i]
			}
			if i < len(insts) && insts[i] != "-" {
				lm.InstanceID = &insts[i]
			}
			ms = append(ms, lm)
		}
		g := kv["group"]
		r.async(name, func(ctx context.Context) string {
			res := r.c.Leave(ctx, g, ms)
			if res.Err != nil {
				return errName(res.Err)
			}
			var out []string
			for _, e := range res.Members {
				out = append(out, errName(e))
			}
			return strings.Join(out, " ")
		})
	case "commit":
		r.commit(name, kv)
	case "fetch":
		req := FetchRequest{Group: kv["group"], RequireStable: slices.Contains(pos, "stable")}
		if e, ok := kv["epoch"]; ok {
			req.CheckMember, req.MemberID, req.MemberEpoch = true, kv["member"], int32(atoi(e))
		}
		if p, ok := kv["partitions"]; ok {
			req.Partitions = parsePartitions(p)
		}
		r.async(name, func(ctx context.Context) string {
			res := r.c.Fetch(ctx, req)
			if res.Err != nil {
				return errName(res.Err)
			}
			var out []string
			for _, o := range res.Offsets {
				s := fmt.Sprintf("%s/%d=%d", o.Topic, o.Partition, o.Offset)
				if o.LeaderEpoch >= 0 {
					s += fmt.Sprintf("@%d", o.LeaderEpoch)
				}
				if o.Metadata != "" {
					s += ":" + o.Metadata
				}
				if o.Err != nil {
					s += "!" + errName(o.Err)
				}
				out = append(out, s)
			}
			return "[" + strings.Join(out, " ") + "]"
		})
	case "describe":
		groups := pos[1:]
		r.async(name, func(ctx context.Context) string {
			var out []string
			for _, d := range r.c.Describe(ctx, groups) {
				out = append(out, formatDescribed(d))
			}
			return strings.Join(out, "\n   ")
		})
	case "list":
		states, types := splitList(kv["states"]), splitList(kv["types"])
		r.async(name, func(ctx context.Context) string {
			gs, err := r.c.List(ctx, states, types)
			var out []string
			for _, g := range gs {
				out = append(out, fmt.Sprintf("%s(%s,%q,%s)", g.Group, g.State, g.ProtocolType, g.Type))
			}
			s := "[" + strings.Join(out, " ") + "]"
			if err != nil {
				s += " " + errName(err)
			}
			return s
		})
	case "delete":
		groups := pos[1:]
		r.async(name, func(ctx context.Context) string {
			var out []string
			for _, e := range r.c.Delete(ctx, groups) {
				out = append(out, errName(e))
			}
			return strings.Join(out, " ")
		})
	case "delete-offsets":
		g, tps := kv["group"], parsePartitions(kv["partitions"])
		r.async(name, func(ctx context.Context) string {
			res := r.c.DeleteOffsets(ctx, g, tps)
			if res.Err != nil {
				return errName(res.Err)
			}
			var out []string
			for _, e := range res.Partitions {
				out = append(out, errName(e))
			}
			return strings.Join(out, " ")
		})
	case "delete-topics":
		topics := strings.Split(kv["topics"], ",")
		r.async(name, func(ctx context.Context) string {
			return errName(r.c.DeleteTopicOffsets(ctx, topics))
		})
	default:
		r.t.Fatalf("unknown command %q", cmd)
	}
	r.settle()
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.results))
	for n := range r.results {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "%s: %s\n", n, r.results[n])
	}
	clear(r.results)
	return sb.String()
}

// settleAfterStop waits for requests parked in a stopped coordinator to
// be answered.
func (r *runner) settleAfterStop() {
	deadline := time.Now().Add(10 * time.Second)
	for int64(r.started) != r.finished.Load() {
		if time.Now().After(deadline) {
			r.t.Fatal("requests still parked after stop")
		}
		time.Sleep(time.Millisecond)
	}
	r.started, r.c = 0, nil
	r.finished.Store(0)
}

func (r *runner) config(kv map[string]string) {
	for k, v := range kv {
		switch k {
		case "partitions":
			r.cfg.Partitions = int32(atoi(v))
		case "min-session":
			r.cfg.MinSessionTimeout = dur(v)
		case "max-session":
			r.cfg.MaxSessionTimeout = dur(v)
		case "initial-delay":
			r.cfg.InitialRebalanceDelay = dur(v)
		case "retention":
			r.cfg.OffsetsRetention = dur(v)
		case "retention-check":
			r.cfg.OffsetsRetentionCheckInterval = dur(v)
		case "max-metadata":
			r.cfg.MaxMetadataBytes = atoi(v)
		case "new-member-timeout":
			r.cfg.NewMemberJoinTimeout = dur(v)
		case "consumer-session":
			r.cfg.ConsumerSessionTimeout = dur(v)
		case "consumer-heartbeat":
			r.cfg.ConsumerHeartbeatInterval = dur(v)
		default:
			r.t.Fatalf("unknown config %q", k)
		}
	}
}

func (r *runner) join(name string, kv map[string]string) {
	req := JoinRequest{
		Group:                  kv["group"],
		MemberID:               kv["member"],
		InstanceID:             optStr(kv, "instance"),
		ClientID:               or(kv["client"], "client"),
		ClientHost:             "/127.0.0.1",
		SessionTimeoutMs:       int32(dur(or(kv["session"], "10s")).Milliseconds()),
		ProtocolType:           or(kv["type"], "consumer"),
		RequireKnownMemberID:   atoi(or(kv["v"], "9")) >= 4,
		SupportsSkipAssignment: atoi(or(kv["v"], "9")) >= 9,
	}
	if kv["type"] == "-" {
		req.ProtocolType = ""
	}
	req.RebalanceTimeoutMs = int32(dur(or(kv["rebalance"], or(kv["session"], "10s"))).Milliseconds())
	var md []byte
	if topics, ok := kv["topics"]; ok {
		m := kmsg.ConsumerMemberMetadata{Topics: strings.Split(topics, "+")}
		md = m.AppendTo(nil)
	}
	protocols := splitList(or(kv["protocols"], "range"))
	if kv["protocols"] == "-" {
		protocols = nil
	}
	for _, p := range protocols {
		n, meta, _ := strings.Cut(p, ":")
		pm := []byte(meta)
		if md != nil {
			pm = md
		}
		req.Protocols = append(req.Protocols, Protocol{Name: n, Metadata: pm})
	}
	r.async(name, func(ctx context.Context) string {
		res := r.c.Join(ctx, req)
		if res.Err != nil {
			s := errName(res.Err)
			if res.MemberID != "" {
				s += " member=" + res.MemberID
			}
			return s
		}
		s := fmt.Sprintf("gen=%d member=%s leader=%s protocol=%s", res.Generation, res.MemberID, res.Leader, deref(res.Protocol))
		if res.SkipAssignment {
			s += " skip-assignment"
		}
		if len(res.Members) > 0 {
			var ms []string
			for _, m := range res.Members {
				ms = append(ms, m.MemberID)
			}
			s += " members=[" + strings.Join(ms, " ") + "]"
		}
		return s
	})
}

func (r *runner) sync(name string, kv map[string]string) {
	req := SyncRequest{Group: kv["group"], MemberID: kv["member"], InstanceID: optStr(kv, "instance"), Generation: int32(atoi(kv["gen"]))}
	req.ProtocolType, req.Protocol = optStr(kv, "ptype"), optStr(kv, "proto")
	if a, ok := kv["assign"]; ok {
		req.Assignments = map[string][]byte{}
		for _, e := range splitList(a) {
			m, v, _ := strings.Cut(e, ":")
			req.Assignments[m] = []byte(v)
		}
	}
	r.async(name, func(ctx context.Context) string {
		res := r.c.Sync(ctx, req)
		if res.Err != nil {
			return errName(res.Err)
		}
		return fmt.Sprintf("assignment=%q protocol=%s", res.Assignment, deref(res.Protocol))
	})
}

func (r *runner) commit(name string, kv map[string]string) {
	req := CommitRequest{
		Group:         kv["group"],
		MemberID:      kv["member"],
		InstanceID:    optStr(kv, "instance"),
		Generation:    int32(atoi(or(kv["gen"], "-1"))),
		GroupNotFound: atoi(or(kv["v"], "9")) >= 9,
		Version:       int16(atoi(or(kv["v"], "9"))),
	}
	for _, e := range splitList(kv["offsets"]) {
		tp, off, _ := strings.Cut(e, "=")
		p := parsePartitions(tp)[0]
		co := CommitOffset{TopicPartition: p, Offset: int64(atoi(off)), LeaderEpoch: -1}
		if md, ok := kv["metadata"]; ok {
			co.Metadata = &md
		}
		req.Offsets = append(req.Offsets, co)
	}
	r.async(name, func(ctx context.Context) string {
		var out []string
		for i, e := range r.c.Commit(ctx, req) {
			o := req.Offsets[i]
			out = append(out, fmt.Sprintf("%s/%d=%s", o.Topic, o.Partition, errName(e)))
		}
		return strings.Join(out, " ")
	})
}

// dump decodes every record in the logs, as Kafka's schemas define them.
func (r *runner) dump() string {
	var sb strings.Builder
	for i, l := range r.st.logs {
		l.mu.Lock()
		for _, b := range l.batches {
			err := batch.Records(b, func(rec batch.Record) bool {
				ld, ok, err := decodeRecord(rec.Key, rec.Value)
				switch {
				case err != nil:
					fmt.Fprintf(&sb, "p%d@%d: %v\n", i, rec.Offset, err)
				case !ok:
					fmt.Fprintf(&sb, "p%d@%d: unknown record\n", i, rec.Offset)
				case ld.offset != nil && ld.offset.delete:
					fmt.Fprintf(&sb, "p%d@%d: offset %s %s/%d deleted\n", i, rec.Offset, ld.group, ld.offset.tp.Topic, ld.offset.tp.Partition)
				case ld.offset != nil:
					v := ld.offset.value
					fmt.Fprintf(&sb, "p%d@%d: offset %s %s/%d=%d epoch=%d metadata=%q\n", i, rec.Offset, ld.group, ld.offset.tp.Topic, ld.offset.tp.Partition, v.offset, v.leaderEpoch, v.metadata)
				case ld.consumer != nil && ld.consumer.snap == nil:
					fmt.Fprintf(&sb, "p%d@%d: consumer group %s deleted\n", i, rec.Offset, ld.group)
				case ld.consumer != nil:
					c := ld.consumer.snap
					var ms []string
					for _, m := range c.members {
						e := fmt.Sprintf("%s(e%d/%d %s a=%s", m.id, m.epoch, m.prevEpoch, m.state, r.fmtAssignment(m.assigned))
						if len(m.revoking) > 0 {
							e += " r=" + r.fmtAssignment(m.revoking)
						}
						ms = append(ms, e+" t="+r.fmtAssignment(c.targets[m.id])+")")
					}
					fmt.Fprintf(&sb, "p%d@%d: consumer group %s epoch=%d target=%d members=[%s]\n", i, rec.Offset, ld.group, c.epoch, c.targetEpoch, strings.Join(ms, " "))
				case ld.meta.delete:
					fmt.Fprintf(&sb, "p%d@%d: group %s deleted\n", i, rec.Offset, ld.group)
				default:
					v := ld.meta.value
					var ms []string
					for _, m := range v.Members {
						s := fmt.Sprintf("%s(%q)", m.MemberID, m.Assignment)
						if m.InstanceID != nil {
							s = *m.InstanceID + "=" + s
						}
						ms = append(ms, s)
					}
					fmt.Fprintf(&sb, "p%d@%d: group %s type=%q gen=%d protocol=%s leader=%s members=[%s]\n", i, rec.Offset, ld.group, v.ProtocolType, v.Generation, deref(v.Protocol), deref(v.Leader), strings.Join(ms, " "))
				}
				return true
			})
			if err != nil {
				fmt.Fprintf(&sb, "p%d: %v\n", i, err)
			}
		}
		l.mu.Unlock()
	}
	return sb.String()
}

func formatDescribed(d Described) string {
	s := fmt.Sprintf("%s: state=%s", d.Group, d.State)
	if d.Err != nil {
		s += " " + errName(d.Err)
	}
	if d.ProtocolType != "" {
		s += " type=" + d.ProtocolType
	}
	if d.Protocol != "" {
		s += " protocol=" + d.Protocol
	}
	if len(d.Members) > 0 {
		var ms []string
		for _, m := range d.Members {
			e := m.MemberID
			if m.InstanceID != nil {
				e = *m.InstanceID + "=" + e
			}
			if m.Assignment != nil {
				e += fmt.Sprintf("(%q)", m.Assignment)
			}
			ms = append(ms, e)
		}
		s += " members=[" + strings.Join(ms, " ") + "]"
	}
	return s
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Message
	}
	return err.Error()
}

func parsePartitions(s string) []TopicPartition {
	var out []TopicPartition
	for _, e := range splitList(s) {
		t, p, _ := strings.Cut(e, "/")
		out = append(out, TopicPartition{Topic: t, Partition: int32(atoi(p))})
	}
	return out
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func optStr(kv map[string]string, k string) *string {
	if v, ok := kv[k]; ok {
		return &v
	}
	return nil
}

func or(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("bad number %q", s))
	}
	return n
}

func dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(fmt.Sprintf("bad duration %q", s))
	}
	return d
}

// topicID is a script topic's ID: its name, padded.
func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	return id
}

func (r *runner) topicInfos() []TopicInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []TopicInfo
	for t, n := range r.topics {
		out = append(out, TopicInfo{Name: t, ID: topicID(t), Partitions: n})
	}
	return out
}

// fmtAssignment prints an assignment as t:0+1 u:2, topics by name.
func (r *runner) fmtAssignment(a assignment) string {
	return r.fmtTPs(a.list())
}

func (r *runner) fmtTPs(tps []TopicPartitions) string {
	var out []string
	for _, t := range tps {
		name := strings.TrimRight(string(t.TopicID[:]), "\x00")
		var ps []string
		for _, p := range t.Partitions {
			ps = append(ps, strconv.Itoa(int(p)))
		}
		out = append(out, name+":"+strings.Join(ps, "+"))
	}
	sort.Strings(out)
	return "[" + strings.Join(out, " ") + "]"
}

func parseTPs(s string) []TopicPartitions {
	out := []TopicPartitions{}
	if s == "none" {
		return out
	}
	for _, e := range splitList(s) {
		t, ps, _ := strings.Cut(e, ":")
		tp := TopicPartitions{TopicID: topicID(t)}
		for _, p := range strings.Split(ps, "+") {
			tp.Partitions = append(tp.Partitions, int32(atoi(p)))
		}
		out = append(out, tp)
	}
	return out
}

func (r *runner) cghb(name string, kv map[string]string) {
	epoch := int32(atoi(kv["epoch"]))
	req := ConsumerHeartbeatRequest{
		Group:                kv["group"],
		MemberID:             kv["member"],
		MemberEpoch:          epoch,
		InstanceID:           optStr(kv, "instance"),
		RebalanceTimeoutMs:   -1,
		ServerAssignor:       optStr(kv, "assignor"),
		ClientID:             "client",
		ClientHost:           "/127.0.0.1",
		MemberIDRequired:     or(kv["v"], "1") != "0",
		SubscribedTopicRegex: optStr(kv, "regex"),
	}
	if t, ok := kv["topics"]; ok {
		req.SubscribedTopicNames = []string{}
		if t != "" {
			req.SubscribedTopicNames = strings.Split(t, "+")
		}
	}
	if epoch == 0 {
		req.RebalanceTimeoutMs = 30000
		req.Owned = []TopicPartitions{}
	}
	if rb, ok := kv["rebalance"]; ok {
		req.RebalanceTimeoutMs = int32(dur(rb).Milliseconds())
	}
	if o, ok := kv["owned"]; ok {
		req.Owned = parseTPs(o)
	}
	r.async(name, func(ctx context.Context) string {
		res := r.c.ConsumerHeartbeat(ctx, req)
		if res.Err != nil {
			s := errName(res.Err)
			if res.ErrMessage != "" {
				s += fmt.Sprintf(" (%s)", res.ErrMessage)
			}
			return s
		}
		s := fmt.Sprintf("member=%s epoch=%d", res.MemberID, res.MemberEpoch)
		if res.HasAssignment {
			s += " assigned=" + r.fmtTPs(res.Assignment)
		}
		return s
	})
}

func (r *runner) formatConsumerDescribed(d ConsumerDescribed) string {
	if d.Err != nil {
		return fmt.Sprintf("%s: %s (%s)", d.Group, errName(d.Err), d.ErrMessage)
	}
	var ms []string
	for _, m := range d.Members {
		e := m.MemberID
		if m.InstanceID != nil {
			e = *m.InstanceID + "=" + e
		}
		sub := strings.Join(m.SubscribedTopicNames, "+")
		if m.SubscribedTopicRegex != nil {
			sub += "/" + *m.SubscribedTopicRegex + "/"
		}
		ms = append(ms, fmt.Sprintf("%s(e%d %s a=%s t=%s)", e, m.MemberEpoch, sub, r.fmtTPs(m.Assignment), r.fmtTPs(m.TargetAssignment)))
	}
	return fmt.Sprintf("%s: state=%s epoch=%d target=%d assignor=%s members=[%s]", d.Group, d.State, d.Epoch, d.AssignmentEpoch, d.Assignor, strings.Join(ms, " "))
}
