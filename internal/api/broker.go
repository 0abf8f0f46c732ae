// Package api implements the Kafka APIs on top of the storage engine: one
// file per API key, named after it (00_produce.go, 01_fetch.go, ...), each
// opening with the versions it supports and how it deviates from Kafka.
// Each file registers its handler and version range in init(); ApiVersions
// is built from those registrations, so what is advertised is what is
// implemented.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/share"
	"github.com/weirdb/weir/internal/txn"
)

type handlerFunc func(b *Broker, ctx context.Context, r *server.Request) server.Reply

type apiEntry struct {
	min, max int16
	// advertisedMin, when below min, is the minimum ApiVersions reports
	// although requests below min are refused (see 00_produce.go).
	advertisedMin int16
	fn            handlerFunc
}

// apis is filled by init functions only, then read-only.
var apis = map[int16]apiEntry{}

// register records that key is implemented for versions min..max. The range
// is clamped to what kmsg can encode, so we never advertise a version we
// cannot speak.
func register(key, min, max int16, fn handlerFunc) {
	req := kmsg.RequestForKey(key)
	if req == nil {
		panic(fmt.Sprintf("api: kmsg does not know key %d", key))
	}
	if m := req.MaxVersion(); max > m {
		max = m
	}
	apis[key] = apiEntry{min: min, max: max, advertisedMin: min, fn: fn}
}

// Versions lists the supported version range of every API, by key.
func Versions() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(keys))
	for _, k := range keys {
		a := apis[k]
		out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: a.advertisedMin, MaxVersion: a.max})
	}
	return out
}

// Broker answers Kafka requests for one broker. It implements
// server.Handler.
type Broker struct {
	eng  *engine.Engine
	cfg  *config.Broker
	log  *slog.Logger
	host string
	port int32
	// groups is the group coordinator; nil until SetGroups, and group
	// APIs answer COORDINATOR_NOT_AVAILABLE meanwhile.
	groups *group.Coordinator
	// txns is the transaction coordinator; nil until SetTxns, and
	// transaction APIs answer COORDINATOR_NOT_AVAILABLE meanwhile.
	txns *txn.Coordinator
	// shares is the share group coordinator; nil until SetShares, and
	// share group APIs answer COORDINATOR_NOT_AVAILABLE meanwhile.
	shares *share.Coordinator
}

// SetGroups gives the API layer its group coordinator. Call it before
// serving.
func (b *Broker) SetGroups(c *group.Coordinator) { b.groups = c }

// New returns the API layer for eng. advertise is the host:port clients are
// told to connect to.
func New(eng *engine.Engine, cfg *config.Broker, advertise string, log *slog.Logger) (*Broker, error) {
	host, portStr, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("advertised address %q: %w", advertise, err)
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("advertised port %q: %w", portStr, err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Broker{eng: eng, cfg: cfg, log: log, host: host, port: int32(port)}, nil
}

// Supported implements server.Handler.
func (b *Broker) Supported(key, version int16) bool {
	a, ok := apis[key]
	return ok && version >= a.min && version <= a.max
}

// Handle implements server.Handler.
func (b *Broker) Handle(ctx context.Context, r *server.Request) (reply server.Reply) {
	a, ok := apis[r.Key]
	if !ok {
		return func() (kmsg.Response, error) { return nil, fmt.Errorf("unsupported api key %d", r.Key) }
	}
	defer func() {
		if v := recover(); v != nil {
			b.log.Error("handler panic", "api_key", r.Key, "version", r.Version, "panic", v, "stack", string(debug.Stack()))
			reply = func() (kmsg.Response, error) { return nil, fmt.Errorf("handler panic: %v", v) }
		}
	}()
	return a.fn(b, ctx, r)
}

// errCode maps engine errors to Kafka error codes.
func errCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, engine.ErrUnknownTopic), errors.Is(err, engine.ErrPartitionDeleted):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, engine.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, engine.ErrTopicCollision):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, engine.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, engine.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, engine.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, engine.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, engine.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, engine.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, engine.ErrConcurrentMetadata):
		return kerr.ConcurrentTransactions.Code // retriable; no better code exists
	default:
		return kerr.KafkaStorageError.Code
	}
}

// errMessage is the error message for responses that carry one.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// validTopicName applies Kafka's topic name rules.
func validTopicName(name string) error {
	switch {
	case name == "":
		return errors.New("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed", name)
	case len(name) > 249:
		return fmt.Errorf("topic name is longer than 249 characters")
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q contains a character outside [a-zA-Z0-9._-]", name)
		}
	}
	return nil
}

// partitionOf returns partition p of topic, or nil.
func partitionOf(t *engine.Topic, p int32) *engine.Partition {
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[p]
}

// topicByID resolves a topic ID from a request.
func (b *Broker) topicByID(id [16]byte) *engine.Topic {
	if id == ([16]byte{}) {
		return nil
	}
	return b.eng.TopicByID(engine.TopicID(id))
}

// autoCreate creates name with the broker defaults, as Kafka does when a
// client asks for metadata of a missing topic and auto-creation is on.
func (b *Broker) autoCreate(ctx context.Context, name string) (*engine.Topic, error) {
	t, err := b.eng.CreateTopic(ctx, name, b.cfg.NumPartitions(), nil, false)
	if errors.Is(err, engine.ErrTopicExists) {
		if t := b.eng.Topic(name); t != nil {
			return t, nil
		}
	}
	return t, err
}
