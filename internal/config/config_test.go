package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sp(s string) *string { return &s }

func mustLoad(t *testing.T, yamlText string, sets ...string) *Broker {
	t.Helper()
	b, err := loadText(t, yamlText, sets...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return b
}

func loadText(t *testing.T, yamlText string, sets ...string) (*Broker, error) {
	t.Helper()
	path := ""
	if yamlText != "" {
		path = filepath.Join(t.TempDir(), "weir.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Load(path, sets)
}

func TestDefsConsistent(t *testing.T) {
	for _, defs := range [][]Def{BrokerDefs(), TopicDefs()} {
		seen := map[string]bool{}
		for i, d := range defs {
			if seen[d.Name] {
				t.Errorf("%s defined twice", d.Name)
			}
			seen[d.Name] = true
			if i > 0 && defs[i-1].Name >= d.Name {
				t.Errorf("defs not sorted at %s", d.Name)
			}
			if d.Doc == "" || d.Validate == nil || d.Type.ConfigType() == kmsg.ConfigTypeUnknown {
				t.Errorf("%s: missing doc, validator or type", d.Name)
			}
			if d.NullDefault {
				continue
			}
			if err := d.Validate(d.Default); err != nil {
				t.Errorf("%s: default %q invalid: %v", d.Name, d.Default, err)
			}
			if c := canonical(d.Type, d.Default); c != d.Default {
				t.Errorf("%s: default %q not canonical (%q)", d.Name, d.Default, c)
			}
		}
	}
	for _, d := range TopicDefs() {
		for _, s := range d.Synonyms {
			if _, ok := BrokerDef(s); !ok {
				t.Errorf("%s: synonym %s is not a broker setting", d.Name, s)
			}
		}
		// A topic's default must be what the default broker gives it.
		if got := TopicValue(nil, Default(), d.Name); got != d.Default {
			t.Errorf("%s: default %q but derived from broker defaults %q", d.Name, d.Default, got)
		}
		if d.ReadOnly {
			t.Errorf("%s: topic settings are alterable", d.Name)
		}
	}
}

func TestBrokerDefaults(t *testing.T) {
	want := map[string]string{
		"node.id":                             "1",
		"broker.id":                           "1",
		"auto.create.topics.enable":           "true",
		"num.partitions":                      "1",
		"default.replication.factor":          "1",
		"min.insync.replicas":                 "1",
		"message.max.bytes":                   "1048588",
		"socket.request.max.bytes":            "104857600",
		"log.retention.hours":                 "168",
		"log.retention.minutes":               "10080",
		"log.retention.ms":                    "604800000",
		"log.retention.bytes":                 "-1",
		"log.retention.check.interval.ms":     "300000",
		"log.cleanup.policy":                  "delete",
		"log.message.timestamp.type":          "CreateTime",
		"log.message.timestamp.before.max.ms": "9223372036854775807",
		"log.message.timestamp.after.max.ms":  "9223372036854775807",
		"compression.type":                    "producer",
		"delete.topic.enable":                 "true",
		"connections.max.idle.ms":             "600000",
		"group.min.session.timeout.ms":        "6000",
		"group.max.session.timeout.ms":        "1800000",
		"group.initial.rebalance.delay.ms":    "3000",
		"offsets.retention.minutes":           "10080",
		"offsets.topic.num.partitions":        "50",
		"transaction.max.timeout.ms":          "900000",
		"producer.id.expiration.ms":           "86400000",
		"transactional.id.expiration.ms":      "604800000",
		"weir.wal.kind":                       "file",
		"weir.wal.segment.bytes":              "67108864",
		"weir.wal.max.queued.bytes":           "67108864",
		"weir.upload.interval.ms":             "1000",
		"weir.upload.bytes":                   "8388608",
		"weir.pending.max.bytes":              "268435456",
		"weir.log.cache.bytes":                "268435456",
		"weir.block.cache.bytes":              "268435456",
		"weir.orphan.sweep.interval.ms":       "300000",
		"weir.orphan.grace.ms":                "3600000",
		"weir.metadata.etcd.endpoints":        "",
		"weir.objstore.kind":                  "fs",
		"weir.s3.endpoint":                    "",
		"weir.s3.bucket":                      "",
		"weir.s3.region":                      "us-east-1",
		"weir.s3.access.key":                  "",
		"weir.s3.secret.key":                  "",
		"weir.s3.path.style":                  "false",
		"weir.s3.prefix":                      "",
		"log.roll.ms":                         "604800000",
		"log.flush.interval.ms":               "9223372036854775807",
	}
	b := Default()
	for name, v := range want {
		if got := b.String(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
		if b.Source(name) != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s: source %v, want DEFAULT_CONFIG", name, b.Source(name))
		}
	}
	if b.Listen != DefaultListen || b.DataDir != DefaultDataDir || b.Advertise != "" {
		t.Errorf("listen/data-dir/advertise = %q %q %q", b.Listen, b.DataDir, b.Advertise)
	}
	if b.NodeID() != 1 || b.NumPartitions() != 1 || b.DefaultReplicationFactor() != 1 ||
		b.MessageMaxBytes() != 1048588 || !b.AutoCreateTopics() || !b.DeleteTopicEnable() ||
		b.WALKind() != "file" || b.ObjStoreKind() != "fs" || b.EtcdEndpoints() != nil ||
		b.SocketRequestMaxBytes() != 104857600 {
		t.Error("convenience accessors disagree with defaults")
	}
	if d, _ := BrokerDef("weir.s3.secret.key"); !d.Sensitive || d.Type != TypePassword {
		t.Error("weir.s3.secret.key must be a sensitive PASSWORD")
	}
	for _, name := range []string{"log.retention.ms", "log.retention.minutes", "log.roll.ms"} {
		if d, _ := BrokerDef(name); !d.NullDefault {
			t.Errorf("%s: Kafka default is null", name)
		}
	}
	var nilB *Broker
	if nilB.Int("num.partitions") != 1 {
		t.Error("nil *Broker must behave as defaults")
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // canonical value, if no error
		err         string // substring of the error
	}{
		{"num.partitions", "3", "3", ""},
		{"num.partitions", " 03 ", "3", ""},
		{"num.partitions", "+4", "4", ""},
		{"num.partitions", "abc", "", `invalid value "abc" for num.partitions: not an integer`},
		{"num.partitions", "0", "", "must be at least 1"},
		{"num.partitions", "1.5", "", "not an integer"},
		{"num.partitions", "", "", "not an integer"},
		{"num.partitions", "2147483648", "", "out of range for INT"},
		{"message.max.bytes", "0", "0", ""},
		{"message.max.bytes", "-1", "", "must be at least 0"},
		{"log.retention.ms", "-1", "-1", ""},
		{"log.retention.ms", "9223372036854775807", "9223372036854775807", ""},
		{"log.retention.ms", "9223372036854775808", "", "out of range for LONG"},
		{"log.retention.bytes", "-5", "-5", ""},
		{"auto.create.topics.enable", "FALSE", "false", ""},
		{"auto.create.topics.enable", "True", "true", ""},
		{"auto.create.topics.enable", "yes", "", "must be true or false"},
		{"auto.create.topics.enable", "1", "", "must be true or false"},
		{"log.cleanup.policy", "compact", "compact", ""},
		{"log.cleanup.policy", "compact, delete", "compact,delete", ""},
		{"log.cleanup.policy", "delete,compact", "delete,compact", ""},
		{"log.cleanup.policy", "", "", "must not be empty"},
		{"log.cleanup.policy", "compact,remove", "", `"remove" is not one of delete, compact`},
		{"log.message.timestamp.type", "LogAppendTime", "LogAppendTime", ""},
		{"log.message.timestamp.type", "logappendtime", "", "must be one of CreateTime, LogAppendTime"},
		{"compression.type", "zstd", "zstd", ""},
		{"compression.type", "brotli", "", "must be one of"},
		{"log.cleaner.min.cleanable.ratio", "0.25", "0.25", ""},
		{"log.cleaner.min.cleanable.ratio", "1.5", "", "must be between 0 and 1"},
		{"log.cleaner.min.cleanable.ratio", "NaN", "", "not a number"},
		{"log.segment.bytes", "13", "", "must be at least 14"},
		{"weir.wal.kind", "object", "object", ""},
		{"weir.wal.kind", "memory", "", "must be one of file, object"},
		{"weir.objstore.kind", "gcs", "", "must be one of fs, s3"},
		{"weir.s3.endpoint", "http://localhost:9000", "http://localhost:9000", ""},
		{"weir.s3.endpoint", "localhost:9000", "", "must be an http:// or https:// URL"},
		{"weir.s3.region", "", "", "must not be empty"},
		{"weir.metadata.etcd.endpoints", "a:2379, b:2379", "a:2379,b:2379", ""},
		{"weir.metadata.etcd.endpoints", "a:2379,,b:2379", "", "empty item"},
		{"weir.upload.bytes", "0", "", "must be at least 1"},
		{"weir.log.cache.bytes", "0", "0", ""},
		{"node.id", "-1", "", "must be at least 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			b, err := Load("", []string{tc.name + "=" + tc.value})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				var ce *Error
				if !errors.As(err, &ce) || ce.Name != tc.name {
					t.Errorf("error %v does not name %s", err, tc.name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := b.Lookup(tc.name); got != tc.want {
				t.Errorf("value %q, want %q", got, tc.want)
			}
			if b.Source(tc.name) != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("source %v, want STATIC_BROKER_CONFIG", b.Source(tc.name))
			}
		})
	}
}

func TestLoad(t *testing.T) {
	const file = `
# a comment
listen: 127.0.0.1:19092
advertise: broker1.example:19092
data-dir: /var/lib/weir
num.partitions: 6
auto.create.topics.enable: false
log.retention.hours: 24
log.cleaner.min.cleanable.ratio: 0.10
weir.metadata.etcd.endpoints: [etcd1:2379, etcd2:2379]
weir.objstore.kind: s3
weir.s3.bucket: weir
weir.s3.secret.key: hunter2
weir.s3.prefix:
`
	b := mustLoad(t, file, "num.partitions=8", "data-dir=/data", "num.partitions = 12 ")
	checks := []struct{ got, want any }{
		{b.Listen, "127.0.0.1:19092"},
		{b.Advertise, "broker1.example:19092"},
		{b.DataDir, "/data"},
		{b.Int("num.partitions"), 12}, // last --set wins over earlier --set and YAML
		{b.Bool("auto.create.topics.enable"), false},
		{b.Long("log.retention.hours"), int64(24)},
		{b.RetentionMs(), int64(24 * 3600000)},
		{b.Double("log.cleaner.min.cleanable.ratio"), 0.1},
		{b.String("log.cleaner.min.cleanable.ratio"), "0.1"},
		{strings.Join(b.List("weir.metadata.etcd.endpoints"), " "), "etcd1:2379 etcd2:2379"},
		{b.S3().Bucket, "weir"},
		{b.S3().SecretKey, "hunter2"},
		{b.S3().Region, "us-east-1"},
		{b.IsSet("weir.s3.prefix"), false}, // null leaves the default
		{b.Source("num.partitions"), kmsg.ConfigSourceStaticBrokerConfig},
		{b.Source("log.retention.ms"), kmsg.ConfigSourceStaticBrokerConfig}, // via log.retention.hours
		{b.Source("message.max.bytes"), kmsg.ConfigSourceDefaultConfig},
		{b.Explicit()["weir.s3.secret.key"], "[hidden]"},
		{strings.Contains(b.ExplicitString(), "hunter2"), false},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %v, want %v", i, c.got, c.want)
		}
	}

	// Empty and comment-only files are fine.
	mustLoad(t, "# nothing\n")
	mustLoad(t, "~\n")
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		sets []string
		err  string
	}{
		{"unknown yaml", "num.partitons: 3\n", nil, `:1: unknown setting "num.partitons" (did you mean num.partitions?)`},
		{"unknown set", "", []string{"bogus.thing=1"}, `unknown setting "bogus.thing"`},
		{"topic name on broker", "", []string{"retention.ms=1"}, "retention.ms is a topic setting; the broker default for it is log.retention.ms"},
		{"malformed set", "", []string{"num.partitions"}, `malformed --set "num.partitions": want name=value`},
		{"empty name", "", []string{"=3"}, "malformed --set"},
		{"bad yaml value", "a: 1\n", nil, "unknown setting"},
		{"bad value in yaml", "num.partitions: abc\n", nil, `weir.yaml:1: invalid value "abc" for num.partitions: not an integer`},
		{"bad value in set", "num.partitions: 3\n", []string{"num.partitions=0"}, "must be at least 1"},
		{"set cannot fix a bad file", "num.partitions: x\n", []string{"num.partitions=3"}, "not an integer"},
		{"duplicate", "num.partitions: 1\nnum.partitions: 2\n", nil, "num.partitions is set twice (also on line 1)"},
		{"mapping value", "num.partitions:\n  a: 1\n", nil, "takes a single value, not a mapping"},
		{"list for scalar", "num.partitions: [1, 2]\n", nil, "takes a single value, not a list"},
		{"not a mapping", "- a\n- b\n", nil, "want a mapping"},
		{"syntax", "num.partitions: [\n", nil, "weir.yaml"},
		{"s3 without bucket", "", []string{"weir.objstore.kind=s3"}, "weir.s3.bucket must be set"},
		{"node.id vs broker.id", "", []string{"node.id=1", "broker.id=2"}, "node.id (1) and broker.id (2)"},
		{"empty data-dir", "", []string{"data-dir="}, "data-dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadText(t, tc.yaml, tc.sets...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Error("missing file: no error")
	}
}

func TestNodeIDSynonym(t *testing.T) {
	b := mustLoad(t, "", "broker.id=7")
	if b.NodeID() != 7 || b.Source("node.id") != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("node.id = %d (%v), want 7 from broker.id", b.NodeID(), b.Source("node.id"))
	}
	b = mustLoad(t, "", "node.id=3", "broker.id=3")
	if b.NodeID() != 3 || b.Int("broker.id") != 3 {
		t.Error("agreeing node.id and broker.id")
	}
}

func TestRetentionPrecedence(t *testing.T) {
	tests := []struct {
		sets []string
		want int64
	}{
		{nil, 168 * 3600000},
		{[]string{"log.retention.hours=1"}, 3600000},
		{[]string{"log.retention.hours=1", "log.retention.minutes=5"}, 5 * 60000},
		{[]string{"log.retention.hours=1", "log.retention.minutes=5", "log.retention.ms=1234"}, 1234},
		{[]string{"log.retention.ms=1234", "log.retention.hours=1"}, 1234},
		{[]string{"log.retention.minutes=5", "log.retention.hours=1"}, 5 * 60000},
		{[]string{"log.retention.ms=-1"}, -1},
		{[]string{"log.retention.ms=-7"}, -1},
		{[]string{"log.retention.hours=-1"}, -1},
		{[]string{"log.retention.minutes=-1", "log.retention.hours=1"}, -1},
		{[]string{"log.retention.ms=0"}, 0},
	}
	for _, tc := range tests {
		b := mustLoad(t, "", tc.sets...)
		if got := b.RetentionMs(); got != tc.want {
			t.Errorf("%v: RetentionMs = %d, want %d", tc.sets, got, tc.want)
		}
		// Unset, log.retention.ms reads as the derived value; set, as set.
		if got := b.Long("log.retention.ms"); !b.IsSet("log.retention.ms") && got != tc.want {
			t.Errorf("%v: Long(log.retention.ms) = %d, want %d", tc.sets, got, tc.want)
		}
		if got := TopicValue(nil, b, "retention.ms"); got != itoa(tc.want) {
			t.Errorf("%v: topic retention.ms = %s, want %d", tc.sets, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	b := mustLoad(t, "", "weir.upload.interval.ms=250", "log.retention.hours=2")
	if d := b.Duration("weir.upload.interval.ms"); d != 250*time.Millisecond {
		t.Errorf("got %v", d)
	}
	if d := b.Duration("log.retention.hours"); d != 2*time.Hour {
		t.Errorf("got %v", d)
	}
	if d := b.Duration("offsets.retention.minutes"); d != 7*24*time.Hour {
		t.Errorf("got %v", d)
	}
	if d := b.Duration("log.message.timestamp.after.max.ms"); d != math.MaxInt64 {
		t.Errorf("Long.MAX ms should saturate, got %v", d)
	}
	if d := Topic(nil, b).Duration("retention.ms"); d != 2*time.Hour {
		t.Errorf("topic retention = %v", d)
	}
}

func TestGetterPanics(t *testing.T) {
	b := Default()
	for name, f := range map[string]func(){
		"unknown":      func() { b.Int("no.such.setting") },
		"wrong type":   func() { b.Bool("num.partitions") },
		"long as int":  func() { b.Int("log.retention.bytes") },
		"not duration": func() { b.Duration("num.partitions") },
		"topic":        func() { Topic(nil, b).Int("no.such") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestTopicValue(t *testing.T) {
	b := mustLoad(t, "",
		"log.retention.minutes=30",
		"message.max.bytes=2000000",
		"log.cleanup.policy=compact",
		"log.roll.hours=2",
		"log.flush.scheduler.interval.ms=1000",
		"log.message.timestamp.type=LogAppendTime",
	)
	tests := []struct {
		set        map[string]string
		name, want string
	}{
		{nil, "retention.ms", "1800000"},
		{map[string]string{"retention.ms": "-1"}, "retention.ms", "-1"},
		{nil, "max.message.bytes", "2000000"},
		{map[string]string{"max.message.bytes": "10"}, "max.message.bytes", "10"},
		{nil, "cleanup.policy", "compact"},
		{nil, "segment.ms", "7200000"},
		{nil, "flush.ms", "1000"},
		{nil, "retention.bytes", "-1"},
		{nil, "message.timestamp.type", "LogAppendTime"},
		{nil, "no.such", ""},
	}
	for _, tc := range tests {
		if got := TopicValue(tc.set, b, tc.name); got != tc.want {
			t.Errorf("%s (%v) = %q, want %q", tc.name, tc.set, got, tc.want)
		}
	}
	tc := Topic(map[string]string{"cleanup.policy": "compact,delete", "retention.bytes": "100"}, b)
	if !tc.Compact() || !tc.Delete() || tc.RetentionBytes() != 100 || tc.RetentionMs() != 1800000 ||
		tc.MaxMessageBytes() != 2000000 || !tc.LogAppendTime() || tc.Double("min.cleanable.dirty.ratio") != 0.5 ||
		tc.Bool("preallocate") || tc.Int("segment.bytes") != 1073741824 {
		t.Error("TopicConfig getters")
	}
	if Topic(nil, nil).Compact() || !Topic(nil, nil).Delete() {
		t.Error("default cleanup.policy is delete")
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	tests := []struct {
		m   map[string]*string
		err string
	}{
		{nil, ""},
		{map[string]*string{"cleanup.policy": sp("delete")}, ""},
		{map[string]*string{"cleanup.policy": sp("compact")}, ""},
		{map[string]*string{"cleanup.policy": sp("compact,delete")}, ""},
		{map[string]*string{"cleanup.policy": sp("delete,compact")}, ""},
		{map[string]*string{"cleanup.policy": sp("compacted")}, `invalid value "compacted" for cleanup.policy`},
		{map[string]*string{"retention.ms": sp("-1")}, ""},
		{map[string]*string{"retention.ms": sp("-2")}, "must be at least -1"},
		{map[string]*string{"retention.ms": sp("1h")}, "not an integer"},
		{map[string]*string{"retention.bytes": sp("-1")}, ""},
		{map[string]*string{"max.message.bytes": sp("-1")}, "must be at least 0"},
		{map[string]*string{"max.message.bytes": sp("4294967296")}, "out of range for INT"},
		{map[string]*string{"message.timestamp.type": sp("LogAppendTime")}, ""},
		{map[string]*string{"message.timestamp.type": sp("Now")}, "must be one of CreateTime, LogAppendTime"},
		{map[string]*string{"message.timestamp.before.max.ms": sp("-1")}, "must be at least 0"},
		{map[string]*string{"min.insync.replicas": sp("0")}, "must be at least 1"},
		{map[string]*string{"compression.type": sp("lz4")}, ""},
		{map[string]*string{"compression.type": sp("LZ4")}, "must be one of"},
		{map[string]*string{"segment.ms": sp("0")}, "must be at least 1"},
		{map[string]*string{"min.cleanable.dirty.ratio": sp("0.9")}, ""},
		{map[string]*string{"min.cleanable.dirty.ratio": sp("-0.1")}, "between 0 and 1"},
		{map[string]*string{"preallocate": sp("maybe")}, "must be true or false"},
		{map[string]*string{"unclean.leader.election.enable": sp("true")}, ""},
		{map[string]*string{"retention.ms": nil}, "Null value not supported for topic configs: retention.ms"},
		{map[string]*string{"retention.msx": sp("1")}, "Unknown topic config name: retention.msx (did you mean retention.ms?)"},
		{map[string]*string{"log.retention.ms": sp("1")}, "Unknown topic config name: log.retention.ms (log.retention.ms is a broker setting; the topic setting is retention.ms)"},
		{map[string]*string{"min.compaction.lag.ms": sp("10"), "max.compaction.lag.ms": sp("5")}, "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{map[string]*string{"min.compaction.lag.ms": sp("10"), "max.compaction.lag.ms": sp("10")}, ""},
	}
	for _, tc := range tests {
		err := ValidateTopicConfigs(tc.m)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%v: unexpected error %v", tc.m, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: err = %v, want %q", keys(tc.m), err, tc.err)
			continue
		}
		if ErrorCode(err) != 40 || !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%v: code %d, want 40 INVALID_CONFIG", keys(tc.m), ErrorCode(err))
		}
	}

	out, err := NormalizeTopicConfigs(map[string]*string{
		"cleanup.policy": sp(" compact , delete "), "retention.ms": sp("007"), "preallocate": sp("TRUE"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out["cleanup.policy"] != "compact,delete" || out["retention.ms"] != "7" || out["preallocate"] != "true" {
		t.Errorf("normalized: %v", out)
	}

	// The conflict check uses the broker's defaults for unset settings.
	b := mustLoad(t, "", "log.cleaner.max.compaction.lag.ms=100")
	if _, err := NormalizeTopicConfigs(map[string]*string{"min.compaction.lag.ms": sp("200")}, b); err == nil {
		t.Error("min.compaction.lag.ms above the broker's max.compaction.lag.ms accepted")
	}
}

func keys(m map[string]*string) []string { return sortedKeys(m) }

func TestAlterTopicIncremental(t *testing.T) {
	set := kmsg.IncrementalAlterConfigOpSet
	del := kmsg.IncrementalAlterConfigOpDelete
	app := kmsg.IncrementalAlterConfigOpAppend
	sub := kmsg.IncrementalAlterConfigOpSubtract
	cur := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	tests := []struct {
		name string
		b    *Broker
		ops  []Alter
		want map[string]string
		code int16
	}{
		{"set", nil, []Alter{{"retention.bytes", set, sp("10")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "retention.bytes": "10"}, 0},
		{"set replaces", nil, []Alter{{"retention.ms", set, sp("2000")}},
			map[string]string{"retention.ms": "2000", "cleanup.policy": "compact"}, 0},
		{"delete", nil, []Alter{{"retention.ms", del, nil}},
			map[string]string{"cleanup.policy": "compact"}, 0},
		{"delete absent", nil, []Alter{{"segment.ms", del, nil}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, 0},
		{"append", nil, []Alter{{"cleanup.policy", app, sp("delete")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}, 0},
		{"append present", nil, []Alter{{"cleanup.policy", app, sp("compact")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, 0},
		{"subtract", nil, []Alter{{"cleanup.policy", sub, sp("delete")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, 0},
		{"subtract to empty", nil, []Alter{{"cleanup.policy", sub, sp("compact")}}, nil, 40},
		{"bad value", nil, []Alter{{"retention.ms", set, sp("x")}}, nil, 40},
		{"unknown", nil, []Alter{{"nope", set, sp("1")}}, nil, 40},
		{"append non-list", nil, []Alter{{"retention.ms", app, sp("1")}}, nil, 40},
		{"null set", nil, []Alter{{"retention.ms", set, nil}}, nil, 42},
		{"duplicate", nil, []Alter{{"retention.ms", set, sp("1")}, {"retention.ms", del, nil}}, nil, 42},
		{"bad op", nil, []Alter{{"retention.ms", 9, sp("1")}}, nil, 42},
	}
	for _, tc := range tests {
		got, err := AlterTopicIncremental(cur, tc.b, tc.ops)
		if tc.code != 0 {
			if ErrorCode(err) != tc.code {
				t.Errorf("%s: err %v (code %d), want code %d", tc.name, err, ErrorCode(err), tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
	}
	if cur["retention.ms"] != "1000" || len(cur) != 2 {
		t.Error("current overrides modified")
	}
	// APPEND to an unset list starts from the effective (broker) value.
	b := mustLoad(t, "", "log.cleanup.policy=compact")
	got, err := AlterTopicIncremental(nil, b, []Alter{{"cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, sp("delete")}})
	if err != nil || got["cleanup.policy"] != "compact,delete" {
		t.Errorf("append from broker default: %v %v", got, err)
	}
}

func find(t *testing.T, entries []kmsg.DescribeConfigsResponseResourceConfig, name string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("%s not described", name)
	return kmsg.DescribeConfigsResponseResourceConfig{}
}

type syn struct {
	name, value string
	src         kmsg.ConfigSource
}

func synsOf(e kmsg.DescribeConfigsResponseResourceConfig) []syn {
	var out []syn
	for _, s := range e.ConfigSynonyms {
		v := "<nil>"
		if s.Value != nil {
			v = *s.Value
		}
		out = append(out, syn{s.Name, v, s.Source})
	}
	return out
}

func eqSyns(a, b []syn) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDescribeTopic(t *testing.T) {
	const (
		dyn = kmsg.ConfigSourceDynamicTopicConfig
		st  = kmsg.ConfigSourceStaticBrokerConfig
		def = kmsg.ConfigSourceDefaultConfig
	)
	b := mustLoad(t, "", "log.retention.hours=24", "message.max.bytes=2000000")
	set := map[string]string{"cleanup.policy": "compact"}
	all := DescribeTopic(set, b, nil, true, true)
	if len(all) != len(TopicDefs()) {
		t.Fatalf("%d entries, want %d", len(all), len(TopicDefs()))
	}
	tests := []struct {
		name   string
		value  string
		source kmsg.ConfigSource
		syns   []syn
	}{
		{"cleanup.policy", "compact", dyn, []syn{
			{"cleanup.policy", "compact", dyn}, {"log.cleanup.policy", "delete", def}}},
		{"retention.ms", "86400000", st, []syn{
			{"log.retention.hours", "24", st}, {"log.retention.hours", "168", def}}},
		{"max.message.bytes", "2000000", st, []syn{
			{"message.max.bytes", "2000000", st}, {"message.max.bytes", "1048588", def}}},
		{"retention.bytes", "-1", def, []syn{{"log.retention.bytes", "-1", def}}},
		{"segment.ms", "604800000", def, []syn{{"log.roll.hours", "168", def}}},
		{"flush.ms", "9223372036854775807", def, []syn{{"log.flush.scheduler.interval.ms", "9223372036854775807", def}}},
	}
	for _, tc := range tests {
		e := find(t, all, tc.name)
		if e.Value == nil || *e.Value != tc.value || e.Source != tc.source || e.IsDefault != (tc.source == def) {
			t.Errorf("%s: value %v source %v isDefault %v, want %q %v", tc.name, e.Value, e.Source, e.IsDefault, tc.value, tc.source)
		}
		if got := synsOf(e); !eqSyns(got, tc.syns) {
			t.Errorf("%s: synonyms %v, want %v", tc.name, got, tc.syns)
		}
		if e.ReadOnly || e.IsSensitive || e.Documentation == nil || *e.Documentation == "" {
			t.Errorf("%s: readOnly %v sensitive %v docs %v", tc.name, e.ReadOnly, e.IsSensitive, e.Documentation)
		}
	}
	if e := find(t, all, "retention.ms"); e.ConfigType != kmsg.ConfigTypeLong {
		t.Errorf("retention.ms type %v", e.ConfigType)
	}
	if e := find(t, all, "cleanup.policy"); e.ConfigType != kmsg.ConfigTypeList {
		t.Errorf("cleanup.policy type %v", e.ConfigType)
	}

	// Names filter (unknown names skipped), no synonyms, no docs; sources are
	// computed all the same.
	some := DescribeTopic(set, b, []string{"retention.ms", "nope", "cleanup.policy"}, false, false)
	if len(some) != 2 || some[0].Name != "cleanup.policy" || some[1].Name != "retention.ms" {
		t.Fatalf("filtered: %v", some)
	}
	for _, e := range some {
		if len(e.ConfigSynonyms) != 0 || e.Documentation != nil {
			t.Errorf("%s: synonyms or docs not requested", e.Name)
		}
	}
	if some[1].Source != st || some[0].Source != dyn {
		t.Errorf("sources without synonyms: %v %v", some[0].Source, some[1].Source)
	}

	// Pure defaults with a default broker.
	for _, e := range DescribeTopic(nil, nil, nil, false, false) {
		if e.Source != def || !e.IsDefault {
			t.Errorf("%s: source %v, want DEFAULT_CONFIG", e.Name, e.Source)
		}
	}
}

func TestDescribeBroker(t *testing.T) {
	const (
		st  = kmsg.ConfigSourceStaticBrokerConfig
		def = kmsg.ConfigSourceDefaultConfig
	)
	b := mustLoad(t, "", "log.retention.minutes=90", "num.partitions=4", "weir.objstore.kind=s3",
		"weir.s3.bucket=b", "weir.s3.secret.key=shh")
	all := DescribeBroker(b, nil, true, true)
	if len(all) != len(BrokerDefs()) {
		t.Fatalf("%d entries, want %d", len(all), len(BrokerDefs()))
	}
	for _, e := range all {
		if !e.ReadOnly {
			t.Errorf("%s: not read-only", e.Name)
		}
	}
	tests := []struct {
		name   string
		value  string // "<nil>" for null
		source kmsg.ConfigSource
		syns   []syn
	}{
		{"num.partitions", "4", st, []syn{{"num.partitions", "4", st}, {"num.partitions", "1", def}}},
		{"message.max.bytes", "1048588", def, []syn{{"message.max.bytes", "1048588", def}}},
		{"log.retention.ms", "<nil>", st, []syn{
			{"log.retention.minutes", "90", st}, {"log.retention.hours", "168", def}}},
		{"log.retention.minutes", "90", st, []syn{
			{"log.retention.minutes", "90", st}, {"log.retention.hours", "168", def}}},
		{"log.retention.hours", "168", st, []syn{
			{"log.retention.minutes", "90", st}, {"log.retention.hours", "168", def}}},
		{"weir.s3.secret.key", "<nil>", st, []syn{
			{"weir.s3.secret.key", "<nil>", st}, {"weir.s3.secret.key", "<nil>", def}}},
	}
	for _, tc := range tests {
		e := find(t, all, tc.name)
		v := "<nil>"
		if e.Value != nil {
			v = *e.Value
		}
		if v != tc.value || e.Source != tc.source {
			t.Errorf("%s: value %s source %v, want %s %v", tc.name, v, e.Source, tc.value, tc.source)
		}
		if got := synsOf(e); !eqSyns(got, tc.syns) {
			t.Errorf("%s: synonyms %v, want %v", tc.name, got, tc.syns)
		}
	}
	if e := find(t, all, "weir.s3.secret.key"); !e.IsSensitive || e.ConfigType != kmsg.ConfigTypePassword {
		t.Error("secret key must be sensitive PASSWORD")
	}
	if e := find(t, DescribeBroker(nil, []string{"log.retention.ms"}, false, false), "log.retention.ms"); e.Source != def || e.Value != nil {
		t.Errorf("default log.retention.ms: %v %v", e.Source, e.Value)
	}
}

func TestMarkdownReference(t *testing.T) {
	md := MarkdownReference()
	for _, d := range append(BrokerDefs(), TopicDefs()...) {
		if !strings.Contains(md, "| `"+d.Name+"` |") {
			t.Errorf("%s missing from reference", d.Name)
		}
	}
	for _, k := range []string{KeyListen, KeyAdvertise, KeyDataDir} {
		if !strings.Contains(md, "| `"+k+"` |") {
			t.Errorf("%s missing from reference", k)
		}
	}
	for i, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| `") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 6 && n != 7 {
				t.Errorf("line %d has %d cells separators: %s", i+1, n, line)
			}
		}
	}
}
