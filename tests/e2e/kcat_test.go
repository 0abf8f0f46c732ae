package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kcatPath returns the kcat binary (or kafkacat, its old name), skipping
// the test if there is none.
func kcatPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missingClient(t, "kcat not found in PATH (Debian package kcat)")
	return ""
}

// kcatCodecs returns the compression codecs this kcat's librdkafka was
// built with, from `kcat -V`.
func kcatCodecs(t *testing.T, kcat string) []string {
	out := runCmd(t, 10*time.Second, nil, kcat, "-V")
	m := regexp.MustCompile(`builtin\.features=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("kcat -V does not list builtin.features:\n%s", out)
	}
	features := strings.Split(strings.TrimSuffix(m[1], ")"), ",")
	var codecs []string
	for _, c := range []string{"gzip", "snappy", "lz4", "zstd"} {
		if slices.Contains(features, c) {
			codecs = append(codecs, c)
		}
	}
	return codecs
}

// kcatLibrdkafka returns "librdkafka X.Y.Z" from `kcat -V`.
func kcatLibrdkafka(t *testing.T, kcat string) string {
	out := runCmd(t, 10*time.Second, nil, kcat, "-V")
	if m := regexp.MustCompile(`librdkafka [0-9.]+`).FindString(out); m != "" {
		return m
	}
	return "librdkafka of unknown version"
}

// TestKcat drives weir with kcat (librdkafka): keys and headers round-trip,
// metadata, every compression codec kcat has, relative offsets and
// timestamp lookups.
func TestKcat(t *testing.T) {
	kcat := kcatPath(t)
	b := StartBroker(t, BrokerOptions{})
	// kcat runs quiet (-q), so that stdout is only records.
	run := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		var in []byte
		if stdin != "" {
			in = []byte(stdin)
		}
		base := []string{"-b", b.Addr, "-q"}
		if slices.Contains(args, "-C") {
			// Reach the end of a partition without waiting out the
			// default 500ms fetch long-poll.
			base = append(base, "-X", "fetch.wait.max.ms=50")
		}
		return runCmd(t, 30*time.Second, in, kcat, append(base, args...)...)
	}

	t.Run("KeysHeaders", func(t *testing.T) {
		const topic = "kcat-keys"
		lines := []string{
			"k1:hello",
			"k2:hello world with spaces",
			"k3:ünïcødé ✓",
			"k4:value:with:colons",
			"k5:",
		}
		run(t, strings.Join(lines, "\n")+"\n", "-P", "-t", topic, "-K:", "-H", "h1=v1", "-H", "trace=abc-123", "-H", "empty=")
		out := run(t, "", "-C", "-t", topic, "-e", "-o", "beginning", "-f", `%k|%s|%h|%o\n`)
		var want []string
		for i, l := range lines {
			k, v, _ := strings.Cut(l, ":")
			want = append(want, fmt.Sprintf("%s|%s|h1=v1,trace=abc-123,empty=|%d", k, v, i))
		}
		if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); !slices.Equal(got, want) {
			t.Errorf("kcat -C read back\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// The same records through franz-go, to check that kcat's view is
		// what is stored.
		cl := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var recs []*kgo.Record
		for len(recs) < len(lines) && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
			recs = append(recs, fs.Records()...)
		}
		if len(recs) != len(lines) {
			t.Fatalf("franz-go read %d records, want %d", len(recs), len(lines))
		}
		for i, r := range recs {
			k, v, _ := strings.Cut(lines[i], ":")
			hs := []kgo.RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "trace", Value: []byte("abc-123")}, {Key: "empty", Value: nil}}
			if string(r.Key) != k || string(r.Value) != v || len(r.Headers) != 3 {
				t.Errorf("record %d: key %q value %q headers %v", i, r.Key, r.Value, r.Headers)
				continue
			}
			for j, h := range r.Headers {
				if h.Key != hs[j].Key || string(h.Value) != string(hs[j].Value) {
					t.Errorf("record %d header %d: %s=%q, want %s=%q", i, j, h.Key, h.Value, hs[j].Key, hs[j].Value)
				}
			}
		}
	})

	t.Run("Metadata", func(t *testing.T) {
		const topic = "kcat-meta"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if resp, err := b.Admin(t).CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
			t.Fatalf("create topic: %v %v", err, resp.Err)
		}
		out := run(t, "", "-L")
		for _, want := range []string{
			fmt.Sprintf(`broker 1 at %s`, b.Addr),
			fmt.Sprintf(`topic "%s" with 3 partitions:`, topic),
			"partition 0, leader 1, replicas: 1, isrs: 1",
			"partition 2, leader 1, replicas: 1, isrs: 1",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("kcat -L output lacks %q:\n%s", want, out)
			}
		}
		out = run(t, "", "-L", "-t", topic)
		if !strings.Contains(out, fmt.Sprintf(`topic "%s" with 3 partitions:`, topic)) || strings.Contains(out, "kcat-keys") {
			t.Errorf("kcat -L -t %s:\n%s", topic, out)
		}
	})

	t.Run("Compression", func(t *testing.T) {
		codecs := kcatCodecs(t, kcat)
		versions := apiVersions(t, b)
		t.Logf("kcat codecs: %v", codecs)
		codecID := map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
		for _, codec := range append([]string{"none"}, codecs...) {
			t.Run(codec, func(t *testing.T) {
				topic := "kcat-z-" + codec
				// Compressible values: librdkafka sends a batch
				// uncompressed when compressing does not make it smaller.
				var lines []string
				for i := range 50 {
					lines = append(lines, fmt.Sprintf("%s-%03d-%s", codec, i, strings.Repeat("compress-me ", 10)))
				}
				run(t, strings.Join(lines, "\n")+"\n", "-P", "-t", topic, "-z", codec, "-X", "linger.ms=100")
				out := run(t, "", "-C", "-t", topic, "-e", "-o", "beginning", "-f", `%o:%s\n`)
				var want []string
				for i, l := range lines {
					want = append(want, fmt.Sprintf("%d:%s", i, l))
				}
				if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); !slices.Equal(got, want) {
					t.Errorf("read back %d lines, want %d; got:\n%s", len(got), len(want), out)
				}
				// Weir stores batches as produced, so the fetched batches
				// carry the codec kcat used: the one asked for, unless
				// librdkafka decided from ApiVersions that the broker
				// cannot take it (see librdkafkaCompresses).
				wantCodec := codecID[codec]
				if ok, why := librdkafkaCompresses(versions, codec); !ok {
					t.Logf("librdkafka sends %s uncompressed to this broker: %s", codec, why)
					wantCodec = 0
				}
				for _, attr := range batchAttributes(t, b, topic) {
					if got := int8(attr & 0x7); got != wantCodec {
						t.Errorf("stored batch has codec %d, want %d", got, wantCodec)
					}
				}
			})
		}
	})

	// librdkafka before 2.8 (kcat, confluent-kafka and every Debian
	// package of them) compresses gzip, snappy and lz4 only if the broker
	// advertises Produce v0, and lz4 only if it also advertises
	// FindCoordinator; otherwise it silently sends batches uncompressed
	// (librdkafka issue #4956). Apache Kafka 4.0 removed Produce v0-v2 but
	// still advertises them in ApiVersions for this reason (KAFKA-18659).
	t.Run("CompressionAdvertised", func(t *testing.T) {
		versions := apiVersions(t, b)
		for _, codec := range []string{"gzip", "snappy", "zstd"} {
			if ok, why := librdkafkaCompresses(versions, codec); !ok {
				t.Errorf("librdkafka < 2.8 (here %s) will not compress %s for this broker: %s; "+
					"Apache Kafka 4.0 advertises Produce v0-v2 in ApiVersions (while rejecting them) for this reason, see KAFKA-18659",
					kcatLibrdkafka(t, kcat), codec, why)
			}
		}
		if ok, why := librdkafkaCompresses(versions, "lz4"); !ok {
			t.Logf("librdkafka < 2.8 will not compress lz4 either: %s", why)
		}
	})

	t.Run("Offsets", func(t *testing.T) {
		const topic = "kcat-offsets"
		// Five kcat runs, so five distinct producer timestamps.
		for batch := range 5 {
			var lines []string
			for i := range 4 {
				lines = append(lines, fmt.Sprintf("b%d-m%d", batch, i))
			}
			run(t, strings.Join(lines, "\n")+"\n", "-P", "-t", topic, "-p", "0")
			time.Sleep(20 * time.Millisecond)
		}
		type msg struct {
			off int64
			ts  int64
			val string
		}
		var all []msg
		for _, l := range strings.Split(strings.TrimSuffix(run(t, "", "-C", "-t", topic, "-e", "-o", "beginning", "-f", `%o %T %s\n`), "\n"), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("bad kcat line %q", l)
			}
			off, _ := strconv.ParseInt(f[0], 10, 64)
			ts, _ := strconv.ParseInt(f[1], 10, 64)
			all = append(all, msg{off, ts, f[2]})
		}
		if len(all) != 20 {
			t.Fatalf("read %d records, want 20", len(all))
		}
		format := func(ms []msg) string {
			var s []string
			for _, m := range ms {
				s = append(s, fmt.Sprintf("%d %s", m.off, m.val))
			}
			return strings.Join(s, "\n")
		}
		read := func(t *testing.T, offset string) string {
			t.Helper()
			return strings.TrimSuffix(run(t, "", "-C", "-t", topic, "-p", "0", "-e", "-o", offset, "-f", `%o %s\n`), "\n")
		}

		// -o -2: the last two records.
		if got, want := read(t, "-2"), format(all[18:]); got != want {
			t.Errorf("kcat -o -2:\n%s\nwant\n%s", got, want)
		}
		// -o 7 (absolute) and -o end (nothing).
		if got, want := read(t, "7"), format(all[7:]); got != want {
			t.Errorf("kcat -o 7:\n%s\nwant\n%s", got, want)
		}
		if got := read(t, "end"); got != "" {
			t.Errorf("kcat -o end read %q, want nothing", got)
		}
		// -o s@ts: from the first record with a timestamp >= ts.
		for _, ts := range []int64{all[0].ts - 1000, all[0].ts, all[5].ts, all[9].ts + 1, all[19].ts, all[19].ts + 1} {
			first := len(all)
			for i, m := range all {
				if m.ts >= ts {
					first = i
					break
				}
			}
			if got, want := read(t, fmt.Sprintf("s@%d", ts)), format(all[first:]); got != want {
				t.Errorf("kcat -o s@%d:\n%s\nwant\n%s", ts, got, want)
			}
		}
	})
}

// batchAttributes returns the attributes of every record batch in
// partition 0 of topic, fetched with a raw Fetch request.
func batchAttributes(t *testing.T, b *Broker, topic string) []int16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := b.Client(t)
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12 // topics by name
	req.MaxWaitMillis = 100
	req.MaxBytes = 10 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = mresp.Topics[0].TopicID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = 0
	fp.PartitionMaxBytes = 10 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch %s: %v", topic, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s: unexpected response shape", topic)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch %s: error code %d", topic, p.ErrorCode)
	}
	var attrs []int16
	raw := p.RecordBatches
	for len(raw) > 0 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(raw); err != nil {
			t.Fatalf("parse record batch of %s: %v", topic, err)
		}
		attrs = append(attrs, rb.Attributes)
		raw = raw[12+int(rb.Length):]
	}
	if len(attrs) == 0 {
		t.Fatalf("fetch %s returned no batches", topic)
	}
	return attrs
}

// apiVersions returns the broker's ApiVersions: key -> [min, max].
func apiVersions(t *testing.T, b *Broker) map[int16][2]int16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, b.Client(t))
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	m := make(map[int16][2]int16)
	for _, k := range resp.ApiKeys {
		m[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return m
}

// librdkafkaCompresses reports whether librdkafka 2.0-2.7 compresses with
// codec for a broker with these ApiVersions, following
// rd_kafka_msgset_writer_select_MsgVersion and rdkafka_feature.c: the
// broker's Produce range must overlap [0, 0] (gzip, snappy, lz4) or
// [0, 7] (zstd); lz4 needs FindCoordinator v0 and zstd Produce v7 and
// Fetch v10.
func librdkafkaCompresses(versions map[int16][2]int16, codec string) (bool, string) {
	has := func(key, lo, hi int16) bool {
		v, ok := versions[key]
		return ok && v[0] <= hi && lo <= v[1]
	}
	const produce, fetch, findCoordinator = 0, 1, 10
	prod := versions[produce]
	switch codec {
	case "none":
		return true, ""
	case "gzip", "snappy", "lz4":
		if !has(produce, 0, 0) {
			return false, fmt.Sprintf("it needs Produce v0 advertised, the broker advertises Produce v%d-v%d", prod[0], prod[1])
		}
		if codec == "lz4" && !has(findCoordinator, 0, 0) {
			return false, "it needs FindCoordinator v0 advertised (its LZ4 feature flag), the broker does not advertise it"
		}
	case "zstd":
		if !has(produce, 0, 7) || !has(produce, 7, 7) || !has(fetch, 10, 10) {
			return false, "it needs Produce v7 and Fetch v10 advertised"
		}
	}
	return true, ""
}
