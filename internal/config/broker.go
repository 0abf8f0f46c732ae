package config

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"gopkg.in/yaml.v3"
)

// Defaults of the top-level YAML keys that are not Kafka settings.
const (
	DefaultListen  = "127.0.0.1:9092"
	DefaultDataDir = "./weir-data"
)

// Names of the top-level YAML keys (also accepted by --set) that are not
// Kafka settings.
const (
	KeyListen    = "listen"
	KeyAdvertise = "advertise"
	KeyDataDir   = "data-dir"
)

// Broker holds a broker's effective settings. It is immutable after Load;
// all methods are safe for concurrent use. A nil *Broker behaves as
// Default().
//
// The getters (Int, Long, ...) take a setting name that must be defined in
// BrokerDefs with a compatible type; anything else is a programming error
// and panics. Values were validated by Load, so getters cannot fail
// otherwise.
type Broker struct {
	// Listen is the address to accept Kafka connections on (YAML key
	// "listen"; default "127.0.0.1:9092").
	Listen string
	// Advertise is the host:port given to clients in metadata responses
	// (YAML key "advertise"); empty means derive it from Listen.
	Advertise string
	// DataDir is the directory for local state: file WAL, filesystem object
	// store, embedded etcd (YAML key "data-dir"; default "./weir-data").
	DataDir string

	set map[string]string // explicitly set settings, canonical values
}

var (
	defaultOnce sync.Once
	defaultB    *Broker
)

func defaultBroker() *Broker {
	defaultOnce.Do(func() {
		b, err := Load("", nil)
		if err != nil {
			panic("config: defaults do not validate: " + err.Error())
		}
		defaultB = b
	})
	return defaultB
}

// Default returns a broker configuration with every setting at its default.
// The result is shared; it must not be modified.
func Default() *Broker { return defaultBroker() }

// Load reads the YAML file at yamlPath (none if empty), then applies sets,
// each "name=value", in order; later values override earlier ones and the
// file. The file is a flat mapping of setting names to scalars (a sequence
// is accepted for LIST settings), plus the optional keys listen, advertise
// and data-dir; a null value leaves the setting at its default.
//
// Any unknown name, malformed entry or invalid value is an error naming the
// setting and the reason, e.g.
//
//	invalid value "abc" for num.partitions: not an integer
func Load(yamlPath string, sets []string) (*Broker, error) {
	b := &Broker{Listen: DefaultListen, DataDir: DefaultDataDir, set: map[string]string{}}
	if yamlPath != "" {
		data, err := os.ReadFile(yamlPath)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := b.loadYAML(yamlPath, data); err != nil {
			return nil, err
		}
	}
	for _, s := range sets {
		name, value, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, &Error{Code: CodeInvalidConfig, Message: fmt.Sprintf("malformed --set %q: want name=value", s)}
		}
		if err := b.setValue(name, value); err != nil {
			return nil, err
		}
	}
	if err := b.crossCheck(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Broker) loadYAML(path string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of setting names to values", path, root.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := func(line int, err error) error {
			if ce, ok := err.(*Error); ok {
				c := *ce
				c.Message = fmt.Sprintf("%s:%d: %s", path, line, ce.Message)
				return &c
			}
			return fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if k.Kind != yaml.ScalarNode {
			return at(k.Line, fmt.Errorf("setting names must be plain strings"))
		}
		name := k.Value
		if prev, dup := seen[name]; dup {
			return at(k.Line, fmt.Errorf("%s is set twice (also on line %d)", name, prev))
		}
		seen[name] = k.Line
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		var value string
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				if _, ok := brokerByName[name]; !ok && !isSpecial(name) {
					return at(k.Line, b.unknown(name))
				}
				continue // null: leave at default
			}
			value = v.Value
		case yaml.SequenceNode:
			d, ok := brokerByName[name]
			if !ok {
				return at(k.Line, b.unknown(name))
			}
			if d.Type != TypeList {
				return at(v.Line, fmt.Errorf("%s takes a single value, not a list", name))
			}
			items := make([]string, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return at(it.Line, fmt.Errorf("%s: list items must be plain values", name))
				}
				items = append(items, it.Value)
			}
			value = strings.Join(items, ",")
		default:
			return at(v.Line, fmt.Errorf("%s takes a single value, not a mapping", name))
		}
		if err := b.setValue(name, value); err != nil {
			return at(k.Line, err)
		}
	}
	return nil
}

func isSpecial(name string) bool {
	return name == KeyListen || name == KeyAdvertise || name == KeyDataDir
}

func (b *Broker) setValue(name, value string) error {
	if isSpecial(name) {
		value = strings.TrimSpace(value)
		switch name {
		case KeyListen:
			if value == "" {
				return invalidValue(name, value, "must not be empty")
			}
			b.Listen = value
		case KeyAdvertise:
			b.Advertise = value
		case KeyDataDir:
			if value == "" {
				return invalidValue(name, value, "must not be empty")
			}
			b.DataDir = value
		}
		return nil
	}
	d, ok := brokerByName[name]
	if !ok {
		return b.unknown(name)
	}
	v, err := d.check(value)
	if err != nil {
		return err
	}
	b.set[name] = v
	return nil
}

func (b *Broker) unknown(name string) error {
	msg := fmt.Sprintf("unknown setting %q", name)
	if td, ok := topicByName[name]; ok {
		if len(td.Synonyms) > 0 {
			msg += fmt.Sprintf(": %s is a topic setting; the broker default for it is %s", name, td.Synonyms[0])
		} else {
			msg += fmt.Sprintf(": %s is a topic setting", name)
		}
	} else if s := suggest(name, brokerDefs); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return &Error{Code: CodeInvalidConfig, Name: name, Message: msg}
}

func (b *Broker) crossCheck() error {
	n, nok := b.set["node.id"]
	id, iok := b.set["broker.id"]
	if nok && iok && n != id {
		return &Error{Code: CodeInvalidConfig, Name: "node.id",
			Message: fmt.Sprintf("node.id (%s) and broker.id (%s) are both set and differ; set only node.id", n, id)}
	}
	if b.String("weir.objstore.kind") == "s3" && b.String("weir.s3.bucket") == "" {
		return &Error{Code: CodeInvalidConfig, Name: "weir.s3.bucket",
			Message: "weir.s3.bucket must be set when weir.objstore.kind is s3"}
	}
	return nil
}

// ---- lookups ----

func (b *Broker) get() *Broker {
	if b == nil {
		return defaultBroker()
	}
	return b
}

func mustDef(name string, types ...Type) *Def {
	d, ok := brokerByName[name]
	if !ok {
		panic(fmt.Sprintf("config: unknown broker setting %q", name))
	}
	if len(types) == 0 {
		return d
	}
	for _, t := range types {
		if d.Type == t {
			return d
		}
	}
	panic(fmt.Sprintf("config: broker setting %q is %s, not %s", name, d.Type, types[0]))
}

// explicit returns the value of name if it was set explicitly.
func (b *Broker) explicit(name string) (string, bool) {
	v, ok := b.get().set[name]
	return v, ok
}

func (b *Broker) value(d *Def) string {
	b = b.get()
	if v, ok := b.set[d.Name]; ok {
		return v
	}
	if d.effective != nil {
		if v, ok := d.effective(b); ok {
			return v
		}
	}
	return d.Default
}

// IsSet reports whether the setting was set explicitly (YAML or --set).
func (b *Broker) IsSet(name string) bool {
	mustDef(name)
	_, ok := b.explicit(name)
	return ok
}

// Lookup returns the explicitly set value of a setting, if any.
func (b *Broker) Lookup(name string) (string, bool) {
	mustDef(name)
	return b.explicit(name)
}

// String returns the effective value of a setting of any type, in canonical
// form. Settings whose Kafka default is null give their derived value
// (log.retention.ms: the value of RetentionMs; log.roll.ms: log.roll.hours
// in ms; ...).
func (b *Broker) String(name string) string { return b.value(mustDef(name)) }

// Int returns the effective value of an INT or SHORT setting.
func (b *Broker) Int(name string) int {
	n, _ := strconv.ParseInt(b.value(mustDef(name, TypeInt, TypeShort)), 10, 32)
	return int(n)
}

// Long returns the effective value of a LONG, INT or SHORT setting.
func (b *Broker) Long(name string) int64 {
	n, _ := strconv.ParseInt(b.value(mustDef(name, TypeLong, TypeInt, TypeShort)), 10, 64)
	return n
}

// Bool returns the effective value of a BOOLEAN setting.
func (b *Broker) Bool(name string) bool {
	v, _ := parseBool(b.value(mustDef(name, TypeBoolean)))
	return v
}

// Double returns the effective value of a DOUBLE setting.
func (b *Broker) Double(name string) float64 {
	f, _ := strconv.ParseFloat(b.value(mustDef(name, TypeDouble)), 64)
	return f
}

// List returns the effective value of a LIST setting; nil when empty.
func (b *Broker) List(name string) []string {
	return splitList(b.value(mustDef(name, TypeList)))
}

// Duration returns the effective value of an integer setting whose name
// ends in ".ms", ".minutes" or ".hours" as a time.Duration. Kafka's "no
// limit" (Long.MAX_VALUE ms) and anything else beyond the range of
// time.Duration saturate at math.MaxInt64; negative values (-1: no limit)
// are returned as they are.
func (b *Broker) Duration(name string) time.Duration {
	return toDuration(name, b.Long(name))
}

func toDuration(name string, n int64) time.Duration {
	var unit time.Duration
	switch {
	case strings.HasSuffix(name, ".ms"):
		unit = time.Millisecond
	case strings.HasSuffix(name, ".minutes"):
		unit = time.Minute
	case strings.HasSuffix(name, ".hours"):
		unit = time.Hour
	default:
		panic(fmt.Sprintf("config: setting %q is not a duration (.ms, .minutes, .hours)", name))
	}
	if n > math.MaxInt64/int64(unit) {
		return math.MaxInt64
	}
	if n < math.MinInt64/int64(unit) {
		return math.MinInt64
	}
	return time.Duration(n) * unit
}

// Source returns where the setting's value comes from, as DescribeConfigs
// reports it: ConfigSourceStaticBrokerConfig when it, or a synonym taking
// precedence in Kafka's order, was set explicitly (YAML or --set),
// ConfigSourceDefaultConfig otherwise.
func (b *Broker) Source(name string) kmsg.ConfigSource {
	d := mustDef(name)
	for _, s := range d.Synonyms {
		if _, ok := b.explicit(s); ok {
			return kmsg.ConfigSourceStaticBrokerConfig
		}
	}
	return kmsg.ConfigSourceDefaultConfig
}

// Explicit returns the explicitly set settings (not listen, advertise,
// data-dir), with sensitive values replaced by "[hidden]": fit for a
// start-up log line.
func (b *Broker) Explicit() map[string]string {
	b = b.get()
	out := make(map[string]string, len(b.set))
	for k, v := range b.set {
		if brokerByName[k].Sensitive {
			v = "[hidden]"
		}
		out[k] = v
	}
	return out
}

// ExplicitString renders Explicit as "name=value" pairs sorted by name.
func (b *Broker) ExplicitString() string {
	m := b.Explicit()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, " ")
}

// ---- convenience accessors ----

// RetentionMs is the broker's default retention in ms with Kafka's
// precedence: log.retention.ms, else log.retention.minutes, else
// log.retention.hours. Any negative result is -1 (no time limit).
func (b *Broker) RetentionMs() int64 {
	var ms int64
	if v, ok := b.explicit("log.retention.ms"); ok {
		ms, _ = strconv.ParseInt(v, 10, 64)
	} else if v, ok := b.explicit("log.retention.minutes"); ok {
		m, _ := strconv.ParseInt(v, 10, 64)
		ms = m * 60_000
	} else {
		ms = int64(b.Int("log.retention.hours")) * 3_600_000
	}
	if ms < 0 {
		return -1
	}
	return ms
}

// NodeID is node.id (or broker.id when only that is set).
func (b *Broker) NodeID() int32 { return int32(b.Int("node.id")) }

// NumPartitions is num.partitions.
func (b *Broker) NumPartitions() int32 { return int32(b.Int("num.partitions")) }

// DefaultReplicationFactor is default.replication.factor.
func (b *Broker) DefaultReplicationFactor() int16 {
	n := b.Int("default.replication.factor")
	if n > math.MaxInt16 {
		n = math.MaxInt16
	}
	return int16(n)
}

// MessageMaxBytes is message.max.bytes.
func (b *Broker) MessageMaxBytes() int32 { return int32(b.Int("message.max.bytes")) }

// SocketRequestMaxBytes is socket.request.max.bytes.
func (b *Broker) SocketRequestMaxBytes() int32 { return int32(b.Int("socket.request.max.bytes")) }

// AutoCreateTopics is auto.create.topics.enable.
func (b *Broker) AutoCreateTopics() bool { return b.Bool("auto.create.topics.enable") }

// DeleteTopicEnable is delete.topic.enable.
func (b *Broker) DeleteTopicEnable() bool { return b.Bool("delete.topic.enable") }

// WALKind is weir.wal.kind: "file" or "object".
func (b *Broker) WALKind() string { return b.String("weir.wal.kind") }

// ObjStoreKind is weir.objstore.kind: "fs" or "s3".
func (b *Broker) ObjStoreKind() string { return b.String("weir.objstore.kind") }

// EtcdEndpoints is weir.metadata.etcd.endpoints; nil means run an embedded
// etcd.
func (b *Broker) EtcdEndpoints() []string { return b.List("weir.metadata.etcd.endpoints") }

// S3 is the S3 object store settings.
type S3 struct {
	Endpoint, Bucket, Region, AccessKey, SecretKey, Prefix string
	PathStyle                                              bool
}

// S3 returns the weir.s3.* settings.
func (b *Broker) S3() S3 {
	return S3{
		Endpoint:  b.String("weir.s3.endpoint"),
		Bucket:    b.String("weir.s3.bucket"),
		Region:    b.String("weir.s3.region"),
		AccessKey: b.String("weir.s3.access.key"),
		SecretKey: b.String("weir.s3.secret.key"),
		Prefix:    b.String("weir.s3.prefix"),
		PathStyle: b.Bool("weir.s3.path.style"),
	}
}

// ---- suggestions ----

// suggest returns the defined name closest to name, if close enough to be a
// likely typo.
func suggest(name string, defs []Def) string {
	best, bestD := "", 1<<30
	for i := range defs {
		if d := editDistance(name, defs[i].Name); d < bestD {
			best, bestD = defs[i].Name, d
		}
	}
	if bestD <= 2 || (bestD <= 4 && bestD*4 <= len(name)) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
