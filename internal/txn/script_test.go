package txn

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
// printed, sorted by name, then every marker written since. Time only
// moves with "advance". Run with -rewrite to regenerate the output.
//
// Commands:
//
//	config key=value...   before start: partitions, max-timeout, abort-interval,
//	                      id-expiration
//	start | restart       (re)start the coordinator on the same log and wait
//	                      for it to load
//	block-load | unblock-load  reads of the log wait (loading stalls) or resume
//	init NAME id= [timeout=60000] [pid=-1] [epoch=-1]
//	add NAME id= pid= epoch= parts=t/0,t/1 [verify]
//	end NAME id= pid= epoch= commit|abort
//	check NAME id= pid= epoch=
//	describe NAME id...
//	list NAME
//	advance DURATION      move the clock, firing timers
//	hold-markers | release-markers  marker writes wait, or go on
//	fail-markers N        the next N marker writes fail
//	hold | release        state writes wait to become durable until release
//	dump                  decode every record written so far

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/batch"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scripts")

func TestTxnScripts(t *testing.T) {
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

type block struct{ cmd, want, got string }

func runScript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	comments := map[int][]string{}
	var blocks []*block
	var cur *block
	inWant := false
	sc := bufio.NewScanner(strings.NewReader(string(data)))
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
			inWant = true
		case cur == nil:
			cur = &block{cmd: line}
			blocks = append(blocks, cur)
		default:
			t.Fatalf("%s: two commands in one block: %q", path, line)
		}
	}
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
	t       *testing.T
	log     *memLog
	markers *fakeMarkers
	clock   *manualClock
	cfg     Config
	c       *Coordinator
	nextPID int64

	mu      sync.Mutex // guards results
	results map[string]string
}

func newRunner(t *testing.T) *runner {
	r := &runner{t: t, log: newMemLog(), markers: newFakeMarkers(), clock: &manualClock{now: time.UnixMilli(1_000_000)}, results: map[string]string{}}
	r.cfg = Config{
		Storage: memStorage{r.log}, Markers: r.markers, Partitions: 1, Clock: r.clock,
		MaxTimeout: 15 * time.Minute, AbortInterval: 10 * time.Second, MarkerRetry: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewProducerID: func(context.Context) (int64, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.nextPID++
			return r.nextPID - 1 + 1000, nil
		},
	}
	return r
}

func (r *runner) stop() {
	r.markers.release()
	r.log.release()
	r.log.unblock()
	if r.c != nil {
		r.c.Stop()
	}
}

func (r *runner) start() {
	c, err := Start(context.Background(), r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.c = c
}

func (r *runner) async(name string, fn func(ctx context.Context) string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out := fn(ctx)
		r.mu.Lock()
		r.results[name] = out
		r.mu.Unlock()
	}()
}

// settle waits for the coordinator and its marker writers to go quiet.
func (r *runner) settle() {
	time.Sleep(20 * time.Millisecond)
	// Held writes or markers never go quiet: bound the wait.
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		if r.c == nil || r.c.quiet() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func args(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			v = "true"
		}
		m[k] = v
	}
	return m
}

func num(m map[string]string, k string, def int64) int64 {
	v, ok := m[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%s: %v", k, v, err))
	}
	return n
}

func parseParts(s string) []TP {
	var out []TP
	for _, p := range strings.Split(s, ",") {
		topic, part, _ := strings.Cut(p, "/")
		n, _ := strconv.Atoi(part)
		out = append(out, TP{topic, int32(n)})
	}
	return out
}

func (r *runner) exec(cmd string) string {
	fields := strings.Fields(cmd)
	var out []string
	name := ""
	if len(fields) > 1 {
		name = fields[1]
	}
	a := args(fields[1:])
	switch fields[0] {
	case "config":
		if v, ok := a["partitions"]; ok {
			n, _ := strconv.Atoi(v)
			r.cfg.Partitions = int32(n)
		}
		if v, ok := a["max-timeout"]; ok {
			d, _ := time.ParseDuration(v)
			r.cfg.MaxTimeout = d
		}
		if v, ok := a["id-expiration"]; ok {
			d, _ := time.ParseDuration(v)
			r.cfg.IDExpiration = d
		}
		if v, ok := a["abort-interval"]; ok {
			d, _ := time.ParseDuration(v)
			r.cfg.AbortInterval = d
		}
	case "start":
		r.start()
	case "restart":
		r.c.Stop()
		r.start()
	case "block-load":
		r.log.block()
	case "unblock-load":
		r.log.unblock()
	case "hold":
		r.log.hold()
	case "release":
		r.log.release()
	case "hold-markers":
		r.markers.hold()
	case "release-markers":
		r.markers.release()
	case "fail-markers":
		n, _ := strconv.Atoi(fields[1])
		r.markers.fail(n)
	case "advance":
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			r.t.Fatal(err)
		}
		r.clock.advance(d)
	case "init":
		r.async(name, func(ctx context.Context) string {
			res := r.c.InitProducerID(ctx, a["id"], int32(num(a, "timeout", 60000)), num(a, "pid", -1), int16(num(a, "epoch", -1)))
			if res.Err != nil {
				return errName(res.Err)
			}
			return fmt.Sprintf("pid=%d epoch=%d", res.ProducerID, res.Epoch)
		})
	case "add":
		parts := parseParts(a["parts"])
		r.async(name, func(ctx context.Context) string {
			res := r.c.AddPartitions(ctx, a["id"], num(a, "pid", -1), int16(num(a, "epoch", -1)), parts, a["verify"] == "true")
			var s []string
			for _, tp := range parts {
				s = append(s, tp.String()+"="+errName(res[tp]))
			}
			return strings.Join(s, " ")
		})
	case "end":
		r.async(name, func(ctx context.Context) string {
			return errName(r.c.EndTxn(ctx, a["id"], num(a, "pid", -1), int16(num(a, "epoch", -1)), a["commit"] == "true"))
		})
	case "check":
		r.async(name, func(ctx context.Context) string {
			return errName(r.c.Check(ctx, a["id"], num(a, "pid", -1), int16(num(a, "epoch", -1))))
		})
	case "describe":
		ids := fields[2:]
		r.async(name, func(ctx context.Context) string {
			var s []string
			for _, id := range ids {
				d, err := r.c.Describe(ctx, id)
				if err != nil {
					s = append(s, id+": "+errName(err))
					continue
				}
				s = append(s, describeLine(d))
			}
			return strings.Join(s, "; ")
		})
	case "list":
		r.async(name, func(ctx context.Context) string {
			ds, loading := r.c.List(ctx)
			var s []string
			for _, d := range ds {
				s = append(s, d.ID+"="+d.State.String())
			}
			if loading {
				s = append(s, "(loading)")
			}
			return strings.Join(s, " ")
		})
	case "dump":
		out = append(out, r.log.dump()...)
	default:
		r.t.Fatalf("unknown command %q", cmd)
	}
	r.settle()
	r.mu.Lock()
	names := make([]string, 0, len(r.results))
	for n := range r.results {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, n+": "+r.results[n])
	}
	r.results = map[string]string{}
	r.mu.Unlock()
	out = append(out, r.markers.take()...)
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

func describeLine(d Description) string {
	var parts []string
	for _, tp := range d.Partitions {
		parts = append(parts, tp.String())
	}
	start := "-"
	if d.StartMs >= 0 {
		start = strconv.FormatInt(d.StartMs, 10)
	}
	return fmt.Sprintf("%s %s pid=%d epoch=%d timeout=%d start=%s parts=[%s]", d.ID, d.State, d.ProducerID, d.Epoch, d.TimeoutMs, start, strings.Join(parts, " "))
}

// quiet reports whether no state write or marker write is in progress.
func (c *Coordinator) quiet() bool {
	for _, s := range c.shards {
		ch := make(chan bool, 1)
		s.q.push(func() {
			q := s.inflight == 0
			for _, m := range s.txns {
				if m.busy {
					q = false
				}
			}
			ch <- q
		})
		select {
		case q := <-ch:
			if !q {
				return false
			}
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}
	return true
}

// memLog is an in-memory state topic partition.
type memLog struct {
	mu      sync.Mutex // guards the following
	batches [][]byte
	next    int64
	held    chan struct{} // non-nil while appends are held
	blocked chan struct{} // non-nil while reads block
}

func newMemLog() *memLog { return &memLog{} }

func (l *memLog) Append(_ context.Context, raw []byte) (func(context.Context) error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append([]byte(nil), raw...)
	batch.SetBaseOffset(b, l.next)
	l.next++
	l.batches = append(l.batches, b)
	held := l.held
	return func(ctx context.Context) error {
		if held != nil {
			select {
			case <-held:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}, nil
}

func (l *memLog) Read(ctx context.Context, offset int64, _ int) ([]byte, error) {
	l.mu.Lock()
	blocked := l.blocked
	l.mu.Unlock()
	if blocked != nil {
		select {
		case <-blocked:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches[offset:] {
		out = append(out, b...)
	}
	return out, nil
}

func (l *memLog) Bounds() (int64, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, l.next
}

func (l *memLog) hold() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = make(chan struct{})
	}
}

func (l *memLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held != nil {
		close(l.held)
		l.held = nil
	}
}

func (l *memLog) block() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blocked == nil {
		l.blocked = make(chan struct{})
	}
}

func (l *memLog) unblock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blocked != nil {
		close(l.blocked)
		l.blocked = nil
	}
}

func (l *memLog) dump() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, b := range l.batches {
		_ = batch.Records(b, func(rec batch.Record) bool {
			id, m, _, err := decodeRecord(rec.Key, rec.Value)
			switch {
			case err != nil:
				out = append(out, "bad: "+err.Error())
			case m == nil:
				out = append(out, id+" deleted")
			default:
				out = append(out, describeLine(m.describe()))
			}
			return true
		})
	}
	return out
}

type memStorage struct{ l *memLog }

func (s memStorage) Open(context.Context, int32) ([]Log, error) { return []Log{s.l}, nil }

// fakeMarkers records the markers the coordinator writes.
type fakeMarkers struct {
	mu      sync.Mutex // guards the following
	written []string
	held    chan struct{}
	failN   int
}

func newFakeMarkers() *fakeMarkers { return &fakeMarkers{} }

func (f *fakeMarkers) WriteMarkers(ctx context.Context, parts []TP, pid int64, epoch int16, commit bool) error {
	f.mu.Lock()
	held := f.held
	f.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failN > 0 {
		f.failN--
		f.written = append(f.written, "markers failed")
		return errors.New("injected marker failure")
	}
	kind := "abort"
	if commit {
		kind = "commit"
	}
	for _, tp := range parts {
		f.written = append(f.written, fmt.Sprintf("marker %s %s pid=%d epoch=%d", tp, kind, pid, epoch))
	}
	return nil
}

func (f *fakeMarkers) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held == nil {
		f.held = make(chan struct{})
	}
}

func (f *fakeMarkers) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held != nil {
		close(f.held)
		f.held = nil
	}
}

func (f *fakeMarkers) fail(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failN = n
}

func (f *fakeMarkers) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.written
	f.written = nil
	return out
}

// manualClock moves only when told; timers fire on advance, in order.
type manualClock struct {
	mu     sync.Mutex // guards the following
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c       *manualClock
	at      time.Time
	f       func()
	stopped bool
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		var due *manualTimer
		for i, t := range c.timers {
			if t.stopped {
				continue
			}
			if !t.at.After(end) {
				due = t
				c.timers = append(c.timers[:i:i], c.timers[i+1:]...)
			}
			break
		}
		if due == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.now = due.at
		due.stopped = true
		c.mu.Unlock()
		due.f()
		time.Sleep(20 * time.Millisecond) // let the loop run what fired
	}
}
