package share

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/coordlog"
)

// TopicName is Kafka's internal topic for share-group state.
const TopicName = "__share_group_state"

// TopicInfo describes a data topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// Topics is the coordinator's view of the data topics.
type Topics interface {
	ByName(name string) (TopicInfo, bool)
	ByID(id [16]byte) (TopicInfo, bool)
	// Bounds returns a partition's log start offset and high watermark;
	// ok is false when it does not exist.
	Bounds(tp TP) (logStart, hw int64, ok bool)
}

// Config configures a Coordinator. Zero durations and counts take Kafka's
// defaults.
type Config struct {
	Storage    coordlog.Storage
	Partitions int32 // of the state topic, when it is created
	Topics     Topics
	Logger     *slog.Logger
	Now        func() time.Time // test seam; time.Now by default

	LockDuration      time.Duration // share.record.lock.duration.ms, 30 s
	DeliveryLimit     int           // group.share.delivery.count.limit, 5
	SessionTimeout    time.Duration // group.share.session.timeout.ms, 45 s
	HeartbeatInterval time.Duration // group.share.heartbeat.interval.ms, 5 s
	MaxRecordLocks    int           // group.share.partition.max.record.locks, 2000
	SweepInterval     time.Duration // how often expired locks and members are swept, 100 ms
}

func (c *Config) setDefaults() {
	if c.Partitions <= 0 {
		c.Partitions = 50
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LockDuration <= 0 {
		c.LockDuration = 30 * time.Second
	}
	if c.DeliveryLimit <= 0 {
		c.DeliveryLimit = 5
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.MaxRecordLocks <= 0 {
		c.MaxRecordLocks = 2000
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 100 * time.Millisecond
	}
}

// Coordinator is Weir's share group coordinator and share-partition
// manager in one (a single broker leads every partition).
type Coordinator struct {
	cfg    Config
	log    *slog.Logger
	logs   []coordlog.Log
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the following. State writes are appended to the log
	// under it, so the log holds them in the order they were made.
	mu       sync.Mutex
	groups   map[string]*group
	configs  map[string]map[string]string // dynamic group configs, by group
	sessions map[sessionKey]*session
	// changed is closed (and replaced) when records become Available
	// again, to wake ShareFetch requests waiting for records.
	changed chan struct{}
}

type group struct {
	name    string
	epoch   int32
	members map[string]*member
	parts   map[TP]*partition
}

type member struct {
	id, clientID, host string
	rack               *string
	epoch, prevEpoch   int32
	topics             []string // subscribed, sorted
	assignment         []Assigned
	last               time.Time
}

// Assigned is a member's assignment in one topic.
type Assigned struct {
	Topic      string
	TopicID    [16]byte
	Partitions []int32
}

type sessionKey struct{ group, member string }

type session struct {
	epoch int32 // the epoch the next request must carry
	parts map[TP]struct{}
}

// Start opens the state topic, loads every share group from it and starts
// the sweeper that expires acquisition locks and members.
func Start(ctx context.Context, cfg Config) (*Coordinator, error) {
	cfg.setDefaults()
	logs, err := cfg.Storage.Open(ctx, cfg.Partitions)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", TopicName, err)
	}
	if len(logs) == 0 {
		return nil, fmt.Errorf("open %s: no partitions", TopicName)
	}
	c := &Coordinator{
		cfg: cfg, log: cfg.Logger, logs: logs,
		groups:   make(map[string]*group),
		configs:  make(map[string]map[string]string),
		sessions: make(map[sessionKey]*session),
		changed:  make(chan struct{}),
	}
	for i, l := range logs {
		if err := c.load(ctx, l); err != nil {
			return nil, fmt.Errorf("load %s partition %d: %w", TopicName, i, err)
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.sweep()
	return c, nil
}

// Stop stops the sweeper; state writes already appended stay in the log.
func (c *Coordinator) Stop() {
	c.cancel()
	c.wg.Wait()
}

// load applies every record of l, later records replacing earlier ones.
func (c *Coordinator) load(ctx context.Context, l coordlog.Log) error {
	logStart, hw := l.Bounds()
	for off := logStart; off < hw; {
		raw, err := l.Read(ctx, off, 1<<20)
		if err != nil {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		if len(raw) == 0 {
			return fmt.Errorf("read at %d: no batch below the high watermark %d", off, hw)
		}
		it := batch.NewIter(raw)
		for {
			h, b, ok := it.Next()
			if !ok {
				break
			}
			from := off
			if h.LastOffset() < from {
				continue
			}
			off = h.LastOffset() + 1
			if h.IsControl() {
				continue
			}
			err := batch.Records(b, func(r batch.Record) bool {
				if r.Offset < from {
					return true
				}
				en, ok, err := decodeEntry(bytes.Clone(r.Key), bytes.Clone(r.Value))
				if err != nil {
					c.log.Warn("share coordinator: skipping a bad state record", "offset", r.Offset, "err", err)
					return true
				}
				if ok {
					c.apply(en, r.Value == nil)
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("decode batch at %d: %w", h.BaseOffset, err)
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("iterate batches at %d: %w", off, err)
		}
	}
	return nil
}

// apply replays one state record (no locking: only load calls it).
func (c *Coordinator) apply(en entry, tombstone bool) {
	switch en.kind {
	case kindConfig:
		if tombstone {
			delete(c.configs, en.group)
		} else {
			c.configs[en.group] = en.cfg
		}
	case kindGroup:
		if tombstone {
			delete(c.groups, en.group)
		} else {
			c.getGroupLocked(en.group).epoch = en.epoch
		}
	case kindPartition:
		if tombstone {
			if g := c.groups[en.group]; g != nil {
				delete(g.parts, en.tp)
			}
			return
		}
		c.getGroupLocked(en.group).parts[en.tp] = restore(en.spso, en.runs)
	}
}

func (c *Coordinator) getGroupLocked(name string) *group {
	g := c.groups[name]
	if g == nil {
		g = &group{name: name, members: make(map[string]*member), parts: make(map[TP]*partition)}
		c.groups[name] = g
	}
	return g
}

// logFor is the state topic partition holding a group's records: all of a
// group's records go to one partition, so their order is kept.
func (c *Coordinator) logFor(group string) coordlog.Log {
	return c.logs[crc32.ChecksumIEEE([]byte(group))%uint32(len(c.logs))]
}

// writeLocked appends recs for group and returns a wait for durability.
func (c *Coordinator) writeLocked(group string, recs ...kv) func(context.Context) error {
	if len(recs) == 0 {
		return func(context.Context) error { return nil }
	}
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	wait, err := c.logFor(group).Append(ctx, encodeBatch(recs, c.cfg.Now().UnixMilli()))
	if err != nil {
		c.log.Error("share coordinator: state write failed", "group", group, "err", err)
		return func(context.Context) error { return fmt.Errorf("write share state of %q: %w", group, err) }
	}
	return func(ctx context.Context) error {
		if err := wait(ctx); err != nil {
			return fmt.Errorf("write share state of %q: %w", group, err)
		}
		return nil
	}
}

func partitionRec(group string, tp TP, p *partition) kv {
	return kv{key: partitionKey(group, tp), value: partitionValue(p.spso, p.snapshot())}
}

func groupRec(g *group) kv { return kv{key: groupKey(kindGroup, g.name), value: groupValue(g.epoch)} }

// wakeLocked tells waiting ShareFetch requests that records may be
// Available again.
func (c *Coordinator) wakeLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Changed returns a channel closed the next time records become Available
// without new data being produced (released, expired, unacquired).
func (c *Coordinator) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// settings are a group's effective configs.
type settings struct {
	lock           time.Duration
	deliveryLimit  int16
	sessionTimeout time.Duration
	heartbeat      time.Duration
	earliest       bool
}

func (c *Coordinator) settingsLocked(group string) settings {
	s := settings{
		lock:           c.cfg.LockDuration,
		deliveryLimit:  int16(c.cfg.DeliveryLimit),
		sessionTimeout: c.cfg.SessionTimeout,
		heartbeat:      c.cfg.HeartbeatInterval,
	}
	cfg := c.configs[group]
	if v, ok := intConfig(cfg, "share.record.lock.duration.ms"); ok {
		s.lock = time.Duration(v) * time.Millisecond
	}
	if v, ok := intConfig(cfg, "share.delivery.count.limit"); ok {
		s.deliveryLimit = int16(v)
	}
	if v, ok := intConfig(cfg, "share.session.timeout.ms"); ok {
		s.sessionTimeout = time.Duration(v) * time.Millisecond
	}
	if v, ok := intConfig(cfg, "share.heartbeat.interval.ms"); ok {
		s.heartbeat = time.Duration(v) * time.Millisecond
	}
	s.earliest = cfg["share.auto.offset.reset"] == "earliest"
	return s
}

// LockDuration is the acquisition lock duration of group, which ShareFetch
// and ShareAcknowledge responses report.
func (c *Coordinator) LockDuration(group string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settingsLocked(group).lock
}

// sweep expires acquisition locks and members that stopped heartbeating.
func (c *Coordinator) sweep() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.sweepOnce()
		}
	}
}

func (c *Coordinator) sweepOnce() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	woke := false
	for _, g := range c.groups {
		s := c.settingsLocked(g.name)
		for id, m := range g.members {
			if now.Sub(m.last) > s.sessionTimeout {
				c.log.Info("share group member session timed out", "group", g.name, "member", id)
				woke = c.removeMemberLocked(g, id) || woke
			}
		}
		var recs []kv
		for tp, p := range g.parts {
			if p.expire(now.UnixNano(), s.deliveryLimit) > 0 {
				woke = true
				recs = append(recs, partitionRec(g.name, tp, p))
			}
		}
		// Not waited for: an expiry lost in a crash only means the
		// records are redelivered with the delivery count of the last
		// write, which at-least-once allows.
		c.writeLocked(g.name, recs...)
	}
	if woke {
		c.wakeLocked()
	}
}

// removeMemberLocked drops a member (left or timed out): its sessions end
// and its records are released. It reports whether any became Available.
func (c *Coordinator) removeMemberLocked(g *group, id string) bool {
	delete(g.members, id)
	delete(c.sessions, sessionKey{g.name, id})
	s := c.settingsLocked(g.name)
	freed := false
	var recs []kv
	for tp, p := range g.parts {
		if p.releaseMember(id, s.deliveryLimit) {
			freed = true
		}
		recs = append(recs, partitionRec(g.name, tp, p))
	}
	g.epoch++
	recs = append(recs, groupRec(g))
	c.writeLocked(g.name, recs...)
	return freed
}

// errorf wraps a Kafka error with a message for the client.
func errorf(ke *kerr.Error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", ke, fmt.Sprintf(format, args...))
}

func sortedClone(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
