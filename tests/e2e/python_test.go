package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed python_clients.py
var pythonClientsScript []byte

// pythonWithClients returns a Python interpreter that can import both
// confluent_kafka and kafka: $WEIR_PYTHON, else python3 on PATH, else
// /usr/bin/python3 (Debian's python3-* packages install there, which a
// pyenv or venv python3 earlier on PATH does not see).
func pythonWithClients(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("WEIR_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	var tried []string
	for _, py := range candidates {
		if slices.Contains(tried, py) {
			continue
		}
		tried = append(tried, py)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, py, "-c", "import confluent_kafka, kafka").CombinedOutput()
		cancel()
		if err == nil {
			return py
		}
		t.Logf("%s cannot import the clients: %v: %s", py, err, strings.TrimSpace(string(out)))
	}
	missingClient(t, "no python3 with confluent_kafka and kafka (Debian packages python3-confluent-kafka, python3-kafka) among %v", tried)
	return ""
}

// TestPythonClients writes records with confluent-kafka and reads them with
// kafka-python, and the other way round, checking keys, values, headers,
// timestamps, partitions and offsets; then reads both topics with franz-go
// to check what is stored.
func TestPythonClients(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{})
	const (
		topicA = "py-confluent-to-kafkapython"
		topicB = "py-kafkapython-to-confluent"
		n      = 200
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := b.Admin(t)
	for _, topic := range []string{topicA, topicB} {
		if resp, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil || resp.Err != nil {
			t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
		}
	}

	script := filepath.Join(t.TempDir(), "python_clients.py")
	if err := os.WriteFile(script, pythonClientsScript, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, script, b.Addr, topicA, topicB, fmt.Sprint(n))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", py, script, err, out, stderr.String())
	}
	var res struct {
		Versions     map[string]string   `json:"versions"`
		A            map[string][2]int64 `json:"a"`
		B            map[string][2]int64 `json:"b"`
		ClientErrors []string            `json:"client_errors"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output: %v\n%s", err, out)
	}
	t.Logf("python clients %v passed in %v", res.Versions, time.Since(start).Round(time.Millisecond))
	for _, e := range res.ClientErrors {
		t.Logf("client error callback: %s", e)
	}
	if s := stderr.String(); s != "" {
		t.Logf("script stderr:\n%s", s)
	}

	// What franz-go reads is what the Python clients wrote, at the
	// offsets their delivery reports gave.
	for _, tc := range []struct {
		topic, prefix string
		placed        map[string][2]int64
	}{{topicA, "ck", res.A}, {topicB, "kp", res.B}} {
		parts := readAll(t, b, tc.topic)
		var total int
		for _, recs := range parts {
			total += len(recs)
		}
		if total != n || len(tc.placed) != n {
			t.Errorf("%s: franz-go read %d records, script reported %d delivered, want %d", tc.topic, total, len(tc.placed), n)
			continue
		}
		for i := range n {
			pl := tc.placed[fmt.Sprint(i)]
			p, off := int32(pl[0]), pl[1]
			if int(p) != i%2 || off < 0 || off >= int64(len(parts[p])) {
				t.Errorf("%s record %d: delivered at %d@%d, not a partition/offset that was read", tc.topic, i, p, off)
				continue
			}
			checkPythonRecord(t, tc.topic, tc.prefix, i, parts[p][off])
		}
	}
}

// checkPythonRecord checks r against what python_clients.py's expected()
// produces for record i.
func checkPythonRecord(t *testing.T, topic, prefix string, i int, r *kgo.Record) {
	t.Helper()
	var key []byte
	if i%5 != 0 {
		key = fmt.Appendf(nil, "%s-key-%d", prefix, i)
	}
	value := append(fmt.Appendf(nil, "%s-value-%d-ünïcødé", prefix, i), 0, 255, byte(i%256))
	headers := []kgo.RecordHeader{
		{Key: "h-index", Value: fmt.Appendf(nil, "%d", i)},
		{Key: "h-bin", Value: []byte{0, 1, 2, 255}},
		{Key: "h-empty", Value: []byte{}},
		{Key: "h-dup", Value: []byte("first")},
		{Key: "h-dup", Value: []byte("second")},
	}
	ts := time.UnixMilli(1700000000000 + int64(i)*1000)
	where := fmt.Sprintf("%s record %d (%d@%d)", topic, i, r.Partition, r.Offset)
	if (key == nil) != (r.Key == nil) || string(r.Key) != string(key) {
		t.Errorf("%s: key %q, want %q", where, r.Key, key)
	}
	if string(r.Value) != string(value) {
		t.Errorf("%s: value %q, want %q", where, r.Value, value)
	}
	if !r.Timestamp.Equal(ts) || r.Attrs.TimestampType() != 0 {
		t.Errorf("%s: timestamp %v (type %d), want %v CreateTime", where, r.Timestamp, r.Attrs.TimestampType(), ts)
	}
	if len(r.Headers) != len(headers) {
		t.Errorf("%s: headers %v, want %v", where, r.Headers, headers)
		return
	}
	for j, h := range r.Headers {
		if h.Key != headers[j].Key || string(h.Value) != string(headers[j].Value) {
			t.Errorf("%s: header %d %s=%q, want %s=%q", where, j, h.Key, h.Value, headers[j].Key, headers[j].Value)
		}
	}
}
