package meta_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/meta/metatest"
)

// startEmbedded starts an embedded etcd in dir, logging into the test.
func startEmbedded(t *testing.T, dir string) *meta.Embedded {
	t.Helper()
	out := &testOutput{w: t.Output()}
	t.Cleanup(out.stop) // registered first, so it runs after Close below
	start := time.Now()
	e, err := meta.StartEmbedded(t.Context(), meta.EmbedConfig{
		Dir:    dir,
		Logger: slog.New(slog.NewTextHandler(out, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Weir starts etcd on every `weir serve`; a slow start is a slow broker.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("embedded etcd took %v to start, want < 2s", d)
	} else {
		t.Logf("embedded etcd started in %v at %v", d, e.Endpoints())
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close embedded etcd: %v", err)
		}
	})
	return e
}

// testOutput passes etcd's log to the test until the test ends, then drops
// it: the testing package panics on output after a test completes, and a
// straggling etcd goroutine must not turn into a failure.
type testOutput struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
}

func (o *testOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return len(p), nil
	}
	return o.w.Write(p)
}

func (o *testOutput) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopped = true
}

func TestEtcd(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	var n atomic.Int64
	// One server for the suite; each test gets its own prefix, which also
	// checks that stores under sibling prefixes never see each other.
	newKV := func(*testing.T) meta.KV {
		return meta.NewEtcd(e.Client(), fmt.Sprintf("/weir-test/%d/", n.Add(1)))
	}
	t.Run("InProcess", func(t *testing.T) { metatest.Run(t, newKV) })

	// Over the network, as other brokers and tools reach it: gRPC message
	// limits apply here and not in process.
	cli, err := meta.DialEtcd(t.Context(), e.Endpoints(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	t.Run("Dialled", func(t *testing.T) {
		metatest.Run(t, func(*testing.T) meta.KV {
			return meta.NewEtcd(cli, fmt.Sprintf("/weir-test/%d/", n.Add(1)))
		})
	})
}

// The embedded server takes the big commits Weir makes: up to 8192 ops,
// against etcd's default of 128. Deletes of absent keys keep the test cheap
// (the suite already commits 1000 real puts); the limit counts them alike.
func TestEmbeddedMaxTxnOps(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	kv := meta.NewEtcd(e.Client(), "/weir/")
	ops := make([]meta.Op, 8193)
	for i := range ops {
		ops[i] = meta.Op{Key: fmt.Sprintf("index/%05d", i), Delete: true}
	}
	if _, ok, err := kv.Txn(t.Context(), nil, ops[:8192]); err != nil || !ok {
		t.Fatalf("8192-op txn: ok=%v err=%v", ok, err)
	}
	if _, _, err := kv.Txn(t.Context(), nil, ops); err == nil || !strings.Contains(err.Error(), "too many operations") {
		t.Fatalf("8193-op txn: err=%v, want etcd's too many operations", err)
	}
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()

	e := startEmbedded(t, dir)
	kv := meta.NewEtcd(e.Client(), "/weir/")
	rev, ok, err := kv.Txn(ctx, nil, []meta.Op{
		{Key: "topics/orders", Value: []byte("partitions=3")},
		{Key: "owners/orders/0", Value: []byte("broker-1@epoch-7")},
	})
	if err != nil || !ok {
		t.Fatalf("txn: ok=%v err=%v", ok, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = startEmbedded(t, dir)
	kv = meta.NewEtcd(e.Client(), "/weir/")
	got, err := kv.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != "owners/orders/0" || string(got[0].Value) != "broker-1@epoch-7" ||
		got[1].Key != "topics/orders" || got[0].ModRev != rev || got[1].ModRev != rev {
		t.Fatalf("after restart: %+v, want both keys at revision %d", got, rev)
	}
	// Revisions carry on from where they were, so conds written before the
	// restart still mean what they meant.
	rev2, ok, err := kv.Txn(ctx, []meta.Cond{{Key: "topics/orders", ModRev: rev}},
		[]meta.Op{{Key: "topics/orders", Value: []byte("partitions=6")}})
	if err != nil || !ok || rev2 <= rev {
		t.Fatalf("CAS after restart: rev=%d ok=%v err=%v (before: %d)", rev2, ok, err, rev)
	}
}

func TestEmbeddedRejectsNonLoopback(t *testing.T) {
	for _, c := range []meta.EmbedConfig{
		{Dir: t.TempDir(), ClientURL: "http://0.0.0.0:0"},
		{Dir: t.TempDir(), PeerURL: "http://10.1.2.3:2380"},
	} {
		_, err := meta.StartEmbedded(t.Context(), c)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%+v: err=%v, want a loopback error", c, err)
		}
	}
}

func TestDialEtcdUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	if cli, err := meta.DialEtcd(ctx, []string{"http://127.0.0.1:1"}, 300*time.Millisecond); err == nil {
		cli.Close()
		t.Fatal("dial of a dead endpoint succeeded")
	}
}
