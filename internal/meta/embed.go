package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap/zapcore"
)

// Settings of the embedded etcd, and why.
const (
	// Weir commits one transaction per uploaded object, with a few ops per
	// partition in it; etcd's default of 128 ops would cap an object at a
	// few dozen partitions.
	embedMaxTxnOps = 8192
	// etcd's default quota is 2 GiB; past the quota etcd turns read-only,
	// which for Weir means every produce fails. 8 GiB is etcd's suggested
	// maximum.
	embedQuotaBytes = 8 << 30
	// Without compaction etcd keeps every revision of every key forever,
	// and the object index is rewritten on every upload. One hour of
	// history is ample for watches that reconnect.
	embedCompactionRetention = "1h"
	// How long StartEmbedded waits for the server to be ready, unless ctx
	// says sooner. Replaying a large WAL after a crash can take a while.
	embedReadyTimeout = time.Minute
)

// EmbedConfig configures StartEmbedded.
type EmbedConfig struct {
	// Dir holds etcd's data (WAL, snapshots, bolt database); required.
	// Starting again on the same Dir resumes with all data.
	Dir string
	// ClientURL is where etcd serves clients, e.g. "http://127.0.0.1:2379".
	// Port 0 (the default, "http://127.0.0.1:0") picks a free port; see
	// Endpoints. The host must be a loopback address: the embedded server
	// has neither TLS nor authentication.
	ClientURL string
	// PeerURL is etcd's raft peer address; a single node never talks to
	// peers, but etcd insists on listening. Default "http://127.0.0.1:0".
	PeerURL string
	// Logger receives etcd's warnings and errors. Default slog.Default().
	Logger *slog.Logger
}

// Embedded is a single-node etcd server running inside this process.
type Embedded struct {
	etcd      *embed.Etcd
	quiet     *logQuieter
	cli       *clientv3.Client
	endpoints []string
	logDone   chan struct{}
	closeOnce sync.Once
}

// StartEmbedded starts a single-node etcd and waits until it serves.
func StartEmbedded(ctx context.Context, c EmbedConfig) (*Embedded, error) {
	if c.Dir == "" {
		return nil, errors.New("embedded etcd: Dir is required")
	}
	if c.ClientURL == "" {
		c.ClientURL = "http://127.0.0.1:0"
	}
	if c.PeerURL == "" {
		c.PeerURL = "http://127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	curl, err := loopbackURL("ClientURL", c.ClientURL)
	if err != nil {
		return nil, err
	}
	purl, err := loopbackURL("PeerURL", c.PeerURL)
	if err != nil {
		return nil, err
	}
	// etcd warns on every start when its directory is readable by others;
	// the directory is etcd's alone, so make it private.
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	if err := os.Chmod(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}

	cfg := embed.NewConfig()
	cfg.Name = "weir"
	cfg.Dir = c.Dir
	cfg.InitialClusterToken = "weir"
	cfg.ListenClientUrls = []url.URL{*curl}
	cfg.AdvertiseClientUrls = []url.URL{*curl}
	cfg.ListenPeerUrls = []url.URL{*purl}
	cfg.AdvertisePeerUrls = []url.URL{*purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.MaxTxnOps = embedMaxTxnOps
	cfg.MaxRequestBytes = maxRequestBytes
	cfg.QuotaBackendBytes = embedQuotaBytes
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = embedCompactionRetention
	// Fewer open doors: clients speak gRPC; nobody needs the JSON gateway.
	cfg.EnableGRPCGateway = false
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	quiet := &logQuieter{msgs: map[string]string{
		// We serve gRPC only, on loopback; a second port buys nothing.
		"Running http and grpc server on single port. This is not recommended for production.": "",
		// Auth is off (loopback only), so the token is never used.
		"simple token is not cryptographically signed": "",
		// A race in etcd's bootstrap (etcd-io/etcd#18978, #20495): the
		// storage-version monitor can run before the first term reaches
		// the backend; it retries a few seconds later and succeeds.
		"Failed to detect schema version":  "missing",
		"failed to update storage version": "missing",
	}}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapToSlog(c.Logger, zapcore.WarnLevel, quiet))
	// A single node has no peers to hear heartbeats or to out-vote it, so
	// short ticks cost nothing but make it elect itself in ~20 ms instead of
	// ~1 s: the whole start-up drops from about a second to tens of ms.
	cfg.TickMs = 10
	cfg.ElectionMs = 100

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd start in %s: %w", c.Dir, err)
	}
	abort := func(err error) (*Embedded, error) {
		quiet.closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", c.Dir, err)
	}
	timer := time.NewTimer(embedReadyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case <-e.Server.StopNotify():
		return abort(errors.New("stopped while starting"))
	case err := <-e.Err():
		return abort(err)
	case <-timer.C:
		return abort(fmt.Errorf("not ready after %v", embedReadyTimeout))
	case <-ctx.Done():
		return abort(ctx.Err())
	}

	m := &Embedded{
		etcd:  e,
		quiet: quiet,
		// In process: no sockets, no gRPC encoding, no message size limit
		// below the server's own MaxRequestBytes.
		cli:     v3client.New(e.Server),
		logDone: make(chan struct{}),
	}
	for _, l := range e.Clients {
		// The listener, not the config, knows which port :0 became.
		m.endpoints = append(m.endpoints, curl.Scheme+"://"+l.Addr().String())
	}
	go func() {
		defer close(m.logDone)
		// Errors from etcd's serving goroutines after start; etcd drops
		// them itself once Close has begun, and closes the channel.
		for err := range e.Err() {
			c.Logger.Error("embedded etcd", "err", err)
		}
	}()
	return m, nil
}

// Client returns an in-process client of the server. It belongs to the
// Embedded: do not close it.
func (m *Embedded) Client() *clientv3.Client { return m.cli }

// Endpoints returns the URLs where the server serves clients, with the ports
// actually bound.
func (m *Embedded) Endpoints() []string { return append([]string(nil), m.endpoints...) }

// Close closes the client, stops the server and waits for it. It is safe to
// call more than once.
func (m *Embedded) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.quiet.closing.Store(true)
		err = m.cli.Close()
		m.etcd.Close()
		<-m.logDone
	})
	if errors.Is(err, context.Canceled) {
		// The in-process client reports its own cancellation as an error.
		err = nil
	}
	return err
}

func loopbackURL(field, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %s: %w", field, err)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %s %q: %w", field, s, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("embedded etcd: %s %q: host must be loopback (the embedded server has no TLS or auth)", field, s)
	}
	return u, nil
}
