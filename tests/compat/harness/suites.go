package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Settings for every weir a suite runs against. Kafka's test setups
// (franz-go's, confluent-kafka-go's docker compose files) set the initial
// rebalance delay to 0 so that groups form at once; Weir's default is
// Kafka's 3 s.
var weirTestSettings = []string{"group.initial.rebalance.delay.ms=0"}

// runKgo runs franz-go's pkg/kgo tests at the franz-go version of the main
// go.mod, as franz-go's pkg/kfake/run_tests.sh runs them (KGO_SEEDS), with
// replication factor 1 (a single broker) and fewer records per ETL test than
// the 500000 default, to fit CI's time.
func runKgo(ctx context.Context, h *harness) ([]result, error) {
	src, err := h.copyModule(ctx, h.repo, "github.com/twmb/franz-go", "")
	if err != nil {
		return nil, err
	}
	n, rf := 1, "1"
	if h.target == "kfake" {
		n, rf = 3, "3"
	}
	b, err := h.startBroker("kgo", n, "", 0, weirTestSettings...)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	return h.runGoTest(ctx, goTest{
		suite: "kgo",
		dir:   filepath.Join(src, "pkg", "kgo"),
		env: []string{
			"KGO_SEEDS=" + b.seeds(),
			"KGO_TEST_RF=" + rf,
			"KGO_TEST_RECORDS=" + envOr("WEIR_COMPAT_KGO_RECORDS", "50000"),
			"KGO_LOG_LEVEL=none",
		},
		timeout: 12 * time.Minute,
	})
}

// confluentTests are the confluent-kafka-go tests that talk to a broker
// (those that read testconf.json); the rest of the package are unit tests of
// the client and tests against librdkafka's mock cluster.
const (
	confluentTests      = `^(TestIntegration|TestTransactionalProducer|TestTransactionalSendOffsets)$`
	confluentStaticTest = `^TestConsumerCloseForStaticMember$`
)

// runConfluent runs confluent-kafka-go's integration tests (cgo, with the
// librdkafka bundled in the module) at the version of tests/compat/go.mod.
func runConfluent(ctx context.Context, h *harness) ([]result, error) {
	src, err := h.copyModule(ctx, h.compat, "github.com/confluentinc/confluent-kafka-go/v2", "")
	if err != nil {
		return nil, err
	}
	b, err := h.startBroker("confluent", 1, "", 0, weirTestSettings...)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	conf, _ := json.MarshalIndent(map[string]any{
		"Brokers":      b.seeds(),
		"TopicName":    "test",
		"GroupID":      "testgroup",
		"PerfMsgCount": 10000,
		"PerfMsgSize":  100,
		"Config":       []string{"api.version.request=true"},
	}, "", "  ")
	dir := filepath.Join(src, "kafka")
	if err := os.WriteFile(filepath.Join(dir, "testconf.json"), conf, 0o644); err != nil {
		return nil, err
	}
	// Two runs of the test binary, so that a hang in the static-membership
	// test (a group test of its own) cannot take TestIntegration's results
	// with it when the binary times out.
	rs, err := h.runGoTest(ctx, goTest{
		suite:   "confluent",
		dir:     dir,
		run:     confluentStaticTest,
		env:     []string{"CGO_ENABLED=1"},
		timeout: 2 * time.Minute,
		part:    "static",
	})
	if err != nil {
		return rs, err
	}
	more, err := h.runGoTest(ctx, goTest{
		suite:   "confluent",
		dir:     dir,
		run:     confluentTests,
		env:     []string{"CGO_ENABLED=1"},
		timeout: 6 * time.Minute,
		expand:  map[string]bool{"TestIntegration": true},
	})
	return append(rs, more...), err
}

// runKafkaGo runs segmentio/kafka-go's root package tests. They assume a
// broker at localhost:9092 (some spell it out, some rely on the dialer's
// default port), so this suite's weir listens on 127.0.0.1:9092 and
// advertises localhost:9092, as kafka-go's docker-compose.yml does.
func runKafkaGo(ctx context.Context, h *harness) ([]result, error) {
	src, err := h.copyModule(ctx, h.compat, "github.com/segmentio/kafka-go", "")
	if err != nil {
		return nil, err
	}
	// The test helper getOffsets builds a ConsumerGroup without the connect
	// function that NewConsumerGroup sets, so the subtests that use it
	// panic (against kfake as against Weir), and a panic ends the whole test
	// binary. Set it in the copy, with the default network timeout, as
	// NewConsumerGroup's Validate would: without it (Timeout 0) every
	// request's deadline is "now", and the coordinator lookup fails at once
	// with "i/o timeout" writing to any broker.
	if err := patchFile(filepath.Join(src, "reader_test.go"),
		"\n\tconn, err := cg.coordinator()\n",
		"\tcg.config.Timeout = defaultTimeout\n\tcg.config.connect = makeConnect(cg.config)\n", true); err != nil {
		return nil, err
	}
	// And it goes on with a nil connection when connecting fails: stop the
	// subtest there instead of panicking.
	if err := replaceInFile(filepath.Join(src, "reader_test.go"),
		`t.Errorf("unable to connect to coordinator: %v", err)`,
		`t.Fatalf("unable to connect to coordinator: %v", err)`); err != nil {
		return nil, err
	}
	b, err := h.startBroker("kafka-go", 1, "localhost", 9092, weirTestSettings...)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	return h.runGoTest(ctx, goTest{
		suite:   "kafka-go",
		dir:     src,
		run:     os.Getenv("WEIR_COMPAT_KAFKAGO_RUN"),
		env:     []string{"KAFKA_SKIP_NETTEST=1", "KAFKA_VERSION=3.7.0"}, // the Kafka of its docker-compose.yml
		timeout: 7 * time.Minute,
	})
}

// patchFile inserts text after (or, with before, before) the one
// occurrence of anchor.
func patchFile(path, anchor, text string, before bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := strings.Index(string(data), anchor)
	if i < 0 || strings.Count(string(data), anchor) != 1 {
		return fmt.Errorf("%s: %q not found once, cannot patch", path, anchor)
	}
	if before {
		i++ // after the anchor's leading newline
	} else {
		i += len(anchor)
	}
	return os.WriteFile(path, []byte(string(data[:i])+text+string(data[i:])), 0o644)
}

// replaceInFile replaces the one occurrence of old with new.
func replaceInFile(path, old, new string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strings.Count(string(data), old) != 1 {
		return fmt.Errorf("%s: %q not found once, cannot patch", path, old)
	}
	return os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
