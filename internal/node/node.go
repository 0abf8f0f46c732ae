// Package node assembles one Weir broker: metadata store, object store,
// WAL, storage engine, API layer and TCP server, started in that order and
// stopped in reverse. `weir serve` and the end-to-end tests both use it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weirdb/weir/internal/api"
	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/share"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
	"github.com/weirdb/weir/internal/txn"
)

// Options configure a Node. Storage left nil is built from Config.
type Options struct {
	Config    *config.Broker
	Listen    string // host:port; port 0 picks a free port
	Advertise string // host:port clients are told; default the listen address
	DataDir   string
	Logger    *slog.Logger

	// Test seams: when set, used instead of what Config describes. The
	// node does not close what it was given.
	WAL   wal.WAL
	Store objstore.Store
	Meta  meta.KV
}

// Node is a running broker.
type Node struct {
	log    *slog.Logger
	ln     net.Listener
	srv    *server.Server
	eng    *engine.Engine
	groups *group.Coordinator
	txns   *txn.Coordinator
	shares *share.Coordinator
	closes []func() error // in start order; run in reverse
	served chan error
}

// Start starts a broker and returns once it accepts connections.
func Start(ctx context.Context, o Options) (_ *Node, err error) {
	if o.Config == nil {
		o.Config = config.Default()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DataDir == "" {
		o.DataDir = "weir-data"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:9092"
	}
	cfg := o.Config
	n := &Node{log: o.Logger, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			n.closeAll()
		}
	}()
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}

	kv := o.Meta
	if kv == nil {
		if kv, err = n.openMeta(ctx, cfg, o); err != nil {
			return nil, err
		}
	}
	store := o.Store
	if store == nil {
		if store, err = openStore(ctx, cfg, o.DataDir); err != nil {
			return nil, err
		}
	}
	w := o.WAL
	if w == nil {
		if cfg.WALKind() != "file" {
			return nil, fmt.Errorf("weir.wal.kind=%s is not available yet; use file", cfg.WALKind())
		}
		fw, err := wal.OpenFile(filepath.Join(o.DataDir, "wal"), wal.FileOptions{
			SegmentBytes:   cfg.Long("weir.wal.segment.bytes"),
			MaxQueuedBytes: int(cfg.Long("weir.wal.max.queued.bytes")),
			Logger:         o.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("open wal: %w", err)
		}
		w = fw
		n.closes = append(n.closes, fw.Close)
	}

	n.eng, err = engine.Open(ctx, engine.Config{
		NodeID: cfg.NodeID(),
		WAL:    w,
		Store:  store,
		Meta:   kv,
		Logger: o.Logger,
		TopicConfig: func(set map[string]string, name string) string {
			return config.TopicValue(set, cfg, name)
		},
		UploadInterval:  cfg.Duration("weir.upload.interval.ms"),
		UploadBytes:     cfg.Long("weir.upload.bytes"),
		MaxPendingBytes: cfg.Long("weir.pending.max.bytes"),
		// 0 turns a cache off; the engine reads 0 as "default", and a
		// 1-byte cache holds nothing.
		LogCacheBytes:          max(cfg.Long("weir.log.cache.bytes"), 1),
		BlockCacheBytes:        max(cfg.Long("weir.block.cache.bytes"), 1),
		RetentionCheckInterval: cfg.Duration("log.retention.check.interval.ms"),
		OrphanSweepInterval:    cfg.Duration("weir.orphan.sweep.interval.ms"),
		OrphanGrace:            cfg.Duration("weir.orphan.grace.ms"),
		ProducerIDExpiration:   cfg.Duration("producer.id.expiration.ms"),
	})
	if err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	eng := n.eng
	n.closes = append(n.closes, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return eng.Close(ctx)
	})

	// The group coordinator keeps its state in __consumer_offsets, so it
	// starts after the engine and stops before it.
	n.groups, err = group.Start(ctx, group.Config{
		Storage:               group.EngineStorage(n.eng),
		Partitions:            int32(cfg.Int("offsets.topic.num.partitions")),
		MinSessionTimeout:     cfg.Duration("group.min.session.timeout.ms"),
		MaxSessionTimeout:     cfg.Duration("group.max.session.timeout.ms"),
		InitialRebalanceDelay: cfg.Duration("group.initial.rebalance.delay.ms"),
		OffsetsRetention:      cfg.Duration("offsets.retention.minutes"),
		// KIP-848 consumer groups resolve subscriptions against the
		// engine's topics.
		ConsumerSessionTimeout:    cfg.Duration("group.consumer.session.timeout.ms"),
		ConsumerHeartbeatInterval: cfg.Duration("group.consumer.heartbeat.interval.ms"),
		Topics:                    engineTopics(n.eng),
		Logger:                    o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start group coordinator: %w", err)
	}
	groups := n.groups
	n.closes = append(n.closes, func() error { groups.Stop(); return nil })

	// The transaction coordinator keeps its state in __transaction_state
	// and writes markers through the engine; markers in __consumer_offsets
	// also settle the group coordinator's transactional offset commits.
	n.txns, err = txn.Start(ctx, txn.Config{
		Storage:       txn.EngineStorage(n.eng),
		Markers:       txn.EngineMarkers(n.eng, groupMarkers(n.groups)),
		NewProducerID: n.eng.NewProducerID,
		Partitions:    int32(cfg.Int("transaction.state.log.num.partitions")),
		MaxTimeout:    cfg.Duration("transaction.max.timeout.ms"),
		AbortInterval: cfg.Duration("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
		IDExpiration:  cfg.Duration("transactional.id.expiration.ms"),
		Logger:        o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start transaction coordinator: %w", err)
	}
	txns := n.txns
	n.closes = append(n.closes, func() error { txns.Stop(); return nil })

	// The share group coordinator keeps its state in __share_group_state
	// and reads data topics through the engine.
	n.shares, err = share.Start(ctx, share.Config{
		Storage: share.EngineStorage(n.eng),
		Topics:  share.EngineTopics(n.eng),
		Logger:  o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start share coordinator: %w", err)
	}
	shares := n.shares
	n.closes = append(n.closes, func() error { shares.Stop(); return nil })

	n.ln, err = net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	advertise := o.Advertise
	if advertise == "" {
		advertise = n.ln.Addr().String()
	} else if host, port, err := net.SplitHostPort(advertise); err == nil && port == "0" {
		// The listener picked the port; advertise it.
		advertise = net.JoinHostPort(host, strconv.Itoa(n.ln.Addr().(*net.TCPAddr).Port))
	}
	h, err := api.New(n.eng, cfg, advertise, o.Logger)
	if err != nil {
		n.ln.Close()
		return nil, err
	}
	h.SetGroups(n.groups)
	h.SetTxns(n.txns)
	h.SetShares(n.shares)
	n.srv = server.New(server.Config{
		MaxRequestBytes: cfg.SocketRequestMaxBytes(),
		IdleTimeout:     cfg.Duration("connections.max.idle.ms"),
		Logger:          o.Logger,
	}, h)
	go func() { n.served <- n.srv.Serve(n.ln) }()
	o.Logger.Info("weir started", "listen", n.ln.Addr().String(), "advertise", advertise, "data_dir", o.DataDir, "cluster_id", n.eng.ClusterID(), "node_id", cfg.NodeID())
	return n, nil
}

func (n *Node) openMeta(ctx context.Context, cfg *config.Broker, o Options) (meta.KV, error) {
	if eps := cfg.EtcdEndpoints(); len(eps) > 0 {
		cli, err := meta.DialEtcd(ctx, eps, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("connect to etcd %v: %w", eps, err)
		}
		kv := meta.NewEtcd(cli, "/weir/")
		n.closes = append(n.closes, func() error { kv.Close(); return cli.Close() })
		return kv, nil
	}
	emb, err := meta.StartEmbedded(ctx, meta.EmbedConfig{Dir: filepath.Join(o.DataDir, "meta"), Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	n.closes = append(n.closes, emb.Close)
	kv := meta.NewEtcd(emb.Client(), "/weir/")
	return kv, nil
}

func openStore(ctx context.Context, cfg *config.Broker, dataDir string) (objstore.Store, error) {
	switch cfg.ObjStoreKind() {
	case "fs":
		s, err := objstore.NewFS(filepath.Join(dataDir, "objects"))
		if err != nil {
			return nil, fmt.Errorf("open object store: %w", err)
		}
		// Temp files of PUTs cut short by a crash; an hour is far longer
		// than any PUT in flight.
		if _, err := s.RemoveStaleTemp(ctx, time.Hour); err != nil {
			return nil, fmt.Errorf("clean object store: %w", err)
		}
		return s, nil
	case "s3":
		c := cfg.S3()
		s, err := objstore.NewS3(ctx, objstore.S3Config{
			Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region,
			AccessKey: c.AccessKey, SecretKey: c.SecretKey, PathStyle: c.PathStyle, Prefix: c.Prefix,
		})
		if err != nil {
			return nil, fmt.Errorf("open s3 object store: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown weir.objstore.kind %q", cfg.ObjStoreKind())
	}
}

// Addr is the address the broker listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Engine exposes the storage engine, for tests.
func (n *Node) Engine() *engine.Engine { return n.eng }

// Txns exposes the transaction coordinator, for tests.
func (n *Node) Txns() *txn.Coordinator { return n.txns }

// groupMarkers hands markers written to __consumer_offsets to the group
// coordinator, which then applies or drops the transaction's offsets.
func groupMarkers(g *group.Coordinator) func(tp txn.TP, producerID int64, commit bool) {
	return func(tp txn.TP, producerID int64, commit bool) {
		if tp.Topic == group.TopicName {
			g.TxnMarker(tp.Partition, producerID, commit)
		}
	}
}

// Groups exposes the group coordinator, for tests.
func (n *Node) Groups() *group.Coordinator { return n.groups }

// engineTopics lists eng's topics for the group coordinator.
func engineTopics(eng *engine.Engine) func() []group.TopicInfo {
	return func() []group.TopicInfo {
		ts := eng.Topics()
		out := make([]group.TopicInfo, 0, len(ts))
		for _, t := range ts {
			out = append(out, group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions))})
		}
		return out
	}
}

// Close stops accepting, answers in-flight requests, uploads what the WAL
// holds and stops every component.
func (n *Node) Close(ctx context.Context) error {
	var errs []error
	if n.groups != nil {
		// First, so JoinGroup and SyncGroup requests parked in
		// rebalances are answered and do not hold up the shutdown.
		n.groups.Stop()
	}
	if n.txns != nil {
		n.txns.Stop()
	}
	if n.srv != nil {
		if err := n.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown server: %w", err))
		}
	}
	errs = append(errs, n.closeAll())
	return errors.Join(errs...)
}

func (n *Node) closeAll() error {
	var errs []error
	for i := len(n.closes) - 1; i >= 0; i-- {
		if err := n.closes[i](); err != nil {
			errs = append(errs, err)
		}
	}
	n.closes = nil
	return errors.Join(errs...)
}
