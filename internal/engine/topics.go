package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/weirdb/weir/internal/meta"
)

// Topic is an immutable snapshot of a topic; changes install a new one.
type Topic struct {
	Name       string
	ID         TopicID
	Internal   bool
	Configs    map[string]string // explicitly set topic configs
	Partitions []*Partition
	rev        int64 // ModRev of topics/<name>
}

// Config returns the effective value of a topic config.
func (e *Engine) Config(t *Topic, name string) string { return e.cfg.TopicConfig(t.Configs, name) }

// Topic returns the topic named name, or nil.
func (e *Engine) Topic(name string) *Topic {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.topics[name]
}

// TopicByID returns the topic with the given ID, or nil.
func (e *Engine) TopicByID(id TopicID) *Topic {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.topicIDs[id]
}

// Topics returns every topic sorted by name.
func (e *Engine) Topics() []*Topic {
	e.mu.RLock()
	ts := make([]*Topic, 0, len(e.topics))
	for _, t := range e.topics {
		ts = append(ts, t)
	}
	e.mu.RUnlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts
}

// collisionName folds '.' into '_', as Kafka does to detect metric-name
// collisions between topics.
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// CheckCreate reports whether a topic named name could be created now.
func (e *Engine) CheckCreate(name string) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.checkCreateLocked(name)
}

func (e *Engine) checkCreateLocked(name string) error {
	if _, ok := e.topics[name]; ok {
		return ErrTopicExists
	}
	c := collisionName(name)
	for other := range e.topics {
		if collisionName(other) == c {
			return fmt.Errorf("%w: %q collides with %q", ErrTopicCollision, name, other)
		}
	}
	return nil
}

// CreateTopic creates a topic. Names and configs are validated by the
// caller; this only guards existence and collisions.
func (e *Engine) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string, internal bool) (*Topic, error) {
	if partitions < 1 {
		return nil, ErrInvalidPartitions
	}
	e.metaMu.Lock()
	defer e.metaMu.Unlock()
	if err := e.CheckCreate(name); err != nil {
		return nil, err
	}
	var id TopicID
	for id == (TopicID{}) {
		_, _ = rand.Read(id[:])
	}
	if configs == nil {
		configs = map[string]string{}
	}
	t := &Topic{Name: name, ID: id, Internal: internal, Configs: configs}
	rec := topicRecord{ID: id.String(), Partitions: partitions, Configs: configs, Internal: internal}
	conds := []meta.Cond{{Key: topicKey(name)}}
	ops := []meta.Op{{Key: topicKey(name), Value: mustJSON(rec)}}
	var states []partState
	for i := int32(0); i < partitions; i++ {
		st := partState{Owner: e.cfg.NodeID, Epoch: 0, Epochs: []epochStart{{Epoch: 0, Start: 0}}}
		states = append(states, st)
		ops = append(ops, meta.Op{Key: partKey(id, i), Value: mustJSON(st)})
	}
	rev, ok, err := e.cfg.Meta.Txn(ctx, conds, ops)
	if err != nil {
		return nil, fmt.Errorf("create topic %s: %w", name, err)
	}
	if !ok {
		return nil, ErrTopicExists
	}
	t.rev = rev
	for i := int32(0); i < partitions; i++ {
		p := newPartition(e, t, i)
		p.state = states[i]
		p.stateRev = rev
		t.Partitions = append(t.Partitions, p)
	}
	e.mu.Lock()
	e.topics[name] = t
	e.topicIDs[id] = t
	e.mu.Unlock()
	e.log.Info("topic created", "topic", name, "topic_id", id.String(), "partitions", partitions)
	return t, nil
}

// DeleteTopic deletes a topic; its objects are removed in the background.
func (e *Engine) DeleteTopic(ctx context.Context, name string) error {
	e.metaMu.Lock()
	defer e.metaMu.Unlock()
	t := e.Topic(name)
	if t == nil {
		return ErrUnknownTopic
	}
	ops := []meta.Op{
		{Key: topicKey(name), Delete: true},
		{Key: prefixParts + t.ID.String() + "/", Delete: true, Prefix: true},
		{Key: objsTopicPrefix(t.ID), Delete: true, Prefix: true},
	}
	_, ok, err := e.cfg.Meta.Txn(ctx, []meta.Cond{{Key: topicKey(name), ModRev: t.rev}}, ops)
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("delete topic %s: %w", name, ErrConcurrentMetadata)
	}
	e.mu.Lock()
	delete(e.topics, name)
	delete(e.topicIDs, t.ID)
	e.mu.Unlock()
	garbage := map[string]bool{}
	for _, p := range t.Partitions {
		p.mu.Lock()
		if p.state.ProdSnap != "" {
			garbage[p.state.ProdSnap] = true
		}
		p.mu.Unlock()
		for _, r := range p.markDeleted() {
			garbage[r.Key] = true
		}
	}
	// The objects are unreferenced now. Recording them is best effort: a
	// crash here leaves them to the orphan sweep.
	if err := e.addGarbageLocked(ctx, garbage); err != nil {
		e.log.Warn("record garbage objects", "topic", name, "err", err)
	}
	e.kick(e.gcKick)
	e.log.Info("topic deleted", "topic", name, "topic_id", t.ID.String())
	return nil
}

func (e *Engine) addGarbageLocked(ctx context.Context, keys map[string]bool) error {
	var ops []meta.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, _, err := e.cfg.Meta.Txn(ctx, nil, ops)
		ops = ops[:0]
		return err
	}
	for k := range keys {
		ops = append(ops, meta.Op{Key: prefixGC + k, Value: []byte{}})
		if len(ops) >= 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// CreatePartitions grows a topic to count partitions.
func (e *Engine) CreatePartitions(ctx context.Context, name string, count int32) error {
	e.metaMu.Lock()
	defer e.metaMu.Unlock()
	t := e.Topic(name)
	if t == nil {
		return ErrUnknownTopic
	}
	old := int32(len(t.Partitions))
	if count <= old {
		return fmt.Errorf("%w: topic has %d partitions, cannot go to %d", ErrInvalidPartitions, old, count)
	}
	nt := *t
	rec := topicRecord{ID: t.ID.String(), Partitions: count, Configs: t.Configs, Internal: t.Internal}
	ops := []meta.Op{{Key: topicKey(name), Value: mustJSON(rec)}}
	st := partState{Owner: e.cfg.NodeID, Epoch: 0, Epochs: []epochStart{{Epoch: 0, Start: 0}}}
	for i := old; i < count; i++ {
		ops = append(ops, meta.Op{Key: partKey(t.ID, i), Value: mustJSON(st)})
	}
	rev, ok, err := e.cfg.Meta.Txn(ctx, []meta.Cond{{Key: topicKey(name), ModRev: t.rev}}, ops)
	if err != nil {
		return fmt.Errorf("create partitions of %s: %w", name, err)
	}
	if !ok {
		return ErrConcurrentMetadata
	}
	nt.rev = rev
	nt.Partitions = append([]*Partition(nil), t.Partitions...)
	for i := old; i < count; i++ {
		p := newPartition(e, &nt, i)
		p.state = st
		p.stateRev = rev
		nt.Partitions = append(nt.Partitions, p)
	}
	for _, p := range nt.Partitions {
		p.topic.Store(&nt)
	}
	e.replaceTopic(&nt)
	return nil
}

// SetTopicConfigs replaces a topic's explicitly set configs.
func (e *Engine) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	e.metaMu.Lock()
	defer e.metaMu.Unlock()
	t := e.Topic(name)
	if t == nil {
		return ErrUnknownTopic
	}
	nt := *t
	nt.Configs = maps.Clone(configs)
	rec := topicRecord{ID: t.ID.String(), Partitions: int32(len(t.Partitions)), Configs: nt.Configs, Internal: t.Internal}
	rev, ok, err := e.cfg.Meta.Txn(ctx, []meta.Cond{{Key: topicKey(name), ModRev: t.rev}}, []meta.Op{{Key: topicKey(name), Value: mustJSON(rec)}})
	if err != nil {
		return fmt.Errorf("alter configs of %s: %w", name, err)
	}
	if !ok {
		return ErrConcurrentMetadata
	}
	nt.rev = rev
	for _, p := range nt.Partitions {
		p.topic.Store(&nt)
	}
	e.replaceTopic(&nt)
	return nil
}

func (e *Engine) replaceTopic(t *Topic) {
	e.mu.Lock()
	e.topics[t.Name] = t
	e.topicIDs[t.ID] = t
	e.mu.Unlock()
}
