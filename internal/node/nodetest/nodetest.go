// Package nodetest starts in-process brokers for tests.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/node"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// Options adjust a test broker. Nil storage gets memory implementations.
type Options struct {
	Sets  []string // broker settings, name=value
	WAL   wal.WAL
	Store objstore.Store
	Meta  meta.KV
}

// Start runs a broker on 127.0.0.1 with a free port, memory storage (unless
// given) and the settings in sets; it is closed when the test ends.
func Start(t testing.TB, o Options) *node.Node {
	t.Helper()
	cfg, err := config.Load("", o.Sets)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if o.WAL == nil {
		o.WAL = wal.NewMemory()
	}
	if o.Store == nil {
		o.Store = objstore.NewMemory()
	}
	if o.Meta == nil {
		o.Meta = meta.NewMemory()
	}
	n, err := node.Start(context.Background(), node.Options{
		Config: cfg, Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: Logger(),
		WAL: o.WAL, Store: o.Store, Meta: o.Meta,
	})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Logf("close broker: %v", err)
		}
	})
	return n
}

// Logger is quiet unless WEIR_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("WEIR_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Client returns a franz-go client for addr, closed when the test ends.
func Client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client for addr.
func Admin(t testing.TB, addr string) *kadm.Client {
	return kadm.NewClient(Client(t, addr))
}
