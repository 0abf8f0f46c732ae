package share

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Offset is a share-partition's start offset for
// DescribeShareGroupOffsets; StartOffset and Lag are -1 when the group has
// no state for the partition.
type Offset struct {
	TP          TP
	StartOffset int64
	Lag         int64
}

// Offsets describes the SPSO and lag of tps in group, or of every
// share-partition the group has when tps is nil.
func (c *Coordinator) Offsets(group string, tps []TP) []Offset {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[group]
	if tps == nil && g != nil {
		tps = slices.Collect(maps.Keys(g.parts))
	}
	out := make([]Offset, 0, len(tps))
	for _, tp := range tps {
		o := Offset{TP: tp, StartOffset: -1, Lag: -1}
		if g != nil {
			if p := g.parts[tp]; p != nil {
				o.StartOffset = p.spso
				if _, hw, ok := c.cfg.Topics.Bounds(tp); ok {
					o.Lag = max(0, hw-p.spso-p.finished(hw))
				}
			}
		}
		out = append(out, o)
	}
	return out
}

// AlterOffsets sets the SPSO of each partition of offsets in an empty group,
// creating the group if needed, and forgets the records' states
// (AlterShareGroupOffsets). It answers NON_EMPTY_GROUP while the group has
// members.
func (c *Coordinator) AlterOffsets(ctx context.Context, group string, offsets map[TP]int64) error {
	c.mu.Lock()
	g := c.getGroupLocked(group)
	if len(g.members) > 0 {
		c.mu.Unlock()
		return kerr.NonEmptyGroup
	}
	recs := []kv{groupRec(g)}
	for tp, o := range offsets {
		p := g.parts[tp]
		if p == nil {
			p = newPartition(o)
			g.parts[tp] = p
		}
		p.reset(o)
		recs = append(recs, partitionRec(group, tp, p))
	}
	wait := c.writeLocked(group, recs...)
	c.mu.Unlock()
	return wait(ctx)
}

// DeleteOffsets deletes the group's state of every partition of the topics
// (DeleteShareGroupOffsets): GROUP_ID_NOT_FOUND without the group,
// NON_EMPTY_GROUP while it has members. The next fetch starts over from
// share.auto.offset.reset.
func (c *Coordinator) DeleteOffsets(ctx context.Context, group string, topics [][16]byte) error {
	c.mu.Lock()
	g, err := c.emptyGroupLocked(group)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	var recs []kv
	for tp := range g.parts {
		if slices.Contains(topics, tp.TopicID) {
			delete(g.parts, tp)
			recs = append(recs, kv{key: partitionKey(group, tp)})
		}
	}
	wait := c.writeLocked(group, recs...)
	c.mu.Unlock()
	return wait(ctx)
}

// Group configs (Kafka's GroupConfig for share groups), with their
// defaults. Weir applies all but the two timing hints, which it reports.
var groupConfigDefaults = map[string]func(c *Config) string{
	"share.auto.offset.reset":       func(*Config) string { return "latest" },
	"share.isolation.level":         func(*Config) string { return "read_uncommitted" },
	"share.record.lock.duration.ms": func(c *Config) string { return ms(c.LockDuration.Milliseconds()) },
	"share.delivery.count.limit":    func(c *Config) string { return strconv.Itoa(c.DeliveryLimit) },
	"share.session.timeout.ms":      func(c *Config) string { return ms(c.SessionTimeout.Milliseconds()) },
	"share.heartbeat.interval.ms":   func(c *Config) string { return ms(c.HeartbeatInterval.Milliseconds()) },
}

func ms(v int64) string { return strconv.FormatInt(v, 10) }

func intConfig(cfg map[string]string, name string) (int64, bool) {
	v, ok := cfg[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	return n, err == nil
}

// validConfig checks one group config value against Kafka's rules.
func validConfig(name, value string) error {
	if _, ok := groupConfigDefaults[name]; !ok {
		return errorf(kerr.InvalidConfig, "Unknown group config name: %s", name)
	}
	intIn := func(lo, hi int64) error {
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < lo || n > hi {
			return errorf(kerr.InvalidConfig, "Invalid value %s for configuration %s: must be an integer in [%d, %d]", value, name, lo, hi)
		}
		return nil
	}
	switch name {
	case "share.auto.offset.reset":
		if value != "latest" && value != "earliest" {
			return errorf(kerr.InvalidConfig, "Invalid value %s for configuration %s: must be latest or earliest (by_duration is not supported by Weir)", value, name)
		}
	case "share.isolation.level":
		if value != "read_uncommitted" {
			return errorf(kerr.InvalidConfig, "Invalid value %s for configuration %s: Weir share groups read uncommitted only", value, name)
		}
	case "share.record.lock.duration.ms":
		return intIn(1000, 3600000)
	case "share.delivery.count.limit":
		return intIn(2, 10)
	case "share.session.timeout.ms":
		return intIn(1000, 3600000)
	case "share.heartbeat.interval.ms":
		return intIn(100, 3600000)
	}
	return nil
}

// ConfigOp is one IncrementalAlterConfigs operation on a group config:
// Op 0 sets Value, 1 deletes (back to the default); 2 and 3 (APPEND,
// SUBTRACT) fit no group config.
type ConfigOp struct {
	Name  string
	Op    int8
	Value *string
}

// AlterConfigs applies ops to group's dynamic configs, all or nothing, and
// returns once they are durable. The group need not exist yet: configs
// are usually set before the first member joins.
func (c *Coordinator) AlterConfigs(ctx context.Context, group string, ops []ConfigOp, validateOnly bool) error {
	if group == "" {
		return errorf(kerr.InvalidRequest, "group name is empty")
	}
	c.mu.Lock()
	next := maps.Clone(c.configs[group])
	if next == nil {
		next = make(map[string]string)
	}
	for _, op := range ops {
		switch op.Op {
		case 0:
			if op.Value == nil {
				c.mu.Unlock()
				return errorf(kerr.InvalidRequest, "Null value not supported for: %s", op.Name)
			}
			if err := validConfig(op.Name, *op.Value); err != nil {
				c.mu.Unlock()
				return err
			}
			next[op.Name] = *op.Value
		case 1:
			if _, ok := groupConfigDefaults[op.Name]; !ok {
				c.mu.Unlock()
				return errorf(kerr.InvalidConfig, "Unknown group config name: %s", op.Name)
			}
			delete(next, op.Name)
		default:
			c.mu.Unlock()
			return errorf(kerr.InvalidConfig, "Config value append/subtract is not allowed for config %s", op.Name)
		}
	}
	if validateOnly {
		c.mu.Unlock()
		return nil
	}
	c.configs[group] = next
	wait := c.writeLocked(group, kv{key: groupKey(kindConfig, group), value: configValue(next)})
	c.mu.Unlock()
	return wait(ctx)
}

// ConfigEntry is one group config for DescribeConfigs.
type ConfigEntry struct {
	Name, Value string
	Dynamic     bool // set on the group, else the default
}

// DescribeConfigs lists group's configs named in names, or all of them
// when names is nil; unknown names are skipped.
func (c *Coordinator) DescribeConfigs(group string, names []string) []ConfigEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if names == nil {
		names = slices.Sorted(maps.Keys(groupConfigDefaults))
	}
	var out []ConfigEntry
	for _, n := range names {
		def, ok := groupConfigDefaults[n]
		if !ok {
			continue
		}
		e := ConfigEntry{Name: n, Value: def(&c.cfg)}
		if v, ok := c.configs[group][n]; ok {
			e.Value, e.Dynamic = v, true
		}
		out = append(out, e)
	}
	return out
}
