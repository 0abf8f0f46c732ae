package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicValue returns the effective value of a topic setting, in canonical
// form: the topic's override in set if any, else the value derived from the
// broker setting it defaults from (b nil: broker defaults), else the topic
// default. An unknown name gives "".
func TopicValue(set map[string]string, b *Broker, name string) string {
	d, ok := topicByName[name]
	if !ok {
		return ""
	}
	return topicValue(d, set, b)
}

func topicValue(d *Def, set map[string]string, b *Broker) string {
	if v, ok := set[d.Name]; ok {
		if c, err := d.check(v); err == nil {
			return c
		}
		// Stored overrides were validated on the way in; should one be bad
		// anyway (hand-edited metadata), fall back rather than fail.
	}
	switch {
	case d.Name == "retention.ms":
		return strconv.FormatInt(b.RetentionMs(), 10) // negative broker values mean -1
	case len(d.Synonyms) > 0:
		return b.String(d.Synonyms[0])
	}
	return d.Default
}

// TopicConfig resolves a topic's effective settings from its overrides and
// the broker's settings. Construct it with Topic. Its getters panic on
// names not in TopicDefs or of the wrong type, like Broker's.
type TopicConfig struct {
	set map[string]string
	b   *Broker
}

// Topic returns the resolver for a topic with the given overrides; b nil
// means broker defaults. set is read, not copied: do not modify it while the
// TopicConfig is in use.
func Topic(set map[string]string, b *Broker) TopicConfig { return TopicConfig{set: set, b: b} }

func mustTopicDef(name string, types ...Type) *Def {
	d, ok := topicByName[name]
	if !ok {
		panic(fmt.Sprintf("config: unknown topic setting %q", name))
	}
	if len(types) == 0 {
		return d
	}
	for _, t := range types {
		if d.Type == t {
			return d
		}
	}
	panic(fmt.Sprintf("config: topic setting %q is %s, not %s", name, d.Type, types[0]))
}

// String returns the effective value of any topic setting.
func (t TopicConfig) String(name string) string { return topicValue(mustTopicDef(name), t.set, t.b) }

// Int returns the effective value of an INT topic setting.
func (t TopicConfig) Int(name string) int {
	n, _ := strconv.ParseInt(topicValue(mustTopicDef(name, TypeInt, TypeShort), t.set, t.b), 10, 32)
	return int(n)
}

// Long returns the effective value of a LONG or INT topic setting.
func (t TopicConfig) Long(name string) int64 {
	n, _ := strconv.ParseInt(topicValue(mustTopicDef(name, TypeLong, TypeInt, TypeShort), t.set, t.b), 10, 64)
	return n
}

// Bool returns the effective value of a BOOLEAN topic setting.
func (t TopicConfig) Bool(name string) bool {
	v, _ := parseBool(topicValue(mustTopicDef(name, TypeBoolean), t.set, t.b))
	return v
}

// Double returns the effective value of a DOUBLE topic setting.
func (t TopicConfig) Double(name string) float64 {
	f, _ := strconv.ParseFloat(topicValue(mustTopicDef(name, TypeDouble), t.set, t.b), 64)
	return f
}

// List returns the effective value of a LIST topic setting.
func (t TopicConfig) List(name string) []string {
	return splitList(topicValue(mustTopicDef(name, TypeList), t.set, t.b))
}

// Duration returns the effective value of a ".ms" topic setting as a
// time.Duration, saturating like Broker.Duration.
func (t TopicConfig) Duration(name string) time.Duration { return toDuration(name, t.Long(name)) }

// RetentionMs is retention.ms: -1 means no time limit.
func (t TopicConfig) RetentionMs() int64 { return t.Long("retention.ms") }

// RetentionBytes is retention.bytes: negative means no size limit.
func (t TopicConfig) RetentionBytes() int64 { return t.Long("retention.bytes") }

// MaxMessageBytes is max.message.bytes.
func (t TopicConfig) MaxMessageBytes() int32 { return int32(t.Int("max.message.bytes")) }

// Compact reports whether cleanup.policy includes compact.
func (t TopicConfig) Compact() bool { return t.hasPolicy("compact") }

// Delete reports whether cleanup.policy includes delete.
func (t TopicConfig) Delete() bool { return t.hasPolicy("delete") }

func (t TopicConfig) hasPolicy(p string) bool {
	for _, v := range t.List("cleanup.policy") {
		if v == p {
			return true
		}
	}
	return false
}

// LogAppendTime reports whether message.timestamp.type is LogAppendTime.
func (t TopicConfig) LogAppendTime() bool {
	return t.String("message.timestamp.type") == "LogAppendTime"
}

// ---- validation ----

func unknownTopicConfig(name string) *Error {
	msg := "Unknown topic config name: " + name
	if bd, ok := brokerByName[name]; ok {
		for i := range topicDefs {
			for _, s := range topicDefs[i].Synonyms {
				if s == bd.Name {
					msg += fmt.Sprintf(" (%s is a broker setting; the topic setting is %s)", name, topicDefs[i].Name)
					return &Error{Code: CodeInvalidConfig, Name: name, Message: msg}
				}
			}
		}
		msg += fmt.Sprintf(" (%s is a broker setting)", name)
	} else if s := suggest(name, topicDefs); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return &Error{Code: CodeInvalidConfig, Name: name, Message: msg}
}

// ValidateTopicConfigs validates topic settings as given in CreateTopics or
// AlterConfigs: every name must be a topic setting, every value non-null and
// valid for it, and the settings must agree with each other (with broker
// defaults for the rest). The error is an *Error whose Code is the Kafka
// error code to answer with (40, INVALID_CONFIG).
func ValidateTopicConfigs(m map[string]*string) error {
	_, err := NormalizeTopicConfigs(m, nil)
	return err
}

// NormalizeTopicConfigs validates like ValidateTopicConfigs, using b's
// settings (nil: defaults) for the cross-setting checks, and returns the
// overrides in canonical form, ready to store.
func NormalizeTopicConfigs(m map[string]*string, b *Broker) (map[string]string, error) {
	out := make(map[string]string, len(m))
	// Report problems in a deterministic order.
	for _, name := range sortedKeys(m) {
		v := m[name]
		d, ok := topicByName[name]
		if !ok {
			return nil, unknownTopicConfig(name)
		}
		if v == nil {
			return nil, &Error{Code: CodeInvalidConfig, Name: name,
				Message: "Null value not supported for topic configs: " + name}
		}
		c, err := d.check(*v)
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	if err := crossCheckTopic(out, b); err != nil {
		return nil, err
	}
	return out, nil
}

// crossCheckTopic applies Kafka's checks between settings (LogConfig's
// validateValues).
func crossCheckTopic(set map[string]string, b *Broker) error {
	t := Topic(set, b)
	minLag, maxLag := t.Long("min.compaction.lag.ms"), t.Long("max.compaction.lag.ms")
	if minLag > maxLag {
		return &Error{Code: CodeInvalidConfig, Name: "min.compaction.lag.ms",
			Message: fmt.Sprintf("conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", minLag, maxLag)}
	}
	return nil
}

// Alter is one operation of an IncrementalAlterConfigs request on a topic.
type Alter struct {
	Name  string
	Op    kmsg.IncrementalAlterConfigOp // SET, DELETE, APPEND, SUBTRACT
	Value *string
}

// AlterTopicIncremental applies IncrementalAlterConfigs operations to a
// topic's current overrides and returns the new overrides (current is not
// modified), validated and canonical. Kafka's rules: a name may appear once
// per resource (else INVALID_REQUEST); SET, APPEND and SUBTRACT need a
// value (else INVALID_REQUEST); APPEND and SUBTRACT work on LIST settings
// only (else INVALID_CONFIG), starting from the effective value (b nil:
// broker defaults); DELETE removes the override, reverting to the default.
// The result must pass NormalizeTopicConfigs.
func AlterTopicIncremental(current map[string]string, b *Broker, ops []Alter) (map[string]string, error) {
	next := make(map[string]*string, len(current)+len(ops))
	for k, v := range current {
		next[k] = &v
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return nil, &Error{Code: CodeInvalidRequest, Name: op.Name,
				Message: "Error due to duplicate config keys: " + op.Name}
		}
		seen[op.Name] = true
	}
	for _, op := range ops {
		d, ok := topicByName[op.Name]
		if !ok {
			return nil, unknownTopicConfig(op.Name)
		}
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return nil, &Error{Code: CodeInvalidRequest, Name: op.Name,
				Message: "Null value not supported for : " + op.Name}
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			v := *op.Value
			next[op.Name] = &v
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.Type != TypeList {
				return nil, &Error{Code: CodeInvalidConfig, Name: op.Name,
					Message: fmt.Sprintf("Can't %s to key %s because its type is not LIST.", opName(op.Op), op.Name)}
			}
			var cur []string
			if v, ok := next[op.Name]; ok {
				cur = splitList(*v)
			} else {
				cur = splitList(topicValue(d, nil, b))
			}
			for _, item := range splitList(*op.Value) {
				i := indexOf(cur, item)
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && i < 0 {
					cur = append(cur, item)
				} else if op.Op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0 {
					cur = append(cur[:i:i], cur[i+1:]...)
				}
			}
			v := strings.Join(cur, ",")
			next[op.Name] = &v
		default:
			return nil, &Error{Code: CodeInvalidRequest, Name: op.Name,
				Message: fmt.Sprintf("unknown IncrementalAlterConfigs operation %d for %s", op.Op, op.Name)}
		}
	}
	return NormalizeTopicConfigs(next, b)
}

func opName(op kmsg.IncrementalAlterConfigOp) string {
	switch op {
	case kmsg.IncrementalAlterConfigOpAppend:
		return "APPEND"
	case kmsg.IncrementalAlterConfigOpSubtract:
		return "SUBTRACT"
	}
	return op.String()
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
