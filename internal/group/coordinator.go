package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config configures a Coordinator. Zero durations and sizes take Kafka's
// defaults, except MinSessionTimeout and InitialRebalanceDelay, for which
// zero means none.
type Config struct {
	Storage Storage
	// Partitions of the offsets topic when it is created
	// (offsets.topic.num.partitions).
	Partitions int32
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for (group.min/max.session.timeout.ms).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is how long a new group's first rebalance waits
	// for more members (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// OffsetsRetention is how long offsets outlive their group's members
	// (offsets.retention.minutes).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expired offsets are
	// removed (offsets.retention.check.interval.ms).
	OffsetsRetentionCheckInterval time.Duration
	// MaxMetadataBytes bounds a committed offset's metadata
	// (offset.metadata.max.bytes).
	MaxMetadataBytes int
	// NewMemberJoinTimeout is how long a new member may wait in its first
	// JoinGroup before it is dropped (Kafka: 5 minutes).
	NewMemberJoinTimeout time.Duration
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval are those of
	// KIP-848 consumer groups (group.consumer.session.timeout.ms and
	// group.consumer.heartbeat.interval.ms).
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
	// Topics lists the broker's topics, which consumer groups'
	// subscriptions resolve against; nil: none.
	Topics func() []TopicInfo

	Logger *slog.Logger
	Clock  Clock
	// NewMemberID makes member IDs; the default is Kafka's
	// "<client or instance ID>-<UUID>".
	NewMemberID func(clientID string, instanceID *string) string
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Partitions <= 0 {
		c.Partitions = 50
	}
	def(&c.MaxSessionTimeout, 30*time.Minute)
	c.InitialRebalanceDelay = max(c.InitialRebalanceDelay, 0)
	def(&c.OffsetsRetention, 7*24*time.Hour)
	def(&c.OffsetsRetentionCheckInterval, OffsetsRetentionCheckDefault)
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 4096
	}
	def(&c.NewMemberJoinTimeout, 5*time.Minute)
	def(&c.ConsumerSessionTimeout, consumerSessionDefault)
	def(&c.ConsumerHeartbeatInterval, consumerHeartbeatDefault)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.NewMemberID == nil {
		c.NewMemberID = func(clientID string, instanceID *string) string {
			prefix := clientID
			if instanceID != nil {
				prefix = *instanceID
			}
			return prefix + "-" + uuid()
		}
	}
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Coordinator is the group coordinator of one broker: it runs classic
// consumer groups and keeps committed offsets, both in the offsets topic.
type Coordinator struct {
	cfg    Config
	log    *slog.Logger
	clock  Clock
	shards []*shard

	ctx      context.Context // cancelled when Stop gives up on appends
	cancel   context.CancelFunc
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	parked atomic.Int64 // calls taken by a loop and not answered yet, for tests
}

// Start opens the offsets topic (creating it if needed) and starts one
// goroutine per partition, each of which loads its groups before serving
// them; until then their requests get COORDINATOR_LOAD_IN_PROGRESS.
func Start(ctx context.Context, cfg Config) (*Coordinator, error) {
	cfg.setDefaults()
	logs, err := cfg.Storage.Open(ctx, cfg.Partitions)
	if err != nil {
		return nil, err
	}
	if len(logs) == 0 {
		return nil, fmt.Errorf("%s has no partitions", TopicName)
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, stopping: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for i, l := range logs {
		s := newShard(c, int32(i), l)
		c.shards = append(c.shards, s)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			s.run()
		}()
	}
	return c, nil
}

// Stop answers requests parked in rebalances with NOT_COORDINATOR, lets
// appends in flight finish (up to a bound) and stops every goroutine.
// Requests after Stop get NOT_COORDINATOR. Call it while the storage is
// still open.
func (c *Coordinator) Stop() {
	c.stopOnce.Do(func() {
		close(c.stopping)
		for _, s := range c.shards {
			s.q.push(s.beginStop)
		}
		done := make(chan struct{})
		go func() {
			c.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.log.Warn("group coordinator: appends still in flight at stop, abandoning them")
		}
		c.cancel()
		<-done
	})
}

// WaitLoaded blocks until every partition's groups are loaded.
func (c *Coordinator) WaitLoaded(ctx context.Context) error {
	for _, s := range c.shards {
		for !s.loaded.Load() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.done:
				return kerr.NotCoordinator
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return nil
}

// NumPartitions is the partition count of the offsets topic.
func (c *Coordinator) NumPartitions() int32 { return int32(len(c.shards)) }

func (c *Coordinator) shardFor(group string) *shard {
	return c.shards[PartitionFor(group, int32(len(c.shards)))]
}

func (c *Coordinator) newMemberID(clientID string, instanceID *string) string {
	return c.cfg.NewMemberID(clientID, instanceID)
}

// enter returns the shard serving group, or why it cannot serve it now.
func (c *Coordinator) enter(group string) (*shard, error) {
	select {
	case <-c.stopping:
		return nil, kerr.NotCoordinator
	default:
	}
	s := c.shardFor(group)
	if !s.loaded.Load() {
		return nil, kerr.CoordinatorLoadInProgress
	}
	return s, nil
}

// call runs fn on s's loop and waits for the value it hands to reply
// (which may be later, e.g. when a rebalance completes). onStop is
// returned if the loop exits first or ctx ends.
func call[T any](ctx context.Context, s *shard, onStop T, fn func(reply func(T))) T {
	ch := make(chan T, 1)
	replied := false // loop-owned
	reply := func(v T) {
		if replied {
			return // answered already
		}
		replied = true
		ch <- v
		s.c.parked.Add(-1)
	}
	s.q.push(func() {
		s.c.parked.Add(1)
		if s.stopping {
			reply(onStop)
			return
		}
		fn(reply)
	})
	select {
	case v := <-ch:
		return v
	case <-s.done:
		return onStop
	case <-ctx.Done():
		return onStop
	}
}

// Join is JoinGroup. It returns once the join phase of the rebalance
// completes, which may take up to the group's rebalance timeout.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResult {
	if req.Group == "" {
		return joinErr(req.MemberID, kerr.InvalidGroupID)
	}
	if ms(req.SessionTimeoutMs) < c.cfg.MinSessionTimeout || ms(req.SessionTimeoutMs) > c.cfg.MaxSessionTimeout {
		return joinErr(req.MemberID, kerr.InvalidSessionTimeout)
	}
	s, err := c.enter(req.Group)
	if err != nil {
		return joinErr(req.MemberID, err)
	}
	return call(ctx, s, joinErr(req.MemberID, kerr.NotCoordinator), func(reply func(JoinResult)) { s.join(req, reply) })
}

// Sync is SyncGroup. Followers wait until the leader's assignment is
// stored.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) SyncResult {
	if req.Group == "" {
		return SyncResult{Err: kerr.InvalidGroupID}
	}
	s, err := c.enter(req.Group)
	if err != nil {
		return SyncResult{Err: err}
	}
	return call(ctx, s, SyncResult{Err: kerr.NotCoordinator}, func(reply func(SyncResult)) { s.sync(req, reply) })
}

// Heartbeat is Heartbeat.
func (c *Coordinator) Heartbeat(ctx context.Context, req HeartbeatRequest) error {
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	s, err := c.enter(req.Group)
	if err != nil {
		return err
	}
	return call(ctx, s, error(kerr.NotCoordinator), func(reply func(error)) { reply(s.heartbeat(req)) })
}

// Leave is LeaveGroup.
func (c *Coordinator) Leave(ctx context.Context, group string, members []LeaveMember) LeaveResult {
	if group == "" {
		return LeaveResult{Err: kerr.InvalidGroupID}
	}
	s, err := c.enter(group)
	if err != nil {
		return LeaveResult{Err: err}
	}
	return call(ctx, s, LeaveResult{Err: kerr.NotCoordinator}, func(reply func(LeaveResult)) { reply(s.leave(group, members)) })
}

// Commit is OffsetCommit for the partitions the caller found valid; it
// returns one error per offset, in order.
func (c *Coordinator) Commit(ctx context.Context, req CommitRequest) []error {
	fail := func(err error) []error {
		errs := make([]error, len(req.Offsets))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	s, err := c.enter(req.Group)
	if err != nil {
		return fail(err)
	}
	return call(ctx, s, fail(kerr.NotCoordinator), func(reply func([]error)) { s.commit(req, reply) })
}

// Fetch is OffsetFetch for one group.
func (c *Coordinator) Fetch(ctx context.Context, req FetchRequest) FetchResult {
	s, err := c.enter(req.Group)
	if err != nil {
		return FetchResult{Err: err}
	}
	return call(ctx, s, FetchResult{Err: kerr.NotCoordinator}, func(reply func(FetchResult)) { reply(s.fetch(req)) })
}

// Describe is DescribeGroups. A group that does not exist is answered
// state Dead with GROUP_ID_NOT_FOUND (which the API layer sends from v6).
func (c *Coordinator) Describe(ctx context.Context, groups []string) []Described {
	out := make([]Described, len(groups))
	for i, name := range groups {
		out[i] = Described{Group: name, State: stateDead.String()}
		s, err := c.enter(name)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i] = call(ctx, s, Described{Group: name, Err: kerr.NotCoordinator}, func(reply func(Described)) { reply(s.describe(name)) })
	}
	return out
}

func (s *shard) describe(name string) Described {
	d := Described{Group: name, State: stateDead.String()}
	g := s.groups[name]
	if g == nil {
		d.Err = kerr.GroupIDNotFound
		return d
	}
	if g.cg != nil {
		// As Kafka 4: DescribeGroups is for classic groups only.
		d.Err, d.ErrMessage = kerr.GroupIDNotFound, "Group "+name+" is not a classic group."
		return d
	}
	d.State, d.ProtocolType = g.state.String(), g.protocolType
	stable := g.state == stateStable
	if stable {
		d.Protocol = g.protocol
	}
	for _, m := range g.orderedMembers() {
		dm := DescribedMember{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			dm.Metadata, dm.Assignment = m.metadataFor(g.protocol), m.assignment
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// List is ListGroups: every group whose state and type pass the filters
// (case-insensitive; empty passes all). Classic groups are of type
// "classic", KIP-848 groups of type "consumer". err is
// COORDINATOR_LOAD_IN_PROGRESS while some partition is
// loading; the groups of the others are still listed.
func (c *Coordinator) List(ctx context.Context, states, types []string) (groups []Listed, err error) {
	select {
	case <-c.stopping:
		return nil, kerr.NotCoordinator
	default:
	}
	for _, s := range c.shards {
		if !s.loaded.Load() {
			err = kerr.CoordinatorLoadInProgress
			continue
		}
		ls := call(ctx, s, []Listed(nil), func(reply func([]Listed)) {
			var out []Listed
			for _, g := range s.groups {
				l := Listed{Group: g.name, ProtocolType: g.protocolType, State: g.state.String(), Type: "classic"}
				if g.cg != nil {
					l.State, l.Type = g.cg.state(), consumerProtocolType
				}
				if MatchesFold(states, l.State) && MatchesFold(types, l.Type) {
					out = append(out, l)
				}
			}
			reply(out)
		})
		groups = append(groups, ls...)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Group < groups[j].Group })
	return groups, err
}

// Delete is DeleteGroups: one error per group, in order.
func (c *Coordinator) Delete(ctx context.Context, groups []string) []error {
	errs := make([]error, len(groups))
	for i, name := range groups {
		s, err := c.enter(name)
		if err != nil {
			errs[i] = err
			continue
		}
		errs[i] = call(ctx, s, error(kerr.NotCoordinator), func(reply func(error)) { s.deleteGroup(name, reply) })
	}
	return errs
}

// DeleteTopicOffsets removes every group's committed offsets of topics,
// as Kafka does once topics are deleted. It waits for every partition of
// the offsets topic, one still loading once it has loaded.
func (c *Coordinator) DeleteTopicOffsets(ctx context.Context, topics []string) error {
	set := make(map[string]bool, len(topics))
	for _, t := range topics {
		set[t] = true
	}
	errs := make([]error, len(c.shards))
	var wg sync.WaitGroup
	for i, s := range c.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = call(ctx, s, error(kerr.NotCoordinator), func(reply func(error)) { s.deleteTopicOffsets(set, reply) })
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// DeleteOffsets is OffsetDelete.
func (c *Coordinator) DeleteOffsets(ctx context.Context, group string, tps []TopicPartition) OffsetDeleteResult {
	if group == "" {
		return OffsetDeleteResult{Err: kerr.InvalidGroupID}
	}
	s, err := c.enter(group)
	if err != nil {
		return OffsetDeleteResult{Err: err}
	}
	return call(ctx, s, OffsetDeleteResult{Err: kerr.NotCoordinator}, func(reply func(OffsetDeleteResult)) { s.deleteOffsets(group, tps, reply) })
}
