package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// Config wires an Engine to its storage and sets its limits.
type Config struct {
	NodeID int32
	WAL    wal.WAL
	Store  objstore.Store
	Meta   meta.KV
	Logger *slog.Logger

	// TopicConfig returns the effective value of a topic config given the
	// topic's explicitly set configs (broker defaults applied).
	TopicConfig func(set map[string]string, name string) string

	UploadInterval         time.Duration // how often pending data is uploaded
	UploadBytes            int64         // upload early once this much is pending
	MaxObjectBytes         int64         // cap on one object's size
	MaxPendingBytes        int64         // produce waits beyond this (back-pressure)
	LogCacheBytes          int64         // uploaded batches kept in memory for tail reads
	BlockCacheBytes        int64         // object blocks kept in memory
	RetentionCheckInterval time.Duration
	GCInterval             time.Duration
	OrphanSweepInterval    time.Duration
	OrphanGrace            time.Duration

	// ProducerIDExpiration is producer.id.expiration.ms: how long a
	// partition keeps the state of an idle idempotent producer.
	ProducerIDExpiration time.Duration
	// A partition's producer state is snapshotted into object storage
	// once this many of its bytes, or this much time, have been uploaded
	// since its last snapshot; recovery replays what follows.
	ProducerSnapshotBytes    int64
	ProducerSnapshotInterval time.Duration

	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	if c.TopicConfig == nil {
		c.TopicConfig = func(set map[string]string, name string) string { return set[name] }
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defi := func(d *int64, v int64) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.UploadInterval, time.Second)
	defi(&c.UploadBytes, 8<<20)
	defi(&c.MaxObjectBytes, 64<<20)
	defi(&c.MaxPendingBytes, 256<<20)
	defi(&c.LogCacheBytes, 256<<20)
	defi(&c.BlockCacheBytes, 256<<20)
	def(&c.RetentionCheckInterval, 5*time.Minute)
	def(&c.GCInterval, 30*time.Second)
	def(&c.OrphanSweepInterval, 5*time.Minute)
	def(&c.OrphanGrace, time.Hour)
	def(&c.ProducerIDExpiration, 24*time.Hour)
	defi(&c.ProducerSnapshotBytes, 16<<20)
	def(&c.ProducerSnapshotInterval, 5*time.Minute)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Errors returned by the engine; the API layer maps them to Kafka codes.
var (
	ErrTopicExists        = errors.New("topic already exists")
	ErrUnknownTopic       = errors.New("unknown topic")
	ErrTopicCollision     = errors.New("topic name collides with an existing topic")
	ErrPartitionDeleted   = errors.New("partition deleted")
	ErrStorage            = errors.New("storage unavailable")
	ErrTimeout            = errors.New("timed out waiting for buffer space")
	ErrOffsetOutOfRange   = errors.New("offset out of range")
	ErrNotLeader          = errors.New("not the leader for this partition")
	ErrInvalidPartitions  = errors.New("invalid partition count")
	ErrConcurrentMetadata = errors.New("metadata changed concurrently")
)

// Engine is one broker's storage engine.
type Engine struct {
	cfg       Config
	log       *slog.Logger
	clusterID string
	blocks    *blockCache

	// mu guards the topic maps. Topics are replaced, never mutated, so a
	// *Topic read under mu may be used after it is released.
	mu       sync.RWMutex
	topics   map[string]*Topic
	topicIDs map[TopicID]*Topic

	// metaMu serializes writes of partition state (uploads, retention,
	// claims, topic changes), so each partition's cached state revision is
	// the one its next conditional write checks against.
	metaMu sync.Mutex

	// walMu is held shared around each WAL append (until the batch knows
	// its sequence number) and exclusively while choosing the WAL trim
	// point, so no batch can be numbered but not yet visible to the trim.
	walMu sync.RWMutex

	pendingBytes atomic.Int64 // durable-or-not batches not yet uploaded
	cachedBytes  atomic.Int64 // uploaded batches still in the log cache
	lastWALSeq   atomic.Uint64
	walFailed    atomic.Bool
	space        signal // broadcast when pendingBytes drops
	uploadKick   chan struct{}
	gcKick       chan struct{}
	objSeq       atomic.Uint64

	// uploadBuf is the memory of the last object built, reused for the
	// next one: a fresh buffer of up to MaxObjectBytes per upload costs a
	// page fault per 4 KiB and zeroing it, which on the benchmark VM was
	// a seventh of the broker's CPU. It belongs to whoever runs
	// uploadOnce: uploadLoop, then Close once the loop has stopped.
	uploadBuf []byte

	// pidMu guards the block of producer ids reserved in the metadata
	// store and not yet handed out: [pidNext, pidEnd).
	pidMu           sync.Mutex
	pidNext, pidEnd int64

	stop chan struct{}
	wg   sync.WaitGroup

	// life is cancelled by Close; read-aheads run under it. readAheads
	// holds a token per running read-ahead (see readAhead).
	life       context.Context
	cancelLife context.CancelFunc
	readAheads chan struct{}
}

// Open loads topics from the metadata store, replays the WAL, claims every
// partition with a new leader epoch and starts the background loops.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	e := &Engine{
		cfg:        cfg,
		log:        cfg.Logger,
		blocks:     newBlockCache(cfg.BlockCacheBytes),
		topics:     make(map[string]*Topic),
		topicIDs:   make(map[TopicID]*Topic),
		uploadKick: make(chan struct{}, 1),
		gcKick:     make(chan struct{}, 1),
		stop:       make(chan struct{}),
		readAheads: make(chan struct{}, readAheadSlots),
	}
	e.life, e.cancelLife = context.WithCancel(context.Background())
	if err := e.loadClusterID(ctx); err != nil {
		return nil, err
	}
	if err := e.loadTopics(ctx); err != nil {
		return nil, err
	}
	if err := e.loadProducers(ctx); err != nil {
		return nil, err
	}
	if err := e.replayWAL(); err != nil {
		return nil, err
	}
	for _, p := range e.allPartitions() {
		// Everything replayed is durable: the partition's open and
		// aborted transactions are those of its rebuilt producer state.
		p.txns = newTxnIndex(p.producers)
	}
	if err := e.claimAll(ctx); err != nil {
		return nil, err
	}
	e.wg.Add(3)
	go e.uploadLoop()
	go e.retentionLoop()
	go e.gcLoop()
	return e, nil
}

// ClusterID is the cluster's ID, created on first start.
func (e *Engine) ClusterID() string { return e.clusterID }

// NodeID is this broker's node ID.
func (e *Engine) NodeID() int32 { return e.cfg.NodeID }

// Close uploads what is pending (best effort, bounded by ctx) and stops the
// background loops. The WAL, store and metadata are closed by their owner.
func (e *Engine) Close(ctx context.Context) error {
	select {
	case <-e.stop:
		return nil
	default:
	}
	close(e.stop)
	e.wg.Wait()
	// Stop the read-aheads and wait for them: once every slot is taken
	// none is running, and none can start after stop is closed.
	e.cancelLife()
	for range readAheadSlots {
		e.readAheads <- struct{}{}
	}
	var err error
	for e.pendingBytes.Load() > 0 && ctx.Err() == nil && !e.walFailed.Load() {
		var n int
		n, err = e.uploadOnce(ctx)
		if err != nil || n == 0 {
			break
		}
	}
	e.mu.RLock()
	for _, t := range e.topics {
		for _, p := range t.Partitions {
			p.wake()
		}
	}
	e.mu.RUnlock()
	return err
}

func (e *Engine) loadClusterID(ctx context.Context) error {
	kv, ok, err := e.cfg.Meta.Get(ctx, keyClusterID)
	if err != nil {
		return fmt.Errorf("load cluster id: %w", err)
	}
	if ok {
		e.clusterID = string(kv.Value)
		return nil
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	_, ok, err = e.cfg.Meta.Txn(ctx, []meta.Cond{{Key: keyClusterID}}, []meta.Op{{Key: keyClusterID, Value: []byte(id)}})
	if err != nil {
		return fmt.Errorf("create cluster id: %w", err)
	}
	if !ok {
		return e.loadClusterID(ctx)
	}
	e.clusterID = id
	return nil
}

func (e *Engine) loadTopics(ctx context.Context) error {
	kvs, err := e.cfg.Meta.List(ctx, prefixTopics)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, kv := range kvs {
		name := strings.TrimPrefix(kv.Key, prefixTopics)
		var rec topicRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return fmt.Errorf("decode topic %s: %w", name, err)
		}
		id, err := parseTopicID(rec.ID)
		if err != nil {
			return fmt.Errorf("topic %s: %w", name, err)
		}
		t := &Topic{Name: name, ID: id, Internal: rec.Internal, Configs: rec.Configs, rev: kv.ModRev}
		if t.Configs == nil {
			t.Configs = map[string]string{}
		}
		parts, err := e.cfg.Meta.List(ctx, prefixParts+id.String()+"/")
		if err != nil {
			return fmt.Errorf("list partitions of %s: %w", name, err)
		}
		states := make(map[string]meta.KeyValue, len(parts))
		for _, p := range parts {
			states[p.Key] = p
		}
		ranges, err := e.cfg.Meta.List(ctx, objsTopicPrefix(id))
		if err != nil {
			return fmt.Errorf("list object ranges of %s: %w", name, err)
		}
		byPart := make(map[int32][]rangeRecord)
		for _, kv := range ranges {
			pi, ok := parseObjPartition(kv.Key, id)
			if !ok {
				continue
			}
			var r rangeRecord
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				return fmt.Errorf("decode range %s: %w", kv.Key, err)
			}
			byPart[pi] = append(byPart[pi], r)
		}
		for i := int32(0); i < rec.Partitions; i++ {
			p := newPartition(e, t, i)
			kv, ok := states[partKey(id, i)]
			if !ok {
				return fmt.Errorf("topic %s partition %d: state missing", name, i)
			}
			if err := json.Unmarshal(kv.Value, &p.state); err != nil {
				return fmt.Errorf("decode state of %s-%d: %w", name, i, err)
			}
			p.stateRev = kv.ModRev
			rs := byPart[i]
			sort.Slice(rs, func(a, b int) bool { return rs[a].First < rs[b].First })
			p.ranges = rs
			p.leo = p.state.Next
			p.hw = p.state.Next
			t.Partitions = append(t.Partitions, p)
		}
		e.topics[name] = t
		e.topicIDs[id] = t
	}
	return nil
}

func (e *Engine) replayWAL() error {
	var n, skipped int
	err := e.cfg.WAL.Replay(func(seq uint64, data []byte) error {
		e.lastWALSeq.Store(seq)
		id, pi, _, raw, err := decodeWALEntry(data)
		if err != nil {
			return fmt.Errorf("wal entry %d: %w", seq, err)
		}
		h, err := batch.ParseHeader(raw)
		if err != nil {
			return fmt.Errorf("wal entry %d: %w", seq, err)
		}
		p := e.partitionByID(id, pi)
		if p == nil || h.LastOffset() < p.state.Next || h.BaseOffset < p.leo {
			skipped++ // deleted topic, or already uploaded
			return nil
		}
		if h.BaseOffset != p.leo {
			return fmt.Errorf("wal entry %d: %s-%d offset %d follows %d: gap in the log", seq, p.name, pi, h.BaseOffset, p.leo)
		}
		p.tail = append(p.tail, &cachedBatch{base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp, data: raw, walSeq: seq, settled: true})
		if hasProducer(&h) {
			p.producers.applyBatch(&h, h.BaseOffset, controlType(&h, raw))
		}
		p.leo = h.LastOffset() + 1
		p.hw = p.leo
		e.pendingBytes.Add(int64(len(raw)))
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay wal: %w", err)
	}
	e.log.Info("wal replayed", "batches", n, "skipped", skipped, "last_seq", e.lastWALSeq.Load())
	return nil
}

// claimAll takes ownership of every partition with a new leader epoch,
// starting at the partition's log end offset, as Kafka does on election.
func (e *Engine) claimAll(ctx context.Context) error {
	e.mu.RLock()
	var parts []*Partition
	for _, t := range e.topics {
		parts = append(parts, t.Partitions...)
	}
	e.mu.RUnlock()
	const perTxn = 200
	e.metaMu.Lock()
	defer e.metaMu.Unlock()
	for len(parts) > 0 {
		n := min(perTxn, len(parts))
		chunk := parts[:n]
		parts = parts[n:]
		var conds []meta.Cond
		var ops []meta.Op
		states := make([]partState, len(chunk))
		for i, p := range chunk {
			st := p.state
			st.Owner = e.cfg.NodeID
			st.Epoch++
			st.Epochs = assignEpoch(st.Epochs, st.Epoch, p.leo)
			states[i] = st
			conds = append(conds, meta.Cond{Key: partKey(p.id, p.index), ModRev: p.stateRev})
			ops = append(ops, meta.Op{Key: partKey(p.id, p.index), Value: mustJSON(st)})
		}
		rev, ok, err := e.cfg.Meta.Txn(ctx, conds, ops)
		if err != nil {
			return fmt.Errorf("claim partitions: %w", err)
		}
		if !ok {
			return fmt.Errorf("claim partitions: %w", ErrConcurrentMetadata)
		}
		for i, p := range chunk {
			p.mu.Lock()
			p.state = states[i]
			p.stateRev = rev
			p.mu.Unlock()
		}
	}
	return nil
}

// assignEpoch records that epoch starts at start, dropping entries it
// supersedes (Kafka's LeaderEpochFileCache.assign): an epoch that never
// wrote a record leaves no entry behind.
func assignEpoch(hist []epochStart, epoch int32, start int64) []epochStart {
	out := hist[:0:0]
	for _, h := range hist {
		if h.Epoch < epoch && h.Start < start {
			out = append(out, h)
		}
	}
	return append(out, epochStart{Epoch: epoch, Start: start})
}

func (e *Engine) partitionByID(id TopicID, p int32) *Partition {
	e.mu.RLock()
	defer e.mu.RUnlock()
	t := e.topicIDs[id]
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[p]
}

func (e *Engine) allPartitions() []*Partition {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var ps []*Partition
	for _, t := range e.topics {
		ps = append(ps, t.Partitions...)
	}
	return ps
}

func (e *Engine) kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (e *Engine) stopped() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// Stats is a snapshot of the engine's memory use, for tests and metrics.
type Stats struct {
	PendingBytes, CachedBytes, BlockCacheBytes int64
	LastWALSeq                                 uint64
}

// Stats returns current counters.
func (e *Engine) Stats() Stats {
	return Stats{
		PendingBytes:    e.pendingBytes.Load(),
		CachedBytes:     e.cachedBytes.Load(),
		BlockCacheBytes: e.blocks.size(),
		LastWALSeq:      e.lastWALSeq.Load(),
	}
}
