package txn

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is a transaction's state, numbered as Kafka's TransactionState
// (the number is what the state topic stores).
type State int8

// Kafka's transaction states.
const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is Kafka's name of the state, as DescribeTransactions and
// ListTransactions report it.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// StateByName parses a Kafka state name.
func StateByName(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// Clock is the coordinator's source of time; tests substitute a manual
// one.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f on its own goroutine once d has passed, unless
	// stopped first.
	AfterFunc(d time.Duration, f func()) interface{ Stop() bool }
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	return time.AfterFunc(d, f)
}

// Config configures a Coordinator. Zero values take Kafka's defaults.
type Config struct {
	Storage Storage
	Markers Markers
	// NewProducerID hands out producer ids never used before.
	NewProducerID func(ctx context.Context) (int64, error)
	// Partitions of the state topic when it is created
	// (transaction.state.log.num.partitions, 50).
	Partitions int32
	// MaxTimeout bounds a producer's transaction timeout
	// (transaction.max.timeout.ms, 15 minutes).
	MaxTimeout time.Duration
	// AbortInterval is how often timed-out transactions are looked for
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s).
	AbortInterval time.Duration
	// IDExpiration is how long a transactional id with no transaction
	// open and no state change is kept (transactional.id.expiration.ms,
	// 7 days); then it is deleted (a tombstone in the state topic).
	IDExpiration time.Duration
	// MarkerRetry is how long to wait before writing markers again after
	// a failure (1 s).
	MarkerRetry time.Duration

	Logger *slog.Logger
	Clock  Clock
}

func (c *Config) setDefaults() {
	if c.Partitions <= 0 {
		c.Partitions = 50
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 15 * time.Minute
	}
	if c.AbortInterval <= 0 {
		c.AbortInterval = 10 * time.Second
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = 7 * 24 * time.Hour
	}
	if c.MarkerRetry <= 0 {
		c.MarkerRetry = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
}

// Coordinator is the transaction coordinator of one broker, with state
// in the transaction state topic (see the package doc).
type Coordinator struct {
	cfg    Config
	log    *slog.Logger
	clock  Clock
	shards []*shard

	ctx      context.Context // cancelled when Stop gives up waiting
	cancel   context.CancelFunc
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // shard loops and marker writers
}

// Start opens the state topic (creating it if needed) and starts one
// goroutine per partition, each of which loads its transactions before
// serving them (COORDINATOR_LOAD_IN_PROGRESS until then), then finishes
// the transactions that were being committed or aborted.
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

// Stop stops every goroutine, letting state writes in flight finish (up
// to a bound). Markers not yet written are written by the next start, as
// the state topic still says the transaction is being completed.
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
			c.log.Warn("transaction coordinator: writes still in flight at stop, abandoning them")
		}
		c.cancel()
		<-done
	})
}

// WaitLoaded blocks until every partition is loaded.
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

// NumPartitions is the partition count of the state topic.
func (c *Coordinator) NumPartitions() int32 { return int32(len(c.shards)) }

func (c *Coordinator) enter(id string) (*shard, error) {
	select {
	case <-c.stopping:
		return nil, kerr.NotCoordinator
	default:
	}
	s := c.shards[PartitionFor(id, int32(len(c.shards)))]
	if !s.loaded.Load() {
		return nil, kerr.CoordinatorLoadInProgress
	}
	return s, nil
}

// call runs fn on id's shard loop and waits for the answer fn gives to
// reply (possibly later, once a write is durable).
func call[T any](ctx context.Context, c *Coordinator, id string, onErr func(error) T, fn func(s *shard, reply func(T))) T {
	s, err := c.enter(id)
	if err != nil {
		return onErr(err)
	}
	ch := make(chan T, 1)
	s.q.push(func() {
		if s.stopping {
			ch <- onErr(kerr.NotCoordinator)
			return
		}
		fn(s, func(v T) { ch <- v })
	})
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		return onErr(kerr.RequestTimedOut)
	case <-s.done:
		select {
		case v := <-ch:
			return v
		default:
			return onErr(kerr.NotCoordinator)
		}
	}
}

// InitResult is InitProducerId's answer.
type InitResult struct {
	ProducerID int64
	Epoch      int16
	Err        error
}

// InitProducerID is InitProducerId for a transactional id. producerID
// and epoch are what the client holds (-1 if none, KIP-360).
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, producerID int64, epoch int16) InitResult {
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return InitResult{ProducerID: -1, Epoch: -1, Err: kerr.InvalidTransactionTimeout}
	}
	return call(ctx, c, id, func(err error) InitResult { return InitResult{ProducerID: -1, Epoch: -1, Err: err} },
		func(s *shard, reply func(InitResult)) { s.initProducerID(id, timeoutMs, producerID, epoch, reply) })
}

// AddPartitions is AddPartitionsToTxn for one transaction: it adds parts
// to it, or with verifyOnly checks that they are in it. The answer has
// an error (nil for success) per partition.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, producerID int64, epoch int16, parts []TP, verifyOnly bool) map[TP]error {
	all := func(err error) map[TP]error {
		out := make(map[TP]error, len(parts))
		for _, tp := range parts {
			out[tp] = err
		}
		return out
	}
	return call(ctx, c, id, all, func(s *shard, reply func(map[TP]error)) {
		if verifyOnly {
			reply(s.verifyPartitions(id, producerID, epoch, parts))
			return
		}
		s.addPartitions(id, producerID, epoch, parts, func(err error) { reply(all(err)) })
	})
}

// EndTxn is EndTxn: commit or abort the producer's transaction. It is
// answered once the decision is durable; markers follow.
func (c *Coordinator) EndTxn(ctx context.Context, id string, producerID int64, epoch int16, commit bool) error {
	return call(ctx, c, id, func(err error) error { return err }, func(s *shard, reply func(error)) {
		s.endTxn(id, producerID, epoch, commit, reply)
	})
}

// Check verifies that the producer is at epoch with an open transaction
// of id (TxnOffsetCommit's check).
func (c *Coordinator) Check(ctx context.Context, id string, producerID int64, epoch int16) error {
	return call(ctx, c, id, func(err error) error { return err }, func(s *shard, reply func(error)) {
		reply(s.check(id, producerID, epoch))
	})
}

// Description is one transaction's state, for DescribeTransactions and
// ListTransactions.
type Description struct {
	ID         string
	State      State
	ProducerID int64
	Epoch      int16
	TimeoutMs  int32
	StartMs    int64 // -1 when no transaction is open
	Partitions []TP
}

// Describe returns id's transaction, or TRANSACTIONAL_ID_NOT_FOUND.
func (c *Coordinator) Describe(ctx context.Context, id string) (Description, error) {
	type res struct {
		d   Description
		err error
	}
	r := call(ctx, c, id, func(err error) res { return res{err: err} }, func(s *shard, reply func(res)) {
		m := s.txns[id]
		if m == nil || m.state == Dead {
			reply(res{err: kerr.TransactionalIDNotFound})
			return
		}
		reply(res{d: m.describe()})
	})
	return r.d, r.err
}

// List returns every transaction, by id, and whether some partitions
// were still loading (their transactions are missing).
func (c *Coordinator) List(ctx context.Context) ([]Description, bool) {
	var out []Description
	loading := false
	for _, s := range c.shards {
		if !s.loaded.Load() {
			loading = true
			continue
		}
		ch := make(chan []Description, 1)
		s.q.push(func() {
			var ds []Description
			for _, m := range s.txns {
				if m.state != Dead {
					ds = append(ds, m.describe())
				}
			}
			ch <- ds
		})
		select {
		case ds := <-ch:
			out = append(out, ds...)
		case <-s.done:
		case <-ctx.Done():
			return out, true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, loading
}
