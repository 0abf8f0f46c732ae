package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/loadgen"
	"github.com/weirdb/weir/internal/node"
)

// runBench runs `weir bench args...` and returns its stdout.
func runBench(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newBenchCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func TestBenchFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "fetch"}, "mode"},
		{[]string{"--records", "5", "--duration", "1s"}, "exclusive"},
		{[]string{"--linger", "-1ms"}, "linger"},
		{[]string{"--acks", "2"}, "acks"},
		{[]string{"--compression", "brotli"}, "compression"},
		{[]string{"--mode", "consume", "--rate", "100"}, "rate"},
		{[]string{"--brokers", " , "}, "brokers"},
		{[]string{"--protocol-version", "banana"}, "protocol"},
		{[]string{"--idempotent", "--acks", "1"}, "idempotent"},
		{[]string{"--mode", "e2e", "--record-size", "4"}, "8 bytes"},
		{[]string{"extra"}, "unknown command"},
	} {
		_, err := runBench(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("weir bench %v: err %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

// TestBenchAgainstWeir runs every mode against an in-process broker with
// its real defaults (file WAL, filesystem object store, embedded etcd).
func TestBenchAgainstWeir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := node.Start(ctx, node.Options{
		Config: config.Default(), Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("start weir: %v", err)
	}
	defer func() {
		if err := n.Close(context.Background()); err != nil {
			t.Errorf("close weir: %v", err)
		}
	}()
	common := []string{"--brokers", n.Addr(), "--topic", "b", "--record-size", "100", "--json"}
	report := func(args ...string) loadgen.Report {
		t.Helper()
		out, err := runBench(t, append(common, args...)...)
		if err != nil {
			t.Fatalf("weir bench %v: %v\n%s", args, err, out)
		}
		var r loadgen.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("weir bench %v: output is not a report: %v\n%s", args, err, out)
		}
		return r
	}

	r := report("--mode", "produce", "--create-topic", "--partitions", "2", "--records", "2000", "--clients", "2")
	if r.Produce == nil || r.Produce.Records != 2000 || r.Produce.Bytes != 200000 ||
		r.Produce.LatencyMs == nil || r.Produce.LatencyKind != "ack" || r.Settings.Partitions != 2 {
		t.Fatalf("produce report: %+v / %+v", r, r.Produce)
	}
	r = report("--mode", "consume")
	if r.Consume == nil || r.Consume.Records != 2000 || r.Consume.LatencyMs != nil {
		t.Fatalf("consume report: %+v / %+v", r, r.Consume)
	}
	r = report("--mode", "e2e", "--records", "1000", "--rate", "5000", "--linger", "0")
	if r.Produce == nil || r.Consume == nil || r.Produce.Records != 1000 || r.Consume.Records != 1000 ||
		r.Consume.LatencyKind != "end-to-end" || r.Consume.LatencyMs == nil || r.Consume.LatencyMs.P50 <= 0 {
		t.Fatalf("e2e report: %+v / %+v / %+v", r, r.Produce, r.Consume)
	}
	if r.Produce.Seconds < 0.19 {
		t.Errorf("1000 records at 5000/s took %.3fs", r.Produce.Seconds)
	}
	// The text form names both latencies.
	out, err := runBench(t, "--brokers", n.Addr(), "--topic", "b", "--mode", "e2e", "--records", "200", "--record-size", "100")
	if err != nil || !strings.Contains(out, "ack latency ms") || !strings.Contains(out, "end-to-end latency ms") {
		t.Fatalf("text output (%v):\n%s", err, out)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
