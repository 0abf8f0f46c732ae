package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed python_idempotent.py
var pythonIdempotentScript []byte

// checkExactlyOnce reads topic and checks that it holds every value
// "<prefix><i>" for i in [0, n) exactly once and that, within each
// partition, the values of each key increase (idempotent producers keep
// order through retries).
func checkExactlyOnce(t *testing.T, b *Broker, topic, prefix string, n int) {
	t.Helper()
	seen := make(map[int]bool, n)
	total := 0
	for p, recs := range readAll(t, b, topic) {
		last := map[string]int{}
		for _, r := range recs {
			total++
			i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), prefix))
			if err != nil || !strings.HasPrefix(string(r.Value), prefix) {
				t.Fatalf("partition %d offset %d: unexpected value %q", p, r.Offset, r.Value)
			}
			if seen[i] {
				t.Fatalf("value %d is in the log twice (partition %d offset %d)", i, p, r.Offset)
			}
			seen[i] = true
			if prev, ok := last[string(r.Key)]; ok && i < prev {
				t.Fatalf("partition %d key %s: %d at offset %d after %d: reordered", p, r.Key, i, r.Offset, prev)
			}
			last[string(r.Key)] = i
		}
	}
	if total != n || len(seen) != n {
		var missing []int
		for i := 0; i < n && len(missing) < 20; i++ {
			if !seen[i] {
				missing = append(missing, i)
			}
		}
		t.Fatalf("%s holds %d records (%d distinct), want %d; first missing: %v", topic, total, len(seen), n, missing)
	}
}

// TestIdempotentFranzGo: franz-go's default producer (idempotent, acks
// all) writes through dropped answers and a kill -9 and restart of the
// broker: every record is in the log exactly once, in order. The
// connection cuts make franz-go retry requests the broker already
// appended; the crash makes it retry batches whose answers died with the
// broker, against producer state rebuilt from the WAL.
func TestIdempotentFranzGo(t *testing.T) {
	b := StartBroker(t, BrokerOptions{Sets: []string{"weir.upload.interval.ms=200"}})
	const topic, n = "idem-franz", 30000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if resp, err := b.Admin(t).CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	proxy := startCutProxy(t, b.Addr)
	cl := b.Client(t,
		kgo.DefaultProduceTopic(topic),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, proxy.addr())
		}),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.RecordDeliveryTimeout(2*time.Minute),
	)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for i := range n {
		if i == n/2 {
			b.Kill9(t)
			time.Sleep(300 * time.Millisecond) // let the client notice
			b.Restart(t)
		}
		if i%10 == 0 {
			time.Sleep(200 * time.Microsecond)
		}
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 8)), Value: []byte(fmt.Sprint(i))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d records failed, first: %v", failed.Load(), firstErr.Load())
	}
	t.Logf("%d answers dropped by the proxy", proxy.cuts.Load())
	if proxy.cuts.Load() == 0 {
		t.Fatal("the proxy dropped no answers")
	}
	checkExactlyOnce(t, b, topic, "", n)
	// And once more after a clean restart, from object storage.
	b.Kill9(t)
	b.Restart(t)
	checkExactlyOnce(t, b, topic, "", n)
}

// TestIdempotentLibrdkafka: librdkafka's idempotent producer
// (confluent-kafka, enable.idempotence=true) writes through a kill -9 and
// restart of the broker: no record lost, none twice, order kept.
func TestIdempotentLibrdkafka(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{})
	const topic, n = "idem-rdkafka", 20000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if resp, err := b.Admin(t).CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "python_idempotent.py")
	if err := os.WriteFile(script, pythonIdempotentScript, 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "half")
	cmd := exec.CommandContext(ctx, py, script, b.Addr, topic, fmt.Sprint(n), marker)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the script never got half way")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Kill9(t)
	time.Sleep(500 * time.Millisecond)
	b.Restart(t)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	var res struct {
		Delivered   int      `json:"delivered"`
		Failed      []string `json:"failed"`
		FailedCount int      `json:"failed_count"`
		Undelivered int      `json:"undelivered"`
		Errors      []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("script output: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, e := range res.Errors {
		t.Logf("librdkafka error callback: %s", e)
	}
	if res.Delivered != n || res.FailedCount > 0 || res.Undelivered > 0 {
		t.Fatalf("librdkafka delivered %d of %d, %d failed (%v), %d undelivered", res.Delivered, n, res.FailedCount, res.Failed, res.Undelivered)
	}
	checkExactlyOnce(t, b, topic, "", n)
}

// cutProxy forwards connections to the broker and drops every 7th answer
// by closing the connection instead, so that the client retries a request
// the broker handled. When the broker is down, connections fail.
type cutProxy struct {
	ln     net.Listener
	target string
	n      atomic.Int64
	cuts   atomic.Int64
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		_, _ = io.Copy(s, c)
		s.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		k, err := s.Read(buf)
		if k > 0 {
			if p.n.Add(1)%7 == 0 {
				p.cuts.Add(1)
				return
			}
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestIdempotentKcat: kcat (librdkafka) with enable.idempotence=true
// produces through InitProducerId and sequence checks.
func TestIdempotentKcat(t *testing.T) {
	kcat := kcatPath(t)
	b := StartBroker(t, BrokerOptions{})
	const topic, n = "idem-kcat", 2000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if resp, err := b.Admin(t).CreateTopic(ctx, 2, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "%d\n", i)
	}
	runCmd(t, time.Minute, []byte(in.String()), kcat, "-b", b.Addr, "-t", topic, "-P",
		"-X", "enable.idempotence=true", "-X", "linger.ms=5")
	checkExactlyOnce(t, b, topic, "", n)
}
